"""Keeps tokens out of every log line, summary, report and web page fixload writes.

Redaction works on values, not on field names: a token can appear in a response body, an error
message or a URL, so every known secret value (and anything shaped like a JWT or a bearer header)
is masked wherever it shows up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "***"
SECRET_ENV_VARS: tuple[str, ...] = ("K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_known: set[str] = set()


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_ENV_VARS or any(word in upper for word in ("TOKEN", "SECRET", "PASSWORD"))


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so `redact` masks them even when they do not look like a JWT."""
    _known.update(v for v in values if v and len(v) >= 6)


def register_secrets_from_env(env: Mapping[str, str] | None = None) -> None:
    source = os.environ if env is None else env
    register_secrets(value for name, value in source.items() if is_secret_name(name))


def redact(text: str) -> str:
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _JWT.sub(MASK, text)


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment as it may be shown: secret variables keep their name, lose their value."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in env.items()}
