"""HS256 bearer tokens, minted and checked with the standard library.

Twenty lines of hmac/base64 replace a PyJWT dependency: the simulator only ever verifies tokens it
minted itself, with one algorithm, so none of a JWT library's algorithm negotiation is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def mint(claims: dict[str, Any], secret: bytes) -> str:
    """A signed compact JWT carrying `claims` (the product's: `sub`, `type`, `iat`, `exp`)."""
    signing_input = _HEADER + b"." + _b64(orjson.dumps(claims))
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def verify(token: str, secret: bytes, now: float | None = None) -> dict[str, Any] | None:
    """The token's claims when its signature is ours and it has not expired, else None (never raises)."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(secret, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims = orjson.loads(_unb64(payload))
    except (ValueError, UnicodeError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < (time.time() if now is None else now):
        return None
    return claims


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization` header as the product reads it (`middleware/auth.js:11`): the first
    literal `"Bearer "` removed, so a bare token works too; None when the header is absent."""
    if authorization is None:
        return None
    return authorization.replace("Bearer ", "", 1)
