"""Loopback HTTP servers that misbehave on purpose (issue 25): dribble, cut, reset, redirect, echo.

`Hostile(behaviour)` serves every request on 127.0.0.1 (or `host`) with one behaviour, in a thread per
connection, on raw sockets so a test controls every byte: the headers, how much of the declared body is sent,
and how the connection ends (a FIN, or a TCP reset through SO_LINGER 0). Every request received is recorded
(method, path, headers, body) so a test can assert what a client sent where.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Behaviour = Callable[["Hostile", socket.socket, Received], None]


def head(status: int, length: int | None, extra: dict[str, str] | None = None) -> bytes:
    """A response head: status line, Content-Type JSON, Content-Length `length` (omitted when None)."""
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset (RST), not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def dribble(interval: float = 0.2, length: int = 1000, status: int = 200) -> Behaviour:
    """Headers at once, then one byte of the declared body every `interval` seconds (each read is quick)."""

    def serve(server: Hostile, conn: socket.socket, _: Received) -> None:
        conn.sendall(head(status, length))
        for _ in range(length):
            if server.stopping.wait(interval):
                return
            conn.sendall(b" ")

    return serve


def headers_late(delay: float, body: bytes = b"{}", status: int = 200) -> Behaviour:
    """No byte for `delay` seconds, then a whole answer."""

    def serve(server: Hostile, conn: socket.socket, _: Received) -> None:
        if server.stopping.wait(delay):
            return
        conn.sendall(head(status, len(body)) + body)

    return serve


def cut(sent: int = 10, declared: int = 1000, status: int = 201, rst: bool = True) -> Behaviour:
    """Declare `declared` bytes, send `sent` of a JSON-ish body, then reset (or close cleanly with `rst=False`)."""

    def serve(_: Hostile, conn: socket.socket, __: Received) -> None:
        body = (b'{"id": "' + b"x" * declared)[:sent]
        conn.sendall(head(status, declared) + body)
        if rst:
            reset(conn)

    return serve


def chunked_cut(status: int = 200) -> Behaviour:
    """A chunked body whose connection resets before the last chunk."""

    def serve(_: Hostile, conn: socket.socket, __: Received) -> None:
        conn.sendall(head(status, None, {"Transfer-Encoding": "chunked"}) + b"a\r\n0123456789\r\n")
        reset(conn)

    return serve


def answer(status: int = 200, body: bytes | Callable[[Received], bytes] = b"{}", **headers: str) -> Behaviour:
    """A well-formed answer (body may depend on the request)."""

    def serve(_: Hostile, conn: socket.socket, request: Received) -> None:
        data = body(request) if callable(body) else body
        conn.sendall(head(status, len(data), {k.replace("_", "-"): v for k, v in headers.items()}) + data)

    return serve


def redirect(code: int, location: str | Callable[[Received], str]) -> Behaviour:
    """`code` with `Location: location` (an empty body)."""

    def serve(_: Hostile, conn: socket.socket, request: Received) -> None:
        where = location(request) if callable(location) else location
        conn.sendall(head(code, 0, {"Location": where, "Set-Cookie": "sid=s3cr3tcookie; Path=/"}))

    return serve


class Hostile:
    """A server on `host`, port chosen by the OS, answering with `behaviour`; a context manager."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.stopping = threading.Event()
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.2)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stopping.set()
        self._thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            request = _read_request(conn)
            if request is None:
                return
            self.received.append(request)
            self.behaviour(self, conn, request)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _read_request(conn: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Received(method, path, headers, body)


def json_body(**values: Any) -> bytes:
    return orjson.dumps(values)


@dataclass
class Stopwatch:
    """Seconds since creation (`elapsed`)."""

    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
