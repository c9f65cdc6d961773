"""Who may use the web UI: Locust's `--web-login`, with one username and password from the environment.

The UI listens on 127.0.0.1 unless told otherwise (`[tool.locust]` in pyproject.toml, `fixload run --ui`).
To open it to others, bind it elsewhere *and* require a login:

    FIXLOAD_WEB_USERNAME=ops FIXLOAD_WEB_PASSWORD=... locust --web-host 0.0.0.0 --web-login

Locust's `--web-login` shows its login page and protects every page and route (fixload's included) but
leaves checking the credentials to a plugin (Locust's `examples/web_ui_auth`); this module is that plugin:

- the login page's form posts to `/fixload/login`, which checks the pair (constant-time) and starts a
  session (Flask's signed cookie, a random key per process: a restart logs everyone out);
- HTTP basic auth (`curl -u ops:...`, a Prometheus scrape's `basic_auth`) is accepted on every request,
  so scripts and scrapers need no session;
- the login form, like every state-changing request, must carry the process's token
  (`fixload.surfaces.guard`): an inline script on the login page adds it to the form when it is submitted.

`--web-login` without both variables is bad input (exit 104). The password is a secret: it is never
logged or shown (its name makes `fixload.common.secrets` mask its value).
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

from flask import Response, redirect, request, session, url_for
from flask_login import UserMixin, login_user

from fixload.common.secrets import register_secrets
from fixload.runtime.driver import fail_invalid
from fixload.runtime.state import Runtime
from fixload.surfaces import guard

USERNAME_ENV = "FIXLOAD_WEB_USERNAME"
PASSWORD_ENV = "FIXLOAD_WEB_PASSWORD"
LOGIN_ROUTE = "/fixload/login"


class Operator(UserMixin):
    """The one account the web UI knows."""

    def __init__(self, username: str) -> None:
        self.id = username


def credentials(env: dict[str, str] | None = None) -> tuple[str, str] | None:
    source = os.environ if env is None else env
    username, password = source.get(USERNAME_ENV, ""), source.get(PASSWORD_ENV, "")
    return (username, password) if username and password else None


def matches(expected: tuple[str, str], username: str | None, password: str | None) -> bool:
    """Both parts compared in constant time (no early exit on the username)."""
    user_ok = hmac.compare_digest((username or "").encode(), expected[0].encode())
    password_ok = hmac.compare_digest((password or "").encode(), expected[1].encode())
    return user_ok and password_ok


def login_script(token: str) -> str:
    """The login page's part of the token rule: Locust's login form is a plain HTML form (it posts to
    `auth_args["username_password_callback"]`); the token joins it as a hidden field when it is submitted."""
    field = guard.TOKEN_FIELD
    return (
        "<script>document.addEventListener('submit', (e) => { const f = e.target;"
        f" if (f.querySelector('input[name={field}]')) return; const i = document.createElement('input');"
        f" i.type = 'hidden'; i.name = '{field}'; i.value = '{token}'; f.append(i); }}, true);</script>"
    )


def install(web_ui: Any, expected: tuple[str, str]) -> None:
    """Check logins against `expected` on this web UI (which Locust started with --web-login)."""
    register_secrets([expected[1]])
    token = guard.install(web_ui)
    app = web_ui.app
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    manager = web_ui.login_manager
    web_ui.auth_args = {"username_password_callback": LOGIN_ROUTE, "title": "fixload"}

    @manager.user_loader
    def load_user(user_id: str) -> Operator | None:
        return Operator(user_id) if hmac.compare_digest(user_id.encode(), expected[0].encode()) else None

    @manager.request_loader
    def basic_auth(req: Any) -> Operator | None:
        auth = req.authorization
        if auth is not None and auth.type == "basic" and matches(expected, auth.username, auth.password):
            return Operator(expected[0])
        return None

    @app.after_request
    def fixload_login_page(response: Response) -> Response:
        if request.path.rstrip("/").endswith("/login") and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            if "</body>" in page and guard.TOKEN_FIELD not in page:
                response.set_data(page.replace("</body>", login_script(token) + "</body>", 1))
        return response

    @app.route(LOGIN_ROUTE, methods=["POST"])
    def fixload_login() -> Any:
        if matches(expected, request.form.get("username"), request.form.get("password")):
            login_user(Operator(expected[0]))
            session["auth_error"] = None
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))


def install_for(runtime: Runtime, web_ui: Any) -> None:
    """--web-login on this environment's web UI (called at init by `fixload.plugin`)."""
    environment = runtime.environment
    if web_ui is None or not runtime.role.leads or not web_ui.web_login:
        return
    expected = credentials()
    if expected is None:
        fail_invalid(
            environment,
            f"--web-login: set {USERNAME_ENV} and {PASSWORD_ENV} (the one account the web UI accepts); "
            "see docs/web-ui.md, 'Opening the web UI to others'",
        )
        return
    install(web_ui, expected)
