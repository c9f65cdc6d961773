"""Prometheus exposition of a fixload run, written with `prometheus_client` (no hand-formatted text).

A custom Collector reads the master's (or local runner's) registry and live view at scrape time. Names
follow Prometheus' conventions (base units in the name, `_total` on counters, `_info` for labels-only
facts); every per-scenario series exists from the first scrape, at 0. Histogram buckets come from the
registry's Trend sinks. Served at `/metrics` on Locust's web UI and, with `--prometheus-port N`, by
`prometheus_client.start_http_server` on `--prometheus-host` (127.0.0.1 by default). Label values pass
through `redact()`; setup's requests and checks (k6's group `::setup`, no scenario) carry `scenario="setup"`.

The whole run, to its end: a headless run keeps `--prometheus-port` up `--prometheus-linger` seconds after the
test ended (default 30 s, two scrape intervals of 15 s; a signal ends it at once; a run a signal stopped does
not linger), and `--prometheus-push URL`
pushes the final values to a Pushgateway (`prometheus_client.push_to_gateway`, job `fixload`) when it quits.

The metric list: docs/design-notes.md#surfaces-prometheus.
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gevent
from gevent.event import Event
from prometheus_client import push_to_gateway
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from fixload.common.secrets import redact
from fixload.flows.fixtures import SETUP_GROUP
from fixload.metrics.registry import Registry
from fixload.metrics.sinks import MAPPING, MetricType, TrendSink, ValueType
from fixload.metrics.thresholds import parse_expression, parse_selector
from fixload.runtime.live import Live, live_thresholds, summary_thresholds
from fixload.runtime.options import headless

logger = logging.getLogger("fixload")

BUCKETS_SECONDS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.75,
    0.9,
    1.0,
    1.2,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
)
REQUEST_LABELS = ("scenario", "name", "method", "status")
FLOW_LABELS = ("scenario", "flow")
SETUP_SCENARIO = "setup"
"""The `scenario` label of setup's samples (k6 tags them `group=::setup` and no scenario)."""
DEFAULT_LINGER_S = 30.0
"""How long a headless run's --prometheus-port stays up after the test: two scrape intervals of 15 s
(Prometheus' default is 1 m; deploy/prometheus/prometheus.yml scrapes every 5 s)."""
PUSH_JOB = "fixload"
PUSH_TIMEOUT_S = 10.0
THRESHOLD_LABELS = ("metric", "expression")
# a threshold value's unit suffix -> (help text, what divides the k6 value: k6 times are milliseconds)
UNITS: dict[str, tuple[str, float]] = {
    "_seconds": ("a Trend of time, in seconds", 1000.0),
    "_ratio": ("a Rate, as a ratio (0..1)", 1.0),
    "_per_second": ("a Counter's rate, per second", 1.0),
    "_bytes": ("data, in bytes", 1.0),
    "": ("a count, a Gauge's value or a Trend without a unit", 1.0),
}


def bucket_counts(sink: TrendSink, bounds_ms: tuple[float, ...]) -> list[int]:
    """Cumulative counts of samples <= each bound (ms), for a Prometheus histogram."""
    if sink.count == 0:
        return [0] * len(bounds_ms)
    if sink.exact is not None:
        values = sorted(sink.exact)
        out, i = [], 0
        for bound in bounds_ms:
            while i < len(values) and values[i] <= bound:
                i += 1
            out.append(i)
        return out
    below_zero = round(sink.sketch.count - sink.pos.count)  # zero bin and negative values
    pairs: list[tuple[float, float]] = []
    store = sink.pos
    if store.count:
        lo, hi = store.min_key - store.offset, store.max_key - store.offset
        for index in range(lo, hi + 1):
            count = store.bins[index]
            if count:
                pairs.append((MAPPING.value(index + store.offset), count))
    out, i, running = [], 0, float(below_zero)
    for bound in bounds_ms:
        while i < len(pairs) and pairs[i][0] <= bound:
            running += pairs[i][1]
            i += 1
        out.append(round(running))
    return out


