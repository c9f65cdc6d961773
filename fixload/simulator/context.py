"""What every route handler of the simulator gets and shares: the request's context (`Ctx`), the route's
declaration (`Route`) and the checks several handlers run the product's way (enums, dates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import backend as c
from .errors import (
    bad_request,
    enum_error,
    no_body,
)
from .store import Store
from .validation import (
    js_date,
)


@dataclass(slots=True)
class Ctx:
    """One request as handlers see it: path params, first query values, the parsed body (None: no JSON body,
    as Express 5 leaves `req.body`), the authenticated user row and the serve-time options."""

    store: Store
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    user: dict[str, Any] | None
    agora: bool = True
    token_for: Callable[[dict[str, Any]], str] | None = None

    def fields(self) -> dict[str, Any]:
        """`req.body || {}` (the communications and resolve controllers)."""
        return self.body if isinstance(self.body, dict) else {}

    def required_body(self, route: str) -> dict[str, Any]:
        """`req.body.x` / destructuring `req.body`: no body is a TypeError, so 500."""
        if self.body is None:
            raise no_body(route)
        return self.body if isinstance(self.body, dict) else {}


Handler = Callable[[Ctx], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    handler: Handler
    user_types: tuple[str, ...] | None = None  # authenticate + authorize(types); None: no auth middleware
    authenticated: bool = False  # authenticate only (GET /auth/me)
    segments: tuple[str, ...] = field(default=())

    @property
    def checks_token(self) -> bool:
        return self.authenticated or self.user_types is not None


def _enum(value: Any, name: str, allowed: tuple[str, ...], pg_key: str | None = None) -> Any:
    """A value bound for a PostgreSQL ENUM column: refused there (500) unless it is one of `allowed`."""
    if value not in allowed:
        raise enum_error(name, value, allowed, c.PG_ENUM[pg_key or name])
    return value


def _date_or_400(value: Any, message: str, name: str) -> datetime:
    moment = js_date(value)
    if moment is None:
        raise bad_request(message, field=name)
    return moment
