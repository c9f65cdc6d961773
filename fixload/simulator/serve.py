"""`fixload serve`: parse the options, mint the identities' tokens, bind, announce, serve until a signal.

Readiness is announced only once the socket is listening: one stdout line with the URL and, with
`--env-out`, the `.env` file written atomically (mode 0600) so that its appearance is the signal to wait on.
Tokens go only into that file, never to stdout or a log.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from fixload.common.files import atomic_write

from .app import Settings, SimulatorApp
from .auth import mint
from .faults import PRESETS, FaultError
from .records import Identity
from .store import Store

TOKEN_LIFETIME_S = 7 * 24 * 3600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `fixload serve` options (the lead's cli.py and `python -m fixload.simulator` share them)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=4000, help="TCP port (0 picks a free one; default 4000)")
    parser.add_argument("--allow-remote", action="store_true", help="permit binding a non-loopback host")
    parser.add_argument("--env-out", metavar="PATH", help="write the K6_* identities and tokens here (mode 0600)")
    parser.add_argument(
        "--env-out-until-exit",
        action="store_true",
        help="remove the --env-out file (and its directory, when empty) when the simulator exits: no token file "
        "outlives a starter killed before it could remove the file itself (fixload run uses it)",
    )
    parser.add_argument(
        "--auth",
        choices=("product", "strict"),
        default="product",
        help="product: tokens checked where Fixnado d191423 checks them (auth/me, services, purchase); "
        "strict: every API route wants a valid one",
    )
    parser.add_argument(
        "--api-prefix",
        default="/api",
        metavar="PATH",
        help="where the API is mounted (default /api, as d191423; anything else answers 404 Route not found)",
    )
    parser.add_argument(
        "--without-agora",
        action="store_true",
        help="as a deployment without AGORA_APP_ID/AGORA_APP_CERTIFICATE: video sessions answer 503",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='a fault rule, e.g. \'{"route": "/api/bookings*", "error_rate": 0.2, "status": 503}\' (repeatable)',
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        help="staging: the drill's per-flow p95 latencies; fixnado-d191423: that backend's campaign-metrics 500s",
    )
    parser.add_argument("--seed", type=int, help="deterministic ids, token secret and fault draws")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the request log on stderr: every failed request with its X-Request-Id (info, the default); "
        "debug: every request",
    )
    parser.add_argument("--log-file", metavar="PATH", help="write the request log to PATH (appended) instead of stderr")
    parser.add_argument(
        "--request-id-header",
        default="X-Request-Id",
        metavar="NAME",
        help="the header the log names as traceId (default X-Request-Id, as the product's errorHandler.js)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mint_tokens(identity: Identity, secret: bytes, now: float | None = None) -> dict[str, str]:
    """One HS256 token per account, with the product's claims (`{sub, type, iat, exp}`, authController.js:75);
    valid for a week rather than the product's 12 h, so a long soak's tokens do not expire."""
    issued = int(time.time() if now is None else now)
    return {
        name: mint({"sub": sub, "type": user_type, "iat": issued, "exp": issued + TOKEN_LIFETIME_S}, secret)
        for name, (sub, user_type) in identity.users().items()
    }


def env_lines(base_url: str, identity: Identity, tokens: dict[str, str]) -> str:
    values = {
        "K6_BASE_URL": base_url,
        "K6_COMPANY_ID": identity.company_id,
        "K6_PROVIDER_ID": identity.provider_id,
        "K6_CUSTOMER_ID": identity.customer_id,
        "K6_USER_TOKEN": tokens["user"],
        "K6_PROVIDER_TOKEN": tokens["provider"],
        "K6_ADMIN_TOKEN": tokens["admin"],
        "K6_COMPANY_TOKEN": tokens["company"],
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


def build_app(args: argparse.Namespace) -> SimulatorApp:
    """The app with its secret, store and start-up fault rules; raises FaultError for a bad --fault."""
    seed = args.seed
    secret = (
        hashlib.sha256(f"fixload-simulator-{seed}".encode()).digest() if seed is not None else secrets.token_bytes(32)
    )
    store = Store(seed=seed)
    prefix = "/" + args.api_prefix.strip("/")
    settings = Settings(auth_mode=args.auth, secret=secret, seed=seed, api_prefix=prefix, agora=not args.without_agora)
    settings.request_id_header = str(getattr(args, "request_id_header", None) or "X-Request-Id").lower()
    settings.tokens = mint_tokens(store.identity, secret)
    app = SimulatorApp(settings, store)
    for raw in args.fault:
        try:
            spec: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FaultError(f"--fault: not JSON ({exc})") from None
        app.faults.add(spec)
    if args.preset:
        app.faults.add({"preset": args.preset})
    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 for a refused host or bad option, 1 if binding fails."""
    import uvicorn  # deferred: `fixload validate` and friends should not pay for it

    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"fixload serve: refusing to bind {args.host}: not a loopback address "
            "(the simulator has no real auth; pass --allow-remote to expose it anyway)",
            file=sys.stderr,
        )
        return 2
    _request_log(str(getattr(args, "log_level", None) or "info"), getattr(args, "log_file", None))
    try:
        app = build_app(args)
    except FaultError as exc:
        print(f"fixload serve: invalid fault rule: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"fixload serve: cannot bind {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{shown_host}:{port}"
    env_out = Path(args.env_out) if args.env_out else None

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.should_exit:
                return
            if env_out is not None:
                atomic_write(env_out, env_lines(base_url, app.store.identity, app.settings.tokens).encode())  # 0600
            print(f"fixload simulator listening on {base_url}", flush=True)

    config = uvicorn.Config(
        app,
        loop=_loop(),
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        date_header=False,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    server = _Server(config)
    # uvicorn re-raises the captured signal once it has shut down; with these handlers that ends in "exit 0"
    # rather than death by SIGTERM, so supervisors and tests see a clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if env_out is not None and args.env_out_until_exit:
            remove_env_out(env_out)
    return 0


def _request_log(level: str, path: str | None) -> None:
    """The request log (`fixload.simulator`) on stderr or in `path`: `<time> ERROR request failed {json}`."""
    import logging

    logger = logging.getLogger("fixload.simulator")
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def remove_env_out(path: Path) -> None:
    """The token file gone, and the directory a starter made for it when nothing else is left in it."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or already gone: leave it
        path.parent.rmdir()


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fixload serve", description="The embedded Fixnado simulator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
