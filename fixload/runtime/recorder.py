"""Locust's request events → k6's HTTP metrics, and the metric definitions every run starts with.

Every request becomes `http_reqs`, `http_req_duration`, `http_req_failed`, `data_received` and
`data_sent` samples, tagged with the request's template name, method, status, `expected_response` and
the user's context (the scenario). This is the hot path: the five series' handles (`Registry.recorder`)
are kept by the event's own values, so a request costs one dict lookup and five C calls, not a tag set.
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
    registry = run.registry
    handles: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    """Per (name, method, status, context): the five series' handles and the request's `http_req_failed` value."""
    generation = registry.generation

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
        nonlocal generation
        if response is None:
            status, sent = 0, 0
        else:
            status = int(getattr(response, "status_code", 0) or 0)
            head = getattr(response, "_sent_request", None)  # what geventhttpclient wrote: k6's data_sent
            sent = len(head) if head.__class__ in _SIZED else 0
            body = getattr(getattr(response, "request", None), "payload", None)
            if body is not None:
                if body.__class__ is str:
                    sent += len(body.encode())
                elif body.__class__ in _SIZED:
                    sent += len(body)
        if exception is not None and isinstance(exception, TransportFailure):
            status = 0  # timed out, body cut, redirect refused: no complete response, k6's status 0
        key = (name, request_type, status, tuple(context.items()) if context else ())
        if generation != registry.generation:  # a tap came or went: the handles change
            handles.clear()
            generation = registry.generation
        found = handles.get(key)
        if found is None:
            tags = _tags(*key)
            found = handles[key] = (
                *(registry.recorder(metric, tags) for metric in REQUEST_METRICS),
                0.0 if 200 <= status < 400 else 1.0,  # http_req_failed's sample: the status is in the key
            )
        reqs, duration, failed, received, data_sent, failure = found
        tapped = registry.taps  # `--samples` or OpenTelemetry listen: they read which request these samples are
        if tapped:
            run.recording = response
        reqs(1.0)
        duration(response_time or 0.0)  # a float array's append takes Locust's int or float as it is
        failed(failure)
        if response_length:
            received(response_length)
        if sent:
            data_sent(sent)
        if tapped:
            run.recording = None

    run.environment.events.request.add_listener(on_request)


_SIZED = frozenset({bytes, bytearray, str})
"""The request head and body types whose size counts (anything else, unknown: 0)."""


def _tags(name: str, method: str, status: int, extra: tuple[tuple[Any, Any], ...]) -> dict[str, str]:
    """A request's k6 tags: name, method, status, expected_response, and the user's context (the scenario)."""
    out = {"name": name, "method": method, "status": str(status), "expected_response": str(200 <= status < 400).lower()}
    out.update((str(k), str(v)) for k, v in extra if v is not None)
    return out
