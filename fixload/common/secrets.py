"""Keeps tokens out of every log line, summary, report and web page fixload writes.

Redaction works on values, not on field names: a token can appear in a response body, an error
message or a URL, so every known secret value (and anything shaped like a JWT or a bearer header)
is masked wherever it shows up.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
SECRET_ENV_VARS: tuple[str, ...] = ("K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_known: set[str] = set()


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_ENV_VARS or any(word in upper for word in ("TOKEN", "SECRET", "PASSWORD"))


def forms(value: str) -> set[str]:
    """A secret as it may appear in text: raw, URL-encoded (both ways) and base64 (standard and URL-safe)."""
    raw = value.encode()
    out = {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        out |= {encoded, encoded.rstrip("=")}
    return out


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so `redact` masks them, in every form they may be echoed in, even when they do
    not look like a JWT. Values shorter than 6 characters are not registered: they would mask ordinary text."""
    for v in values:
        if v and len(v) >= 6:
            _known.update(f for f in forms(v) if len(f) >= 6)


def register_url_userinfo(url: str) -> None:
    """A base URL's `user:password@`: the password (and the Basic header's base64 of both) are secrets."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secrets([unquote(parts.password), parts.password])
        register_secrets([f"{unquote(parts.username or '')}:{unquote(parts.password)}"])


def mask_url(url: str) -> str:
    """A URL as it may be shown: any userinfo (`lt:PW@`) replaced by the mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rsplit('@', 1)[1]}"))


def register_secrets_from_env(env: Mapping[str, str] | None = None) -> None:
    source = os.environ if env is None else env
    register_secrets(value for name, value in source.items() if is_secret_name(name))


def redact(text: str) -> str:
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _JWT.sub(MASK, text)


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment as it may be shown: secret variables keep their name, lose their value."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in env.items()}
