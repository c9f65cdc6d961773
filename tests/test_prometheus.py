"""Prometheus exposition (issues 8, 16, 26): a live headless run scraped on `--prometheus-port` as soon as it
answers, past the run's middle and after its end (`--prometheus-linger`), parsed with prometheus_client's own
parser: every per-scenario series from the first scrape, units in the names, the run's info, setup's requests as
`scenario="setup"`, the flows' duration histograms, and every metric the shipped Grafana dashboard queries. The
final values are the summary's, on the lingering port and in the push to a loopback Pushgateway stand-in; a
SIGTERM during the linger ends the process at once. Histogram buckets from the registry's sketches checked
against exact counts."""

from __future__ import annotations

import random
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixload.metrics.registry import Registry
from fixload.metrics.sinks import EXACT_LIMIT, TrendSink
from fixload.surfaces.prometheus import BUCKETS_SECONDS, bucket_counts, public_target, threshold_unit
from tests.promkit import dashboard_metrics, missing_from
from tests.support import free_port, wait_for
from tests.surfacekit import (
    LOCUST,
    Process,
    assert_no_secrets,
    child_env,
    http_get,
    scaled_profile,
)

SCENARIOS = {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict, name: str, **labels: str) -> float:
    family = families[name.removesuffix("_total")]  # the parser names a counter family without _total
    for sample in family.samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    raise KeyError(f"{name}{labels}")


class Pushgateway(BaseHTTPRequestHandler):
    """A loopback stand-in for a Pushgateway: records each push (method, path, body) and answers 200."""

    pushes: ClassVar[list[tuple[str, str, str]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        type(self).pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *_: object) -> None:
        pass


LINGER = 20.0
"""The test's --prometheus-linger: long enough to scrape after the end; SIGTERM ends it (the test waits less)."""


@pytest.fixture(scope="module")
def scraped(simulator, tmp_path_factory):
    """Scrape a live run twice (once it has samples, then once it is past its middle), let it finish, scrape
    the lingering port once the summary is written, then SIGTERM the process during its linger."""
    directory = tmp_path_factory.mktemp("prometheus")
    profile = scaled_profile(directory, 10.0)  # 6 s
    port = free_port()
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), Pushgateway)
    Pushgateway.pushes = []
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    summary_path = directory / "summary.json"
    argv = [*LOCUST, "-f", "locustfiles/", "--headless", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--summary", str(summary_path), "--prometheus-port", str(port), "--prometheus-linger", str(LINGER)]
    argv += ["--prometheus-push", f"http://127.0.0.1:{gateway.server_port}"]
    proc = Process(argv, child_env(simulator.env), directory, "locust")
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape_when(predicate):
        def attempt():
            status, body = http_get(url)
            if status != 200:
                return None
            families = _families(body.decode())
            return (body.decode(), families) if predicate(families) else None

        return attempt

    def has_requests(f):
        return sum(s.value for s in f["fixload_http_reqs"].samples) > 0 and "fixload_threshold_ok" in f

    start = wait_for(scrape_when(lambda f: True), 30, "the first scrape")
    first = wait_for(scrape_when(has_requests), 30, "a scrape with requests")
    later = wait_for(
        scrape_when(lambda f: _value(f, "fixload_test_elapsed_seconds") > 3.5), 30, "a scrape past the middle"
    )
    wait_for(lambda: "metrics stay up" in proc.output() or proc.popen.poll() is not None, 60, "the linger")
    after = wait_for(scrape_when(lambda f: _value(f, "fixload_test_running") == 0), 5, "a scrape after the end")
    summary = orjson.loads(summary_path.read_bytes())
    signalled = time.monotonic()
    code = proc.stop(signal.SIGTERM, timeout=LINGER)
    exited_in = time.monotonic() - signalled
    gateway.shutdown()
    gateway.server_close()
    return {
        "start": start,
        "first": first,
        "later": later,
        "after": after,
        "summary": summary,
        "exited_in": exited_in,
        "pushes": list(Pushgateway.pushes),
        "code": code,
        "proc": proc,
        "env": simulator.env,
        "target": simulator.base_url,
    }


def test_run_finished(scraped):
    assert scraped["code"] in (0, 99), scraped["proc"].output()[-3000:]
    assert "Prometheus metrics on http://127.0.0.1:" in scraped["proc"].output()


def test_request_histograms_and_counts(scraped):
    _, families = scraped["later"]
    histogram = families["fixload_http_req_duration_seconds"]
    assert histogram.type == "histogram"
    by_series: dict[tuple, dict] = {}
    for sample in histogram.samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        entry = by_series.setdefault(key, {"buckets": []})
        if sample.name.endswith("_bucket"):
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            entry["count"] = sample.value
        elif sample.name.endswith("_sum"):
            entry["sum"] = sample.value
    # setup's requests (k6: group ::setup, no scenario) are labelled as setup's, not as an empty scenario
    assert {dict(k)["scenario"] for k in by_series} == SCENARIOS | {"setup"}
    assert {dict(k)["name"] for k in by_series if dict(k)["scenario"] == "setup"} <= {
        "/api/zones",
        "/api/services",
        "/api/campaigns",
    }
    assert all(set(dict(k)) == {"scenario", "name", "method", "status"} for k in by_series)
    assert ("name", "/api/bookings/{id}/status") in {kv for k in by_series for kv in k}
    for key, entry in by_series.items():
        buckets = sorted(entry["buckets"])
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), key  # cumulative
        assert buckets[-1][0] == float("inf") and counts[-1] == entry["count"] > 0
        assert 0 <= entry["sum"] < 30 * entry["count"]
    # the request counter agrees with the histogram series by series
    reqs = families["fixload_http_reqs"]
    assert reqs.type == "counter"
    for sample in reqs.samples:
        key = tuple(sorted(sample.labels.items()))
        assert sample.value == by_series[key]["count"]


