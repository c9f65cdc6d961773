"""The API's error replies as exceptions, so the store's rules read as plain Python and the app maps them once."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error reply: HTTP status, a stable machine-readable code, a human message and extra JSON fields."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.extra}


class Invalid(ApiError):
    """422 naming the offending field, the way the real API's validators answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, "validation_failed", f"{field}: {message}", field=field, details=[{"field": field}])


class NotFound(ApiError):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(404, "not_found", f"{what} {ident!r} not found", resource=what)


class Conflict(ApiError):
    """409 for an out-of-order step; names the record's current state so a failing flow's log explains itself."""

    def __init__(self, message: str, current_state: str) -> None:
        super().__init__(409, "invalid_state", message, currentState=current_state)


class Forbidden(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, "forbidden", message)


class Unauthorized(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message)
