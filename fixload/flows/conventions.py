"""The original harness's conventions, shared by the flows (`fixload.flows.flow`), the setup (`fixload.flows.fixtures`)
and `fixload check`.

JSON headers, the auth mode, the one-line failure log and a check's trace row, and JavaScript's way of
writing dates and numbers, which the original's payloads carry. Kept apart from `fixload.flows.flow` so the
setup does not import the flows' Locust user (and through it the engine) to build a header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fixload.common.secrets import redact

BODY_LOG_LIMIT = 300
BODY_TRACE_LIMIT = 2000
"""How much of a failed step's body a trace keeps (the table shows `BODY_LOG_LIMIT`; hints read more)."""
AUTH_ENV = "FIXLOAD_AUTH"
"""`legacy` (default): tokens exactly where the original harness sends them (FLOWS.md's table);
`strict`: every request carries one, as today's Fixnado (and `fixload serve --auth strict`) demand."""

JSON_HEADERS: dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step as `fixload check` shows it: a request of the setup or of a flow, or a flow's own failure
    after a request (a response without the id it needs, say). Never holds a secret: `body` is redacted,
    `token` is the variable's name, never its value."""

    step: str
    method: str
    route: str
    """The route template (`/api/bookings/{id}/status`), as Locust and the metrics name the request."""
    status: int | None
    latency_ms: float | None
    check: str | None = None
    """The k6 check this step records (None: the step is sent, not checked, as the original's last GETs)."""
    ok: bool = True
    """The step passed its check (always, for a step that is not checked)."""
    body: str = ""
    """For a failed check or a status outside 200-399: the response body, redacted, at most
    `BODY_TRACE_LIMIT` characters."""
    token: str = ""
    """The variable whose token the request carried (`K6_USER_TOKEN`), or "" for none."""
    request_id: str = ""
    """The request's `X-Request-Id` (fixload.flows.tracing), "" when none was sent."""
    trace_id: str = ""
    """Its W3C trace id, "" when no trace context was sent."""

    @property
    def answered_badly(self) -> bool:
        """Failed, or answered outside 200-399 (an unchecked step can, and it is worth seeing)."""
        return not self.ok or self.status is None or not 200 <= self.status < 400


def log_line(flow: str, step: str, status: int | None, body: str) -> str:
    """`[<flow>] <step> — status <code>: <body>`, one line, secrets masked *before* truncation (so a token
    cut in half can never escape the mask)."""
    shown = redact(" ".join(body.split()))
    if len(shown) > BODY_LOG_LIMIT:
        shown = shown[:BODY_LOG_LIMIT] + "…"
    return redact(f"[{flow}] {step} — status {status if status is not None else 'n/a'}: {shown}")


def traced_body(text: str) -> str:
    """A failed step's body as a trace keeps it: redacted before it is cut, so no half-token survives."""
    shown = redact(text)
    return shown[:BODY_TRACE_LIMIT]


def token_name(target: Any, token: str) -> str:
    """Which variable `token` came from (for a trace row); "" for no token, never the value itself."""
    if not token:
        return ""
    for name in ("user_token", "provider_token", "admin_token"):
        if getattr(target, name, "") == token:
            return f"K6_{name.upper()}"
    return "a token"


def iso(moment: datetime) -> str:
    """JavaScript's `Date.prototype.toISOString()`: UTC, milliseconds, `Z` (what the original sends)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def minutes_from_now(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def js_number(value: float) -> int | float:
    """A whole float as an integer, so JSON carries `1200` as JavaScript would, not `1200.0`."""
    return int(value) if float(value).is_integer() else value


def money(value: float) -> float:
    """`Number(x.toFixed(2))`."""
    return round(value, 2)
