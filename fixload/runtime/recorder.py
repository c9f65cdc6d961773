"""Locust's request events → k6's HTTP metrics, and the metric definitions every run starts with.

Every request becomes `http_reqs`, `http_req_duration`, `http_req_failed`, `data_received` and
`data_sent` samples, tagged with the request's template name, method, status, `expected_response` and
the user's context (the scenario). This is the hot path: the five sinks of a series are cached by the
event's own values (`Run.sinks`), so a request costs one dict lookup, not a tag set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fixload.flows.transport import TransportFailure
from fixload.metrics.registry import define_run_metrics
from fixload.runtime.state import Runtime

REQUEST_METRICS = ("http_reqs", "http_req_duration", "http_req_failed", "data_received", "data_sent")


def define_flow_metrics(run: Runtime, flows: Iterable[str]) -> None:
    """The custom metrics of the loaded flows (fixload.profile.binding.metric_flows), as the original harness
    declares them, and fixload's own."""
    define_run_metrics(run.registry, flows)


def install(run: Runtime) -> None:
    """Record this environment's requests into its run's registry (the request event names no environment,
    so the listener is bound to the one it was installed for)."""
    sinks = run.sinks

    def on_request(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        status = int(getattr(response, "status_code", 0) or 0) if response is not None else 0
        if exception is not None and isinstance(exception, TransportFailure):
            status = 0  # timed out, body cut, redirect refused: no complete response, k6's status 0
        extra = tuple(context.items()) if context else ()
        key = (name, request_type, status, extra)
        found = sinks.find(key)
        if found is None:
            found = sinks.get(key, REQUEST_METRICS, lambda: _tags(name, request_type, status, extra))
        reqs, duration, failed, received, sent = found
        reqs.add(1.0)
        duration.add(float(response_time or 0.0))
        failed.add(0.0 if 200 <= status < 400 else 1.0)
        if response_length:
            received.add(float(response_length))
        size = bytes_sent(response)
        if size:
            sent.add(float(size))

    run.environment.events.request.add_listener(on_request)


def _tags(name: str, method: str, status: int, extra: tuple[tuple[Any, Any], ...]) -> dict[str, str]:
    """A request's k6 tags: name, method, status, expected_response, and the user's context (the scenario)."""
    out = {"name": name, "method": method, "status": str(status), "expected_response": str(200 <= status < 400).lower()}
    out.update((str(k), str(v)) for k, v in extra if v is not None)
    return out


def bytes_sent(response: Any) -> int:
    """k6's data_sent, approximately: the request head geventhttpclient wrote plus the body (0 if unknown)."""
    head = getattr(response, "_sent_request", None)
    body = getattr(getattr(response, "request", None), "payload", None)
    size = len(head) if isinstance(head, str | bytes) else 0
    if isinstance(body, bytes | bytearray):
        size += len(body)
    elif isinstance(body, str):
        size += len(body.encode())
    return size
