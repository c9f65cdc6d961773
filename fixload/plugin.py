"""fixload as a Locust plugin: the core wiring into Locust's events and command line.

The operator surfaces (`progress`, `prometheus`, `reports`, `webui`) are plugins of their own in the
locust-plugins manner, each registering its listeners at import; this module imports them at its end.

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
  written atomically, the console summary printed, and the exit code set (k6's numbers, docs/exit-codes.md).

How a run ends, and who does what (headless, local runner or master with workers):
- every end goes through Locust's own path in the main greenlet: the shape's `tick` returns None (the
  scenarios are over, `abortOnFail` fired, setup failed: `run.halted`), or, for SIGINT/SIGTERM, the main
  greenlet gets a KeyboardInterrupt exactly as on Ctrl-C. Locust then calls `runner.quit()`, which fires
  `test_stop`, where `finalize()` runs. Locust installs its own SIGTERM handler only after a headless shape
  run is over, so without ours SIGTERM killed the process with no summary (exit -15);
- on a master, `finalize()` first asks every worker to stop its engine and send its last metric delta
  (`fixload_flush` → `fixload_final`), waits for them (bounded), then evaluates the thresholds, so the
  summary counts every sample and iteration the workers recorded;
- `quitting` finalizes only when nothing else did (a signal outside a shape run).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

import gevent
import greenlet
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from fixload import children, coordinator
from fixload.config import ConfigError
from fixload.executors import users_needed
from fixload.exitcodes import ExitCode
from fixload.metrics import define_run_metrics
from fixload.profile import FLOW_NAMES
from fixload.run import Run, run_for
from fixload.secrets import mask_url, redact
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
from fixload.thresholds import ThresholdSet, abort_triggers
from fixload.validation import validate_run

logger = logging.getLogger("fixload")

ABORT_CHECK_INTERVAL = 2.0
"""Seconds between two abortOnFail evaluations (k6 evaluates thresholds every 2 s)."""
VUS_SAMPLE_INTERVAL = 1.0
"""Seconds between two samples of the `vus`/`vus_max` gauges (k6 samples them every second)."""
FLUSH_TIMEOUT = 5.0
"""How long a master waits at the end for every worker's last metric delta."""
IDLE_TIMEOUT = 2.0
"""How long a runner waits at the end for interrupted iterations to record their samples."""
MSG_FLUSH = "fixload_flush"
MSG_FINAL = "fixload_final"
MSG_HALT = "fixload_halt"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    # `--profile` is Locust's own option (a label grouping test runs, already in the web UI's start form);
    # fixload reads it as the profile file, so there is one `--profile` and it means what k6 users expect.
    parser.add_argument("--multiplier", default=None, include_in_web_ui=True, help="load multiplier (scales load only)")
    parser.add_argument("--env-file", default=None, help="a .env file to read instead of ./.env")
    parser.add_argument(
        "--summary",
        default="",
        include_in_web_ui=True,
        help="summary JSON path (default: reports/summary-<UTC timestamp>.json)",
    )


def define_flow_metrics(run: Run) -> None:
    """The custom metrics of the five flows, as the original harness declares them."""
    define_run_metrics(run.registry, FLOW_NAMES)


def _processes(options: Any, runner: Any) -> int | None:
    """How many processes share the load: a worker knows only its own share (None: its master checks)."""
    if isinstance(runner, WorkerRunner):
        return None
    if isinstance(runner, MasterRunner):
        forked = getattr(options, "processes", None) or 0
        if forked < 0:
            forked = os.cpu_count() or 1
        return max(1, forked, getattr(options, "expect_workers", 1) or 1)
    return 1


def _fail_invalid(environment: Any, message: str) -> None:
    """Bad input: say what is wrong, exit 104, send nothing."""
    sys.stderr.write(f"fixload: {redact(message)}\n")
    sys.stderr.flush()
    environment.process_exit_code = ExitCode.INVALID_CONFIG
    sys.exit(ExitCode.INVALID_CONFIG)


