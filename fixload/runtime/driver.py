"""The run's lifecycle driven by Locust's events: configure at init, begin at test_start, finalize at the end.

- `init`: the profile, environment and thresholds are loaded and checked; a bad one exits 104 before any
  traffic (`configured`);
- `test_start` (master/local runner): the registry starts from zero, the fixtures are provisioned when a
  flow the plan runs declares it needs them (`ScenarioUser.needs_fixtures`; `provisioning`; a failure halts every
  runner, exit 107), then the role starts the clock and hands out shares (`waiting` → `running`);
  `abortOnFail` is watched every 2 s;
- the end (normal end, abort, Ctrl-C, SIGTERM, setup failure, target down) always goes through Locust's
  own path in the main greenlet: the shape's `tick` returns None (the scenarios are over, or the run is
  halted), or a signal raises KeyboardInterrupt there (`fixload.runtime.signals`). Locust then quits the runner,
  which fires `test_stop`, where `finalize()` runs (`finalizing` → `done`);
- on a master, `finalize()` first asks every worker to stop its engine and send its last metric delta,
  waits for them (bounded), then evaluates the thresholds, so the summary counts every sample and
  iteration the workers recorded; `quitting` finalizes only when nothing else did (a signal outside a
  shape run).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from fixload.common.durations import format_duration
from fixload.common.exitcodes import ExitCode
from fixload.common.secrets import mask_url, prepare, redact
from fixload.engine.engine import users_needed
from fixload.flows.fixtures import provision
from fixload.metrics.thresholds import abort_triggers
from fixload.profile.binding import import_flows, metric_flows, needs_fixtures
from fixload.profile.config import ConfigError
from fixload.profile.validation import validate_run
from fixload.report.console import wants_colour
from fixload.report.experiment import experiment_identity
from fixload.report.generator import generator_block
from fixload.report.summary import (
    RunInfo,
    ScenarioCounts,
    Status,
    default_summary_path,
    scenario_counts,
    summarize,
)
from fixload.report.timeseries import encode as encode_series
from fixload.runtime import options, recorder, tracing
from fixload.runtime.lifecycle import HaltReason, State
from fixload.runtime.live import SAMPLE_INTERVAL
from fixload.runtime.outcome import exit_code, status_of
from fixload.runtime.protocol import FLUSH_TIMEOUT
from fixload.runtime.shape import ScenarioShape, flow_classes
from fixload.runtime.state import IDLE_TIMEOUT, Runtime, TestState

logger = logging.getLogger("fixload")

ABORT_CHECK_INTERVAL = 2.0
"""Seconds between two abortOnFail evaluations (k6 evaluates thresholds every 2 s)."""
VUS_SAMPLE_INTERVAL = 1.0
"""Seconds between two samples of the `vus`/`vus_max` gauges (k6 samples them every second)."""


def fail_invalid(environment: Any, message: str) -> None:
    """Bad input: say what is wrong, exit 104, send nothing."""
    sys.stderr.write(f"fixload: {redact(message)}\n")
    sys.stderr.flush()
    environment.process_exit_code = ExitCode.INVALID_CONFIG
    sys.exit(ExitCode.INVALID_CONFIG)


def configure(runtime: Runtime) -> tuple[str, ...]:
    """Check everything a test needs from the options as they are now (`validate_run`: profile, environment,
    multiplier, bounds, thresholds) and a user class per scenario, and load it into the run; return the
    verdict's warnings. A bad value raises ConfigError (every problem in its message) and leaves the run as
    it was. The command line (at `init`) and the web UI's START both come here: one set of rules."""
    run = runtime
    environment = runtime.environment
    parsed = environment.parsed_options
    profile, multiplier = getattr(parsed, "profile", "") or None, getattr(parsed, "multiplier", None)
    flows = flow_classes(environment)  # the scenarios bind to the classes Locust loaded
    if not _is_profile_run(environment):
        # Plain Locust (`locust -f locustfiles/payments.py -u 5`): no profile shape runs the scenarios, so
        # they bind as `fixload validate` binds them (locustfiles/), plus whatever this command loaded.
        flows = {**import_flows(), **flows}
    recorder.define_flow_metrics(run, metric_flows(flows))
    verdict = validate_run(
        profile,
        multiplier,
        getattr(parsed, "env_file", None) or None,
        simulator=False,  # Locust itself never starts one: the target is the host it was given
        processes=runtime.role.processes(),
        registry=run.registry,
        flows=flows,
    ).raise_for_problems()
    assert verdict.config is not None
    options.setup_timeout(environment, verdict.config.plan.profile.settings.setup_timeout)  # a bad one: 104
    previous = run.config, run.config_key, run.thresholds
    run.configure(verdict.config, (profile, multiplier), verdict.thresholds)
    try:
        if _is_profile_run(environment) and runtime.role.leads:
            environment.shape_class.user_classes(environment, environment.shape_class.plan(environment))
    except ConfigError:
        run.configure(*previous)  # the configuration that stood before
        raise
    return verdict.warnings


