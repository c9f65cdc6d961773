"""Only the web UI's own page can drive it (the rules and their tests: docs/web-ui-security.md).

Locust wraps its app in `flask_cors.CORS(app)`, which grants every `Origin`: any page the engineer visits
could read the summary, `/metrics`, `/logs` and post `/swarm`. Installed at init, before fixload's hooks:
0. without `--web-login` the `Host` must be an IP address, localhost, this machine's name, `--web-host` or
   in FIXLOAD_WEB_HOSTS (DNS rebinding would make another site's page same-origin, token and all);
1. a WSGI middleware (Flask's `app.wsgi_app`, so it sees flask_cors's error handlers too) drops every
   `Access-Control-*` header from every response and forbids framing by another site;
2. `Sec-Fetch-Site` cross-site or same-site (another port) is refused, bar a top-level navigation;
3. a state-changing request (any method but GET/HEAD/OPTIONS) needs the UI's own `Origin` (or none) and
   this process's token (`X-Fixload-Token` or form field `fixload_token`, constant-time compare): the page
   has it in its `/fixload/ui.js` tag (the login page: an inline script), scripts read `/fixload/token.json`;
4. START's fields: only those the form shows (`form_fields`); a typed summary path never replaces a file
   that is not a fixload summary (`summary_refusal`). `fixload.surfaces.webui` applies these two.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from flask import Response, jsonify, request

logger = logging.getLogger("fixload")

TOKEN_HEADER = "X-Fixload-Token"
TOKEN_FIELD = "fixload_token"
TOKEN_ROUTE = "/fixload/token.json"
REFUSED_HEADER = "X-Fixload-Refused"
HOSTS_ENV = "FIXLOAD_WEB_HOSTS"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of the page's own requests ("none": typed in the address bar, a bookmark)."""


FRAME_HEADERS = [("X-Frame-Options", "SAMEORIGIN"), ("Content-Security-Policy", "frame-ancestors 'self'")]
"""No other site may frame the page (and have the engineer click START in it)."""


class NoCors:
    """WSGI middleware: drop every `Access-Control-*` header from every response (Locust's CORS(app)), and
    forbid framing by another site."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            named = {k.lower() for k, _ in kept}
            kept += [(k, v) for k, v in FRAME_HEADERS if k.lower() not in named]
            return start_response(status, kept, *exc_info)

        return self.app(environ, start)


def same_origin(origin: str) -> bool:
    """`Origin` names this UI: its host and port are the request's `Host` (the scheme is not compared, so a
    TLS-terminating proxy in front of the UI still works; one host:port serves one scheme)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file: page) and anything else that is not a web origin
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    return parts.netloc.lower().removesuffix(default) == request.host.lower().removesuffix(default)


def known_host(host: str, names: frozenset[str]) -> bool:
    """`Host` (name[:port]) is an IP address, localhost, or one of `names`: never a name someone else's DNS
    could point at this machine (DNS rebinding makes such a page "same-origin", token and all)."""
    name = urlsplit(f"//{host}").hostname or ""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name == "localhost" or name.endswith(".localhost") or name in names


def host_names(web_ui: Any) -> frozenset[str]:
    """The names the UI answers to without --web-login: this machine's, --web-host's, FIXLOAD_WEB_HOSTS."""
    listed = {n.strip().lower() for n in os.environ.get(HOSTS_ENV, "").split(",") if n.strip()}
    return frozenset({socket.gethostname().lower(), str(getattr(web_ui, "host", "") or "").lower(), *listed})


