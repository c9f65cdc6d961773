"""`--otel-endpoint`: the run's k6 metrics and its lifecycle to an OTLP/HTTP endpoint (`pip install fixload[otel]`).

Metrics: every sample the registry takes in this process (a registry tap, as `--samples`), with
OpenTelemetry's semantic-convention names where one exists — `http_req_duration` is
`http.client.request.duration` in seconds with `http.request.method`, `http.response.status_code`,
`url.template` — and k6's OpenTelemetry output's otherwise: `k6_<name>`, a trend a histogram, a counter a
counter, a gauge a gauge, a rate two counters (`k6_<name>.occurred`, `k6_<name>.total`); the k6 tags are
attributes (redacted). Each process exports its own samples (a worker its requests, the master setup's).
Lifecycle: one `fixload run` span per test on the master/local runner, with span events for setup, each
scenario's start and end and each threshold's verdict, and the run's status. Providers are fixload's own,
never the global ones, so Locust's `--otel` (global providers, its own `locust.*` metrics) works beside it.

`--otel-endpoint URL` exports to `URL/v1/metrics` and `URL/v1/traces`; `--otel-endpoint env` takes the
endpoints, headers, timeout and compression from the standard `OTEL_EXPORTER_OTLP_*` variables.
`OTEL_SERVICE_NAME` (default `fixload`) and `OTEL_RESOURCE_ATTRIBUTES` add to the resource.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fixload import __version__
from fixload.common.secrets import redact
from fixload.runtime.state import Runtime

logger = logging.getLogger("fixload.otel")

EXPORT_INTERVAL_MS = 5000
"""How often metrics are exported (OTEL_METRIC_EXPORT_INTERVAL overrides); the last export is at the end."""


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--otel-endpoint",
        default="",
        metavar="URL",
        help="export fixload's k6 metrics and the run's lifecycle over OTLP/HTTP to URL (/v1/metrics, /v1/traces); "
        "'env': the OTEL_EXPORTER_OTLP_* variables say where (needs pip install fixload[otel])",
    )


class Exporter:
    """This process's OpenTelemetry providers, the registry tap that records into them, and the run span."""

    def __init__(self, endpoint: str, resource: Mapping[str, Any], spans: bool) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        base = endpoint.rstrip("/") if endpoint != "env" else ""
        metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None)
        interval = None if os.environ.get("OTEL_METRIC_EXPORT_INTERVAL") else EXPORT_INTERVAL_MS
        self.reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=interval)
        self.resource = Resource.create(dict(resource))
        # no exemplars: the SDK's reservoir costs more per sample than the rest of the recording (bench/tracing.py)
        self.meters = MeterProvider(
            resource=self.resource, metric_readers=[self.reader], exemplar_filter=AlwaysOffExemplarFilter()
        )
        self.meter = self.meters.get_meter("fixload", __version__)
        self.tracers: Any = None
        if spans:
            self.tracers = TracerProvider(resource=self.resource)
            span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
            self.tracers.add_span_processor(BatchSpanProcessor(span_exporter))
        self.span: Any = None
        self._instruments: dict[str, Any] = {}
        self._attributes: dict[int, tuple[Mapping[str, str], dict[str, Any]]] = {}
        self._kinds: dict[str, tuple[str, str]] = {}
        self.registry: Any = None

    # ------------------------------------------------------------------ metrics
    def _instrument(self, name: str) -> tuple[str, Any]:
        """A metric's instrument. Counters, rates and gauges are observable: the hot path only adds to this
        exporter's own totals, read at each export (the SDK's per-measurement cost is ~30 µs, bench/tracing.py);
        a trend is a histogram, fed sample by sample."""
        found = self._instruments.get(name)
        if found is not None:
            return found
        from opentelemetry.metrics import Observation

        metric = self.registry.get(name) if self.registry is not None else None
        kind = str(metric.type) if metric is not None else "counter"
        contains = str(metric.contains) if metric is not None else "default"
        unit = {"time": "ms", "data": "By"}.get(contains, "1")
        m = self.meter
        totals: dict[int, list[Any]] = {}

        def observe(index: int) -> Any:
            return lambda _options: [Observation(t[index], t[0]) for t in list(totals.values())]

        if name == "http_req_duration":
            made: Any = m.create_histogram("http.client.request.duration", unit="s", description="HTTP request time")
            kind = "seconds"
        elif kind == "trend":
            made = m.create_histogram(f"k6_{name}", unit=unit)
        elif kind == "gauge":
            m.create_observable_gauge(f"k6_{name}", [observe(1)], unit=unit)
            made = totals
        elif kind == "rate":
            m.create_observable_counter(f"k6_{name}.occurred", [observe(1)])
            m.create_observable_counter(f"k6_{name}.total", [observe(2)])
            made = totals
        else:
            m.create_observable_counter(f"k6_{name}", [observe(1)], unit=unit)
            made = totals
        self._instruments[name] = found = (kind, made)
        return found

    def attributes(self, name: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """A series' attributes, built (and redacted) once per series: its k6 tags; for an HTTP request's, the
        semantic conventions' names instead of k6's (`http.request.method`, `http.response.status_code`,
        `url.template`, `error.type`) and its scenario."""
        cached = self._attributes.get(id(tags))
        if cached is not None and cached[0] is tags:
            return cached[1]
        out: dict[str, Any] = {str(k): redact(str(v)) for k, v in tags.items()}
        if name.startswith(("http_req", "data_")) and "method" in tags:
            status = str(tags.get("status", "0"))
            failed = out.pop("expected_response", "") == "false"
            out["http.request.method"] = out.pop("method")
            out["url.template"] = out.pop("name", "")
            out.pop("status", None)
            if status.isdigit() and int(status):
                out["http.response.status_code"] = int(status)
            if failed:
                out["error.type"] = status if status != "0" else "no_response"
        self._attributes[id(tags)] = (tags, out)
        return out

    def sample(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        """The registry's tap: one sample into its histogram, or into this exporter's totals."""
        kind, instrument = self._instruments.get(name) or self._instrument(name)
        if kind == "seconds":
            instrument.record(value / 1000.0, self.attributes(name, tags))
        elif kind == "trend":
            instrument.record(value, self.attributes(name, tags))
        else:
            total = instrument.get(id(tags))
            if total is None or total[3] is not tags:
                total = instrument[id(tags)] = [self.attributes(name, tags), 0.0, 0, tags]
            if kind == "gauge":
                total[1] = value
            elif kind == "rate":
                total[1] += 1 if value else 0
                total[2] += 1
            else:
                total[1] += value

    # ------------------------------------------------------------------ the run's span
    def start_run(self, profile: str) -> None:
        if self.tracers is None:
            return
        self.span = self.tracers.get_tracer("fixload", __version__).start_span(
            "fixload run", attributes={"fixload.profile": redact(profile)}
        )

    def event(self, name: str, attributes: Mapping[str, Any], when: datetime | None = None) -> None:
        if self.span is not None:
            stamp = int(when.timestamp() * 1e9) if when is not None else None
            self.span.add_event(name, attributes=dict(attributes), timestamp=stamp)

    def end_run(self, summary: Mapping[str, Any] | None) -> None:
        span, self.span = self.span, None
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        block = (summary or {}).get("fixload") or {}
        status = str(block.get("status") or "unknown")
        span.set_attribute("fixload.status", status)
        span.set_attribute("fixload.exit_code", int(block.get("exitCode") or 0))
        span.set_status(Status(StatusCode.OK if status == "passed" else StatusCode.ERROR, block.get("reason") or None))
        span.end()

    def flush(self) -> None:
        self.meters.force_flush(timeout_millis=10_000)
        if self.tracers is not None:
            self.tracers.force_flush(timeout_millis=10_000)

    def shutdown(self) -> None:
        self.meters.shutdown(timeout_millis=10_000)
        if self.tracers is not None:
            self.tracers.shutdown()


def _resource(run: Runtime) -> dict[str, Any]:
    profile = run.config.plan.profile.profile if run.config is not None else ""
    role = run.role.name
    return {
        "service.name": os.environ.get("OTEL_SERVICE_NAME") or "fixload",
        "service.version": __version__,
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        "host.name": socket.gethostname(),
        "fixload.profile": redact(profile or ""),
        "fixload.role": role,
        "fixload.target": redact(run.config.target.base_url) if run.config is not None else "",
    }


def install(run: Runtime) -> None:
    """From the plugin, before the driver (so setup's requests are exported, and the run span covers setup);
    `install_end`, after it, ends the span when the summary stands."""
    environment = run.environment
    state = run.otel_state = {"exporter": None}

    def exporter() -> Exporter | None:
        options = environment.parsed_options
        endpoint = (getattr(options, "otel_endpoint", "") if options is not None else "") or ""
        if not endpoint or state["exporter"] is not None:
            return state["exporter"]
        try:
            made = Exporter(endpoint, _resource(run), spans=run.role.leads)
        except ImportError:
            logger.error("fixload: --otel-endpoint needs the OpenTelemetry SDK: pip install 'fixload[otel]'")
            options.otel_endpoint = ""
            return None
        made.registry = run.registry
        state["exporter"] = made
        return made

    def on_test_start(**_: Any) -> None:
        found = exporter()
        if found is None:
            return
        run.registry.add_tap(found.sample)
        found.start_run(run.config.plan.profile.profile if run.config is not None else "")

    environment.events.test_start.add_listener(on_test_start)


def install_end(run: Runtime) -> None:
    """After the driver: at the test's end the run span gets its events from the summary, and is exported."""
    environment, state = run.environment, run.otel_state

    def on_test_stop(**_: Any) -> None:
        found = state["exporter"]
        if found is None:
            return
        run.registry.remove_tap(found.sample)
        summary = run.lifecycle.summary if run.role.leads else None
        if found.span is not None:
            _lifecycle_events(found, summary, run)
        found.end_run(summary)
        found.flush()

    def on_quitting(**_: Any) -> None:
        found, state["exporter"] = state["exporter"], None
        if found is not None:
            if found.span is not None:  # an interrupted run's summary is written at quitting
                _lifecycle_events(found, run.lifecycle.summary, run)
            found.end_run(run.lifecycle.summary)
            found.shutdown()

    environment.events.test_stop.add_listener(on_test_stop)
    environment.events.quitting.add_listener(on_quitting)


def _lifecycle_events(exporter: Exporter, summary: Mapping[str, Any] | None, run: Any) -> None:
    """Each scenario's start (at its planned time) and end, and each threshold's verdict, from the summary."""
    if not summary:
        return
    block = summary.get("fixload") or {}
    setup = block.get("setup") or {}
    exporter.event("setup", {"fixload.setup.status": str(setup.get("status") or "done")})
    started = _parse(block.get("startedAt"))
    planned = run.config.plan.scenarios if run.config is not None else {}
    for name, rollup in sorted((block.get("scenarios") or {}).items()):
        begin = float(getattr(planned.get(name), "start", 0.0) or 0.0)
        when = datetime.fromtimestamp(started.timestamp() + begin) if started is not None else None
        executor = str(rollup.get("executor"))
        exporter.event("scenario start", {"fixload.scenario": name, "fixload.executor": executor}, when)
        exporter.event(
            "scenario end",
            {
                "fixload.scenario": name,
                "fixload.iterations.completed": int(rollup.get("completed") or 0),
                "fixload.iterations.dropped": int(rollup.get("dropped") or 0),
            },
        )
    for threshold in block.get("thresholds") or ():
        exporter.event(
            "threshold",
            {
                "fixload.threshold.metric": redact(str(threshold.get("metric"))),
                "fixload.threshold.expression": redact(str(threshold.get("expression"))),
                "fixload.threshold.ok": bool(threshold.get("ok")),
                "fixload.threshold.observed": float(threshold.get("observed") or 0.0),
            },
        )


def _parse(moment: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return None
