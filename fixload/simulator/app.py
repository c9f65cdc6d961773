"""The ASGI app: routing, body parsing and auth as the product's Express app does them, faults, server-side stats.

A bare ASGI callable rather than a framework: per request it does one dict lookup to route, one HMAC to
check a token, and one `orjson.dumps`, which keeps the ping route far ahead of what a Locust process can send.
As the product (FIXNADO-API.md §1): one API prefix (`/api`; anything else is 404 "Route not found"), a
malformed JSON body is 400 on every route, and only the routes that `authenticate` look at the token.
Admin routes live under `/__fixload/` and are neither counted in stats nor subject to faults or auth.
As the product's errorHandler.js logs `traceId: req.headers['x-request-id']` with each error, every request
the simulator fails (status 400 and up, a reset, a hang) is logged with its request id and `traceparent`
(logger `fixload.simulator`, one JSON object a line), and every request at debug level.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from . import auth, backend
from .errors import ApiError, forbidden, unauthorized
from .faults import FaultError, FaultInjector
from .routes import ROOT, Ctx, Route, Router
from .stats import ServerStats
from .store import Store

_JSON_HEADERS = [(b"content-type", b"application/json")]
Send = Any
Receive = Any
log = logging.getLogger("fixload.simulator")


@dataclass(slots=True)
class Settings:
    """What `fixload serve` decides at start: auth mode and the token secret."""

    auth_mode: str = "product"  # "product": tokens checked where d191423 checks them; "strict": every route
    secret: bytes = b""
    api_prefix: str = "/api"
    agora: bool = True  # AGORA_APP_ID/AGORA_APP_CERTIFICATE set: video sessions get 201, not 503
    seed: int | None = None
    ring_size: int = 20_000
    tokens: dict[str, str] = field(default_factory=dict)
    request_id_header: str = "x-request-id"
    """The header whose value the log lines name as `traceId` (the product reads `x-request-id`)."""


class SimulatorApp:
    """The Fixnado simulator as an ASGI application (HTTP only; lifespan events are acknowledged)."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(seed=settings.seed)
        self.router = Router(settings.api_prefix)
        self.faults = FaultInjector(seed=settings.seed)
        self.stats = ServerStats(ring_size=settings.ring_size)
        self.strict = settings.auth_mode == "strict"

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/__fixload/"):
            status, payload = self.admin(method, path, scope["query_string"], body)
            await _respond(send, status, payload)
            return

        headers = _headers(scope["headers"])
        seen = (headers.get(self.settings.request_id_header), headers.get("traceparent"), method, path)
        route, params, template = self.router.match(method, path)
        token = auth.bearer_token(headers.get("authorization"))
        claims = auth.verify(token, self.settings.secret) if token else None
        user = self.store.user(claims.get("sub")) if claims else None
        record = self.stats.arrived(
            {
                "method": method,
                "path": path,
                "route": template,
                "query": scope["query_string"].decode("latin-1"),
                "body": body,
                "auth_present": "authorization" in headers,
                "auth_role": self.store.harness_name(user["id"]) if user else None,
                "auth_valid": user is not None,
                "origin": headers.get("origin"),
                "persona": headers.get("x-fixnado-persona"),
                "role_header": headers.get("x-fixnado-role"),
            }
        )
        decision = self.faults.decide(method, template, path)
        if decision is not None:
            record.fault = decision.label
            if decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)
            for station in decision.capacity:
                await station.serve()
            if decision.reset:
                _log_request(seen, 0, f"connection reset by fault {decision.label}")
                await _drop_connection(send, reset=True)
                self.stats.finished(record, 0, time.perf_counter() - started)
                return
            if decision.hang:
                _log_request(seen, 0, f"request hung by fault {decision.label}")
                try:
                    await _until_disconnect(receive)
                except asyncio.CancelledError:  # the server is stopping: drop the hung connection quietly
                    _transport(send).abort()
                return
            if decision.status is not None:
                error = decision.body or {
                    "error": "injected_fault",
                    "message": f"fault injected by rule(s) {decision.rule_ids}",
                }
                await self._finish(send, record, decision.status, error, started, seen)
                return

        try:
            parsed = _json_body(body, headers.get("content-type", ""))
            if route is None:
                status, payload = (
                    (200, ROOT) if path == "/" and method == "GET" else (404, {"message": "Route not found"})
                )
            else:
                if route.template != "/ping":
                    self.authorize(route, headers, user)
                query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
                ctx = Ctx(self.store, params, query, parsed, user, self.settings.agora, self.token_for)
                status, payload = route.handler(ctx)
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        await self._finish(send, record, status, payload, started, seen)

    def token_for(self, user: dict[str, Any]) -> str:
        """A token as the product's login mints it: HS256 `{sub, type, iat, exp}`, 12 h (config/index.js:61-62)."""
        issued = int(time.time())
        claims = {"sub": user["id"], "type": user["type"], "iat": issued, "exp": issued + backend.TOKEN_LIFETIME_S}
        return auth.mint(claims, self.settings.secret)

    def authorize(self, route: Route, headers: dict[str, str], user: dict[str, Any] | None) -> None:
        """middleware/auth.js: `authenticate` (401 without a header, 401 "Invalid token" for a bad signature or an
        unknown user) then `authorize(types)` (403) on the routes that use them; strict mode: every route."""
        if not (route.checks_token or self.strict):
            return
        if "authorization" not in headers:
            raise unauthorized("Missing authorization header")
        if user is None:
            raise unauthorized("Invalid token")
        if route.user_types is not None and user["type"] not in route.user_types:
            raise forbidden(user["type"], route.user_types)

    async def _finish(
        self, send: Send, record: Any, status: int, payload: Any, started: float, seen: tuple[Any, ...] = ()
    ) -> None:
        if seen and (status >= 400 or log.isEnabledFor(logging.DEBUG)):
            message = payload.get("message") or payload.get("error") if isinstance(payload, dict) else None
            _log_request(seen, status, message if isinstance(message, str) else None)
        await _respond(send, status, payload)
        self.stats.finished(record, status, time.perf_counter() - started)

    # ------------------------------------------------------------------ admin routes
    def admin(self, method: str, path: str, query_string: bytes, body: bytes) -> tuple[int, Any]:
        query = dict(parse_qsl(query_string.decode("latin-1")))
        key = (method, path.rstrip("/"))
        if key == ("GET", "/__fixload/stats"):
            return 200, {**self.stats.snapshot(), "capacity": self.faults.capacity_stats()}
        if key == ("POST", "/__fixload/stats/reset"):
            self.stats.reset(clear_requests=query.get("requests", "true") != "false")
            self.faults.reset_capacity_stats()
            return 200, {"reset": True, "since": self.stats.since}
        if key == ("GET", "/__fixload/requests"):
            try:
                limit = int(query.get("limit", "100"))
            except ValueError:
                return 422, {"error": "validation_failed", "field": "limit", "message": "limit: expected an integer"}
            return 200, self.stats.recent(limit)
        if key == ("GET", "/__fixload/faults"):
            return 200, self.faults.as_json()
        if key == ("DELETE", "/__fixload/faults"):
            return 200, {"cleared": self.faults.clear()}
        if key == ("POST", "/__fixload/faults"):
            try:
                spec = orjson.loads(body) if body else None
                added = self.faults.add(spec)
            except orjson.JSONDecodeError:
                return 400, {"error": "invalid_json", "message": "the request body is not valid JSON"}
            except FaultError as exc:
                return 422, {"error": "invalid_fault", "message": str(exc), "field": str(exc).split(":")[0]}
            return 201, [rule.as_json() for rule in added]
        if key == ("GET", "/__fixload/health"):
            return 200, {
                "status": "ok",
                "auth": self.settings.auth_mode,
                "apiPrefix": self.settings.api_prefix,
                "uptimeSeconds": self.stats.snapshot()["uptimeSeconds"],
            }
        if key == ("GET", "/__fixload/store"):
            s = self.store
            counts = {
                "users": len(s.users) + len(s.fixed_users),
                "zones": len(s.zones),
                "services": len(s.services),
                "campaigns": len(s.campaigns),
                "bookings": len(s.bookings),
                "conversations": len(s.conversations),
                "orders": len(s.orders),
                "metrics": sum(len(st.metrics) for st in s.campaign_state.values()),
                "fraudSignals": len(s.signal_index),
                "analyticsEventsPending": s.events_pending,
            }
            return 200, {"counts": counts, "evicted": s.evicted}
        return 404, {"error": "not_found", "message": f"no admin route {method} {path}"}