def test_iterations_vus_rates_workers(scraped):
    _, first = scraped["first"]
    _, later = scraped["later"]
    for scenario in SCENARIOS:
        assert _value(later, "fixload_iterations_started_total", scenario=scenario) >= _value(
            first, "fixload_iterations_started_total", scenario=scenario
        )
        assert _value(later, "fixload_vus_max", scenario=scenario) > 0
        assert _value(later, "fixload_vus", scenario=scenario) >= 0
    assert _value(later, "fixload_iterations_total", scenario="payments_flow") > 0
    assert later["fixload_dropped_iterations"].type == "counter"
    assert _value(later, "fixload_target_iterations_per_second", scenario="payments_flow") == pytest.approx(6.0)
    assert _value(later, "fixload_achieved_iterations_per_second", scenario="payments_flow") == pytest.approx(
        6.0, rel=0.35
    )
    scheduled = _value(later, "fixload_iterations_scheduled_total", scenario="payments_flow")
    started = _value(later, "fixload_iterations_started_total", scenario="payments_flow")
    dropped = _value(later, "fixload_dropped_iterations_total", scenario="payments_flow")
    assert scheduled > 0 and started + dropped <= scheduled + 1  # a scrape reads the counts one after another
    with pytest.raises(KeyError):  # a VU executor has no target rate nor schedule
        _value(later, "fixload_target_iterations_per_second", scenario="analytics_flow")
    with pytest.raises(KeyError):
        _value(later, "fixload_iterations_scheduled_total", scenario="analytics_flow")
    assert _value(later, "fixload_vus_max", scenario="analytics_flow") == 10
    assert _value(later, "fixload_workers") == 0  # a local runner
    assert _value(later, "fixload_test_running") == 1


def test_threshold_status(scraped):
    _, families = scraped["later"]
    ok = families["fixload_threshold_ok"]
    assert len(ok.samples) == 17
    assert {s.value for s in ok.samples} <= {0.0, 1.0}
    labels = {(s.labels["metric"], s.labels["expression"]) for s in ok.samples}
    assert ("http_req_duration{scenario:payments_flow}", "p(95)<950") in labels
    assert ("http_req_failed", "rate<0.02") in labels
    failing = sum(1 for s in ok.samples if s.value == 0)
    assert _value(families, "fixload_thresholds_failing") == failing

    def by_threshold(name: str) -> dict[tuple[str, str], float]:
        return {(s.labels["metric"], s.labels["expression"]): s.value for s in families[name].samples}

    # observed values and bounds split by unit: times in seconds, Rates as ratios; nothing left unit-less here
    ratios, seconds = (
        by_threshold("fixload_threshold_observed_ratio"),
        by_threshold("fixload_threshold_observed_seconds"),
    )
    assert 0.0 <= ratios[("http_req_failed", "rate<0.02")] <= 1.0
    assert 0.0 <= ratios[("payments_flow_success_rate", "rate>0.98")] <= 1.0
    assert 0.0 < seconds[("http_req_duration{scenario:payments_flow}", "p(95)<950")] < 30.0
    assert by_threshold("fixload_threshold_observed") == {}
    limits = by_threshold("fixload_threshold_limit_seconds") | by_threshold("fixload_threshold_limit_ratio")
    assert limits[("http_req_duration{scenario:payments_flow}", "p(95)<950")] == 0.95
    assert limits[("booking_flow_duration", "p(95)<1400")] == 1.4
    assert limits[("http_req_failed", "rate<0.02")] == 0.02
    assert set(limits) == labels  # every threshold has its bound, in exactly one unit
    assert set(ratios) | set(seconds) <= labels


