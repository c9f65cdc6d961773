"""The guard: every test on a master or local runner ends within a bound, and never green when it could not run.

A greenlet of fixload's own (not one of Locust's runner greenlets, which Locust kills when it stops) checks
every `WATCH_INTERVAL` seconds:

- a worker the master refused (its locustfiles lack scenarios of the plan: `MasterRole.refuse_if_unfit`)
  ends a headless run with status error, exit 1; before any test began, with a summary saying nothing ran;
- a test still running `DEADLINE_SLACK` s after the shape's own end (plan end, gracefulStop included, plus
  `END_GRACE`) is halted (`incomplete`: status error, exit 1) and ended: something kept the shape from it
  (its greenlet blocked in Locust's dispatch, as with a worker that could not spawn its users);
- a halted test the shape did not end within `HALT_GRACE` s is ended here, as Locust ends any.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import gevent
import greenlet

from fixload.common.exitcodes import ExitCode
from fixload.runtime import options
from fixload.runtime.driver import finalize
from fixload.runtime.lifecycle import HaltReason
from fixload.runtime.state import END_GRACE, WATCH_INTERVAL, Runtime

logger = logging.getLogger("fixload")

DEADLINE_SLACK = 3.0
"""Plan seconds past the shape's own end (plan end, gracefulStop included, + END_GRACE) after which the
guard ends a test that is still running: something stopped the shape from ending it."""
HALT_GRACE = 3.0
"""Seconds a halted test may take to end through the shape before the guard ends it."""


def install(runtime: Runtime) -> None:
    """Master or local runner: a greenlet of fixload's own (not Locust's, which Locust kills) that makes every
    test end within a bound, and never green when it could not run (`_guard`). Call from `init` (it runs
    in Locust's main greenlet, the one a refusal before the start interrupts)."""
    if runtime.runner is None or not runtime.role.leads:
        return
    gevent.spawn(_guard, runtime, greenlet.getcurrent())  # init runs in Locust's main greenlet


def _guard(run: Runtime, main: Any) -> None:
    """Every `WATCH_INTERVAL`: a refused worker ends a headless run (status error); a test running past
    its plan's deadline is halted (`incomplete`, error); a halted test the shape did not end in
    `HALT_GRACE` s (its greenlet blocked in Locust's dispatch, say) is ended here, as Locust ends any."""
    environment = run.environment
    halted_since: float | None = None
    while True:
        gevent.sleep(WATCH_INTERVAL)
        lifecycle = run.lifecycle
        if lifecycle.ending:
            halted_since = None
            continue
        if lifecycle.refused and options.headless(environment):
            why = next(iter(lifecycle.refused.values()))
            if not lifecycle.test_started:
                _end_before_start(run, main, why)
                return
            lifecycle.stop_sending(HaltReason.WORKER_REFUSED, why)
        state = run.test
        if state is None or not state.started or state.finished:
            halted_since = None
            continue
        deadline = state.plan.duration + END_GRACE + DEADLINE_SLACK
        if state.plan_time() > deadline and not lifecycle.halted:
            detail = (
                f"the plan ({state.plan.duration:g}s with gracefulStop) had not ended at t={state.plan_time():.0f}s; "
                "fixload ended it (the schedule did not complete)"
            )
            logger.error("fixload: %s", detail)
            lifecycle.stop_sending(HaltReason.INCOMPLETE, detail)
            gevent.spawn(_end_test, environment)  # the shape would have ended it by now if it could
            halted_since = None
            continue
        if not lifecycle.halted:
            continue
        halted_since = halted_since if halted_since is not None else time.monotonic()
        if time.monotonic() - halted_since > HALT_GRACE:
            logger.error("fixload: the halted test did not end through the shape; ending it (%s)", lifecycle.halt)
            halted_since = None
            gevent.spawn(_end_test, environment)


def _end_test(environment: Any) -> None:
    """End the test as Locust does: quit a headless runner (test_stop finalizes), stop one with a web UI."""
    if options.headless(environment):
        environment.runner.quit()
    else:
        environment.runner.stop()


def _end_before_start(run: Runtime, main: Any, why: str) -> None:
    """A headless master refused a worker before any test began: the run cannot be what the profile says.
    Write the summary (error, nothing sent) and exit 1, as a signal before the start exits (signals.py)."""
    environment = run.environment
    lifecycle = run.lifecycle
    lifecycle.new_test()
    lifecycle.started_at = datetime.now(UTC)
    lifecycle.stop_sending(HaltReason.WORKER_REFUSED, why)
    finalize(run, early=True)
    if lifecycle.console:
        print(lifecycle.console, file=sys.stderr, flush=True)
        lifecycle.console = ""
    environment.process_exit_code = int(ExitCode.GENERIC)
    if environment.runner is not None:
        environment.runner.quit()
    gevent.kill(main, SystemExit(int(ExitCode.GENERIC)))
