"""What every fixload HTTP client enforces (flows, setup, `fixload check`): a deadline on the whole request,
a complete body, and no redirect off the configured target's origin.

k6's `timeout` bounds a request from its first byte sent to the last byte of the body; a socket timeout
bounds only each read, so a server dribbling a byte a second is never timed out. `Deadline` arms one
`gevent.Timeout` over the whole request: fixload's clients run in a gevent-patched process (Locust's master,
workers and `fixload check` all import Locust, which patches the socket module), so the timer interrupts
any read. A request that misses it, whose body ends before its declared length (`body_cut`), or that is
redirected to another origin (`RedirectRefused`) is a failed request, recorded as k6 records a request
with no complete response: status 0 and the error (`TransportFailure`).

Cross-origin redirects are not followed at all (docs/network.md): following one would send the load, and
headers such as `X-Api-Key` or a POST body, to a host nobody configured; same-origin ones are followed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import gevent

from fixload.common.secrets import mask_url, redact


class TransportFailure(ConnectionError):
    """A request without a complete response: recorded with status 0 and this message (k6's `error`)."""


class RequestTimedOut(TransportFailure):
    """The deadline of `Deadline`; made for every request, so its message is built only when shown."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __str__(self) -> str:
        return f"request timeout after {self.seconds:g}s (the whole request, headers to last byte)"


class BodyCut(TransportFailure):
    """The connection ended (reset or closed) before the body's declared end."""


class RedirectRefused(TransportFailure):
    def __init__(self, code: int, location: str) -> None:
        self.code = code
        self.location = location
        super().__init__(
            f"redirect {code} to another origin ({redact(mask_url(origin_of(location)))}) not followed: "
            "fixload sends requests only to the configured target"
        )


def origin_of(url: str) -> str:
    """`scheme://host:port` of `url` (the default port made explicit), for comparing and for messages."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def same_origin(url: str, other: str) -> bool:
    return origin_of(url) == origin_of(other)


class Deadline:
    """Bound the block to `seconds`: at the deadline the block's current read raises the yielded
    `RequestTimedOut` (a client may wrap it); `fired(it)` says afterwards whether it did. A class, not a
    generator, since it wraps every request (this costs one gevent timer)."""

    __slots__ = ("_error", "_timer")

    def __init__(self, seconds: float) -> None:
        self._error = RequestTimedOut(seconds)
        self._timer = gevent.Timeout(seconds, self._error)

    def __enter__(self) -> RequestTimedOut:
        self._timer.start()
        return self._error

    def __exit__(self, *_: object) -> None:
        self._timer.close()


def fired(error: RequestTimedOut) -> bool:
    """Whether `Deadline` raised this error (a raised exception has a traceback), whatever wrapped it."""
    return error.__traceback__ is not None


def body_cut(response: Any, error: BaseException | None = None) -> BodyCut | None:
    """For a geventhttpclient response whose body was read: a `BodyCut` when reading it failed (`error`) or the
    parser never reached the message's end (fewer bytes than Content-Length, a chunked body without its last
    chunk); None for a complete body."""
    parsed = getattr(response, "_response", None)
    if error is None and (parsed is None or getattr(parsed, "message_complete", True)):
        return None
    declared = getattr(parsed, "content_length", None)
    size = f"{declared} bytes declared" if declared is not None else "chunked"
    if error is not None:
        return BodyCut(redact(f"response body cut ({size}): {type(error).__name__}: {error}"))
    got = len(getattr(response, "_cached_content", b"") or b"")
    return BodyCut(f"response body cut ({size}): the connection ended after {got} bytes")