def configure(environment: Any, runner: Any = None) -> tuple[str, ...]:
    """Check everything a test needs from the options as they are now (`validate_run`: profile, environment,
    multiplier, bounds, thresholds) and a user class per scenario, and load it into the run; return the
    verdict's warnings. A bad value raises ConfigError (every problem in its message) and leaves the run as
    it was. The command line (at `init`) and the web UI's START both come here: one set of rules."""
    run = run_for(environment)
    options = environment.parsed_options
    profile, multiplier = getattr(options, "profile", "") or None, getattr(options, "multiplier", None)
    verdict = validate_run(
        profile,
        multiplier,
        getattr(options, "env_file", None) or None,
        simulator=False,  # Locust itself never starts one: the target is the host it was given
        processes=_processes(options, runner),
        registry=run.registry,
    ).raise_for_problems()
    previous = run.config, run.extra.get("config_key"), run.extra.get("thresholds")
    run.config, run.extra["config_key"], run.extra["thresholds"] = (
        verdict.config,
        (profile, multiplier),
        verdict.thresholds,
    )
    try:
        if isinstance(environment.shape_class, ScenarioShape) and not isinstance(runner, WorkerRunner):
            environment.shape_class.user_classes(environment, environment.shape_class.plan(environment))
    except ConfigError:
        run.config, run.extra["config_key"], run.extra["thresholds"] = previous
        raise
    return verdict.warnings


@events.init.add_listener
def on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    run = run_for(environment)
    define_flow_metrics(run)
    try:
        warnings = configure(environment, runner)
    except ConfigError as exc:
        _fail_invalid(environment, str(exc))
        return
    for warning in warnings:
        logger.warning("fixload: %s", warning)
    if runner is not None:
        coordinator.register_messages(runner)
        _register_messages(runner)
    if environment.host is None and run.config is not None:
        environment.host = run.config.target.base_url
    if runner is not None and not isinstance(runner, WorkerRunner) and _automatic(environment):
        _install_signal_handlers(environment)
    children.accept_signals()  # a signal `fixload run` forwarded before now was held for this moment


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
    extra = tuple(context.items()) if context else ()

    def tags() -> dict[str, str]:
        out = {"name": name, "method": request_type, "status": str(status), "expected_response": str(expected).lower()}
        out.update((str(k), str(v)) for k, v in extra if v is not None)
        return out

    reqs, duration, failed, received, sent = run.sinks.get((name, request_type, status, extra), REQUEST_METRICS, tags)
    reqs.add(1.0)
    duration.add(float(response_time or 0.0))
    failed.add(0.0 if expected else 1.0)
    if response_length:
        received.add(float(response_length))
    size = _bytes_sent(response)
    if size:
        sent.add(float(size))


REQUEST_METRICS = ("http_reqs", "http_req_duration", "http_req_failed", "data_received", "data_sent")


def _bytes_sent(response: Any) -> int:
    """k6's data_sent, approximately: the request head geventhttpclient wrote plus the body (0 if unknown)."""
    head = getattr(response, "_sent_request", None)
    body = getattr(getattr(response, "request", None), "payload", None)
    size = len(head) if isinstance(head, str | bytes) else 0
    if isinstance(body, bytes | bytearray):
        size += len(body)
    elif isinstance(body, str):
        size += len(body.encode())
    return size


_current_run: Run | None = None


@events.init.add_listener
def _remember_run(environment: Any, **_: Any) -> None:
    global _current_run
    _current_run = run_for(environment)


def _automatic(environment: Any) -> bool:
    """A run Locust starts by itself (headless or --autostart): the only case where fixload owns the signals."""
    options = environment.parsed_options
    return bool(options is not None and (getattr(options, "headless", False) or getattr(options, "autostart", False)))


def _is_profile_run(environment: Any) -> bool:
    return isinstance(environment.shape_class, ScenarioShape)