def threshold_unit(registry: Registry, metric_key: str, expression: str) -> str:
    """The unit suffix of a threshold's observed value: what its metric holds and how it is aggregated."""
    metric = registry.get(parse_selector(metric_key).metric)
    if metric is None:
        return ""
    aggregation = parse_expression(expression).aggregation
    if metric.type is MetricType.RATE:
        return "_ratio"
    if metric.type is MetricType.COUNTER and aggregation == "rate":
        return "_per_second"
    if metric.contains is ValueType.DATA:
        return "_bytes"
    if metric.type is MetricType.TREND and metric.contains is ValueType.TIME:
        return "_seconds"
    return ""


def public_target(url: str) -> str:
    """The target URL as a label: scheme, host, port and path; never userinfo, a query or a fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def scenario_label(tags: dict[str, str]) -> str:
    """The scenario a sample belongs to; setup's (k6's group `::setup`, no scenario) are `setup`'s."""
    scenario = tags.get("scenario", "")
    if not scenario and tags.get("group") == SETUP_GROUP:
        return SETUP_SCENARIO
    return redact(scenario)


def _labels(tags: dict[str, str]) -> list[str]:
    return [scenario_label(tags) if k == "scenario" else redact(tags.get(k, "")) for k in REQUEST_LABELS]


def _count(registry: Registry, metric: str, selector: dict[str, str]) -> float:
    if metric not in registry:
        return 0.0
    return float(registry.aggregate(metric, selector).compute("count") or 0.0)


