"""Request ids and W3C trace context on every request fixload sends (flows, setup, `fixload check`).

A backend logs `req.headers['x-request-id']` next to each error (the product's errorHandler.js); an
OpenTelemetry backend reads `traceparent`. So each request carries a fresh `X-Request-Id` (a UUID4) and a
`traceparent` `00-<trace id>-<span id>-01`: one trace per iteration, one span per request, sampled; and a
`baggage` naming the scenario, step and iteration (values percent-encoded, redacted). A header the flow or
the profile already set is kept. The ids are random bytes (`os.urandom`, so forked workers never repeat
each other's), never derived from anything configured, so no secret can be in them.

Settings, from the run's environment: `FIXLOAD_REQUEST_ID_HEADER` (default `X-Request-Id`; `off` sends
none), `FIXLOAD_TRACE_CONTEXT` (`on` by default; `off` sends no `traceparent` or `baggage`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from fixload.common.secrets import redact

REQUEST_ID_ENV = "FIXLOAD_REQUEST_ID_HEADER"
TRACE_CONTEXT_ENV = "FIXLOAD_TRACE_CONTEXT"
DEFAULT_HEADER = "X-Request-Id"
_OFF = {"off", "0", "false", "no", "none", ""}


@dataclass(frozen=True, slots=True)
class Tracing:
    """What each request carries: the request-id header's name ("" for none) and whether trace context."""

    header: str = DEFAULT_HEADER
    context: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tracing:
        raw = env.get(REQUEST_ID_ENV)
        header = DEFAULT_HEADER if raw is None else ("" if raw.strip().lower() in _OFF else raw.strip())
        context = (env.get(TRACE_CONTEXT_ENV) or "on").strip().lower() not in _OFF
        return cls(header, context)


def new_trace_id() -> str:
    """32 lowercase hex digits, never all zero (W3C trace-context)."""
    while True:
        value = os.urandom(16).hex()
        if value != "0" * 32:
            return value


def new_span_id() -> str:
    """16 lowercase hex digits, never all zero."""
    while True:
        value = os.urandom(8).hex()
        if value != "0" * 16:
            return value


def new_request_id() -> str:
    """A UUID4 as text (what Express request-id middlewares mint), from 16 random bytes."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=4096)
def _baggage_prefix(scenario: str, step: str) -> str:
    """`fixload.scenario=…,fixload.step=…` (redacted, percent-encoded), built once per (scenario, step)."""
    return f"fixload.scenario={quote(redact(scenario), safe='')},fixload.step={quote(redact(step), safe='')}"


@dataclass(slots=True)
class Ids:
    """One request's ids: its request id ("" when off), trace id and span id ("" when trace context is off)."""

    request_id: str
    trace_id: str
    span_id: str


def stamp(
    headers: MutableMapping[str, str],
    tracing: Tracing,
    trace_id: str,
    scenario: str,
    step: str,
    iteration: int | None,
    preset: Mapping[str, str] = {},
) -> Ids:
    """Add the request id, `traceparent` and `baggage` to `headers` unless `preset` (what the flow or profile
    set, compared case-insensitively) has them; the ids the request goes out with (a preset value's own)."""
    lowered = {k.lower(): v for k, v in preset.items()} if preset else {}
    request_id = ""
    if tracing.header:
        request_id = lowered.get(tracing.header.lower()) or ""
        if not request_id:
            request_id = new_request_id()
            headers[tracing.header] = request_id
    span_id = ""
    if tracing.context:
        parent = lowered.get("traceparent")
        parsed = parse_traceparent(parent) if parent else None
        if parsed is not None:
            trace_id, span_id = parsed[1], parsed[2]
        else:
            span_id = new_span_id()
            headers["traceparent"] = f"00-{trace_id}-{span_id}-01"
        if "baggage" not in lowered:
            bag = _baggage_prefix(scenario, step)
            headers["baggage"] = bag if iteration is None else f"{bag},fixload.iteration={iteration}"
    else:
        trace_id = ""
    return Ids(request_id, trace_id, span_id)


def parse_traceparent(value: str) -> tuple[str, str, str, str] | None:
    """(version, trace id, parent id, flags) of a valid W3C `traceparent` (version 00), else None."""
    parts = value.strip().split("-")
    if len(parts) != 4:
        return None
    version, trace_id, span_id, flags = parts
    hexdigits = set("0123456789abcdef")
    if (
        version != "00"
        or len(trace_id) != 32
        or len(span_id) != 16
        or len(flags) != 2
        or not set(trace_id + span_id + flags) <= hexdigits
        or trace_id == "0" * 32
        or span_id == "0" * 16
    ):
        return None
    return version, trace_id, span_id, flags


def trace_link(template: str, trace_id: str, request_id: str = "") -> str:
    """`--trace-url`'s link: `{trace_id}` and `{request_id}` filled in ("" when there is no template)."""
    if not template or not (trace_id or request_id):
        return ""
    return template.replace("{trace_id}", trace_id).replace("{request_id}", request_id)
