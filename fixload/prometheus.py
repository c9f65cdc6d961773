"""Prometheus exposition of a fixload run, written with `prometheus_client` (no hand-formatted text).

A custom Collector reads the master's (or local runner's) metrics registry and live view at scrape time:

    fixload_http_req_duration_seconds   histogram  scenario, name, method, status
    fixload_http_reqs_total             counter    scenario, name, method, status
    fixload_iterations_total            counter    scenario            (completed iterations, k6 `iterations`)
    fixload_dropped_iterations_total    counter    scenario            (k6 `dropped_iterations`)
    fixload_iterations_started_total    counter    scenario            (from the executors' counts)
    fixload_vus / _vus_allocated / _vus_max  gauge scenario
    fixload_target_rate / fixload_achieved_rate  gauge scenario  (iterations/s; target only for arrival-rate)
    fixload_threshold_ok                gauge      metric, expression  (1 pass or no samples yet, 0 fail)
    fixload_threshold_observed          gauge      metric, expression  (only once the threshold has samples)
    fixload_thresholds_failing          gauge
    fixload_workers                     gauge      (active workers; 0 on a local runner)
    fixload_test_running / fixload_test_elapsed_seconds  gauge

Histogram buckets come from the registry's Trend sinks: exact below 512 samples, else from the DDSketch bins
(each bin's representative value, within the sketch's 0.25 % relative accuracy of the bound).

Served at `/metrics` on Locust's web UI (master or local runner; behind `--web-login` when that is on) and,
with `--prometheus-port N` (e.g. for `--headless`), by `prometheus_client.start_http_server` on
`--prometheus-host` (127.0.0.1 by default). Label values pass through `redact()`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from ddsketch.mapping import LogarithmicMapping
from locust import events
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from fixload import coordinator
from fixload.live import live_for, live_thresholds, summary_thresholds
from fixload.metrics import RELATIVE_ACCURACY, TrendSink
from fixload.run import run_for
from fixload.secrets import redact

logger = logging.getLogger("fixload")

BUCKETS_SECONDS: tuple[float, ...] = (
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
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


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
                pairs.append((_MAPPING.value(index + store.offset), count))
    out, i, running = [], 0, float(below_zero)
    for bound in bounds_ms:
        while i < len(pairs) and pairs[i][0] <= bound:
            running += pairs[i][1]
            i += 1
        out.append(round(running))
    return out


def _labels(tags: dict[str, str]) -> list[str]:
    return [redact(tags.get(k, "")) for k in REQUEST_LABELS]


class FixloadCollector(Collector):
    """Reads one environment's registry and live view at every scrape."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def describe(self) -> list[Any]:
        return []  # no describe-time metrics: collect() reads live state (and registering never scrapes)

    def collect(self) -> Iterator[Any]:
        environment = self.environment
        run = run_for(environment)
        registry = run.registry

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
            buckets = [(_le(b), float(c)) for b, c in zip(BUCKETS_SECONDS, cumulative, strict=True)]
            buckets.append(("+Inf", float(sink.count)))
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

        yield self._per_scenario_counter(registry, "iterations", "fixload_iterations", "completed iterations")
        yield self._per_scenario_counter(
            registry, "dropped_iterations", "fixload_dropped_iterations", "iterations an arrival-rate executor dropped"
        )

        live = live_for(environment)
        status = live.status()
        started = CounterMetricFamily(
            "fixload_iterations_started", "iterations started (executor counts)", labels=("scenario",)
        )
        vus = GaugeMetricFamily("fixload_vus", "VUs running an iteration now", labels=("scenario",))
        allocated = GaugeMetricFamily(
            "fixload_vus_allocated", "VUs allocated (arrival-rate) or targeted (VU executors)", labels=("scenario",)
        )
        vus_max = GaugeMetricFamily("fixload_vus_max", "the most VUs the scenario may use", labels=("scenario",))
        target = GaugeMetricFamily(
            "fixload_target_rate", "scheduled iterations/s now (arrival-rate executors)", labels=("scenario",)
        )
        achieved = GaugeMetricFamily(
            "fixload_achieved_rate", "iterations started per second over the last seconds", labels=("scenario",)
        )
        for s in status["scenarios"]:
            label = [s["name"]]
            started.add_metric(label, float(s["started"]))
            vus.add_metric(label, float(s["vusBusy"]))
            allocated.add_metric(label, float(s["vusAllocated"]))
            vus_max.add_metric(label, float(s["vusMax"]))
            if s["targetRate"] is not None:
                target.add_metric(label, float(s["targetRate"]))
            if s["achievedRate"] is not None:
                achieved.add_metric(label, float(s["achievedRate"]))
        yield from (started, vus, allocated, vus_max, target, achieved)

        ok = GaugeMetricFamily(
            "fixload_threshold_ok",
            "1 if the threshold passes (or has no samples yet), 0 if it fails",
            labels=("metric", "expression"),
        )
        observed = GaugeMetricFamily(
            "fixload_threshold_observed", "the threshold's aggregation observed so far", labels=("metric", "expression")
        )
        thresholds = live_thresholds(environment, live.elapsed()) if live.running else summary_thresholds(environment)
        failing = 0
        for t in thresholds:
            label = [redact(t["metric"]), redact(t["expression"])]
            ok.add_metric(label, 0.0 if t["ok"] is False else 1.0)
            failing += t["ok"] is False
            if t["observed"] is not None and math.isfinite(float(t["observed"])):
                observed.add_metric(label, float(t["observed"]))
        yield ok
        yield observed
        yield GaugeMetricFamily("fixload_thresholds_failing", "thresholds failing now", value=float(failing))

        runner = environment.runner
        workers = len(coordinator.active_workers(runner)) if isinstance(runner, MasterRunner) else 0
        yield GaugeMetricFamily("fixload_workers", "active Locust workers (0 on a local runner)", value=float(workers))
        yield GaugeMetricFamily("fixload_test_running", "1 while a test runs", value=1.0 if live.running else 0.0)
        yield GaugeMetricFamily(
            "fixload_test_elapsed_seconds", "seconds since the scenarios' clock started", value=status["elapsed"]
        )

    @staticmethod
    def _per_scenario_counter(registry: Any, metric: str, name: str, help_text: str) -> CounterMetricFamily:
        family = CounterMetricFamily(name, help_text, labels=("scenario",))
        if metric in registry:
            for scenario in registry.tag_values(metric, "scenario"):
                value = registry.aggregate(metric, {"scenario": scenario}).compute("count") or 0.0
                family.add_metric([redact(scenario)], float(value))
        return family