class FixloadCollector(Collector):
    """Reads one environment's registry and live view at every scrape."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.runtime = live.runtime
        self.environment = live.environment

    def describe(self) -> list[Any]:
        return []  # no describe-time metrics: collect() reads live state (and registering never scrapes)

    def collect(self) -> Iterator[Any]:
        run = self.runtime
        registry = run.registry
        live = self.live
        status = live.status()
        yield self._run_info(status)
        yield from self._requests(registry, _exemplars(run.failures.slowest()))
        yield from self._scenarios(registry, status)
        yield self._flow_durations(registry, status)
        yield from self._checks(registry)
        yield from self._thresholds(registry, live)
        workers = len(run.role.workers())
        yield GaugeMetricFamily("fixload_workers", "active Locust workers (0 on a local runner)", value=float(workers))
        yield GaugeMetricFamily("fixload_test_running", "1 while a test runs", value=1.0 if live.running else 0.0)
        yield GaugeMetricFamily(
            "fixload_test_elapsed_seconds", "seconds since the scenarios' clock started", value=status["elapsed"]
        )

    def _run_info(self, status: dict[str, Any]) -> GaugeMetricFamily:
        info = GaugeMetricFamily(
            "fixload_run_info",
            "the run's profile, multiplier and target (always 1)",
            labels=("profile", "multiplier", "target"),
        )
        config = self.runtime.config
        target = config.target.base_url if config is not None else (self.environment.host or "")
        multiplier = status.get("multiplier")
        info.add_metric(
            [
                redact(str(status.get("profile") or "")),
                "" if multiplier is None else f"{multiplier:g}",
                public_target(target),
            ],
            1.0,
        )
        return info

    @staticmethod
    def _requests(registry: Registry, exemplars: dict[tuple[str, ...], list[Exemplar]] | None = None) -> Iterator[Any]:
        duration = HistogramMetricFamily(
            "fixload_http_req_duration_seconds",
            "HTTP request duration (k6 http_req_duration) by scenario, request name, method and status",
            labels=REQUEST_LABELS,
        )
        bounds_ms = tuple(b * 1000.0 for b in BUCKETS_SECONDS)
        merged: dict[tuple[str, ...], TrendSink] = {}
        if "http_req_duration" in registry:
            for series in registry.series("http_req_duration"):
                key = tuple(_labels(series.tags))
                into = merged.get(key)
                if into is None:
                    into = merged[key] = TrendSink()
                into.merge(series.sink)  # type: ignore[arg-type]
        for key, sink in sorted(merged.items()):
            cumulative = bucket_counts(sink, bounds_ms)
            buckets: list[Any] = [(_le(b), float(c)) for b, c in zip(BUCKETS_SECONDS, cumulative, strict=True)]
            buckets.append(("+Inf", float(sink.count)))
            for exemplar in (exemplars or {}).get(key, ()):  # OpenMetrics: the slowest requests' trace ids
                index = next((i for i, b in enumerate(BUCKETS_SECONDS) if exemplar.value <= b), len(buckets) - 1)
                buckets[index] = (*buckets[index][:2], exemplar)
            duration.add_metric(list(key), buckets, sum_value=sink.sum / 1000.0)
        yield duration

        reqs = CounterMetricFamily(
            "fixload_http_reqs",
            "HTTP requests (k6 http_reqs) by scenario, request name, method and status",
            labels=REQUEST_LABELS,
        )
        totals: dict[tuple[str, ...], float] = {}
        if "http_reqs" in registry:
            for series in registry.series("http_reqs"):
                key = tuple(_labels(series.tags))
                totals[key] = totals.get(key, 0.0) + float(series.sink.compute("count") or 0.0)
        for key, value in sorted(totals.items()):
            reqs.add_metric(list(key), value)
        yield reqs

    @staticmethod
    def _scenarios(registry: Registry, status: dict[str, Any]) -> Iterator[Any]:
        def counter(name: str, help_text: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, help_text, labels=("scenario",))

        def gauge(name: str, help_text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, help_text, labels=("scenario",))

        completed = counter("fixload_iterations", "completed iterations (k6 iterations)")
        started = counter("fixload_iterations_started", "iterations started (executor counts)")
        scheduled = counter("fixload_iterations_scheduled", "iterations due so far (arrival-rate executors)")
        dropped = counter("fixload_dropped_iterations", "iterations an arrival-rate executor dropped (no free VU)")
        failed = counter("fixload_iterations_failed", "iterations a step of the flow failed")
        vus = gauge("fixload_vus", "VUs running an iteration now")
        allocated = gauge("fixload_vus_allocated", "VUs allocated (arrival-rate) or targeted (VU executors)")
        vus_max = gauge("fixload_vus_max", "the most VUs the scenario may use")
        target = gauge("fixload_target_iterations_per_second", "scheduled iterations/s now (arrival-rate executors)")
        achieved = gauge("fixload_achieved_iterations_per_second", "iterations started per second, last seconds")
        for s in status["scenarios"]:
            name = s["name"]
            label = [redact(name)]
            selector = {"scenario": name}
            completed.add_metric(label, _count(registry, "iterations", selector))
            started.add_metric(label, float(s["started"]))
            dropped.add_metric(label, _count(registry, "dropped_iterations", selector))
            failed.add_metric(label, _count(registry, f"{s['flow']}_failures", selector))
            vus.add_metric(label, float(s["vusBusy"]))
            allocated.add_metric(label, float(s["vusAllocated"]))
            vus_max.add_metric(label, float(s["vusMax"]))
            achieved.add_metric(label, float(s["achievedRate"] or 0.0))
            if s["executor"].endswith("arrival-rate"):
                scheduled.add_metric(label, float(s["scheduled"] or 0))
                target.add_metric(label, float(s["targetRate"] or 0.0))
        yield from (completed, started, scheduled, dropped, failed, vus, allocated, vus_max, target, achieved)

    @staticmethod
    def _flow_durations(registry: Registry, status: dict[str, Any]) -> HistogramMetricFamily:
        """Each flow's iteration duration (`<flow>_duration`, the Trend the profiles' thresholds judge)."""
        family = HistogramMetricFamily(
            "fixload_flow_duration_seconds",
            "a flow's iteration duration (k6 <flow>_duration: what the flow thresholds judge) by scenario and flow",
            labels=FLOW_LABELS,
        )
        bounds_ms = tuple(b * 1000.0 for b in BUCKETS_SECONDS)
        merged: dict[tuple[str, str], TrendSink] = {}
        for flow in sorted({s["flow"] for s in status["scenarios"]}):
            metric = f"{flow}_duration"
            if metric not in registry:
                continue
            for series in registry.series(metric):
                key = (scenario_label(series.tags), redact(flow))
                merged.setdefault(key, TrendSink()).merge(series.sink)  # type: ignore[arg-type]
        for key, sink in sorted(merged.items()):
            cumulative = bucket_counts(sink, bounds_ms)
            buckets = [(_le(b), float(c)) for b, c in zip(BUCKETS_SECONDS, cumulative, strict=True)]
            buckets.append(("+Inf", float(sink.count)))
            family.add_metric(list(key), buckets, sum_value=sink.sum / 1000.0)
        return family

    @staticmethod
    def _checks(registry: Registry) -> Iterator[Any]:
        total = CounterMetricFamily("fixload_checks", "checks (a flow's steps) evaluated", labels=("scenario", "check"))
        failed = CounterMetricFamily(
            "fixload_checks_failed", "checks (a flow's steps) that failed", labels=("scenario", "check")
        )
        counts: dict[tuple[str, str], list[float]] = {}
        if "checks" in registry:
            for series in registry.series("checks"):
                key = (scenario_label(series.tags), redact(series.tags.get("check", "")))
                entry = counts.setdefault(key, [0.0, 0.0])
                entry[0] += series.sink.total  # type: ignore[union-attr]
                entry[1] += series.sink.fails  # type: ignore[union-attr]
        for key, (evaluated, fails) in sorted(counts.items()):
            total.add_metric(list(key), evaluated)
            failed.add_metric(list(key), fails)
        yield total
        yield failed

    def _thresholds(self, registry: Registry, live: Any) -> Iterator[Any]:
        run = self.runtime
        ok = GaugeMetricFamily(
            "fixload_threshold_ok",
            "1 if the threshold passes (or has no samples yet), 0 if it fails",
            labels=THRESHOLD_LABELS,
        )
        observed = {
            unit: GaugeMetricFamily(
                f"fixload_threshold_observed{unit}",
                f"a threshold's aggregation so far: {text}",
                labels=THRESHOLD_LABELS,
            )
            for unit, (text, _) in UNITS.items()
        }
        limit = {
            unit: GaugeMetricFamily(
                f"fixload_threshold_limit{unit}", f"a threshold's bound: {text}", labels=THRESHOLD_LABELS
            )
            for unit, (text, _) in UNITS.items()
        }
        thresholds = live_thresholds(run, live.elapsed()) if live.running else summary_thresholds(run)
        failing = 0
        for t in thresholds:
            label = [redact(t["metric"]), redact(t["expression"])]
            ok.add_metric(label, 0.0 if t["ok"] is False else 1.0)
            failing += t["ok"] is False
            unit = threshold_unit(registry, t["metric"], t["expression"])
            divisor = UNITS[unit][1]
            limit[unit].add_metric(label, parse_expression(t["expression"]).value / divisor)
            if t["observed"] is not None and math.isfinite(float(t["observed"])):
                observed[unit].add_metric(label, float(t["observed"]) / divisor)
        yield ok
        yield from observed.values()
        yield from limit.values()
        yield GaugeMetricFamily("fixload_thresholds_failing", "thresholds failing now", value=float(failing))


def _exemplars(slowest: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, ...], list[Exemplar]]:
    """The scenarios' slowest requests (fixload.metrics.failures) as exemplars of their request series: a
    trace id (or the request id) and the latency in seconds; a bucket shows one, so the slowest wins."""
    out: dict[tuple[str, ...], list[Exemplar]] = {}
    for scenario, requests in slowest.items():
        for request in reversed(requests):  # slowest last: it wins its bucket
            ident = {"trace_id": request["traceId"]} if request.get("traceId") else {}
            if request.get("requestId"):
                ident["request_id"] = request["requestId"]
            if not ident:
                continue
            tags = {"scenario": scenario, **{k: str(request.get(k, "")) for k in ("name", "method", "status")}}
            key = tuple(_labels(tags))
            out.setdefault(key, []).append(Exemplar(ident, float(request.get("latencyMs") or 0.0) / 1000.0))
    return out


def _le(bound: float) -> str:
    return repr(float(bound))


def registry_for(live: Live) -> CollectorRegistry:
    """One prometheus_client registry per run, holding only fixload's collector."""
    run = live.runtime
    if run.prometheus_registry is None:
        run.prometheus_registry = CollectorRegistry(auto_describe=False)
        run.prometheus_registry.register(FixloadCollector(live))
    return run.prometheus_registry


