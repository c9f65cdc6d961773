"""fixload as a Locust plugin: importing it (every locustfile in `locustfiles/` does) wires fixload into Locust.

This module only registers, in an explicit order; each concern lives in its own module: options
(`runtime.options`), request → metrics (`runtime.recorder`), the lifecycle (`runtime.driver`,
`runtime.lifecycle`), the master/worker protocol (`runtime.coordinator`), no hang or false green
(`runtime.guard`), signals (`runtime.signals`) and the operator surfaces (`runtime.live`, then
`surfaces.*`). Locust calls listeners in the order they were added, so the order below is the order they
fire in; it matters at the end: the driver's `test_stop` (the summary) runs before the live view freezes
and before the reports are written from it.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

from fixload.common import children
from fixload.runtime import coordinator, driver, guard, live, options, recorder, signals, tracing
from fixload.runtime.state import run_for
from fixload.surfaces import login as webauth
from fixload.surfaces import otel, progress, prometheus, samples, webui
from fixload.surfaces import report_files as reports


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    options.add_arguments(parser)
    tracing.add_arguments(parser)
    progress.add_arguments(parser)
    prometheus.add_arguments(parser)
    reports.add_arguments(parser)
    samples.add_arguments(parser)
    otel.add_arguments(parser)
    webui.add_arguments(parser)


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, web_ui: Any = None, **_: Any) -> None:
    run = run_for(environment)
    if not driver.configure_at_init(environment, runner):
        return
    samples.install(environment, runner)  # before the recorder: which request its HTTP samples belong to
    otel.install(environment, runner)  # before the driver: setup's requests are exported too
    recorder.install(environment, run)
    if runner is not None:
        coordinator.install(environment, runner)
    driver.install(environment, runner)
    guard.install(environment, runner)
    live.install(environment, runner)
    progress.install(environment, runner)
    prometheus.install(environment, runner, web_ui)
    reports.install(environment, runner)
    samples.install_end(environment)  # after the recorder and the summary: ends a request's samples, the file
    otel.install_end(environment, runner)  # after the summary: the run span's events come from it
    webauth.install_for(environment, runner, web_ui)
    if web_ui is not None and not isinstance(runner, WorkerRunner):
        webui.install(environment, web_ui)
    if runner is not None and not isinstance(runner, WorkerRunner) and options.automatic(environment):
        signals.install(environment, driver.finalize_now)
    if isinstance(runner, WorkerRunner):
        signals.end_with_master(environment)
    children.accept_signals()  # a signal `fixload run` forwarded before now was held for this moment
    # Start-up (imports, the profile's validation) blocked the event loop for seconds, so its cached clock is
    # stale; Locust arms `--run-time` right after init, and a stale clock would fire it that much too early.
    gevent.get_hub().loop.update_now()