def test_every_scenario_series_exists_from_the_first_scrape(scraped):
    """At the first scrape every per-scenario counter and gauge is there (0 before anything happened), so a
    rate() over dropped iterations or failures has data from the start."""
    _, families = scraped["start"]
    for scenario in SCENARIOS:
        for name in (
            "fixload_iterations_total",
            "fixload_iterations_started_total",
            "fixload_dropped_iterations_total",
            "fixload_iterations_failed_total",
            "fixload_vus",
            "fixload_vus_allocated",
            "fixload_vus_max",
            "fixload_achieved_iterations_per_second",
        ):
            assert _value(families, name, scenario=scenario) >= 0, (name, scenario)
    for scenario in SCENARIOS - {"analytics_flow"}:  # the arrival-rate ones
        _value(families, "fixload_iterations_scheduled_total", scenario=scenario)
        _value(families, "fixload_target_iterations_per_second", scenario=scenario)
    assert len(families["fixload_threshold_ok"].samples) == 17
    assert len(families["fixload_threshold_limit_seconds"].samples) == 11


def test_run_info(scraped):
    _, families = scraped["start"]
    (sample,) = families["fixload_run_info"].samples
    assert sample.value == 1.0
    assert sample.labels == {
        "profile": "Baseline Performance Envelope v1 (short) / 10",
        "multiplier": "1",
        "target": scraped["target"],
    }


def test_public_target_drops_userinfo_query_and_fragment():
    assert public_target("https://user:s3cret@staging.example:8443/api?token=x#f") == "https://staging.example:8443/api"
    assert public_target("http://[::1]:4000") == "http://[::1]:4000"
    assert public_target("") == ""


def test_threshold_units_follow_the_metric():
    registry = Registry()
    registry.define("booking_flow_duration", "trend", True)
    registry.define("booking_flow_success_rate", "rate")
    registry.define("payload_size", "trend")
    assert threshold_unit(registry, "http_req_duration{scenario:booking_flow}", "p(95)<900") == "_seconds"
    assert threshold_unit(registry, "booking_flow_duration", "avg<700") == "_seconds"
    assert threshold_unit(registry, "booking_flow_success_rate", "rate>0.98") == "_ratio"
    assert threshold_unit(registry, "http_reqs", "rate>10") == "_per_second"
    assert threshold_unit(registry, "http_reqs", "count>100") == ""
    assert threshold_unit(registry, "data_received", "count<1000") == "_bytes"
    assert threshold_unit(registry, "payload_size", "p(95)<10") == ""
    assert threshold_unit(registry, "vus", "value<10") == ""


def test_histogram_buckets_start_at_one_millisecond(scraped):
    _, families = scraped["later"]
    bounds = sorted(
        {float(s.labels["le"]) for s in families["fixload_http_req_duration_seconds"].samples if "le" in s.labels}
    )
    assert bounds[0] == 0.001 and bounds[:-1] == list(BUCKETS_SECONDS) and bounds[-1] == float("inf")


def test_every_metric_the_dashboard_queries_is_exposed(scraped):
    """Parse the shipped Grafana dashboard's PromQL for metric names: each one is declared from the first scrape
    and has samples once requests and checks have run."""
    names = dashboard_metrics()
    assert len(names) >= 15, names
    assert missing_from(scraped["start"][0], names, samples=False) == []
    assert missing_from(scraped["later"][0], names, samples=True) == []


def test_exposition_has_no_secrets(scraped):
    assert_no_secrets(scraped["first"][0] + scraped["later"][0], scraped["env"], "/metrics")


