"""SIGINT and SIGTERM inside the Locust process: end the run the way Ctrl-C does, with a summary and exit 105.

The one place fixload touches signals in a Locust process (the `fixload run` wrapper forwards them to its
children: `fixload.cli.run`). The first signal records `interrupted_by` and raises KeyboardInterrupt in
Locust's main greenlet, as Ctrl-C does; before any test started it quits with 105; a second one before
the run could end writes the summary of what was counted so far and exits at once. A worker Locust
forked (`--processes`) asks Linux for SIGTERM when its master dies (`end_with_master`).

Why each rule: docs/design-notes.md#runtime-signals.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import gevent
import greenlet

from fixload.common.children import die_with_parent
from fixload.common.exitcodes import ExitCode
from fixload.runtime.state import Runtime

logger = logging.getLogger("fixload")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install(runtime: Runtime, summarize_now: Callable[[Runtime], None]) -> None:
    """Take SIGINT/SIGTERM over; call from `init` (it fires in the main greenlet, the one to interrupt).
    `summarize_now(runtime)` writes the summary at once, for a second signal's immediate exit."""
    main = greenlet.getcurrent()
    for signum in SIGNALS:
        gevent.signal_handler(signum, on_signal, runtime, main, signum, summarize_now)


def end_with_master(environment: Any) -> None:
    """On a worker Locust forked (`--processes`, which `fixload run --workers` uses: the master is its
    parent), SIGTERM when the master dies; a worker started on its own (`locust --worker`, a container) is
    left as it is. Call from `init` on the worker."""
    if getattr(environment.parsed_options, "processes", None):
        die_with_parent(signal.SIGTERM)
        # it shares its master's terminal: the master's "Shutting down" line is the one the user reads
        logging.getLogger("locust.main").addFilter(_NotShuttingDown())


class _NotShuttingDown(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Shutting down")


def on_signal(runtime: Runtime, main: Any, signum: int, summarize_now: Callable[[Runtime], None]) -> None:
    environment = runtime.environment
    lifecycle = runtime.lifecycle
    name = signal.Signals(signum).name
    if lifecycle.ending:
        logger.info("fixload: %s received while the run was already ending; its result stands", name)
        return
    if lifecycle.interrupted_by:
        sys.stderr.write(f"fixload: second signal ({name}): exiting at once with what was counted so far\n")
        sys.stderr.flush()
        try:
            summarize_now(runtime)
        except Exception:  # the exit must happen whatever the summary does
            logger.exception("fixload: the summary could not be written on the second signal")
        finally:
            os._exit(int(ExitCode.INTERRUPTED))
    lifecycle.interrupted_by = name
    logger.warning("fixload: %s received: stopping the run, writing the summary (exit %d)", name, ExitCode.INTERRUPTED)
    if not lifecycle.test_started:
        # Nothing started yet (a master waiting for its workers): no test, so no summary.
        environment.process_exit_code = int(ExitCode.INTERRUPTED)
        if environment.runner is not None:
            environment.runner.quit()
        gevent.kill(main, SystemExit(int(ExitCode.INTERRUPTED)))
        return
    # Locust's own Ctrl-C path: the main greenlet stops the shape, quits the runner (test_stop → finalize).
    gevent.kill(main, KeyboardInterrupt)
