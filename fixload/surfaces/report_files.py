"""`--junit PATH` and `--html-report PATH`: the reports written when a test ends.

Both are rendered by `fixload.report.html` from the summary alone -- the summary as written to disk, time series
included -- so `fixload report SUMMARY` rebuilds the same files from a CI artefact. They are written
atomically after the summary exists: at `test_stop` (`fixload.plugin` installs this module's listener after
the driver's, which writes the summary), or, when a run is interrupted and the summary is written at
`quitting`, at Locust's `quit` event. Each test's summary is reported once; in the web UI each finished
test rewrites the files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from fixload.report.html import html_report, junit_xml, write_atomic
from fixload.report.summary import dumps
from fixload.runtime.state import Runtime

logger = logging.getLogger("fixload")


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--junit",
        default="",
        include_in_web_ui=False,
        help="fixload: write a JUnit XML report here when the test ends (each threshold a test case)",
    )
    parser.add_argument(
        "--html-report",
        default="",
        include_in_web_ui=False,
        help="fixload: write a self-contained HTML report (plots, thresholds) here when the test ends",
    )


def write_reports(run: Runtime) -> list[Path]:
    """Write the requested reports for the last finished test, once per summary."""
    summary = run.lifecycle.summary
    options = run.environment.parsed_options
    if not summary or options is None or run.reported is summary:
        return []
    run.reported = summary
    junit = getattr(options, "junit", "")
    html_path = getattr(options, "html_report", "")
    if not (junit or html_path):
        return []
    on_disk = orjson.loads(dumps(summary))  # exactly what `fixload report` reads back
    written = []
    for path, render, what in ((junit, junit_xml, "JUnit"), (html_path, html_report, "HTML")):
        if not path:
            continue
        try:
            written.append(write_atomic(path, render(on_disk)))
        except OSError as exc:
            logger.error("fixload: cannot write the %s report %s: %s", what, path, exc)
    for path in written:
        logger.info("fixload: report written to %s", path)
    return written


def install(run: Runtime) -> None:
    """Write --junit/--html-report when a test ends (master/local runner; called at init by `fixload.plugin`)."""
    if not run.role.leads:
        return
    environment = run.environment

    def on_test_stop(**_: Any) -> None:
        write_reports(run)

    def on_quit(**_: Any) -> None:
        # An interrupted run writes its summary at `quitting`, after test_stop may already have passed.
        write_reports(run)

    environment.events.test_stop.add_listener(on_test_stop)
    environment.events.quit.add_listener(on_quit)