def test_buckets_from_sketch_match_exact_counts():
    rng = random.Random(7)
    values = [rng.lognormvariate(4.0, 1.2) for _ in range(20 * EXACT_LIMIT)]
    sink = TrendSink()
    for v in values:
        sink.add(v)
    assert sink.exact is None  # past the exact limit: the sketch answers
    bounds = (5.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0)
    got = bucket_counts(sink, bounds)
    for bound, count in zip(bounds, got, strict=True):
        exact = sum(1 for v in values if v <= bound)
        near = sum(1 for v in values if abs(v - bound) <= bound * 0.006)  # within the sketch's accuracy
        assert abs(count - exact) <= near, (bound, count, exact)
    small = TrendSink()
    for v in (1.0, 2.0, 3.0):
        small.add(v)
    assert bucket_counts(small, (0.5, 2.0, 10.0)) == [0, 2, 3]


def _total(families: dict, name: str, **labels: str) -> float:
    family = families[name.removesuffix("_total")]
    return sum(
        s.value for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_a_scrape_after_the_end_gets_the_final_values(scraped):
    """The headless run's port stays up after the test (--prometheus-linger): its values are the summary's."""
    _, families = scraped["after"]
    summary = scraped["summary"]
    assert _value(families, "fixload_test_running") == 0
    assert _total(families, "fixload_http_reqs_total") == summary["metrics"]["http_reqs"]["count"] > 0
    for name, counts in summary["fixload"]["scenarios"].items():
        assert _value(families, "fixload_iterations_started_total", scenario=name) == counts["started"], name
    assert _total(families, "fixload_http_reqs_total") >= _total(scraped["later"][1], "fixload_http_reqs_total")


def test_a_signal_ends_the_linger_at_once(scraped):
    assert scraped["exited_in"] < 5.0, scraped["proc"].output()[-2000:]
    assert scraped["code"] in (0, 99)  # the run's verdict stands: the signal came after its end


def test_the_final_values_are_pushed(scraped):
    """--prometheus-push: one push to the Pushgateway's job path, in Prometheus' text format, with the final values."""
    assert len(scraped["pushes"]) == 1, scraped["pushes"]
    method, path, body = scraped["pushes"][0]
    assert method == "PUT" and path == "/metrics/job/fixload"
    families = _families(body)
    assert _total(families, "fixload_http_reqs_total") == scraped["summary"]["metrics"]["http_reqs"]["count"]
    assert _value(families, "fixload_test_running") == 0


def test_flow_duration_histograms(scraped):
    """What the flow thresholds judge (`<flow>_duration`) as a histogram per scenario and flow; its mean is the
    summary's avg of that Trend (the same samples)."""
    _, families = scraped["after"]
    histogram = families["fixload_flow_duration_seconds"]
    assert histogram.type == "histogram"
    series: dict[tuple[str, str], dict[str, float]] = {}
    for sample in histogram.samples:
        key = (sample.labels["scenario"], sample.labels["flow"])
        series.setdefault(key, {})[sample.name.rsplit("_", 1)[1]] = sample.value
    assert {scenario for scenario, _ in series} == SCENARIOS
    metrics = scraped["summary"]["metrics"]
    for (scenario, flow), values in series.items():
        assert values["count"] > 0, (scenario, flow)
        mean_ms = values["sum"] / values["count"] * 1000.0
        assert mean_ms == pytest.approx(metrics[f"{flow}_duration"]["avg"], rel=1e-6), (scenario, flow)


def test_a_run_a_signal_stopped_does_not_linger(simulator, tmp_path):
    """Ctrl-C ends a headless run with --prometheus-port (default linger 30 s) promptly: no linger after a signal."""
    profile = scaled_profile(tmp_path, 5.0)
    port = free_port()
    argv = [*LOCUST, "-f", "locustfiles/", "--headless", "--profile", str(profile), "-H", simulator.base_url]
    argv += ["--summary", str(tmp_path / "summary.json"), "--prometheus-port", str(port)]
    proc = Process(argv, child_env(simulator.env), tmp_path, "locust")
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200, 30, "the metrics port")
        signalled = time.monotonic()
        code = proc.stop(signal.SIGINT, timeout=25)
        assert time.monotonic() - signalled < 15, proc.output()[-2000:]
        assert code == 105 and "metrics stay up" not in proc.output()
    finally:
        proc.stop(signal.SIGKILL)