# --------------------------------------------------------------------------------------------- signals


def _install_signal_handlers(environment: Any) -> None:
    """SIGINT and SIGTERM end the run the way Ctrl-C does in Locust, with a summary and exit 105.

    Locust installs its own SIGTERM handler only once a headless shape run is over, so SIGTERM used to kill
    the process outright; and its Ctrl-C path could not tell an interrupted run from a finished one.
    """
    main = greenlet.getcurrent()  # `init` fires in the main greenlet
    for signum in SIGNALS:
        gevent.signal_handler(signum, _on_signal, environment, main, signum)


def _on_signal(environment: Any, main: Any, signum: int) -> None:
    run = run_for(environment)
    name = signal.Signals(signum).name
    if run.extra.get("finalizing") or run.extra.get("finalized"):
        logger.info("fixload: %s received while the run was already ending; its result stands", name)
        return
    if run.extra.get("signal"):
        sys.stderr.write(f"fixload: second signal ({name}): exiting at once, without a summary\n")
        sys.stderr.flush()
        os._exit(int(ExitCode.INTERRUPTED))
    run.extra["signal"] = name
    logger.warning("fixload: %s received: stopping the run, writing the summary (exit %d)", name, ExitCode.INTERRUPTED)
    if "started_at" not in run.extra:
        # Nothing started yet (a master waiting for its workers): no test, so no summary.
        environment.process_exit_code = int(ExitCode.INTERRUPTED)
        if environment.runner is not None:
            environment.runner.quit()
        gevent.kill(main, SystemExit(int(ExitCode.INTERRUPTED)))
        return
    # Locust's own Ctrl-C path: the main greenlet stops the shape, quits the runner (test_stop → finalize).
    gevent.kill(main, KeyboardInterrupt)


# ---------------------------------------------------------------------------- master ↔ worker messages


def _register_messages(runner: Any) -> None:
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_FLUSH, _on_flush, concurrent=True)
        runner.register_message(MSG_HALT, _on_halt)
    elif isinstance(runner, MasterRunner):
        runner.register_message(MSG_FINAL, _on_final)


def _report_payload(run: Run, final: bool = False) -> dict[str, Any]:
    engine = run.engine
    return {
        "metrics": run.registry.snapshot(reset=True),
        "failures": run.failures.snapshot(reset=True),
        "counts": engine.counts() if engine is not None else {},
        "finished": final or bool(engine is not None and engine.finished.is_set()),
        "final": final,
    }


def _merge_report(run: Run, client_id: str, payload: dict[str, Any]) -> None:
    run.registry.merge(payload["metrics"])
    run.failures.merge(payload.get("failures", ()))
    state = run.extra.get("test")
    if state is not None:
        if payload["counts"]:
            state.worker_counts[client_id] = payload["counts"]
        state.worker_finished[client_id] = payload["finished"]
    if payload.get("final"):
        run.extra.setdefault("flushed", set()).add(client_id)


def _busy(run: Run) -> int:
    """Iterations still running on this runner (a VU whose greenlet Locust already killed is not running)."""
    engine = run.engine
    if engine is None:
        return 0
    return sum(
        1
        for executor in engine.executors.values()
        for vu in executor.vus
        if vu.busy_since is not None and vu.greenlet is not None and not vu.greenlet.dead
    )


def _wait_idle(run: Run) -> None:
    """Let interrupted iterations unwind and record their samples (bounded)."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    gevent.sleep(0)
    while _busy(run) and time.monotonic() < deadline:
        gevent.sleep(0.02)


def _on_flush(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: the master is ending the test; stop the engine, send every sample not yet reported."""
    _send_final(environment)


def _send_final(environment: Any) -> None:
    """Worker: stop the engine and send the master every sample and count not yet reported (once)."""
    run = run_for(environment)
    if run.extra.get("final_sent"):
        return
    run.extra["final_sent"] = True
    run.halted = True
    run.ready.set()
    coordinator.end(environment)
    _wait_idle(run)
    try:
        environment.runner.send_message(MSG_FINAL, _report_payload(run, final=True))
    except Exception as exc:  # the master is gone: nobody left to tell
        logger.debug("fixload: final report not sent: %s", exc)


