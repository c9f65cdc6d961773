"""fixload on Locust's web UI (master or local runner): the start form, the run's banner and charts, two tabs.

Nothing of Locust is patched: template arguments set at `init` add the *Scenarios* and *Thresholds* tabs
(Locust's `extended_tabs`/`extended_tables`/`extended_stats`, as its `examples/extend_web_ui.py`), and
Flask's own hooks on Locust's app do the rest: START (`POST /swarm`) is validated first, as the command
line's `init` is (a bad value is refused, shown and logged; nothing starts), a Host other than the
configured target is refused, and one script (`/fixload/ui.js`) draws the banner and the chart panel.
Only the page itself can drive the UI (`fixload.surfaces.guard`, installed first; docs/web-ui-security.md).
Routes (behind `--web-login` when it is on): `/fixload/status.json`, `/fixload/panel.json`,
`/fixload/summary.json`, `/fixload/ui.js`; everything served passes through `redact()`.

Each rule in full: docs/design-notes.md#surfaces-webui.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from flask import Response, jsonify, request
from locust.runners import STATE_CLEANUP, STATE_INIT, STATE_RUNNING, STATE_SPAWNING, STATE_STOPPING
from werkzeug.datastructures import ImmutableMultiDict

from fixload.common.secrets import prepare, redact
from fixload.profile.config import ConfigError
from fixload.report.console import format_value, insufficient_vus_warnings
from fixload.report.generator import generator_warning
from fixload.report.html import CSS as REPORT_CSS
from fixload.report.html import scenario_charts, summary_scenario_charts
from fixload.report.timeseries import decode as decode_series
from fixload.report.timeseries import encode as encode_series
from fixload.runtime.driver import configure
from fixload.runtime.lifecycle import State
from fixload.runtime.live import SAMPLE_INTERVAL, Live
from fixload.runtime.state import Runtime
from fixload.surfaces import guard

logger = logging.getLogger("fixload")

TAB_SCENARIOS = "fixload_scenarios"
TAB_THRESHOLDS = "fixload_thresholds"
SUMMARY_ROUTE = "/fixload/summary.json"
STATUS_ROUTE = "/fixload/status.json"
PANEL_ROUTE = "/fixload/panel.json"
SCRIPT_ROUTE = "/fixload/ui.js"
SCRIPT_FILE = Path(__file__).with_name("webui.js")

SCENARIO_COLUMNS = [
    {"key": "name", "title": "Scenario"},
    {"key": "executor", "title": "Executor"},
    {"key": "target_rate", "title": "Target it/s now"},
    {"key": "target_window", "title": "Scheduled it/s (last s)"},
    {"key": "achieved_rate", "title": "Achieved it/s (last s)"},
    {"key": "vus", "title": "VUs busy / allocated / max"},
    {"key": "scheduled", "title": "Scheduled"},
    {"key": "started", "title": "Started"},
    {"key": "dropped", "title": "Dropped"},
    {"key": "completed", "title": "Completed"},
    {"key": "p95", "title": "p95 ms (last s)"},
]
THRESHOLD_COLUMNS = [
    {"key": "metric", "title": "Metric"},
    {"key": "expression", "title": "Expression"},
    {"key": "observed", "title": "Observed"},
    {"key": "result", "title": "Result"},
]
NOW_COLUMNS = ("target_rate", "target_window", "achieved_rate", "vus", "p95")
"""The Scenarios tab's columns about the moment (blank once the test has stopped; the totals stay)."""
NOT_NOW = "—"
"""What a "now" column shows once the test has stopped: there is no "now" any more."""


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--allow-host-override",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="fixload: let the web UI's Host field send the flows (and their tokens) to another host than the "
        "configured target",
    )


# ------------------------------------------------------------------------------------------ the tabs
def _num(value: float | None, digits: int = 2) -> str:
    return NOT_NOW if value is None else f"{value:,.{digits}f}"