def configure_at_init(runtime: Runtime) -> bool:
    """init: `configure`, or say what is wrong and exit 104 before any traffic (False)."""
    run, environment = runtime, runtime.environment
    try:
        warnings = configure(runtime)
    except ConfigError as exc:
        fail_invalid(environment, str(exc))
        return False
    for warning in warnings:
        logger.warning("fixload: %s", warning)
    assert run.config is not None
    if environment.host is None:
        environment.host = run.config.target.base_url
    run.lifecycle.to(State.CONFIGURED)
    return True


def _is_profile_run(environment: Any) -> bool:
    return isinstance(environment.shape_class, ScenarioShape)


# ------------------------------------------------------------------------------------------ the test


def on_test_start(runtime: Runtime) -> None:
    run, environment = runtime, runtime.environment
    runner = environment.runner
    # A worker joining a running test can get Locust's spawn message while it is still connecting, before
    # `environment.runner` is even set: a runner-less test_start is a worker's too.
    if runner is None or not runtime.role.leads:
        if run.lifecycle.state is State.CONFIGURED:
            run.lifecycle.to(State.WAITING)  # users spawned; they wait for this worker's share
        return
    lifecycle = run.lifecycle
    lifecycle.new_test()
    run.registry.reset()  # a second test from the web UI starts from zero
    run.failures.clear()
    run.iteration_counters.clear()
    lifecycle.started_at = datetime.now(UTC)
    if run.config is None:
        return
    prepare()  # before t0 is set: the first escaped text (a failure's JSON body) would compile them mid-run
    wanted = (scenario.flow for scenario in run.config.plan.scenarios.values())
    if needs_fixtures(flow_classes(environment), wanted):
        lifecycle.to(State.PROVISIONING)
        timeout = options.setup_timeout(environment, run.config.plan.profile.settings.setup_timeout)
        try:
            with gevent.Timeout(timeout, SetupTimedOut(timeout)):
                run.fixtures = provision(run.config, registry=run.registry)  # k6's setup accounting: group ::setup
        except SetupTimedOut as exc:
            _setup_timed_out(runtime, exc)
            return
        except Exception as exc:
            _setup_failed(runtime, exc)
            return
        if lifecycle.state is not State.PROVISIONING:
            return  # the test was stopped while the fixtures were being resolved
    runtime.role.begin()
    state = runtime.test
    if state is not None:
        for component, function in (("abortOnFail watcher", _abort_watch), ("vus sampler", _vus_sampler)):
            greenlet = gevent.spawn(function, runtime)
            greenlet.link_exception(lambda dead, what=component: _crashed(run, what, dead.exception))
            state.greenlets.append(greenlet)
        run_time = getattr(environment.parsed_options, "run_time", None)
        if run_time:
            gevent.spawn_later(run_time, _run_time_reached, runtime, state)


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


def _run_time_reached(runtime: Runtime, state: TestState) -> None:
    """Locust's -t/--run-time, for a profile run too: the test ends then, as Locust ends any other run.
    The verdict is by thresholds as for a normal end; the summary says `stopped: run-time`."""
    if runtime.test is not state or state.finished:
        return  # that test already ended (or another one started from the web UI)
    runtime.lifecycle.stopped_by = "run-time"
    state.finished = True
    logger.info("fixload: --run-time reached: stopping the test (verdict by thresholds)")
    gevent.spawn(_quit, runtime.environment)  # not from here: ending the test kills the test's own greenlets


class _QuietAfterFailedSetup(logging.Filter):
    """Locust logs "Ramping to N users" and "All users spawned" right after `test_start`, even when the
    setup that ran inside it failed and no user will send anything: after a failed setup, drop them."""

    SPAWN_LINES = ("Ramping to", "All users spawned", "Sending spawn jobs")

    def __init__(self, run: Runtime) -> None:
        super().__init__()
        self.run = run

    def filter(self, record: logging.LogRecord) -> bool:
        halt = self.run.lifecycle.halt
        if halt is None or halt.reason not in (HaltReason.SETUP_FAILED, HaltReason.SETUP_TIMEOUT):
            return True
        return not record.getMessage().startswith(self.SPAWN_LINES)