def _json_body(body: bytes, content_type: str) -> Any:
    """express.json(): a JSON content type with a body is parsed (malformed: 400 with the parser's message);
    anything else leaves `req.body` undefined (None)."""
    if not body or "json" not in content_type.lower():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"{exc.msg} in JSON at position {exc.pos}", field="body") from None


def _log_request(seen: tuple[Any, ...], status: int, message: str | None) -> None:
    """One JSON line per failed request (error for 5xx and no response, warning for 4xx), as the product's
    errorHandler logs `traceId`; a request that did not fail at debug level. The path goes without its query."""
    request_id, traceparent, method, path = seen
    level = logging.ERROR if status >= 500 or status == 0 else logging.WARNING if status >= 400 else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    line = {"traceId": request_id, "traceparent": traceparent, "method": method, "path": path, "status": status}
    if message:
        line["message"] = message
    log.log(level, "%s %s", "request failed" if level > logging.DEBUG else "request", orjson.dumps(line).decode())


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}


async def _respond(send: Send, status: int, payload: Any) -> None:
    data = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(data)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _until_disconnect(receive: Receive) -> None:
    """Hang: answer nothing, but return (freeing the task) once the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _drop_connection(send: Send, reset: bool) -> None:
    """Abort the connection, with a TCP RST (SO_LINGER 0) when `reset`. uvicorn's `send` is a bound method of its
    request cycle, which holds the transport; ASGI itself has no way to say "reset", hence this reach-through."""
    transport = _transport(send)
    sock = transport.get_extra_info("socket") if reset else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let uvicorn see the connection lost, so it does not try to answer 500 on it
        await asyncio.sleep(0)


def _transport(send: Send) -> Any:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("dropping a connection needs uvicorn's transport")
    return transport