def scenario_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    now = status["state"] == "running"
    rows = []
    for s in status["scenarios"]:
        arrival = s["executor"].endswith("arrival-rate")
        rows.append(
            {
                "name": s["name"],
                "executor": s["executor"],
                "target_rate": (_num(s["targetRate"]) if arrival else "— (VU executor)") if now else NOT_NOW,
                "target_window": _num(s["targetRateWindow"]) if now and arrival else NOT_NOW,
                "achieved_rate": _num(s["achievedRate"]) if now else NOT_NOW,
                "vus": f"{s['vusBusy']} / {s['vusAllocated']} / {s['vusMax']}" if now else f"— / — / {s['vusMax']}",
                "scheduled": NOT_NOW if s["scheduled"] is None else s["scheduled"],
                "started": s["started"],
                "dropped": s["dropped"],
                "completed": s["completed"],
                "p95": _num(s["p95Ms"], 1) if now else NOT_NOW,
            }
        )
    return rows


def observed_text(threshold: dict[str, Any]) -> str:
    """The observed value with its unit (ms, %, /s, B), as the console summary writes it."""
    if threshold.get("observed") is None:
        return NOT_NOW
    return format_value(
        threshold["observed"],
        threshold.get("aggregation") or "",
        threshold.get("metricType"),
        threshold.get("contains"),
    )


def threshold_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for t in status["thresholds"]:
        result = "pending (no samples)" if t["ok"] is None else ("✓ pass" if t["ok"] else "✗ FAIL")
        if t.get("noSamples"):  # the run is over and the selector matched nothing: k6's pass rule, said loudly
            result = "⚠ NO SAMPLES (passes by k6's rule)" if t["ok"] else "✗ FAIL (NO SAMPLES)"
        rows.append(
            {
                "metric": t["metric"],
                "expression": t["expression"] + (" (abortOnFail)" if t.get("abortOnFail") else ""),
                "observed": observed_text(t),
                "result": result,
            }
        )
    return rows


