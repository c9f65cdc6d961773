"""fixload as a Locust plugin: importing it (every locustfile in `locustfiles/` does) wires fixload into Locust.

At init it builds the run's runtime once (`runtime.state.Runtime`) and its role (local, master or worker:
`runtime.role.role_for`, the one place that asks which runner this is), attaches the runtime to the
environment for the classes Locust constructs (users, the shape: `fixload.flows.user.runtime_of`) and
hands it to everything it installs, in an explicit order: options (`runtime.options`), request → metrics
(`runtime.recorder`), the role's master/worker messages (`runtime.master`, `runtime.worker`), the
lifecycle (`runtime.driver`), no hang or false green (`runtime.guard`), the live view (`runtime.live`),
then the operator surfaces (`surfaces.*`) and signals (`runtime.signals`). Locust calls listeners in the
order they were added, so the order below is the order they fire in; it matters at the end: the driver's
`test_stop` (the summary) runs before the live view freezes and before the reports are written from it.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import events

from fixload.common import children
from fixload.flows.user import attach
from fixload.runtime import driver, guard, live, options, recorder, signals, tracing
from fixload.runtime.role import role_for
from fixload.runtime.state import Runtime
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
    runtime = Runtime(environment)
    runtime.role = role = role_for(runtime, runner)
    attach(environment, runtime)
    if not driver.configure_at_init(runtime):
        return
    samples.install(runtime)
    otel.install(runtime)  # before the driver: setup's requests are exported too
    recorder.install(runtime)
    if runner is not None:
        role.install()
    driver.install(runtime)
    guard.install(runtime)
    view = live.install(runtime)
    progress.install(view)
    prometheus.install(view, web_ui)
    reports.install(runtime)
    samples.install_end(runtime)  # after the summary: the file closes with the end's samples in it
    otel.install_end(runtime)  # after the summary: the run span's events come from it
    webauth.install_for(runtime, web_ui)
    if web_ui is not None and role.leads:
        webui.install(view, web_ui)
    if runner is not None and role.leads and options.automatic(environment):
        signals.install(runtime, driver.finalize_now)
    if runner is not None and not role.leads:
        signals.end_with_master(environment)
    children.accept_signals()  # a signal `fixload run` forwarded before now was held for this moment
    # Start-up (imports, the profile's validation) blocked the event loop for seconds, so its cached clock is
    # stale; Locust arms `--run-time` right after init, and a stale clock would fire it that much too early.
    gevent.get_hub().loop.update_now()