def _setup_failed(run: Runtime, exc: Exception) -> None:
    """No flow may send anything: halt users here and on every worker (before Locust sends them spawn
    messages: this runs inside test_start), then end the run."""
    detail = redact(str(exc))
    run.lifecycle.setup_failure = exc.as_dict() if hasattr(exc, "as_dict") else {"step": detail}
    run.lifecycle.stop_sending(HaltReason.SETUP_FAILED, detail)
    logger.error("fixload: setup failed: %s", detail)
    run.role.halt_workers()
    if not _is_profile_run(run.environment):
        gevent.spawn_later(0, _quit, run.environment)
    # a profile run ends at the shape's next tick (run.halted), through Locust's normal path


class SetupTimedOut(Exception):
    """Setup ran past its deadline (k6's `setupTimeout`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"setup did not finish within setupTimeout={format_duration(seconds)} (the target answered too slowly "
            "or not at all); raise settings.setupTimeout or --setup-timeout if it needs longer"
        )
        self.seconds = seconds


def _setup_timed_out(run: Runtime, exc: SetupTimedOut) -> None:
    """k6's SetupTimeout: as a failed setup (nothing sent by any flow, summary setup_failed), exit 100."""
    detail = str(exc)
    run.lifecycle.setup_failure = {"step": "setup", "timeout": format_duration(exc.seconds), "error": detail}
    run.lifecycle.stop_sending(HaltReason.SETUP_TIMEOUT, detail)
    logger.error("fixload: %s", detail)
    run.role.halt_workers()
    if not _is_profile_run(run.environment):
        gevent.spawn_later(0, _quit, run.environment)


def _quit(environment: Any) -> None:
    runner = environment.runner
    if options.headless(environment):
        runner.quit()
    else:
        runner.stop()


def _crashed(run: Runtime, component: str, exc: BaseException | None) -> None:
    what = redact(f"{component}: {type(exc).__name__}: {exc}")
    logger.error("fixload: engine error in %s; the run is aborted", what)
    run.record_crash(what)


def _abort_watch(run: Runtime) -> None:
    """k6's abortOnFail: evaluate every few seconds; end the whole run (master and workers) on a failure."""
    thresholds = run.thresholds
    if thresholds is None or not any(t.abort_on_fail for t in thresholds.thresholds):
        return
    while True:
        gevent.sleep(ABORT_CHECK_INTERVAL)
        elapsed = run.role.elapsed()
        if elapsed <= 0:
            continue
        triggers = abort_triggers(thresholds.evaluate(run.registry, elapsed, final=False), elapsed)
        if triggers:
            first = triggers[0]
            detail = f"threshold {first.key}: {first.expression} crossed (observed {first.observed})"
            logger.error("fixload: aborting: %s", detail)
            # The shape's next tick ends the run through Locust's own path (this greenlet is killed on the way).
            run.lifecycle.stop_sending(HaltReason.ABORTED, detail)
            return


def _vus_sampler(runtime: Runtime) -> None:
    """k6's `vus` / `vus_max`, set by the runner that knows the totals (master: the workers' summed counts).

    `vus`: an arrival-rate scenario's allocated VUs (k6 keeps them active for the whole scenario) plus a VU
    executor's VUs running an iteration; `vus_max`: the allocated VUs plus every VU executor's VUs (k6
    initialises those up front).
    """
    while True:
        _sample_vus(runtime)
        gevent.sleep(VUS_SAMPLE_INTERVAL)


def _sample_vus(run: Runtime) -> None:
    state = run.test
    if state is None or not state.started or run.role.elapsed() <= 0:
        return
    counts = run.role.counts()
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


def on_test_stopping(runtime: Runtime) -> None:
    """Locust begins to stop the test (`-t`, STOP, a signal, the shape's end) and will stop the users next:
    this runner's engine starts nothing more, so what falls due while they stop is neither run nor dropped."""
    engine = runtime.engine
    if engine is not None:
        engine.stop_starting()