def extended_stats(live: Live, status: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    status = status if status is not None else live.status()
    return [
        {"key": TAB_SCENARIOS, "data": scenario_rows(status)},
        {"key": TAB_THRESHOLDS, "data": threshold_rows(status)},
    ]


POLLING_STATES = (STATE_RUNNING, STATE_SPAWNING)
"""The only runner states in which Locust's page keeps polling `/stats/requests` (its `useFetchStats` runs its
2 s interval only while the state it last read is `spawning` or `running`; NEW shows only on `stopped`)."""


def _starting(run: Runtime) -> bool:
    busy = (State.PROVISIONING, State.WAITING, State.RUNNING, State.FINALIZING)
    return getattr(run.environment.runner, "shape_greenlet", None) is not None or run.lifecycle.state in busy


def fresh_stats(web_ui: Any) -> None:
    """Forget Locust's memoized `/stats/requests` answer (kept 2 s, doubled for good when one took longer), so the
    page's first poll after START or the end reads the runner as it is, not as it was before. Done when START is
    answered, at test_start (the setup's fixtures may take longer than the memo) and at test_stop: a `stopped`
    read before START and served after it sends Locust's page back to NEW while the test runs."""
    for endpoint, view in web_ui.app.view_functions.items():
        if endpoint.rsplit(".", 1)[-1] == "request_stats" and hasattr(view, "clear_cache"):
            view.clear_cache()


def page_stats(live: Live, data: dict[str, Any], status: dict[str, Any]) -> None:
    """What Locust's page reads from `/stats/requests`, made true for a fixload run (in place; the runner's own
    state is kept in `locust_state`): a test ending (`cleanup`, `stopping`) is answered as `running` and a test
    starting (`start_shape` sets `ready` until the first spawn) as `spawning`: told either, Locust's page stops
    polling for good (stuck on CLEANUP with no NEW, or on the form during the run). `user_count` (the header and
    the users chart) is fixload's VUs busy now, not Locust's user count (every VU allocated before the start).
    """
    state = data.setdefault("locust_state", data.get("state"))  # a memoized answer passes here again
    if state in (STATE_CLEANUP, STATE_STOPPING):
        data["state"] = STATE_RUNNING
    elif state == STATE_INIT and _starting(live.runtime):
        data["state"] = STATE_SPAWNING  # START's shape has not spawned yet (setup, the start instant)
    if _profile_run(live.environment) and "user_count" in data:
        busy = sum(int(s["vusBusy"] or 0) for s in status["scenarios"]) if status["state"] == "running" else 0
        data["locust_user_count"] = data["user_count"]
        data["user_count"] = data["vus_busy"] = busy


# ------------------------------------------------------------------------------------ the start form
class FormError(ValueError):
    """A start-form field that cannot be used, naming the field and what was expected."""


FORM_FIELDS = ("profile", "multiplier", "env_file", "summary")
"""fixload's fields in the form (Locust posts them snake_cased), read here and kept from Locust's handler."""
PROFILE_FIELDS = ("user_count", "spawn_rate")
"""Locust's fields that a profile decides: the form shows them as the profile's, and they are not used."""


@dataclass(frozen=True)
class StartForm:
    """The start form as fixload reads it: None where a field was left blank (not set)."""

    profile: str | None
    multiplier: str | None
    """As typed: `validate_run` reads it with the command line's rules (a positive number within bounds)."""
    env_file: str | None
    summary: str
    host: str | None

    @classmethod
    def parse(cls, form: Any, current: Any = None) -> StartForm:
        """A field sent blank is "not set"; a field not sent at all (a script's POST) keeps its value in
        `current` (the options: what the command line gave, or the last START)."""

        def field(name: str) -> str | None:
            if name in form or current is None:
                return _blank(form.get(name))
            value = getattr(current, name, None)
            return _blank(None if value is None else str(value))

        return cls(
            profile=field("profile"),
            multiplier=field("multiplier"),
            env_file=field("env_file"),
            summary=field("summary") or "",
            host=_blank(form.get("host")),
        )


def _blank(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _url_key(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url.strip())
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def same_target(host: str, target: str) -> bool:
    try:
        return _url_key(host) == _url_key(target)
    except ValueError:  # a port that is not a number
        return False


def check_host(host: str | None, target: str, allow_override: bool) -> str:
    """The host the flows may use: the configured target, or (only with --allow-host-override) another."""
    if host is None or same_target(host, target) or allow_override:
        return host or target
    raise FormError(
        f"Host: {host} is not the configured target {target}; the flows send the user and admin tokens only to "
        "the target (set K6_BASE_URL to change it, or start with --allow-host-override)"
    )


def apply_form(runtime: Runtime, choice: StartForm) -> None:
    """Put the form's values into the options, typed, and load them as the command line would
    (`driver.configure`); on a bad value the options are restored and the error raised."""
    environment = runtime.environment
    options = environment.parsed_options
    before = {name: getattr(options, name, None) for name in FORM_FIELDS}
    before_profile = environment.profile
    options.profile, options.multiplier, options.env_file = choice.profile, choice.multiplier, choice.env_file
    options.summary = choice.summary
    try:
        configure(runtime)
    except BaseException:
        for name, value in before.items():
            setattr(options, name, value)
        environment.profile = before_profile
        raise
    environment.profile = choice.profile


def _busy(run: Runtime) -> bool:
    runner = run.environment.runner
    return bool(
        runner.state in (STATE_RUNNING, STATE_SPAWNING)
        or getattr(runner, "shape_greenlet", None) is not None
        or run.lifecycle.state is State.FINALIZING
    )


FORM_LABELS = {
    "profile": "Profile",
    "multiplier": "Multiplier",
    "envFile": "Env file",
    "summary": "Summary path",
    "setupTimeout": "Setup timeout",
}
"""The start form's labels for fixload's fields (by the form's input name): the page shows these, and refusals
name the field by them (`form_wording`)."""
FLAG_LABELS = {
    "--multiplier": "Multiplier",
    "--env-file": "Env file",
    "--summary": "Summary path",
    "--profile": "Profile",
}
"""The command-line flag each form field stands for: the shared validation names the flag, the form its field."""
_FLAG = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, FLAG_LABELS)) + r")(?![\w-])")


