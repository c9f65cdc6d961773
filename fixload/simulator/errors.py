"""The product's error replies as exceptions, so handlers read as the backend's checks and the app maps them once.

Bodies keep the product's shape (`{"message": …}`, express-validator's `{"errors": [...]}`) and add what the
product leaves out: `field` (the request field at fault) and `allowed` (its accepted values), and, where the
product only answers 500 "Internal server error", `cause` (what the backend's own log would say). So a
harness rehearsing against the simulator sees the product's status and learns why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INTERNAL = "Internal server error"  # middleware/errorHandler.js:17-21


class ApiError(Exception):
    """An error reply: HTTP status, the product's message, and the field/allowed values at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        allowed: Iterable[str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.allowed is not None:
            out["allowed"] = self.allowed
        out.update(self.extra)
        return out


def bad_request(message: str, field: str | None = None, allowed: Iterable[str] | None = None) -> ApiError:
    """A service's own 400 (`error.statusCode = 400`, answered `{"message"}` by the controller)."""
    return ApiError(400, message, field=field, allowed=allowed)


def not_found(message: str, field: str | None = None) -> ApiError:
    return ApiError(404, message, field=field)


def server_error(cause: str, field: str | None = None, allowed: Iterable[str] | None = None, **extra: Any) -> ApiError:
    """The product's 500 `{"message":"Internal server error"}`, plus the cause its log would show."""
    return ApiError(500, INTERNAL, field=field, allowed=allowed, cause=cause, **extra)


def enum_error(field: str, value: Any, allowed: Iterable[str], pg_type: str) -> ApiError:
    """PostgreSQL refusing a value of an ENUM column: the product never checks enums in code (B4)."""
    allowed = list(allowed)
    return server_error(
        f'invalid input value for enum "{pg_type}": "{value}" ({field} must be one of {", ".join(allowed)})',
        field=field,
        allowed=allowed,
    )


def uuid_error(field: str, value: Any) -> ApiError:
    """A non-UUID in a UUID column or path parameter: PostgreSQL's 500, not a 404 (B8)."""
    return server_error(f'invalid input syntax for type uuid: "{value}" ({field} must be a UUID)', field=field)


def fk_error(field: str, value: Any, table: str, target: str) -> ApiError:
    return server_error(
        f'insert or update on table "{table}" violates foreign key constraint: {field} "{value}" is not a {target}.id',
        field=field,
    )


def not_null(model: str, field: str) -> ApiError:
    """Sequelize's notNull Violation: the product copies its `errors` array into the 500 body (not `instance`)."""
    error = {
        "message": f"{model}.{field} cannot be null",
        "type": "notNull Violation",
        "path": field,
        "value": None,
        "origin": "CORE",
    }
    return server_error(f"notNull Violation: {model}.{field} cannot be null", field=field, errors=[error])


def no_body(route: str) -> ApiError:
    """Express 5 leaves `req.body` undefined without a JSON body; these handlers then dereference it."""
    return server_error(f"TypeError: req.body is undefined ({route} needs a JSON body)", field="body")


class ValidationFailed(ApiError):
    """express-validator's 422 `{"errors": [{type, value, msg, path, location}]}`, one item per failing field."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(422, "Invalid value")
        self.items = items

    def body(self) -> dict[str, Any]:
        return {"errors": self.items}


def invalid_value(path: str, value: Any, location: str = "body", expected: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {"type": "field", "msg": "Invalid value", "path": path, "location": location}
    if value is not None:
        item["value"] = value
    if expected:
        item["expected"] = expected
    return item


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, field="Authorization")


def forbidden(user_type: str | None, allowed: Iterable[str]) -> ApiError:
    return ApiError(403, "Forbidden", field="user.type", allowed=allowed, userType=user_type)
