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
from locust.runners import WorkerRunner

from fixload.runtime.live import live_for

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


def format_line(status: dict[str, Any]) -> str:
    """The progress line for a live status (see `fixload.runtime.live.Live.status`)."""
    parts = []
    for s in status["scenarios"]:
        if s["targetRate"] is None:
            text = f"{s['name']} {_rate(s['achievedRate'])} it/s ({s['vusBusy']} VUs)"
        else:
            text = f"{s['name']} {_rate(s['achievedRate'])}/{_rate(s['targetRateWindow'])} it/s"
        if s["dropped"]:
            text += f" drop {s['dropped']}"
        parts.append(text)
    failing = [t for t in status["thresholds"] if t["ok"] is False]
    if failing:
        shown = ", ".join(f"{t['metric']} {t['expression']}" for t in failing[:3])
        more = f" (+{len(failing) - 3})" if len(failing) > 3 else ""
        tail = f"thresholds: {len(failing)} failing: {shown}{more}"
    else:
        pending = sum(1 for t in status["thresholds"] if t["ok"] is None)
        tail = f"thresholds: all {len(status['thresholds']) - pending} passing" + (
            f", {pending} pending" if pending else ""
        )
    workers = f"  workers {status['workers']}" if status.get("workers") else ""
    head = f"fixload  {_clock(status['elapsed'])}/{_clock(status['duration'])}{workers}"
    return "  ".join([head, " | ".join([*parts, tail])])


def _interval(environment: Any) -> float:
    options = environment.parsed_options
    value = getattr(options, "progress_interval", DEFAULT_INTERVAL) if options is not None else 0.0
    return max(0.0, float(value or 0.0))


def _loop(environment: Any, interval: float) -> None:
    live = live_for(environment)
    while True:
        gevent.sleep(interval)
        if not live.running:
            return
        print(format_line(live.status()), file=sys.stderr, flush=True)


def install(environment: Any, runner: Any) -> None:
    """Headless master/local runner: a progress line every --progress-interval seconds instead of Locust's
    periodic table (called at init by `fixload.plugin`: Locust reads `only_summary` after init)."""
    options = environment.parsed_options
    if options is None or isinstance(runner, WorkerRunner) or not getattr(options, "headless", False):
        return
    if _interval(environment) > 0 and not getattr(options, "print_stats", False):
        options.only_summary = True

    def on_test_start(**_: Any) -> None:
        interval = _interval(environment)
        if interval > 0:
            live_for(environment).tasks.append(gevent.spawn(_loop, environment, interval))

    environment.events.test_start.add_listener(on_test_start)