def form_wording(message: str) -> str:
    """A validation message as the form's user reads it: `--multiplier: expected ...` -> `Multiplier: expected ...`."""
    return _FLAG.sub(lambda m: FLAG_LABELS[m.group(1)], message)


def refuse_start(runtime: Runtime, message: str, banner: bool = True) -> Response:
    """A START that cannot run: say why in the form, the Logs tab and (`banner`) the banner; start nothing."""
    message = redact(form_wording(message))
    logger.error("fixload: START refused: %s", message)
    if banner:
        runtime.refused = message
    return jsonify({"success": False, "message": message, "host": runtime.environment.host})


def start_form_hook(runtime: Runtime, web_ui: Any, target: str) -> Response | None:
    """`before_request` for POST /swarm: check and apply fixload's fields, or answer with the error."""
    if request.method != "POST" or request.path.rstrip("/") != "/swarm":
        return None
    if web_ui.web_login and not _logged_in():
        return None  # Locust's own view sends the visitor to the login page
    hidden = guard.hidden_fields(request.form, guard.form_fields(web_ui))
    if hidden:  # command-line-only options: Locust's handler would apply them; never from a request
        message = "; ".join(f"{name}: not a field of the start form, set it on the command line" for name in hidden)
        return refuse_start(runtime, message)
    if _busy(runtime):
        # the banner keeps showing the run in progress
        message = "a test is running or finishing: press STOP and wait for its verdict first"
        return refuse_start(runtime, message, banner=False)
    environment = runtime.environment
    options = environment.parsed_options
    try:
        choice = StartForm.parse(request.form, options)
        typed = choice.summary if "summary" in request.form else ""
        if typed and (why := guard.summary_refusal(typed)):
            raise FormError(why)
        host = check_host(choice.host, target, bool(getattr(options, "allow_host_override", False)))
        apply_form(runtime, choice)
    except (FormError, ConfigError) as exc:
        return refuse_start(runtime, str(exc))
    runtime.refused = ""
    taken = (*FORM_FIELDS, "host", guard.TOKEN_FIELD, *(PROFILE_FIELDS if _profile_run(environment) else ()))
    form = [(k, v) for k, v in request.form.items(multi=True) if k not in taken]
    request.form = ImmutableMultiDict([*form, ("host", host)])
    return None


def stop_hook(runtime: Runtime) -> None:
    """`before_request` for POST /stop (past the guard: the page's own STOP, or a script's with the token): say
    in the log who ended the test and when, so the log of a test that ended early names what ended it."""
    if request.method != "POST" or request.path.rstrip("/") != "/stop":
        return
    state = runtime.test
    at = f" at {state.plan_time():.1f} s of the plan" if state is not None and state.clock is not None else ""
    logger.info("fixload: STOP from the web UI (%s)%s", request.remote_addr, at)


def _logged_in() -> bool:
    from flask_login import current_user

    return bool(current_user and current_user.is_authenticated)


# --------------------------------------------------------------------------------- banner and charts
VERDICTS = {
    "passed": "passed",
    "thresholds_failed": "thresholds failed",
    "aborted": "aborted by abortOnFail",
    "interrupted": "interrupted",
    "setup_failed": "setup failed",
    "target_unreachable": "target unreachable",
    "error": "error",
}