def _le(bound: float) -> str:
    return repr(float(bound))


def registry_for(environment: Any) -> CollectorRegistry:
    """One prometheus_client registry per environment, holding only fixload's collector."""
    run = run_for(environment)
    prom = run.extra.get("prometheus_registry")
    if prom is None:
        prom = run.extra["prometheus_registry"] = CollectorRegistry(auto_describe=False)
        prom.register(FixloadCollector(environment))
    return prom


def exposition(environment: Any) -> bytes:
    return generate_latest(registry_for(environment))


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
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


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, web_ui: Any = None, **_: Any) -> None:
    if isinstance(runner, WorkerRunner):
        return
    if web_ui is not None:
        from flask import Response

        @web_ui.app.route("/metrics")
        @web_ui.auth_required_if_enabled
        def fixload_metrics() -> Response:
            return Response(exposition(environment), content_type=CONTENT_TYPE_LATEST)

    options = environment.parsed_options
    port = int(getattr(options, "prometheus_port", 0) or 0) if options is not None else 0
    if port:
        from prometheus_client import start_http_server

        host = getattr(options, "prometheus_host", "127.0.0.1") or "127.0.0.1"
        server, _thread = start_http_server(port, addr=host, registry=registry_for(environment))
        run_for(environment).extra["prometheus_server"] = server
        logger.info("fixload: Prometheus metrics on http://%s:%d/metrics", host, server.server_port)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    server = run_for(environment).extra.pop("prometheus_server", None)
    if server is not None:
        server.shutdown()
        server.server_close()
