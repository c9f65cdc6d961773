"""fixload as a Locust plugin: the only module that touches Locust's events and command line.

Importing it (every locustfile in `locustfiles/` does) registers:
- `--multiplier`, `--env-file`, `--summary` (also in the web UI's start form), and reads Locust's own
  `--profile` as the profile file;
- at `init`: the profile, environment and thresholds are loaded and checked; a bad one exits 104
  before any traffic;
- on every request: k6's HTTP metrics (`http_reqs`, `http_req_duration`, `http_req_failed`, ...),
  tagged with the scenario, the request's template name, method, status and `expected_response`;
- workers send their metric deltas and engine counts with Locust's own reports; the master merges;
- during the run: thresholds with `abortOnFail` are checked every few seconds;
- at the end (normal end, abort, Ctrl-C, SIGTERM, setup failure, target down): the summary JSON is
  written atomically, the console summary printed, and the exit code set (k6's numbers).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from fixload import coordinator
from fixload.config import ConfigError, load_run_config
from fixload.exitcodes import ExitCode
from fixload.metrics import MetricType, ValueType
from fixload.profile import FLOW_NAMES
from fixload.run import Run, run_for
from fixload.secrets import redact
from fixload.shapes import ScenarioShape
from fixload.summary import (
    EXIT_CODES,
    RunInfo,
    ScenarioCounts,
    Status,
    SummaryWriteError,
    build_summary,
    default_summary_path,
    format_console_summary,
    write_summary,
)
from fixload.thresholds import ThresholdError, ThresholdSet, abort_triggers

logger = logging.getLogger("fixload")

ABORT_CHECK_INTERVAL = 2.0
FIXLOAD_METRICS: tuple[tuple[str, MetricType, ValueType], ...] = (
    ("iteration_start_lag", MetricType.TREND, ValueType.TIME),
)


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    # `--profile` is Locust's own option (a label grouping test runs, already in the web UI's start form);
    # fixload reads it as the profile file, so there is one `--profile` and it means what k6 users expect.
    parser.add_argument(
        "--multiplier", type=float, default=None, include_in_web_ui=True, help="load multiplier (scales load only)"
    )
    parser.add_argument("--env-file", default=None, help="a .env file to read instead of ./.env")
    parser.add_argument(
        "--summary",
        default="",
        include_in_web_ui=True,
        help="summary JSON path (default: reports/summary-<UTC timestamp>.json)",
    )


def define_flow_metrics(run: Run) -> None:
    """The custom metrics of the five flows, as the original harness declares them."""
    for flow in FLOW_NAMES:
        run.registry.define(f"{flow}_duration", MetricType.TREND, ValueType.TIME)
        run.registry.define(f"{flow}_success_rate", MetricType.RATE)
        run.registry.define(f"{flow}_failures", MetricType.COUNTER)
    for name, kind, contains in FIXLOAD_METRICS:
        run.registry.define(name, kind, contains)


def _fail_invalid(environment: Any, message: str) -> None:
    """Bad input: say what is wrong, exit 104, send nothing."""
    sys.stderr.write(f"fixload: {redact(message)}\n")
    sys.stderr.flush()
    environment.process_exit_code = ExitCode.INVALID_CONFIG
    sys.exit(ExitCode.INVALID_CONFIG)


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    run = run_for(environment)
    define_flow_metrics(run)
    options = environment.parsed_options
    try:
        run.config = load_run_config(
            getattr(options, "profile", "") or None,
            getattr(options, "multiplier", None),
            getattr(options, "env_file", None),
        )
        run.extra["config_key"] = (getattr(options, "profile", "") or None, getattr(options, "multiplier", None))
        run.extra["thresholds"] = ThresholdSet.parse(
            run.config.plan.profile.model_dump(by_alias=True, mode="json")["thresholds"], run.registry
        )
        if isinstance(environment.shape_class, ScenarioShape) and not isinstance(runner, WorkerRunner):
            plan = environment.shape_class.plan(environment)
            environment.shape_class.user_classes(environment, plan)
    except (ConfigError, ThresholdError) as exc:
        _fail_invalid(environment, str(exc))
        return
    if runner is not None:
        coordinator.register_messages(runner)
    if environment.host is None and run.config is not None:
        environment.host = run.config.target.base_url


@events.request.add_listener
def on_request(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    # One registry per process; the request event carries no environment, so use the only one running.
    run = _current_run
    if run is None:
        return
    status = int(getattr(response, "status_code", 0) or 0) if response is not None else 0
    expected = 200 <= status < 400
    tags = {"name": name, "method": request_type, "status": str(status), "expected_response": str(expected).lower()}
    if context:
        tags.update((str(k), str(v)) for k, v in context.items() if v is not None)
    registry = run.registry
    registry.add("http_reqs", 1.0, tags)
    registry.add("http_req_duration", float(response_time or 0.0), tags)
    registry.add("http_req_failed", 0.0 if expected else 1.0, tags)
    if response_length:
        registry.add("data_received", float(response_length), tags)
    if status == 0:
        run.extra["connection_errors"] = run.extra.get("connection_errors", 0) + 1


_current_run: Run | None = None


@events.init.add_listener
def _remember_run(environment: Any, **_: Any) -> None:
    global _current_run
    _current_run = run_for(environment)


@events.test_start.add_listener
def on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    run = run_for(environment)
    run.extra["started_at"] = datetime.now(UTC)
    run.extra.pop("finalized", None)
    run.extra.pop("aborted", None)
    run.extra.pop("setup_error", None)
    run.extra["connection_errors"] = 0
    if run.config is None:
        return
    if coordinator.flow_classes(environment):
        from fixload.fixtures import provision

        try:
            run.fixtures = provision(run.config)
        except Exception as exc:
            run.extra["setup_error"] = redact(str(exc))
            run.halted = True
            logger.error("fixload: setup failed: %s", run.extra["setup_error"])
            gevent.spawn_later(0, _quit, environment)
            return
    coordinator.begin(environment)
    state = coordinator.state_of(environment)
    if state is not None:
        state.greenlets.append(gevent.spawn(_abort_watch, environment))


def _quit(environment: Any) -> None:
    runner = environment.runner
    if environment.parsed_options is not None and environment.parsed_options.headless:
        runner.quit()
    else:
        runner.stop()


def _abort_watch(environment: Any) -> None:
    """k6's abortOnFail: evaluate every few seconds; stop the whole run (master and workers) on a failure."""
    run = run_for(environment)
    thresholds: ThresholdSet = run.extra["thresholds"]
    if not any(t.abort_on_fail for t in thresholds.thresholds):
        return
    while True:
        gevent.sleep(ABORT_CHECK_INTERVAL)
        elapsed = coordinator.elapsed(environment)
        if elapsed <= 0:
            continue
        triggers = abort_triggers(thresholds.evaluate(run.registry, elapsed, final=False), elapsed)
        if triggers:
            first = triggers[0]
            run.extra["aborted"] = f"threshold {first.key}: {first.expression} crossed (observed {first.observed})"
            logger.error("fixload: aborting: %s", run.extra["aborted"])
            _quit(environment)
            return


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    run = _current_run
    if run is None:
        return
    engine = run.engine
    data["fixload"] = {
        "metrics": run.registry.snapshot(reset=True),
        "counts": engine.counts() if engine is not None else {},
        "finished": bool(engine is not None and engine.finished.is_set()),
    }


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    run = _current_run
    payload = data.get("fixload")
    if run is None or not payload:
        return
    run.registry.merge(payload["metrics"])
    state = run.extra.get("test")
    if state is not None:
        if payload["counts"]:
            state.worker_counts[client_id] = payload["counts"]
        state.worker_finished[client_id] = payload["finished"]