def run_phase(run: Runtime) -> dict[str, Any]:
    """The run's lifecycle as the banner shows it: ready, refused, provisioning (setup's fixtures), waiting
    (for the common start instant), running, halting (setup failed or abortOnFail: the test is ending),
    finalizing, stopped (with its verdict and exit code).

    The only place the web UI reads the lifecycle (`Runtime.lifecycle`); the test state gives the common
    start instant `t0`, which the lifecycle's `running` includes (the engine runs, its users wait)."""
    environment = run.environment
    lifecycle = run.lifecycle
    state = run.test
    if lifecycle.state is State.FINALIZING:
        return {"phase": "finalizing"}
    if run.refused:  # the latest START (refused ones are forgotten when a test starts)
        return {"phase": "refused", "message": run.refused}
    if lifecycle.summary:
        fx = lifecycle.summary["fixload"]
        return {
            "phase": "stopped",
            "status": fx.get("status"),
            "verdict": VERDICTS.get(str(fx.get("status")), str(fx.get("status"))),
            "exitCode": fx.get("exitCode"),
            "reason": fx.get("reason") or "",
            "warning": generator_warning(fx.get("generator")) or "",
            # k6's Insufficient VUs per scenario, as the console, the HTML report and the JUnit case say it
            "vusWarnings": list(insufficient_vus_warnings(fx).values()),
            "summary": SUMMARY_ROUTE,
        }
    if lifecycle.halted and lifecycle.test_started:
        assert lifecycle.halt is not None
        return {"phase": "halting", "reason": str(lifecycle.halt.reason), "detail": redact(lifecycle.halt.detail)}
    if lifecycle.state is State.PROVISIONING:
        return {"phase": "provisioning"}
    if state is not None and state.started and lifecycle.state in (State.WAITING, State.RUNNING):
        wait = -state.plan_time()
        if wait > 0:
            return {"phase": "waiting", "startsIn": round(wait, 2)}
        return {"phase": "running", "elapsed": round(-wait, 1), "duration": state.plan.nominal_duration}
    if environment.runner is not None and environment.runner.state in (STATE_RUNNING, STATE_SPAWNING):
        return {"phase": "waiting", "startsIn": None}
    return {"phase": "ready"}


def profile_decides(run: Runtime) -> dict[str, str] | None:
    """What the form's users / ramp-up fields say when the profile decides them (None: they are Locust's)."""
    if run.config is None or not _profile_run(run.environment):
        return None
    plan = run.config.plan
    most = sum(scenario.vus[1] for scenario in plan.scenarios.values())
    return {
        "userCount": f"set by the profile: up to {most} VUs across {len(plan.scenarios)} scenarios",
        "spawnRate": "set by the profile: each scenario starts its VUs on its own schedule",
    }


def _profile_run(environment: Any) -> bool:
    from fixload.runtime.shape import ScenarioShape

    return isinstance(environment.shape_class, ScenarioShape)


def panel(live: Live) -> dict[str, Any]:
    """The banner and the chart panel's data. The charts are the HTML report's (`render.scenario_charts`),
    from the same time series: once the test has stopped, exactly the report's (from the summary); while it
    runs, from the live samples encoded as the summary will carry them."""
    run = live.runtime
    status = live.status()
    summary = run.lifecycle.summary
    if summary:
        drawn = _has_data(decode_series(summary["fixload"].get("timeSeries")))
        charts = summary_scenario_charts(summary) if drawn else ""  # a test that never ran: no empty frames
    else:
        rows = decode_series(encode_series(live.points, SAMPLE_INTERVAL))
        charts = ""
        if _has_data(rows):
            scenarios = {s["name"]: {"executor": s["executor"], "flow": s["flow"]} for s in status["scenarios"]}
            last = max((r.t for series in rows.values() for r in series), default=0.0)
            x_max = max(last, float(status.get("duration") or 0.0), 1.0)
            charts = scenario_charts(scenarios, status["thresholds"], rows, SAMPLE_INTERVAL, x_max)
    return {
        "run": run_phase(run),
        "profile": status["profile"],
        "multiplier": status["multiplier"],
        "failing": status["failing"],
        "profileDecides": profile_decides(run),
        "formLabels": FORM_LABELS,
        "charts": charts,
        "css": CHART_CSS,
        "nowColumns": [c["title"] for c in SCENARIO_COLUMNS if c["key"] in NOW_COLUMNS],
    }


def _has_data(rows: dict[str, list[Any]]) -> bool:
    """Some sample has something to draw (a rate or a latency)."""
    return any(r.achieved is not None or r.p95 is not None for series in rows.values() for r in series)


