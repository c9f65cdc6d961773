"""One status line per interval in headless runs, instead of Locust's full request table every 2 s.

Per scenario: achieved/target iterations per second over the last seconds, dropped iterations so far,
then the thresholds failing now. Printed on the master or the local runner (stderr) every
`--progress-interval` seconds (default 5; 0 turns it off). While it is on, fixload sets Locust's
`--only-summary` at `init`; pass `--print-stats` to keep Locust's periodic table too.

An example line: docs/design-notes.md#surfaces-progress.
"""

from __future__ import annotations

import sys
from typing import Any

import gevent

from fixload.runtime.live import Live

DEFAULT_INTERVAL = 5.0


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=DEFAULT_INTERVAL,
        include_in_web_ui=False,
        help="fixload: seconds between headless progress lines (0: off, and Locust's periodic table comes back); "
        "--print-stats keeps Locust's table as well",
    )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


WIDTH = 120
"""No progress line is wider: a terminal or a CI log of 120 columns shows each on one line."""


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def format_lines(status: dict[str, Any], run_time: float | None = None) -> list[str]:
    """The progress block for a live status (see `fixload.runtime.live.Live.status`): a head line with the
    time, the workers and the thresholds, then one labelled line per scenario, each at most WIDTH columns.
    `run_time`: Locust's `-t` in seconds, when it ends the run before the plan does."""
    end = status["duration"]
    cut = run_time is not None and (end is None or run_time < end)
    clock = f"{_clock(status['elapsed'])}/{_clock(run_time if cut else end)}" + (" (-t)" if cut else "")
    failing = [t for t in status["thresholds"] if t["ok"] is False]
    if failing:
        shown = ", ".join(f"{t['metric']} {t['expression']}" for t in failing[:2])
        more = f" (+{len(failing) - 2})" if len(failing) > 2 else ""
        verdict = f"thresholds: {len(failing)} failing: {shown}{more}"
    else:
        pending = sum(1 for t in status["thresholds"] if t["ok"] is None)
        verdict = f"thresholds: all {len(status['thresholds']) - pending} passing" + (
            f", {pending} pending" if pending else ""
        )
    workers = f"  workers {status['workers']}" if status.get("workers") else ""
    lines = [_fit(f"fixload {clock}{workers}  {verdict}")]
    width = min(32, max((len(s["name"]) for s in status["scenarios"]), default=0))
    for s in status["scenarios"]:
        achieved = f"achieved {_rate(s['achievedRate'])} it/s"
        if s["targetRate"] is None:
            text = f"{achieved}, {s['vusBusy']} VUs busy"
        else:
            text = f"{achieved} of {_rate(s['targetRateWindow'])} target"
        if s["dropped"]:
            text += f", dropped {s['dropped']}"
        lines.append(_fit(f"  {s['name']:<{width}}  {text}"))
    return lines


def _interval(environment: Any) -> float:
    options = environment.parsed_options
    value = getattr(options, "progress_interval", DEFAULT_INTERVAL) if options is not None else 0.0
    return max(0.0, float(value or 0.0))


def _run_time(environment: Any) -> float | None:
    value = getattr(environment.parsed_options, "run_time", None)
    return float(value) if value else None


def _loop(live: Live, interval: float) -> None:
    environment = live.environment
    lifecycle = live.runtime.lifecycle
    while True:
        gevent.sleep(interval)
        if not live.running or lifecycle.ending:  # the run is ending: its summary comes next, not progress
            return
        text = "\n".join(format_lines(live.status(), _run_time(environment)))
        print(text, file=sys.stderr, flush=True)


def install(live: Live) -> None:
    """Headless master/local runner: a progress line every --progress-interval seconds instead of Locust's
    periodic table (called at init by `fixload.plugin`: Locust reads `only_summary` after init)."""
    environment = live.environment
    options = environment.parsed_options
    if options is None or not live.runtime.role.leads or not getattr(options, "headless", False):
        return
    if _interval(environment) > 0 and not getattr(options, "print_stats", False):
        options.only_summary = True

    def on_test_start(**_: Any) -> None:
        interval = _interval(environment)
        if interval > 0:
            live.tasks.append(gevent.spawn(_loop, live, interval))

    environment.events.test_start.add_listener(on_test_start)