@events.test_stop.add_listener
def on_test_stop(environment: Any, **_: Any) -> None:
    coordinator.end(environment)
    if not isinstance(environment.runner, WorkerRunner):
        finalize(environment, stopping=True)
        coordinator.reset(environment)


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        coordinator.end(environment)
        return
    finalize(environment, stopping=False)


def _status(environment: Any, run: Run, stopping: bool) -> tuple[Status, str]:
    runner = environment.runner
    results_failed = run.extra.get("failed_thresholds", 0)
    if run.extra.get("setup_error"):
        return Status.SETUP_FAILED, f"setup failed: {run.extra['setup_error']}"
    if run.extra.get("aborted"):
        return Status.ABORTED, f"abortOnFail: {run.extra['aborted']}"
    if not stopping and runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING):
        return Status.INTERRUPTED, "stopped by a signal (SIGINT/SIGTERM) before the scenarios ended"
    total = int(run.registry.aggregate("http_reqs").compute("count") or 0) if "http_reqs" in run.registry else 0
    errors = run.extra.get("connection_errors", 0)
    if total and errors >= total:
        return Status.TARGET_UNREACHABLE, f"target unreachable: all {total} requests failed to connect"
    if results_failed:
        return Status.THRESHOLDS_FAILED, f"{results_failed} threshold(s) crossed"
    return Status.PASSED, ""