def scoped_css(css: str, scope: str) -> str:
    """The report's chart rules, each selector prefixed by `scope`, so they style the panel and not Locust's page."""
    rules = []
    for rule in css.replace("\n", "").split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        names = [s.strip() for s in selectors.split(",")]
        if any(n in ("body", "h1", "h2", "footer") for n in names):
            continue
        rules.append(",".join(f"{scope} {n}" for n in names) + "{" + body + "}")
    return "\n".join(rules)


CHART_CSS = scoped_css(REPORT_CSS, "#fixload-charts")


# ------------------------------------------------------------------------------------------ wiring
def _json(data: Any, status: int = 200, download: str | None = None) -> Response:
    body = redact(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return response


def _inject_script(response: Response, token: str) -> Response:
    """Add fixload's script to Locust's page (its HTML is Locust's template; one tag before </body>), with the
    process's token for the page's own state-changing requests (`fixload.surfaces.guard`)."""
    page = response.get_data(as_text=True)
    if "</body>" in page and SCRIPT_ROUTE not in page:
        tag = f'<script src=".{SCRIPT_ROUTE}" data-token="{token}" defer></script>'
        response.set_data(page.replace("</body>", f"{tag}</body>", 1))
    return response


def install(live: Live, web_ui: Any) -> None:
    """Add fixload's form checks, banner, charts, tabs, routes and download link to one Locust web UI
    (master or local runner; called at init by `fixload.plugin`)."""
    run, environment = live.runtime, live.environment
    token = guard.install(web_ui)  # first: its hook runs before the start form's
    prepare()  # before it serves: a new page's first answers waited 0.2-1 s for the secrets' patterns

    def on_test_start(**_: Any) -> None:
        run.refused = ""  # a new test: a refused START's message is old news
        fresh_stats(web_ui)

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stop.add_listener(lambda **_: fresh_stats(web_ui))
    target = environment.host or (run.config.target.base_url if run.config else "")
    web_ui.template_args["extended_tabs"] = [
        {"title": "Scenarios", "key": TAB_SCENARIOS},
        {"title": "Thresholds", "key": TAB_THRESHOLDS},
    ]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_SCENARIOS, "structure": SCENARIO_COLUMNS},
        {"key": TAB_THRESHOLDS, "structure": THRESHOLD_COLUMNS},
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": SUMMARY_ROUTE, "title": "fixload summary JSON (k6 --summary-export + fixload block)"},
    ]
    app = web_ui.app

    @app.before_request
    def fixload_start_form() -> Response | None:
        return start_form_hook(run, web_ui, target)

    @app.before_request
    def fixload_stop() -> None:
        stop_hook(run)

    @app.route(STATUS_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_status() -> Response:
        return _json(live.status())

    @app.route(PANEL_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_panel() -> Response:
        return _json(panel(live))

    @app.route(SCRIPT_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_script() -> Response:
        response = Response(SCRIPT_FILE.read_text(encoding="utf-8"), mimetype="text/javascript")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.route(SUMMARY_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_summary() -> Response:
        summary = run.lifecycle.summary
        if not summary:
            return _json({"error": "no summary yet: it is written when the test stops"}, status=404)
        return _json(summary, download="fixload-summary.json")

    @app.after_request
    def fixload_page(response: Response) -> Response:
        if response.status_code != 200:
            return response
        if request.method == "POST" and request.path.rstrip("/") == "/swarm":
            fresh_stats(web_ui)  # START: the last test's memoized "stopped" must not be the next answer
            return response
        if request.path == "/" and response.mimetype == "text/html":
            return _inject_script(response, token)
        if request.path != "/stats/requests" or not response.is_json:
            return response
        data = response.get_json()
        status = live.status()
        data["extended_stats"] = json.loads(redact(json.dumps(extended_stats(live, status))))
        page_stats(live, data, status)
        response.set_data(json.dumps(data))
        return response
