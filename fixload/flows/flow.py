"""What every flow shares, so that each locustfile reads like the k6 function it replaces.

A k6 flow is: send a request, `check()` its status, `throw` on a bad one, and in a `finally` record the
flow's duration, success and failures, log one line, then `sleep()`. Here that is:

    with self.iteration():                                   # try { ... } finally { metrics; sleep }
        booking = self.request("POST", "/bookings", ..., expect=201, check="booking created").data
        self.request("PATCH", "/bookings/{id}/status", id=booking["id"], ..., expect=200)

`FlowUser.request` sends one request with the right token and headers, names it by its *template*
(`/api/bookings/{id}/status`, never a raw id, so Locust's statistics and k6 thresholds stay grouped),
records a k6 `checks` sample and raises `StepFailed` on an unexpected status; `FlowUser.iteration` turns
that into one failure and one log line. Nothing here touches Locust's event hooks (`fixload.plugin` wires those).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import gevent
import orjson
from locust.contrib.fasthttp import FastHttpUser, FastRequest

from fixload.common.secrets import redact
from fixload.flows.conventions import (  # noqa: F401  (flows and `fixload check` import these from here)
    AUTH_ENV,
    BODY_LOG_LIMIT,
    BODY_TRACE_LIMIT,
    JSON_HEADERS,
    StepResult,
    clamp,
    iso,
    js_number,
    log_line,
    minutes_from_now,
    money,
    token_name,
    traced_body,
)
from fixload.flows.tracing import Ids, Tracing, new_trace_id, stamp
from fixload.flows.transport import (
    Deadline,
    RedirectRefused,
    TransportFailure,
    body_cut,
    fired,
)
from fixload.flows.user import ScenarioUser, runtime_of
from fixload.metrics.registry import define_run_metrics
from fixload.profile.binding import flow_settings
from fixload.profile.config import RunConfig
from fixload.profile.environment import request_timeout
from fixload.profile.schema import Settings

logger = logging.getLogger("fixload.flows")

FLOW_BLOCKS: dict[str, str] = {
    "booking_flow": "booking",
    "chat_flow": "communications",
    "payments_flow": "payments",
    "analytics_flow": "analytics",
    "ads_flow": "ads",
}
"""Which typed `settings` block holds each of the five flows' knobs (and its `sleepSeconds`); any other
flow reads the block named by its `settings_block` (default: its scenario's name), free-form."""


class _SameOriginRequest(FastRequest):
    """geventhttpclient's request, refusing to be redirected to another origin (fixload.flows.transport)."""

    def redirect(self, code: int, location: str) -> None:
        target = self.url_split.redirect(location)
        if (target.scheme, target.host, target.port) != self.original_origin:
            raise RedirectRefused(code, str(target))
        super().redirect(code, location)


class StepFailed(Exception):
    """A step of a flow went wrong: ends the iteration, counts as one failure, logs one line."""

    def __init__(
        self, step: str, status: int | None, body: str = "", traced: bool = False, ids: Ids | None = None
    ) -> None:
        self.step = step
        self.status = status
        self.body = body
        self.traced = traced
        """The failed request is already a row of the trace (a failed check), so the failure adds none."""
        self.ids = ids
        """The failed request's ids (default: those of the iteration's last request)."""
        super().__init__(log_line("?", step, status, body))


@dataclass(slots=True)
class Reply:
    """A response as a flow sees it: the status, the raw text (empty when discarded) and, if asked, the JSON."""

    status: int
    text: str
    data: Any = None

    def require(self, key: str, what: str) -> Any:
        """`data[key]` of a JSON object, else StepFailed("<what> did not include <key>"), naming status and body."""
        value = self.data.get(key) if isinstance(self.data, dict) else None
        if value is None or value == "":
            raise StepFailed(f"{what} did not include {key!r}", self.status, self.text)
        return value


class FlowUser(ScenarioUser, FastHttpUser):
    """A flow's Locust user: one task run is one k6 iteration of the flow named by `scenario`.

    Subclasses set `scenario` (k6's scenario name, which is also the flow's name) and write one `@task`
    whose body is `with self.iteration(): ...`. A scenario that reuses a flow under another name gets a
    subclass with only `scenario` changed; `flow` stays, so the flow's metrics keep their names.
    """

    abstract = True
    needs_fixtures = True  # every flow reads the run's zone/service/campaign
    flow: ClassVar[str] = ""
    """The flow whose `<flow>_duration/_success_rate/_failures` this user records (default: `scenario`)."""

    settings_block: ClassVar[str] = ""
    """The `settings` key this flow reads (`self.block`); default: the five flows' own (FLOW_BLOCKS), else
    the scenario's name. A block the package does not type is free-form: a dict, as the profile gave it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.flow and cls.scenario:
            cls.flow = cls.scenario
        if not cls.settings_block and cls.flow:
            cls.settings_block = FLOW_BLOCKS.get(cls.flow, cls.scenario)

    def __init__(self, environment: Any) -> None:
        run = runtime_of(environment)
        if run.config is None:
            raise RuntimeError(
                "fixload: no run configuration for this Locust environment; import fixload.plugin in the "
                "locustfile (it loads the profile at init)"
            )
        plan = run.plan or run.config.plan  # a worker runs its master's plan, with its own target and env
        self.config: RunConfig = run.config
        self.target = run.config.target
        self.settings: Settings = plan.profile.settings
        self.registry = run.registry
        self._run = run
        if not self.host:
            self.host = self.target.base_url
        planned = plan.scenarios.get(self.scenario)
        options = planned.scenario if planned is not None else None
        self.env: Mapping[str, str] = {**run.config.env, **(options.env if options is not None else {})}
        """k6's `__ENV` for this scenario: the run's environment with the scenario's `env` option over it. The
        one way a flow reads a variable."""
        self.request_timeout = request_timeout(self.env)
        """k6's `timeout`: the bound on each whole request (`request(timeout=...)` overrides it for one)."""
        self.network_timeout = self.connection_timeout = self.request_timeout
        super().__init__(environment)
        self.client.client.request_type = _SameOriginRequest
        self.strict_auth = (self.env.get(AUTH_ENV) or "legacy").strip().lower() == "strict"
        self.discard_bodies = self.settings.discard_response_bodies
        self.prefix = self.target.api_prefix
        self._headers = {**JSON_HEADERS, **dict(self.target.headers)}
        self._preset = dict(self.target.headers)
        """The profile's and FIXLOAD_HEADERS' headers: a request id or trace context among them is kept."""
        self.tracing = Tracing.from_env(self.env)
        """The request-id header and trace context every request carries (fixload.flows.tracing)."""
        self.trace_id = new_trace_id()
        """The current iteration's W3C trace id (a fresh one per iteration)."""
        self.last_ids: Ids | None = None
        """The ids of the iteration's last request (what a failure found in its answer points at)."""
        self._iteration: int | None = None
        # k6 adds a scenario's `tags` to every sample of it: HTTP (through the request context), checks, the
        # flow's own metrics (here) and the iteration metrics (fixload.engine.base)
        self._tags = {"scenario": self.scenario, **(options.tags if options is not None else {})}
        self._context = dict(self._tags)
        self._first_start: float | None = None
        self._last_end: float | None = None
        self.trace: list[StepResult] | None = None
        """`fixload check` sets a list: every step of the iteration is appended, and there is no think time."""
        self._last_request: tuple[str, str, str] = ("", "", "")
        define_run_metrics(self.registry, (self.flow,))  # idempotent; the plugin defines them too

    # ------------------------------------------------------------------ what a flow reads
    def context(self) -> dict[str, str]:
        """Locust merges this into every request event; the plugin turns it into k6 tags."""
        return self._context

    @property
    def block(self) -> Any:
        """This flow's `settings` block: the typed `settings.booking` for booking_flow, ...; for a flow of
        a locustfile, its free-form block as a dict (`settings.<settings_block>`, `{}` when absent)."""
        return flow_settings(self.settings, type(self))

    def fixture(self, key: str) -> str:
        """A fixture provisioned once per run (`zoneId`, `serviceId`, `campaignId`)."""
        value = self._run.fixtures.get(key)
        if not value:
            raise StepFailed(f"Fixture {key} is not provisioned (fixload.plugin provisions it at test start)", None)
        return value

    def token(self, *roles: str) -> str:
        """The first configured token among `roles` ("user", "provider", "admin"): the original's fallbacks."""
        for role in roles:
            value = getattr(self.target, f"{role}_token", "")
            if value:
                return value
        return ""

    def strict_token(self, *roles: str) -> str:
        """Where the original harness sends no token: none, unless FIXLOAD_AUTH=strict asks for one everywhere."""
        return self.token(*roles) if self.strict_auth else ""

    def iteration_in_test(self) -> int:
        """k6's `exec.scenario.iterationInTest`, counted per scenario in this process, from 0 each test."""
        counter = self._run.iteration_counters.setdefault(self.scenario, itertools.count())
        return next(counter)

    # ------------------------------------------------------------------ one request
    def request(
        self,
        method: str,
        template: str,
        *,
        step: str,
        token: str = "",
        json: Any = None,
        query: Mapping[str, Any] | None = None,
        expect: int | tuple[int, ...] | None = None,
        check: str | None = None,
        parse: bool = False,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        **path: str,
    ) -> Reply:
        """Send `method prefix+template` (placeholders filled from `path`), named by the template.

        `expect` (with its k6 `check` name) makes the status a step's condition: an unexpected one records
        a failed check and raises StepFailed(step + " failed"). Without `expect` the request is sent and
        not checked, as the original's last GETs are. `parse` decodes the JSON body (a step that needs it);
        other bodies are not decoded, and not kept when `discardResponseBodies` is set. `timeout` (seconds, k6's
        per-request `timeout`) bounds this request instead of FIXLOAD_HTTP_TIMEOUT. A request that times out, whose
        body is cut or that is redirected to another origin is a failed request with status 0 (fixload.flows.transport).
        `headers` adds to (or replaces) the run's; an `X-Request-Id`, `traceparent` or `baggage` among them (or
        the profile's) is sent as given, else fixload adds its own (fixload.flows.tracing).
        """
        name = self.prefix + template
        url = self.prefix + template.format(**{k: quote(str(v), safe="") for k, v in path.items()})
        if query:
            url += "?" + urlencode(query, quote_via=quote)
        preset = {**self._preset, **headers} if headers else self._preset
        sent = {**self._headers, **headers} if headers else dict(self._headers)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        ids = self.last_ids = stamp(sent, self.tracing, self.trace_id, self.scenario, step, self._iteration, preset)
        body = orjson.dumps(json) if json is not None else None
        expected = (expect,) if isinstance(expect, int) else expect
        started = time.perf_counter()
        if self._first_start is None:
            self._first_start = started
        with Deadline(timeout or self.request_timeout) as timed_out:
            resp = self.client.request(method, url, name=name, data=body, headers=sent, catch_response=True)
        sent_response = resp.request_meta.get("response")
        if sent_response is not None:  # the request event's response: `--samples` reads the ids from it
            sent_response.fixload_request = (ids.request_id, ids.trace_id, step)
        broken = _broken(resp, timed_out)
        with resp:
            status = 0 if broken is not None else int(resp.status_code or 0)
            good = status in expected if expected else 200 <= status < 400
            if good:
                resp.success()
            elif broken is not None:
                resp.failure(broken)  # fixload.runtime.recorder records it as status 0, as k6 does
            elif status == 0:
                error = getattr(resp, "error", None)
                resp.failure(redact(f"{type(error).__name__}: {error}" if error else "connection failed"))
            else:
                wanted = "/".join(map(str, expected)) if expected else "2xx/3xx"
                resp.failure(f"status {status} (expected {wanted})")
        self._last_end = time.perf_counter()
        latency_ms = (self._last_end - started) * 1000.0
        self._run.failures.observe(
            self.scenario,
            latency_ms,
            {
                "requestId": ids.request_id,
                "traceId": ids.trace_id,
                "step": step,
                "name": name,
                "method": method,
                "status": status,
            },
        )
        if self.trace is not None:
            self._last_request = (method, name, token_name(self.target, token))
            self.trace.append(
                StepResult(
                    step,
                    method,
                    name,
                    status,
                    latency_ms,
                    (check or step) if expected else None,
                    good or not expected,
                    "" if good else traced_body(_text(resp, broken)),
                    self._last_request[2],
                    ids.request_id,
                    ids.trace_id,
                )
            )
        if expected:
            self.registry.add("checks", 1.0 if good else 0.0, {**self._tags, "check": check or step})
            if not good:
                raise StepFailed(f"{step} failed", status, _text(resp, broken), traced=True, ids=ids)
        if broken is not None:  # an unchecked step: a failed request; the iteration goes on unless it needs the body
            if parse:
                raise StepFailed(f"{step} failed", status, _text(resp, broken), ids=ids)
            return Reply(status, "")
        if not parse:
            return Reply(status, "" if self.discard_bodies else _text(resp))
        text = _text(resp)
        try:
            data = orjson.loads(text) if text else None
        except orjson.JSONDecodeError as exc:
            raise StepFailed(f"{step} — failed to parse JSON response ({exc})", status, text, ids=ids) from None
        return Reply(status, text, data)

    # ------------------------------------------------------------------ one iteration
    @contextmanager
    def iteration(self) -> Iterator[int]:
        """One k6 iteration, yielding its number (k6's `exec.scenario.iterationInTest`): measure from the
        first request's start to the last response's end, record success (1/0) and failures, log the first
        failure of its kind (`_failed`), then sleep the flow's `sleepSeconds` (part of the iteration, as in k6).

        Only `Exception`s are the flow's failures; BaseExceptions (gevent's GreenletExit, fixload's
        InterruptIteration when gracefulStop runs out, Locust's StopUser) pass straight through, as an
        interrupted k6 iteration records nothing.
        """
        entered = time.perf_counter()
        self._first_start = self._last_end = None
        self._last_request = ("", "", "")
        self.trace_id = new_trace_id()
        self.last_ids = None
        self._iteration = self.iteration_in_test()
        ok = True
        try:
            yield self._iteration
        except StepFailed as failure:
            ok = False
            self._failed(failure.step, failure.status, failure.body, failure.ids or self.last_ids)
            if self.trace is not None and not failure.traced:
                self._trace_failure(failure.step, failure.status, failure.body)
        except Exception as exc:
            ok = False
            self._failed(f"{type(exc).__name__}: {exc}", None, "", self.last_ids)
            if self.trace is not None:
                self._trace_failure(f"{type(exc).__name__}: {exc}", None, "")
        first = self._first_start if self._first_start is not None else entered
        last = self._last_end if self._last_end is not None else time.perf_counter()
        tags = self._tags
        self.registry.add(f"{self.flow}_duration", max(last - first, 0.0) * 1000.0, tags)
        self.registry.add(f"{self.flow}_success_rate", 1.0 if ok else 0.0, tags)
        if not ok:
            self.registry.add(f"{self.flow}_failures", 1.0, tags)
        if self.trace is None:
            gevent.sleep(self.settings.sleep_seconds(self.settings_block))

    def _failed(self, step: str, status: int | None, body: str, ids: Ids | None = None) -> None:
        """Log the first failure of each (step, status) with its body and its request's ids; count every one
        for the summary's `failures[]`, which keeps the ids of the first and last few (thousands of identical
        lines would bury the one that explains them)."""
        kept = {"requestId": ids.request_id, "traceId": ids.trace_id} if ids is not None else None
        pointer = _pointer(self.tracing, ids)
        if self._run.failures.record(self.scenario, step, status, body, kept):
            logger.error(log_line(self.flow, step, status, body) + pointer)
        else:
            logger.debug(log_line(self.flow, step, status, "") + pointer)

    def _trace_failure(self, step: str, status: int | None, body: str) -> None:
        """A failure the flow found after a request answered (no id, no participant): its own trace row,
        on the route of the request it read."""
        method, route, token = self._last_request
        if self.trace is not None:
            ids = self.last_ids
            rid, tid = (ids.request_id, ids.trace_id) if ids is not None else ("", "")
            row = StepResult(step, method, route, status, None, step, False, traced_body(body), token, rid, tid)
            self.trace.append(row)


def _pointer(tracing: Tracing, ids: Ids | None) -> str:
    """` [X-Request-Id: …, trace …]`: what to grep the backend's log for ("" without ids)."""
    if ids is None:
        return ""
    said = [f"{tracing.header}: {ids.request_id}"] if ids.request_id else []
    said += [f"trace {ids.trace_id}"] if ids.trace_id else []
    return f" [{', '.join(said)}]" if said else ""


def _broken(resp: Any, timed_out: Exception) -> TransportFailure | None:
    """Why `resp` is not a complete response (the deadline fired, the body was cut, a redirect was refused),
    or None."""
    if fired(timed_out):
        return timed_out
    error = getattr(resp, "error", None)
    if isinstance(error, TransportFailure):
        return error
    if not resp.status_code:
        return None
    exception = resp.request_meta.get("exception")  # Locust's: reading the body failed, or resp.error (a status)
    return body_cut(resp, exception if exception is not error else None)


def _text(resp: Any, broken: Exception | None = None) -> str:
    """The response body as text; for a connection error (status 0), the error itself."""
    if broken is not None:
        return f"{type(broken).__name__}: {broken}"
    if not resp.status_code:
        error = getattr(resp, "error", None)
        return f"{type(error).__name__}: {error}" if error else ""
    try:
        content = resp.content
    except Exception as exc:
        return f"<body unreadable: {exc}>"
    if not content:
        return ""
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