def _scenario_counts(environment: Any, run: Run) -> list[ScenarioCounts]:
    state = coordinator.state_of(environment)
    if state is None:
        return []
    counts = coordinator.counts(environment)
    out = []
    for name, scenario in state.plan.scenarios.items():
        c = counts.get(name, {})
        scheduled = c.get("scheduled") if scenario.is_arrival_rate else scenario.expected_iterations
        out.append(
            ScenarioCounts(
                name=name,
                executor=scenario.executor,
                flow=scenario.flow,
                scheduled=scheduled,
                started=c.get("started", 0),
                dropped=c.get("dropped", 0),
                completed=c.get("completed", 0),
                interrupted=c.get("interrupted", 0),
                duration_s=min(coordinator.elapsed(environment), scenario.duration),
            )
        )
    return out


def finalize(environment: Any, stopping: bool) -> dict[str, Any] | None:
    """Write the summary (once per test), print the console summary, set the exit code."""
    run = run_for(environment)
    if run.extra.get("finalized") or run.config is None or "started_at" not in run.extra:
        return run.extra.get("summary")
    run.extra["finalized"] = True
    state = coordinator.state_of(environment)
    thresholds: ThresholdSet = run.extra["thresholds"]
    started_at = run.extra["started_at"]
    ended_at = datetime.now(UTC)
    elapsed = max((ended_at - started_at).total_seconds(), 0.0)
    results = thresholds.evaluate(run.registry, elapsed, final=True)
    run.extra["failed_thresholds"] = sum(1 for r in results if not r.ok)
    status, reason = _status(environment, run, stopping)
    workers = len(state.workers) if state is not None else 0
    lost = sum(1 for e in state.worker_events if e["event"] == "lost") if state is not None else 0
    if lost and status == Status.PASSED:
        reason = f"{lost} worker(s) lost during the run; their last reports are counted"
    info = RunInfo(
        profile=run.config.plan.profile.profile,
        multiplier=run.config.plan.multiplier,
        started_at=started_at,
        ended_at=ended_at,
        status=status,
        reason=reason,
        workers=workers if isinstance(environment.runner, MasterRunner) else 0,
        workers_lost=lost,
        target=run.config.target.base_url,
    )
    summary = build_summary(run.registry, thresholds, info, _scenario_counts(environment, run), results)
    if state is not None and state.worker_events:
        summary["fixload"]["workers"]["events"] = state.worker_events
    summary["fixload"]["fixtures"] = dict(run.fixtures)
    run.extra["summary"] = summary
    options = environment.parsed_options
    path = (getattr(options, "summary", "") if options is not None else "") or str(default_summary_path())
    try:
        written = write_summary(path, summary)
        logger.info("fixload: summary written to %s", written)
    except SummaryWriteError as exc:
        logger.error("fixload: %s", exc)
    print(format_console_summary(summary), file=sys.stderr, flush=True)
    environment.process_exit_code = int(EXIT_CODES[status])
    return summary