def refusal(token: str, names: frozenset[str] | None = None) -> str | None:
    """Why the current request is refused (None: it may go on). `names`: the Host rule is on (no --web-login)."""
    if names is not None and not known_host(request.host, names):
        return (
            f"Host: {request.host} is not a name this web UI answers to without --web-login (a guard against DNS "
            f"rebinding): open it by IP address or localhost, add the name to {HOSTS_ENV}, or use --web-login"
        )
    site = request.headers.get("Sec-Fetch-Site")
    navigation = (
        request.method == "GET"
        and request.headers.get("Sec-Fetch-Mode") == "navigate"
        and request.headers.get("Sec-Fetch-Dest") == "document"
    )
    if site is not None and site not in ALLOWED_FETCH_SITES and not navigation:
        return f"Sec-Fetch-Site: {site}: the web UI answers only its own page"
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin):
        return f"Origin: {origin} is not the web UI's own origin (Host: {request.host})"
    sent = request.headers.get(TOKEN_HEADER) or request.form.get(TOKEN_FIELD) or ""
    if not hmac.compare_digest(sent.encode(), token.encode()):
        what = "a wrong" if sent else "no"
        return (
            f"{what} {TOKEN_HEADER} (or form field {TOKEN_FIELD}): a state-changing request needs this process's "
            f"token (the page has it; scripts read {TOKEN_ROUTE}); reload the page if the UI was restarted"
        )
    return None


def token_of(web_ui: Any) -> str:
    """This process's token (made by `install`)."""
    return web_ui.app.extensions["fixload_guard"]


def install(web_ui: Any) -> str:
    """Put the rules on this web UI (once; called at init by `fixload.plugin`); return the token."""
    app = web_ui.app
    if "fixload_guard" in app.extensions:
        return token_of(web_ui)
    token = secrets.token_urlsafe(32)
    app.extensions["fixload_guard"] = token
    app.wsgi_app = NoCors(app.wsgi_app)  # type: ignore[method-assign]
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"  # --web-login's session: never sent by another site

    names = None if web_ui.web_login else host_names(web_ui)

    @app.before_request
    def fixload_guard() -> Response | None:
        why = refusal(token, names)
        if why is None:
            return None
        logger.warning("fixload: web UI refused %s %s: %s", request.method, request.path, why)
        response = jsonify({"success": False, "message": f"refused: {why}"})
        response.status_code = 403
        response.headers[REFUSED_HEADER] = "1"
        return response

    @app.route(TOKEN_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_token() -> Response:
        response = jsonify({"token": token, "header": TOKEN_HEADER, "field": TOKEN_FIELD})
        response.headers["Cache-Control"] = "no-store"
        return response

    return token


# ------------------------------------------------------------------------------------- the start form
LOCUST_FORM_FIELDS = frozenset({"user_count", "spawn_rate", "host", "run_time", "profile"})
"""The fields Locust's start form shows itself (its page posts them snake_cased); the rest of the form is the
options marked `include_in_web_ui` (`template_args["extra_options"]`: fixload's multiplier, env file,
summary). Locust's `/swarm` handler would apply *any* option named in the form: fixload refuses the others."""
PICKER_FIELDS = frozenset({"user_classes", "shape_class"})
"""Shown only when Locust's user-class picker is on (`--class-picker`)."""
SUMMARY_BOUND = 512 * 1024 * 1024
"""A file bigger than this is not read to find out whether it is a fixload summary (it is taken as not one)."""


def form_fields(web_ui: Any) -> frozenset[str]:
    """The fields the start form shows (and so the only ones START applies), plus the token field."""
    shown = set(LOCUST_FORM_FIELDS) | set(web_ui.template_args.get("extra_options") or {}) | {TOKEN_FIELD}
    if getattr(web_ui, "userclass_picker_is_active", False):
        shown |= PICKER_FIELDS
    return frozenset(shown)


def hidden_fields(form: Any, shown: frozenset[str]) -> list[str]:
    """The form's fields that the start form does not show (command-line-only options, report paths...)."""
    return sorted({key for key in form if key not in shown})


def summary_refusal(path: str) -> str | None:
    """Why START must not write its summary to `path` (typed in the form): an existing file that is not a
    fixload summary (the user's own file, which the summary would replace), or not a regular file."""
    target = Path(path)
    if not target.exists() and not target.is_symlink():
        return None
    if not target.is_file():
        return f"Summary: {path} exists and is not a regular file; type another path"
    replace = "START would replace it: type another path, or move that file away first"
    if target.stat().st_size > SUMMARY_BOUND:
        return f"Summary: {path} exists and is not a fixload summary (over {SUMMARY_BOUND >> 20} MB); {replace}"
    try:
        data = orjson.loads(target.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("fixload"), dict) and isinstance(data.get("metrics"), dict):
        return None
    return f"Summary: {path} exists and is not a fixload summary; {replace}"