def _on_halt(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: setup failed on the master; no user may send anything."""
    run = run_for(environment)
    run.halted = True
    run.ready.set()  # waiting users wake, see the halt and end without a request
    coordinator.end(environment)


def _on_final(environment: Any, msg: Any, **_: Any) -> None:
    _merge_report(run_for(environment), msg.node_id, msg.data)


def _flush_workers(environment: Any) -> None:
    """Master: ask every live worker for its last delta and wait (bounded) until each has answered."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    run = run_for(environment)
    targets = set(coordinator.active_workers(runner))
    if not targets:
        return
    run.extra["flushed"] = set()
    for client_id in sorted(targets):
        runner.send_message(MSG_FLUSH, None, client_id=client_id)
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while time.monotonic() < deadline:
        pending = (targets & set(coordinator.active_workers(runner))) - run.extra["flushed"]
        if not pending:
            return
        gevent.sleep(0.02)
    logger.warning(
        "fixload: no final report from %s within %.0fs; their earlier reports are counted", pending, FLUSH_TIMEOUT
    )


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    run = _current_run
    if run is None:
        return
    data["fixload"] = _report_payload(run)


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    run = _current_run
    payload = data.get("fixload")
    if run is None or not payload:
        return
    _merge_report(run, client_id, payload)


# ------------------------------------------------------------------------------------------ the test


@events.test_start.add_listener
def on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    # A worker joining a running test can get Locust's spawn message while it is still connecting, before
    # `environment.runner` is even set: a runner-less test_start is a worker's too.
    if runner is None or isinstance(runner, WorkerRunner):
        return
    run = run_for(environment)
    for key in (
        "finalized",
        "finalizing",
        "aborted",
        "setup_error",
        "setup_failure",
        "signal",
        "flushed",
        "summary",
        "stopped",
    ):
        run.extra.pop(key, None)
    run.registry.reset()  # a second test from the web UI starts from zero
    run.failures.clear()
    run.extra["started_at"] = datetime.now(UTC)
    if run.config is None:
        run.ready.set()
        return
    if coordinator.flow_classes(environment):
        from fixload.fixtures import provision

        try:
            run.fixtures = provision(run.config, registry=run.registry)  # k6's setup accounting: group ::setup
        except Exception as exc:
            _setup_failed(environment, run, exc)
            return
    coordinator.begin(environment)
    state = coordinator.state_of(environment)
    if state is None:  # closed model: users run as Locust schedules them, once they have the fixtures
        if isinstance(runner, MasterRunner):
            coordinator.share_fixtures(environment)
        run.ready.set()
    else:
        state.greenlets.append(gevent.spawn(_abort_watch, environment))
        state.greenlets.append(gevent.spawn(_vus_sampler, environment))
        run_time = getattr(environment.parsed_options, "run_time", None)
        if run_time:
            gevent.spawn_later(run_time, _run_time_reached, environment, state)


class _RunTimeHonoured(logging.Filter):
    """Locust warns that a shape ignores --run-time; fixload's profile shapes honour it, so that part of
    the warning goes (the one for --users/--spawn-rate stays: the profile decides those)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("--run-time, --users or --spawn-rate have no impact on LoadShapes"):
            return False
        prefix = "The following option(s) will be ignored: "
        if message.startswith(prefix):
            rest = [o for o in message[len(prefix) :].split(", ") if o != "--run-time"]
            if not rest:
                return False
            record.msg, record.args = prefix + ", ".join(rest), ()
        return True


logging.getLogger("locust.main").addFilter(_RunTimeHonoured())


def _run_time_reached(environment: Any, state: Any) -> None:
    """Locust's -t/--run-time, for a profile run too: the test ends then, as Locust ends any other run.
    The verdict is by thresholds as for a normal end; the summary says `stopped: run-time`."""
    if coordinator.state_of(environment) is not state or state.finished:
        return  # that test already ended (or another one started from the web UI)
    run_for(environment).extra["stopped"] = "run-time"
    state.finished = True
    logger.info("fixload: --run-time reached: stopping the test (verdict by thresholds)")
    gevent.spawn(_quit, environment)  # not from here: ending the test kills the test's own greenlets


class _QuietAfterFailedSetup(logging.Filter):
    """Locust logs "Ramping to N users" and "All users spawned" right after `test_start`, even when the
    setup that ran inside it failed and no user will send anything: after a failed setup, drop them."""

    SPAWN_LINES = ("Ramping to", "All users spawned", "Sending spawn jobs")

    def filter(self, record: logging.LogRecord) -> bool:
        run = _current_run
        if run is None or not run.extra.get("setup_error"):
            return True
        return not record.getMessage().startswith(self.SPAWN_LINES)


logging.getLogger("locust.runners").addFilter(_QuietAfterFailedSetup())


def _setup_failed(environment: Any, run: Run, exc: Exception) -> None:
    """No flow may send anything: halt users here and on every worker (before Locust sends them spawn
    messages: this runs inside test_start), then end the run."""
    run.extra["setup_error"] = redact(str(exc))
    run.extra["setup_failure"] = exc.as_dict() if hasattr(exc, "as_dict") else {"step": redact(str(exc))}
    run.halted = True
    run.ready.set()  # users wake, see the halt, and end without a request
    logger.error("fixload: setup failed: %s", run.extra["setup_error"])
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        for client_id in coordinator.active_workers(runner):
            runner.send_message(MSG_HALT, None, client_id=client_id)
    if not _is_profile_run(environment):
        gevent.spawn_later(0, _quit, environment)
    # a profile run ends at the shape's next tick (run.halted), through Locust's normal path


def _quit(environment: Any) -> None:
    runner = environment.runner
    if environment.parsed_options is not None and environment.parsed_options.headless:
        runner.quit()
    else:
        runner.stop()


def _abort_watch(environment: Any) -> None:
    """k6's abortOnFail: evaluate every few seconds; end the whole run (master and workers) on a failure."""
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
            # The shape's next tick ends the run through Locust's own path (this greenlet is killed on the way).
            run.halted = True
            return


def _vus_sampler(environment: Any) -> None:
    """k6's `vus` / `vus_max`, set by the runner that knows the totals (master: the workers' summed counts).

    `vus`: an arrival-rate scenario's allocated VUs (k6 keeps them active for the whole scenario) plus a VU
    executor's VUs running an iteration; `vus_max`: the allocated VUs plus every VU executor's VUs (k6
    initialises those up front).
    """
    while True:
        _sample_vus(environment)
        gevent.sleep(VUS_SAMPLE_INTERVAL)


def _sample_vus(environment: Any) -> None:
    run = run_for(environment)
    state = coordinator.state_of(environment)
    if state is None or not state.started or coordinator.elapsed(environment) <= 0:
        return
    counts = coordinator.counts(environment)
    vus = vus_max = 0
    for name, scenario in state.plan.scenarios.items():
        c = counts.get(name, {})
        if scenario.is_arrival_rate:
            vus += c.get("allocated", 0)
            vus_max += c.get("allocated", 0)
        else:
            vus += c.get("active", 0)
            vus_max += users_needed(scenario)
    run.registry.add("vus", float(vus))
    run.registry.add("vus_max", float(vus_max))


@events.test_stop.add_listener
def on_test_stop(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        coordinator.end(environment)
        coordinator.reset(environment)
        return
    state = coordinator.state_of(environment)
    # not started counts as early too: a stop (a signal, say) during the setup's fixtures kills test_start
    # before the engine starts
    early = state is not None and not state.finished
    finalize(environment, early=early)
    if run_for(environment).extra.get("finalizing"):
        # A finalize in progress (a signal's, waiting for the workers' last reports) still needs this test's
        # state: the last worker quitting meanwhile makes Locust stop the test. Forget it when that is done.
        run_for(environment).extra["reset_pending"] = True
    else:
        coordinator.reset(environment)


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        # Ctrl-C in a terminal reaches every worker too, and a worker may quit before the master asks for
        # its last samples: send them now, the master's finalize is waiting for them.
        _send_final(environment)
        return
    run = run_for(environment)
    runner = environment.runner
    running = runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING)
    finalize(environment, early=running)
    if run.extra.get("invalid") and environment.process_exit_code is None:
        environment.process_exit_code = int(ExitCode.INVALID_CONFIG)


# ------------------------------------------------------------------------------------------- the end


def _count(run: Run, metric: str, selector: dict[str, str] | None = None) -> int:
    if metric not in run.registry or not run.registry.has_samples(metric, selector):
        return 0
    return int(run.registry.aggregate(metric, selector).compute("count") or 0)


def _status(environment: Any, run: Run, early: bool, results: list[Any]) -> tuple[Status, str]:
    if run.extra.get("setup_error"):
        return Status.SETUP_FAILED, f"setup failed: {run.extra['setup_error']}"
    if run.extra.get("aborted"):
        return Status.ABORTED, f"abortOnFail: {run.extra['aborted']}"
    if early:
        if run.extra.get("signal"):
            return Status.INTERRUPTED, f"stopped by {run.extra['signal']} before the scenarios ended"
        runner = environment.runner
        if isinstance(runner, MasterRunner) and not coordinator.active_workers(runner):
            return Status.ERROR, "every worker quit or was lost before the scenarios ended"
        return Status.INTERRUPTED, "stopped before the scenarios ended (stop requested)"
    total = _count(run, "http_reqs")
    no_response = _count(run, "http_reqs", {"status": "0"})
    if total and no_response >= total:
        return (
            Status.TARGET_UNREACHABLE,
            f"target unreachable: none of the {total} requests got a response (connection refused, reset or timed out)",
        )
    failed = [r for r in results if not r.ok]
    if failed:
        shown = ", ".join(f"{r.key}: {r.expression}" for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
        reason = f"{len(failed)} threshold(s) crossed ({shown})"
        if no_response:
            reason += f"; {no_response} of {total} requests got no response (connection failures)"
        return Status.THRESHOLDS_FAILED, reason
    return Status.PASSED, ""


def _scenario_counts(environment: Any) -> list[ScenarioCounts]:
    state = coordinator.state_of(environment)
    if state is None:
        return []
    counts = coordinator.counts(environment)
    elapsed = coordinator.elapsed(environment)
    out = []
    for name, scenario in state.plan.scenarios.items():
        c = counts.get(name, {})
        started, completed = c.get("started", 0), c.get("completed", 0)
        scheduled = c.get("scheduled") if scenario.is_arrival_rate else scenario.expected_iterations
        out.append(
            ScenarioCounts(
                name=name,
                executor=scenario.executor,
                flow=scenario.flow,
                scheduled=scheduled,
                started=started,
                dropped=c.get("dropped", 0),
                completed=completed,
                # at the end, an iteration that started and did not complete was interrupted
                interrupted=max(c.get("interrupted", 0), started - completed),
                duration_s=min(elapsed, scenario.duration),
                max_vus=scenario.vus[1] if scenario.is_arrival_rate else None,
                peak_rate=scenario.peak_rate,
            )
        )
    return out


def finalize(environment: Any, early: bool = False) -> dict[str, Any] | None:
    """Once per test: stop the engines, collect the workers' last samples, evaluate the thresholds, write
    the summary, print the console summary, set the exit code. `early`: the scenarios had not ended."""
    run = run_for(environment)
    if run.extra.get("finalized") or run.config is None or "started_at" not in run.extra:
        return run.extra.get("summary")
    run.extra["finalized"] = True
    run.extra["finalizing"] = True
    try:
        coordinator.end(environment)
        _wait_idle(run)
        _flush_workers(environment)
        summary = _summarize(environment, run, early)
    finally:
        run.extra["finalizing"] = False
        if run.extra.pop("reset_pending", False):
            coordinator.reset(environment)
    return summary


def _summarize(environment: Any, run: Run, early: bool) -> dict[str, Any]:
    assert run.config is not None
    state = coordinator.state_of(environment)
    thresholds: ThresholdSet = run.extra["thresholds"]
    started_at = run.extra["started_at"]
    ended_at = datetime.now(UTC)
    elapsed = max((ended_at - started_at).total_seconds(), 0.0)
    results = thresholds.evaluate(run.registry, elapsed, final=True)
    status, reason = _status(environment, run, early, results)
    is_master = isinstance(environment.runner, MasterRunner)
    lost = sum(1 for e in state.worker_events if e["event"] == "lost") if state is not None else 0
    if lost and status == Status.PASSED:
        reason = f"{lost} worker(s) lost during the run; their last reports are counted"
    stopped = run.extra.get("stopped")
    if stopped:
        reason = "; ".join(filter(None, [f"stopped: {stopped}", reason]))
    info = RunInfo(
        profile=run.config.plan.profile.profile,
        multiplier=run.config.plan.multiplier,
        started_at=started_at,
        ended_at=ended_at,
        status=status,
        reason=reason,
        workers=len(state.workers) if (state is not None and is_master) else 0,
        workers_lost=lost,
        target=mask_url(run.config.target.base_url),
    )
    from fixload.live import live_for  # here, not at the top: live's listeners must register after ours

    extra: dict[str, Any] = {"fixtures": dict(run.fixtures), "timeSeries": live_for(environment).series()}
    if stopped:
        extra["stopped"] = stopped
    if run.extra.get("setup_failure"):
        extra["setup"] = {"status": "failed", "failure": run.extra["setup_failure"]}
    if state is not None and state.worker_events:
        extra["workerEvents"] = list(state.worker_events)
    counts = _scenario_counts(environment)
    failures = run.failures.by_scenario()
    summary = build_summary(run.registry, thresholds, info, counts, results, extra=extra, failures=failures)
    run.extra["summary"] = summary
    options = environment.parsed_options
    path = (getattr(options, "summary", "") if options is not None else "") or str(default_summary_path())
    console = format_console_summary(summary)
    try:
        written = write_summary(path, summary)
        logger.info("fixload: summary written to %s", written)
        console += f"\n  summary: {written}\n"
    except SummaryWriteError as exc:
        logger.error("fixload: %s", exc)
        console += f"\n  summary: NOT written where asked; {exc}\n"
    if options is not None and options.headless:
        run.extra["console"] = console  # printed last, after Locust's own tables (on_quit)
    else:
        print(console, file=sys.stderr, flush=True)
    environment.process_exit_code = int(EXIT_CODES[status])
    return summary


@events.quit.add_listener
def on_quit(exit_code: int, **_: Any) -> None:
    """Locust has printed its tables: end with k6's kind of summary, the part a CI log reader wants."""
    run = _current_run
    console = run.extra.pop("console", None) if run is not None else None
    if console:
        print(console, file=sys.stderr, flush=True)


# Operator surfaces, each a module registering its own listeners at import (issue 8).
import fixload.progress as _progress  # noqa: E402, F401  headless progress line (--progress-interval)
import fixload.prometheus as _prometheus  # noqa: E402, F401  /metrics on the web UI, --prometheus-port
import fixload.reports as _reports  # noqa: E402, F401  --junit, --html-report
import fixload.webauth as _webauth  # noqa: E402, F401  --web-login: one account from the environment
import fixload.webui as _webui  # noqa: E402, F401  Scenarios/Thresholds tabs, /fixload/summary.json
