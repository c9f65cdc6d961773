"""Issue 29, in process: request ids and W3C trace context (fixload.flows.tracing), the ids a failure kind and a
scenario's slowest requests keep (fixload.metrics.failures), what the console and HTML report say of them,
the samples writer's shape and bound, and the OpenTelemetry attributes; none of them ever holds a secret."""

from __future__ import annotations

import gzip
import json
import logging
import re
import uuid
from urllib.parse import unquote

import pytest

from fixload.common import secrets
from fixload.flows.tracing import Tracing, new_trace_id, parse_traceparent, stamp
from fixload.metrics.failures import KEPT_IDS, SLOWEST, FailureLog
from fixload.metrics.registry import Registry
from fixload.report.pointers import console_lines, html_section
from fixload.surfaces.samples import SampleWriter, size_limit, worker_path

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


@pytest.fixture(autouse=True)
def _own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test registers stays its own."""
    monkeypatch.setattr(secrets, "_known", set(secrets._known))
    monkeypatch.setattr(secrets, "_patterns", list(secrets._patterns))


def test_ten_thousand_requests_get_unique_w3c_valid_ids() -> None:
    """2,500 iterations of 4 requests: every request id a UUID4 and unique, every traceparent valid and unique,
    one trace per iteration (shared by its requests), the baggage naming scenario, step and iteration."""
    tracing = Tracing()
    request_ids, parents, traces = set(), set(), set()
    for iteration in range(2500):
        trace_id = new_trace_id()
        for step in ("Create", "Read", "Update", "Delete"):
            headers: dict[str, str] = {}
            ids = stamp(headers, tracing, trace_id, "booking_flow", step, iteration)
            assert uuid.UUID(headers["X-Request-Id"]).version == 4
            assert TRACEPARENT.match(headers["traceparent"]), headers["traceparent"]
            version, trace, span, flags = parse_traceparent(headers["traceparent"]) or ("", "", "", "")
            assert (version, trace, flags) == ("00", trace_id, "01") and span == ids.span_id
            assert ids.request_id == headers["X-Request-Id"] and ids.trace_id == trace_id
            bag = dict(item.split("=", 1) for item in headers["baggage"].split(","))
            assert bag == {
                "fixload.scenario": "booking_flow",
                "fixload.step": step,
                "fixload.iteration": str(iteration),
            }
            request_ids.add(ids.request_id)
            parents.add(headers["traceparent"])
        traces.add(trace_id)
    assert len(request_ids) == len(parents) == 10_000
    assert len(traces) == 2500


def test_the_w3c_parser_refuses_what_the_format_forbids() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    for bad in (
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",  # short
    ):
        assert parse_traceparent(bad) is None, bad


def test_what_the_flow_or_profile_set_is_sent_as_given() -> None:
    preset = {"x-request-id": "mine-1", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    preset["Baggage"] = "team=payments"
    headers = dict(preset)
    ids = stamp(headers, Tracing(), new_trace_id(), "s", "step", 1, preset)
    assert headers == preset  # nothing added, nothing replaced
    assert (ids.request_id, ids.trace_id, ids.span_id) == (
        "mine-1",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )


def test_the_header_name_and_the_off_switches() -> None:
    headers: dict[str, str] = {}
    ids = stamp(
        headers, Tracing.from_env({"FIXLOAD_REQUEST_ID_HEADER": "X-Correlation-Id"}), new_trace_id(), "s", "x", 0
    )
    assert set(headers) == {"X-Correlation-Id", "traceparent", "baggage"} and ids.request_id
    headers = {}
    off = Tracing.from_env({"FIXLOAD_REQUEST_ID_HEADER": "off", "FIXLOAD_TRACE_CONTEXT": "off"})
    ids = stamp(headers, off, new_trace_id(), "s", "x", 0)
    assert headers == {} and (ids.request_id, ids.trace_id) == ("", "")


def test_baggage_never_carries_a_secret() -> None:
    secret = "sk-live-5c4b3a29f8e7"
    secrets.register_secrets([secret])
    headers: dict[str, str] = {}
    stamp(headers, Tracing(), new_trace_id(), f"flow-{secret}", f"Login with {secret}", 3)
    shown = unquote(headers["baggage"])
    assert secret not in shown and "***" in shown
    assert secret not in headers["X-Request-Id"] + headers["traceparent"]


def _ids(n: int) -> dict[str, str]:
    return {"requestId": f"req-{n}", "traceId": f"{n:032x}"}


def test_a_failure_kind_keeps_its_first_and_last_ids_bounded_across_workers() -> None:
    worker, master = FailureLog(), FailureLog()
    for n in range(40):
        worker.record("ads_flow", "Campaign metric ingestion failed", 500, "{}", _ids(n))
        if n in (9, 29):
            master.merge(worker.snapshot())  # a worker's periodic report
    master.merge(worker.snapshot())
    [entry] = master.by_scenario()["ads_flow"]
    assert entry["count"] == 40
    assert entry["requests"]["first"] == [_ids(n) for n in range(KEPT_IDS)]
    assert entry["requests"]["last"] == [_ids(n) for n in range(40 - KEPT_IDS, 40)]


def test_a_scenario_keeps_its_slowest_requests() -> None:
    worker, master = FailureLog(), FailureLog()
    latencies = [float((n * 37) % 101) for n in range(300)]
    for n, latency in enumerate(latencies):
        worker.observe("booking_flow", latency, {**_ids(n), "step": f"step {n}", "name": "/api/x", "status": 200})
        if n % 50 == 49:
            master.merge(worker.snapshot())
    kept = master.slowest()["booking_flow"]
    assert [k["latencyMs"] for k in kept] == sorted(latencies, reverse=True)[:SLOWEST]
    for k in kept:
        assert latencies[int(k["requestId"].split("-")[1])] == k["latencyMs"]  # ids and latency belong together


def _summary() -> dict:
    failure = {
        "step": "Campaign metric ingestion failed",
        "status": 500,
        "count": 45,
        "body": "{}",
        "requests": {"first": [_ids(1), _ids(2)], "last": [_ids(45)]},
    }
    slow = {**_ids(7), "step": "Booking list", "name": "/api/bookings", "status": 200, "latencyMs": 812.5}
    scenarios = {"ads_flow": {"failures": [failure], "slowest": [slow]}}
    tracing = {"requestIdHeader": "X-Request-Id", "traceUrl": "http://127.0.0.1:16686/trace/{trace_id}"}
    return {"fixload": {"scenarios": scenarios, "tracing": tracing}}


def test_the_console_and_the_html_report_point_at_the_ids() -> None:
    lines = "\n".join(console_lines(_summary()["fixload"]))
    assert "grep the backend's log for X-Request-Id: grep 'req-1\\|req-2\\|req-45' backend.log" in lines
    assert f"trace: http://127.0.0.1:16686/trace/{_ids(45)['traceId']}" in lines
    assert "slowest: 812.5ms at Booking list" in lines
    page = html_section(_summary())
    assert "<h2>Requests to look up</h2>" in page
    assert f'<a href="http://127.0.0.1:16686/trace/{_ids(2)["traceId"]}">' in page and "req-7" in page
    assert console_lines({"scenarios": {"x": {"failures": [], "slowest": []}}}) == []


def test_samples_are_k6_records_and_stop_at_their_limit(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    path = tmp_path / "s.jsonl.gz"
    writer = SampleWriter(path, 2000, registry)
    registry.add_tap(writer.sample)
    secrets.register_secrets(["tag-secret-77aa"])
    with caplog.at_level(logging.WARNING, "fixload.samples"):
        for _ in range(100):
            registry.add("http_reqs", 1.0, {"scenario": "s", "name": "/api/x", "env": "tag-secret-77aa"})
    writer.close()
    with gzip.open(path) as read:
        records = [json.loads(line) for line in read]
    assert records[0] == {
        "type": "Metric",
        "data": {"name": "http_reqs", "type": "counter", "contains": "default", "thresholds": [], "submetrics": None},
        "metric": "http_reqs",
    }
    point = records[1]
    assert point["metric"] == "http_reqs" and point["type"] == "Point" and point["data"]["value"] == 1.0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", point["data"]["time"])
    assert point["data"]["tags"] == {"scenario": "s", "name": "/api/x", "env": "***"}
    assert 1 < len(records) < 100 and writer.full and writer.written <= 2000  # bounded, and said so once
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "reached its size limit" in caplog.records[0].message
    assert registry.aggregate("http_reqs").count == 100  # the run's own counts do not stop with the file


def test_sample_file_names_and_sizes() -> None:
    assert worker_path("out/samples.jsonl.gz", "2").name == "samples.worker-2.jsonl.gz"
    assert worker_path("samples", "0").name == "samples.worker-0"
    assert size_limit("500MB") == 500_000_000 and size_limit("1024") == 1024
    with pytest.raises(Exception, match="expected a positive size"):
        size_limit("lots")


def test_otel_attributes_follow_the_conventions_and_hold_no_secret() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from fixload.surfaces.otel import Exporter

    secrets.register_secrets(["otel-secret-9911"])
    exporter = Exporter("http://127.0.0.1:9", {"service.name": "fixload"}, spans=False)
    try:
        tags = {"name": "/api/bookings", "method": "POST", "status": "500", "expected_response": "false"}
        attributes = exporter.attributes("http_req_duration", {**tags, "team": "otel-secret-9911"})
        assert attributes["http.request.method"] == "POST" and attributes["url.template"] == "/api/bookings"
        assert attributes["http.response.status_code"] == 500 and attributes["error.type"] == "500"
        assert attributes["team"] == "***"
    finally:
        exporter.meters.shutdown(timeout_millis=100)


def test_prometheus_histograms_carry_the_slowest_requests_as_exemplars() -> None:
    """OpenMetrics (what a Prometheus with exemplar storage asks for): the bucket of a scenario's slowest
    request names its trace id; Prometheus' plain text format has no exemplars and shows none."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

    from fixload.surfaces.prometheus import FixloadCollector, _exemplars

    registry = Registry()
    tags = {"scenario": "s", "name": "/api/x", "method": "GET", "status": "200", "expected_response": "true"}
    for value in (5.0, 12.0, 800.0):
        registry.add("http_req_duration", value, tags)
    log = FailureLog()
    slow = {"requestId": "r-1", "traceId": "a" * 32, "step": "x", "name": "/api/x", "method": "GET", "status": 200}
    log.observe("s", 800.0, slow)

    class Requests:
        def collect(self):  # type: ignore[no-untyped-def]
            yield from FixloadCollector._requests(registry, _exemplars(log.slowest()))

    scrape = CollectorRegistry()
    scrape.register(Requests())  # type: ignore[arg-type]
    text = openmetrics(scrape).decode()
    [line] = [line for line in text.splitlines() if " # {" in line]
    exemplar = r' 3\.0 # \{request_id="r-1",trace_id="a{32}"\} 0\.8$'
    assert re.match(r'^fixload_http_req_duration_seconds_bucket\{le="0\.9",.*scenario="s".*\}' + exemplar, line), line
    assert " # {" not in generate_latest(scrape).decode()