def exposition(live: Live, accept: str = "") -> tuple[bytes, str]:
    """The scrape's body and content type: OpenMetrics (with exemplars) when `accept` asks for it, else
    Prometheus' text format, as `prometheus_client`'s own servers negotiate it."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry_for(live)), content_type


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=0,
        include_in_web_ui=False,
        help="fixload: serve Prometheus metrics on this port (master/local runner; e.g. with --headless). "
        "The web UI always serves them at /metrics.",
    )
    parser.add_argument(
        "--prometheus-host",
        default="127.0.0.1",
        include_in_web_ui=False,
        help="fixload: interface for --prometheus-port (default 127.0.0.1)",
    )
    parser.add_argument(
        "--prometheus-linger",
        type=float,
        default=None,
        include_in_web_ui=False,
        help=f"fixload: seconds a headless run keeps --prometheus-port up after the test ended, so a scrape gets "
        f"the final values (default {DEFAULT_LINGER_S:g} with --prometheus-port; a signal ends it at once)",
    )
    parser.add_argument(
        "--prometheus-push",
        default="",
        include_in_web_ui=False,
        metavar="URL",
        help=f"fixload: push the final values to this Pushgateway (job {PUSH_JOB!r}) when the run ends",
    )


def install(live: Live, web_ui: Any) -> None:
    """/metrics on the web UI, and on --prometheus-port (master/local runner; called at init by `fixload.plugin`)."""
    run, environment = live.runtime, live.environment
    if not run.role.leads:
        return
    if web_ui is not None:
        from flask import Response

        @web_ui.app.route("/metrics")
        @web_ui.auth_required_if_enabled
        def fixload_metrics() -> Response:
            from flask import request

            body, content_type = exposition(live, request.headers.get("Accept", ""))
            return Response(body, content_type=content_type)

    options = environment.parsed_options
    port = int(getattr(options, "prometheus_port", 0) or 0) if options is not None else 0
    if port:
        from prometheus_client import start_http_server

        host = getattr(options, "prometheus_host", "127.0.0.1") or "127.0.0.1"
        server, _thread = start_http_server(port, addr=host, registry=registry_for(live))
        run.prometheus_server = server
        logger.info("fixload: Prometheus metrics on http://%s:%d/metrics", host, server.server_port)
    quit_once: list[bool] = []

    def on_quitting(**_: Any) -> None:
        # Locust fires `quitting` again when a signal comes during the first (its SIGTERM handler shuts down)
        if not quit_once:
            quit_once.append(True)
            _on_quitting(live)

    environment.events.quitting.add_listener(on_quitting)


def linger_seconds(options: Any) -> float:
    """--prometheus-linger, or its default when --prometheus-port is given (0 without a port to keep up)."""
    if options is None or not int(getattr(options, "prometheus_port", 0) or 0):
        return 0.0
    value = getattr(options, "prometheus_linger", None)
    return DEFAULT_LINGER_S if value is None else max(0.0, float(value))


def push(live: Live, url: str) -> bool:
    """Push the current values to a Pushgateway at `url` (job `fixload`); a failure is logged, never fatal."""
    try:
        push_to_gateway(url, job=PUSH_JOB, registry=registry_for(live), timeout=PUSH_TIMEOUT_S)
    except Exception as exc:  # the run's result stands whatever the gateway does
        logger.error("fixload: --prometheus-push %s failed: %s", redact(url), redact(str(exc)))
        return False
    logger.info("fixload: pushed the final Prometheus values to %s (job %s)", redact(url), PUSH_JOB)
    return True


def linger(seconds: float) -> bool:
    """Wait `seconds` (the Prometheus server keeps answering), or less if SIGINT/SIGTERM comes; True if a
    signal ended it. fixload's own handlers see the signal too (the run has ended: its result stands)."""
    ended = Event()
    watchers = [gevent.signal_handler(signum, ended.set) for signum in (signal.SIGINT, signal.SIGTERM)]
    try:
        return ended.wait(timeout=seconds)
    finally:
        for watcher in watchers:
            watcher.cancel()


def _on_quitting(live: Live) -> None:
    run, environment = live.runtime, live.environment
    options = environment.parsed_options
    url = getattr(options, "prometheus_push", "") if options is not None else ""
    if url:
        push(live, url)
    seconds = linger_seconds(options)
    signalled = bool(run.lifecycle.interrupted_by)  # a run stopped by a signal exits promptly
    if run.prometheus_server is not None and headless(environment) and seconds > 0 and not signalled:
        logger.info("fixload: Prometheus metrics stay up %g s for a last scrape (--prometheus-linger)", seconds)
        if linger(seconds):
            logger.info("fixload: signal received: Prometheus metrics down")
    server, run.prometheus_server = run.prometheus_server, None
    if server is not None:
        server.shutdown()
        server.server_close()