def on_test_stop(runtime: Runtime) -> None:
    role = runtime.role
    if not role.leads:
        role.end()
        role.reset()
        return
    state = runtime.test
    # not started counts as early too: a stop (a signal, say) during the setup's fixtures kills test_start
    # before the engine starts
    early = state is not None and not state.finished
    finalize_apart(runtime, early)
    lifecycle = runtime.lifecycle
    if lifecycle.state is State.FINALIZING:
        # A finalize in progress (a signal's, waiting for the workers' last reports) still needs this test's
        # state: the last worker quitting meanwhile makes Locust stop the test. Forget it when that is done.
        lifecycle.reset_pending = True
    else:
        role.reset()


def on_quitting(runtime: Runtime) -> None:
    run, environment = runtime, runtime.environment
    if not run.role.leads:
        run.role.quitting()
        return
    runner = environment.runner
    running = runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING)
    await_finalizer(run)
    finalize(runtime, early=running)
    halt = run.lifecycle.halt
    if halt is not None and halt.reason is HaltReason.INVALID and environment.process_exit_code is None:
        environment.process_exit_code = int(ExitCode.INVALID_CONFIG)


# ------------------------------------------------------------------------------------------- the end


def _scenario_counts(runtime: Runtime) -> list[ScenarioCounts]:
    state = runtime.test
    if state is None:
        return []
    return scenario_counts(state.plan, runtime.role.counts(), runtime.role.elapsed())


def _may_finalize(run: Runtime) -> bool:
    """A test of this run started, is configured, and no finalize has begun: there is a summary to write."""
    lifecycle = run.lifecycle
    return not lifecycle.ending and run.config is not None and lifecycle.test_started


def finalize(run: Runtime, early: bool = False) -> dict[str, Any] | None:
    """Once per test: stop the engines, collect the workers' last samples, evaluate the thresholds, write
    the summary, print the console summary, set the exit code. `early`: the scenarios had not ended."""
    lifecycle = run.lifecycle
    if not _may_finalize(run):
        return lifecycle.summary
    lifecycle.to(State.FINALIZING)
    try:
        run.role.end()
        run.wait_idle()
        run.role.flush()
        summary = _summarize(run, early)
    finally:
        lifecycle.to(State.DONE)
        if lifecycle.reset_pending:
            lifecycle.reset_pending = False
            run.role.reset()
    return summary


def finalize_apart(run: Runtime, early: bool) -> None:
    """`finalize` in a greenlet of its own, joined here. Locust fires test_stop in whichever of its greenlets
    stopped the test, and may kill that greenlet mid-finalize (the shape's greenlet quitting while the last
    worker's `quit` message makes Locust kill every runner greenlet): the summary would never be written and
    the exit code stay 0. Apart, the finalize goes on, and `on_quitting` waits for it (`await_finalizer`)."""
    worker = gevent.spawn(finalize, run, early)
    run.lifecycle.finalizer = worker
    worker.join()


FINALIZE_WAIT = FLUSH_TIMEOUT + IDLE_TIMEOUT + 5.0
"""How long quitting waits for a finalize still under way (it waits for workers and idle VUs, bounded)."""


def await_finalizer(run: Runtime) -> None:
    """quitting: let a finalize still under way (`finalize_apart`) write its summary and set the exit code."""
    worker = run.lifecycle.finalizer
    if worker is not None and not worker.dead:
        worker.join(timeout=FINALIZE_WAIT)


def finalize_now(run: Runtime) -> None:
    """A second signal before the run could end: write the summary of what was counted so far, at once,
    for a caller about to exit. Running iterations are not waited for (they count as interrupted) and the
    workers' last reports are not collected; the summary's reason says so. Nothing if no test started or a
    finalize is already under way (that one's summary stands)."""
    lifecycle = run.lifecycle
    if not _may_finalize(run):
        return
    lifecycle.to(State.FINALIZING)
    lifecycle.stopped_by = (
        f"a second {lifecycle.interrupted_by or 'signal'}: exited at once; iterations still running and the "
        "workers' last reports are not counted"
    )
    _summarize(run, early=True)
    if lifecycle.console:  # headless runs print it at Locust's exit, which an immediate exit never reaches
        print(lifecycle.console, file=sys.stderr, flush=True)
    lifecycle.to(State.DONE)


def _cpu_warning(environment: Environment) -> bool:
    """Whether Locust saw this process, or a worker, above its CPU ceiling during the run."""
    runner = environment.runner
    if runner is None:
        return False
    return bool(runner.cpu_warning_emitted or getattr(runner, "worker_cpu_warning_emitted", False))


