"""fixload's tabs and JSON routes on Locust's web UI (master or local runner), through Locust's own hooks.

Locust's React UI shows extra tabs from three template arguments and one field of its `/stats/requests`
poll (the mechanism of Locust's `examples/extend_web_ui.py`): `extended_tabs` (title + key),
`extended_tables` (the columns of each tab), `extended_csv_files` (links on the *Download Data* tab), and
`extended_stats` (the rows, refreshed with every poll, every 2 s). Nothing is patched: the template
arguments are set at `init` (Locust's `update_template_args()` keeps keys it does not own) and the rows
are added to the `/stats/requests` response by a Flask `after_request` hook.

Tabs (shown once a test has started, as Locust shows its own):
- *Scenarios*: per scenario the executor, target rate now vs achieved (iterations started per second over
  the last few seconds), VUs busy/allocated/max, scheduled/started/dropped/completed, p95 of the last
  seconds;
- *Thresholds*: every expression with its observed value so far and pass/fail (pending without samples);
  after the test, the final evaluation from the summary.

Routes (all behind `--web-login` when it is on): `/fixload/status.json` (both tabs' data),
`/fixload/summary.json` (the summary of the last finished test; 404 before one exists), and the
*Download Data* tab links to the latter. Everything served passes through `redact()`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response, request
from locust import events
from locust.runners import WorkerRunner

from fixload.live import live_for
from fixload.run import run_for
from fixload.secrets import redact

TAB_SCENARIOS = "fixload_scenarios"
TAB_THRESHOLDS = "fixload_thresholds"
SUMMARY_ROUTE = "/fixload/summary.json"
STATUS_ROUTE = "/fixload/status.json"

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


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def scenario_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in status["scenarios"]:
        rows.append(
            {
                "name": s["name"],
                "executor": s["executor"],
                "target_rate": _num(s["targetRate"]) if s["targetRate"] is not None else "— (VU executor)",
                "target_window": _num(s["targetRateWindow"]) if s["targetRate"] is not None else "—",
                "achieved_rate": _num(s["achievedRate"]),
                "vus": f"{s['vusBusy']} / {s['vusAllocated']} / {s['vusMax']}",
                "scheduled": "—" if s["scheduled"] is None else s["scheduled"],
                "started": s["started"],
                "dropped": s["dropped"],
                "completed": s["completed"],
                "p95": _num(s["p95Ms"], 1),
            }
        )
    return rows


def threshold_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for t in status["thresholds"]:
        result = "pending (no samples)" if t["ok"] is None else ("✓ pass" if t["ok"] else "✗ FAIL")
        if t.get("noSamples"):  # the run is over and the selector matched nothing: k6's pass rule, said loudly
            result = "⚠ NO SAMPLES (passes by k6's rule)" if t["ok"] else "✗ FAIL (NO SAMPLES)"
        observed = t["observed"]
        rows.append(
            {
                "metric": t["metric"],
                "expression": t["expression"] + (" (abortOnFail)" if t.get("abortOnFail") else ""),
                "observed": "—" if observed is None else f"{observed:,.4g}",
                "result": result,
            }
        )
    return rows


def extended_stats(environment: Any) -> list[dict[str, Any]]:
    status = live_for(environment).status()
    return [
        {"key": TAB_SCENARIOS, "data": scenario_rows(status)},
        {"key": TAB_THRESHOLDS, "data": threshold_rows(status)},
    ]


def _json(data: Any, status: int = 200, download: str | None = None) -> Response:
    body = redact(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return response


def install(environment: Any, web_ui: Any) -> None:
    """Add fixload's tabs, routes and download link to one Locust web UI."""
    live_for(environment)
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

    @app.route(STATUS_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_status() -> Response:
        return _json(live_for(environment).status())

    @app.route(SUMMARY_ROUTE)
    @web_ui.auth_required_if_enabled
    def fixload_summary() -> Response:
        summary = run_for(environment).extra.get("summary")
        if not summary:
            return _json({"error": "no summary yet: it is written when the test stops"}, status=404)
        return _json(summary, download="fixload-summary.json")

    @app.after_request
    def fixload_extended_stats(response: Response) -> Response:
        if request.path != "/stats/requests" or response.status_code != 200 or not response.is_json:
            return response
        data = response.get_json()
        data["extended_stats"] = json.loads(redact(json.dumps(extended_stats(environment))))
        response.set_data(json.dumps(data))
        return response


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, web_ui: Any = None, **_: Any) -> None:
    if web_ui is None or isinstance(runner, WorkerRunner):
        return
    install(environment, web_ui)