def _summarize(run: Runtime, early: bool) -> dict[str, Any]:
    assert run.config is not None and run.thresholds is not None and run.lifecycle.started_at is not None
    environment = run.environment
    state = run.test
    thresholds = run.thresholds
    started_at = run.lifecycle.started_at
    ended_at = datetime.now(UTC)
    elapsed = max((ended_at - started_at).total_seconds(), 0.0)
    counts = _scenario_counts(run)
    for c in counts:
        if c.dropped_worker_lost and state is not None:  # k6's dropped_iterations counts them too, with why
            tags = {"scenario": c.name, **state.plan.scenarios[c.name].scenario.tags, "reason": "worker_lost"}
            run.registry.add("dropped_iterations", float(c.dropped_worker_lost), tags)
    results = thresholds.evaluate(run.registry, elapsed, final=True)
    status, reason = status_of(run, early, results)
    code = exit_code(status, run)
    lost = sum(1 for e in state.worker_events if e["event"] == "lost") if state is not None else 0
    if lost and status == Status.PASSED:
        reason = f"{lost} worker(s) lost during the run; their last reports are counted"
    stopped = run.lifecycle.stopped_by
    if stopped:
        reason = "; ".join(filter(None, [f"stopped: {stopped}", reason]))
    info = RunInfo(
        profile=run.config.plan.profile.profile,
        multiplier=run.config.plan.multiplier,
        started_at=started_at,
        ended_at=ended_at,
        status=status,
        reason=reason,
        workers=len(state.workers) if state is not None else 0,  # only a master gives shares to workers
        workers_lost=lost,
        target=mask_url(run.config.target.base_url),
        exit_code=code,
    )
    series = run.time_series() if run.time_series is not None else encode_series([], SAMPLE_INTERVAL)
    block: dict[str, Any] = {"fixtures": dict(run.fixtures), "timeSeries": series}
    block["experiment"] = experiment_identity(run.config.plan, info.target, info.workers, _flow_files(environment))
    if stopped:
        block["stopped"] = stopped
    if run.lifecycle.setup_failure:
        block["setup"] = {"status": "failed", "failure": run.lifecycle.setup_failure}
    if state is not None and state.worker_events:
        block["workerEvents"] = list(state.worker_events)
    path = options.summary_path(environment) or str(default_summary_path())
    failures = run.failures.by_scenario()
    colour = wants_colour(sys.stderr)
    block["tracing"] = tracing.summary_block(run)
    block["generator"] = generator_block(
        run.registry, _cpu_warning(environment), run.config.plan.profile.settings.start_grid * 1000.0
    )
    slowest = run.failures.slowest()
    ending = summarize(path, run.registry, thresholds, info, counts, results, block, failures, colour, slowest)
    run.lifecycle.summary = summary = ending.summary
    console = ending.console
    if ending.error is None:
        logger.info("fixload: summary written to %s", ending.written)
    else:
        logger.error("fixload: %s", ending.error)
    if options.headless(environment):
        run.lifecycle.console = console  # printed last, after Locust's own tables (on_quit)
    else:
        print(console, file=sys.stderr, flush=True)
    environment.process_exit_code = code
    return summary


def _flow_files(environment: Any) -> list[str]:
    """The source files of the user classes this run loaded (what the locustfiles' hash covers)."""
    import inspect

    files = set()
    for user_class in getattr(environment, "user_classes", None) or ():
        with contextlib.suppress(TypeError, OSError):
            files.add(inspect.getfile(user_class))
    return sorted(files)


def install(run: Runtime) -> None:
    """Hook the lifecycle into this environment's events (called once, at init, by `fixload.plugin`)."""
    events = run.environment.events
    logging.getLogger("locust.runners").addFilter(_QuietAfterFailedSetup(run))
    events.test_start.add_listener(lambda **_: on_test_start(run))
    events.test_stopping.add_listener(lambda **_: on_test_stopping(run))
    events.test_stop.add_listener(lambda **_: on_test_stop(run))
    events.quitting.add_listener(lambda **_: on_quitting(run))

    def on_quit(exit_code: int, **_: Any) -> None:
        """Locust has printed its tables: end with k6's kind of summary, the part a CI log reader wants."""
        console, run.lifecycle.console = run.lifecycle.console, ""
        if console:
            print(console, file=sys.stderr, flush=True)

    events.quit.add_listener(on_quit)
