"""The master/worker protocol, and one test's course across Locust runners: plan, common clock, shares, the end.

The master (or the local runner) decides everything once: it loads the plan, provisions the fixtures,
picks the instant `t0` at which every scenario's clock starts, and tells each worker its share. Workers
only execute. When the set of workers changes mid-run the master hands out new shares that take over
one second later, so no iteration is started twice and the rest of the schedule is still covered.

Every message between master and workers is here (Locust's `register_message`/`send_message`, plus
fixload's block in Locust's own periodic worker report):

| message            | from → to       | carries                                     | handler                |
| ------------------ | --------------- | ------------------------------------------- | ---------------------- |
| `fixload_alive`    | worker → master | the flows its locustfiles define (every     | `on_alive`             |
|                    |                 | `ALIVE_INTERVAL` s)                         |                        |
| `fixload_refuse`   | master → worker | why: its locustfiles lack scenarios         | `on_worker_refused`    |
| `fixload_start`    | master → worker | the plan, this worker's share, the fixtures | `on_worker_start`      |
| `fixload_share`    | master → worker | a new share, or `retire` from a plan time   | `on_worker_share`      |
| `fixload_vus`      | master → worker | per scenario, the VUs it got: offset, count | `on_worker_vus`        |
| `fixload_fixtures` | master → worker | the fixtures (closed model)                 | `on_worker_fixtures`   |
| `fixload_halt`     | master → worker | nothing: setup failed, send nothing         | `on_worker_halt`       |
| `fixload_flush`    | master → worker | nothing: stop, send your last samples       | `on_worker_flush`      |
| `fixload_final`    | worker → master | the last metric delta and engine counts     | `on_final`             |
| report `fixload`   | worker → master | metric delta, engine counts, finished       | `on_worker_report`     |

Clocks (`fixload.common.clock`): each process runs plan time on its own monotonic clock. `t0` crosses the wire
once, as the master's wall-clock instant in every share, and a worker converts it to its monotonic clock
when `fixload_start` arrives (`Engine` → `PlanClock.from_wall`); reshares keep that clock. A worker whose
wall clock is off the master's by `s` therefore runs its whole share `s` early (ahead) or late (behind),
its own iterations and no others. What such a worker tolerates:

- ahead by less than `RESHARE_DELAY` (0.5 s) minus the message's latency: a new share takes over at
  plan time `since` = the master's now + 0.5 s, and a worker already past `since` in its own plan time has
  started old-share iterations after it, which the new shares start again (twice). At the start the lead
  is `LEAD_SECONDS` (1 s) plus the spawn time, so the first share is safe up to that;
- behind by less than `END_GRACE` (2 s): the master ends the test at plan time duration + 2 s on its own
  clock (flushing every worker), so a worker further behind loses its last iterations' gracefulStop,
  then its last starts;
- the master's own decisions (the end, re-share times, elapsed time, the live sampler, the web UI's
  countdown) all read the master's monotonic plan clock (`TestState.clock`), never the wall clock.

NTP keeps machines within milliseconds, far inside both bounds. tests/test_clock.py runs two workers
0.3 s ahead and 0.3 s behind: their starts shift by exactly that and the target gets k6's count.

Liveness: workers say they are alive from `_worker_link`; the master's `_watch_workers` re-shares when
one goes silent; a worker's `_watch_master` stops its load and exits when the master's heartbeat stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from fixload.common.clock import PlanClock
from fixload.common.exitcodes import ExitCode
from fixload.engine.base import Share, VUSlot
from fixload.engine.engine import Engine, users_needed
from fixload.profile.binding import loaded_flows
from fixload.profile.config import ConfigError
from fixload.profile.limits import SPAWN_RATE_PER_PROCESS
from fixload.profile.plan import Plan, build_plan
from fixload.profile.schema import parse_profile
from fixload.profile.validation import load_run_config
from fixload.runtime.lifecycle import HaltReason, State
from fixload.runtime.state import Run, TestState, run_for

logger = logging.getLogger("fixload")

LEAD_SECONDS = 1.0
"""Time between the decision to start and t0 on a master: long enough for every worker to hear about it."""
LOCAL_LEAD_SECONDS = 0.3
"""The same on a local runner, where nothing crosses a wire: enough for the engine to collect and freeze the
heap before t0 (`FREEZE_BEFORE_START_S`) once the users are spawned. A second less of waiting per run."""
SPAWN_RATE_PER_RUNNER = SPAWN_RATE_PER_PROCESS
RESHARE_DELAY = 0.5
"""A new share takes over this long after the master notices a worker joined or was lost (the message
must reach every worker before then)."""
ALIVE_INTERVAL = 0.25
"""Workers tell the master they are alive this often."""
LOST_AFTER = 2.0
"""A worker silent this long is lost. Locust's own heartbeat takes 4-5 s to call a worker missing, too
late to take its share over within 5 s; fixload's own signal makes the takeover ~3 s after a SIGKILL."""
WATCH_INTERVAL = 0.2
MASTER_LOST_AFTER = 3.0
"""A worker that has heard no heartbeat from its master this long stops its load and exits. The master
answers each worker heartbeat (one a second) at once; Locust itself waits 60 s, sending all the while."""
FLUSH_TIMEOUT = 5.0
"""How long a master waits at the end for every worker's last metric delta."""
END_GRACE = 2.0
"""Plan seconds past the plan's duration (gracefulStop included) after which the master ends the test even
if a worker has not said it finished (one lost without a trace, or whose clock is behind; see above)."""
IDLE_TIMEOUT = 2.0
"""How long a runner waits at the end for interrupted iterations to record their samples."""

MSG_START = "fixload_start"
MSG_SHARE = "fixload_share"
MSG_ALIVE = "fixload_alive"
MSG_FIXTURES = "fixload_fixtures"
MSG_VUS = "fixload_vus"
MSG_HALT = "fixload_halt"
MSG_FLUSH = "fixload_flush"
MSG_FINAL = "fixload_final"
MSG_REFUSE = "fixload_refuse"
REPORT_KEY = "fixload"
"""fixload's block in Locust's periodic worker report."""


def state_of(environment: Any) -> TestState | None:
    return run_for(environment).test


def _options(environment: Any) -> Any:
    return environment.parsed_options


# ------------------------------------------------------------------------------------- the test's plan


def profile_plan(environment: Any) -> Plan:
    """The plan for the profile the options name now (the web UI may have changed it since start-up)."""
    run = run_for(environment)
    options = _options(environment)
    wanted = (getattr(options, "profile", None), getattr(options, "multiplier", None))
    if run.config is None or run.config_key != wanted:
        run.config = load_run_config(
            wanted[0] or None,
            wanted[1],
            getattr(options, "env_file", None),
            processes=max(1, _worker_count(environment.runner)),
            flows=flow_classes(environment),
        )
        run.config_key = wanted
    return run.config.plan


def flow_classes(environment: Any) -> dict[str, type]:
    """The loaded flow user classes by the scenario they were written for (fixload.profile.binding)."""
    return loaded_flows(environment.user_classes)


def scenario_user_classes(environment: Any, plan: Plan) -> dict[str, type]:
    """A user class per scenario: the flow's own, or a subclass named after a scenario that reuses a flow."""
    flows = flow_classes(environment)
    by_name = {cls.__name__: cls for cls in environment.user_classes}
    out: dict[str, type] = {}
    for name, scenario in plan.scenarios.items():
        base = flows.get(scenario.flow)
        if base is None:
            raise ConfigError(
                f"scenarios.{name}: no user class runs flow {scenario.flow!r}; "
                "load its locustfile (e.g. locust -f locustfiles/)"
            )
        if name == scenario.flow:
            out[name] = base
            continue
        derived = by_name.get(name)
        if derived is None:
            derived = type(name, (base,), {"scenario": name, "abstract": False, "_fixload_derived": True})
            environment.user_classes.append(derived)
        out[name] = derived
    return out


def tick(shape: Any) -> tuple[int, float, list[type]] | None:
    """The composite shape's tick: every scenario's users, until the scenarios are over."""
    environment = shape.runner.environment
    run = run_for(environment)
    state = state_of(environment)
    if state is None:
        run.lifecycle.new_test()
        try:
            plan = shape.plan(environment)
            classes = shape.user_classes(environment, plan)
        except ConfigError as exc:
            logger.error("fixload: %s", exc)
            run.lifecycle.stop_sending(HaltReason.INVALID, str(exc))
            return None
        runners = max(1, _worker_count(shape.runner))
        users = 0
        for name, cls in classes.items():
            cls.fixed_count = users_needed(plan.scenarios[name])
            users += cls.fixed_count
        state = TestState(plan, classes, users, spawn_rate=SPAWN_RATE_PER_RUNNER * runners)
        run.test = state
        return users, state.spawn_rate, list(classes.values())
    if state.finished or run.halted:
        return None
    if state.started and _scenarios_over(shape.runner, run, state):
        state.finished = True
        return None
    return state.users, state.spawn_rate, list(state.classes.values())


def _scenarios_over(runner: Any, run: Run, state: TestState) -> bool:
    if state.plan_time() >= state.plan.duration + END_GRACE:
        return True
    if isinstance(runner, MasterRunner):
        return bool(state.worker_finished) and all(state.worker_finished.get(w, False) for w in state.workers)
    return run.engine is not None and run.engine.finished.is_set()


def _worker_count(runner: Any) -> int:
    return len(active_workers(runner)) if isinstance(runner, MasterRunner) else 1


def active_workers(runner: MasterRunner) -> list[str]:
    return sorted(cid for cid, node in runner.clients.items() if node.state != STATE_MISSING)


# ------------------------------------------------------------------------------------- the test's start


def begin(environment: Any) -> None:
    """test_start on the master or local runner: t0, shares, engine (the fixtures are already resolved)."""
    run = run_for(environment)
    state = state_of(environment)
    runner = environment.runner
    if state is None:  # closed model: users run as Locust schedules them, once they have the fixtures
        if isinstance(runner, MasterRunner):
            share_fixtures(environment)
        run.lifecycle.ensure(State.RUNNING)
        return
    if state.started:
        return
    run.lifecycle.ensure(State.WAITING)
    lead = (LEAD_SECONDS if isinstance(runner, MasterRunner) else LOCAL_LEAD_SECONDS) + state.users / state.spawn_rate
    state.clock, state.t0 = PlanClock.starting_in(lead)
    state.started = True
    if isinstance(runner, MasterRunner):
        state.workers = live_workers(environment)
        for index, client_id in enumerate(state.workers):
            share = Share(index, len(state.workers), state.t0, 0.0)
            state.give(client_id, share)
            _send_start(runner, run, state, client_id, share)
        state.greenlets.append(gevent.spawn(_watch_workers, environment))
        state.greenlets.append(gevent.spawn(_watch_dispatch, environment))
    elif isinstance(runner, LocalRunner):
        share = Share(0, 1, state.t0, 0.0)
        run.engine = Engine(state.plan, share, _emitter(run), _crash_reporter(run), clock=state.clock)
        run.engine.start()
    run.lifecycle.to(State.RUNNING)


def _crash_reporter(run: Run) -> Callable[[str], None]:
    """An engine error ends the run (status aborted, exit 109); a worker tells its master in its next report."""

    def crashed(what: str) -> None:
        record_crash(run, what)

    return crashed


def record_crash(run: Run, what: str) -> None:
    """The first engine error of the run (the component and its redacted exception) halts it: the shape's
    next tick ends the test through Locust's own path, and nothing that did not run reports passed."""
    run.lifecycle.stop_sending(HaltReason.ENGINE_ERROR, what)


def _emitter(run: Run) -> Callable[[str, float, dict[str, str]], None]:
    """The executors' way to record a sample. Each executor passes its own long-lived tag dicts, so a series
    is found by (metric, the dict's identity): no tuple of its items and no tags built per sample. The cache
    lives as long as this Engine's executors (and so their dicts), and is emptied whenever the registry is
    reset (a worker resets after every report), as `SinkCache` is."""
    registry = run.registry
    cache: dict[tuple[str, int], Any] = {}
    generation = registry.generation

    def emit(name: str, value: float, tags: dict[str, str]) -> None:
        nonlocal generation
        if generation != registry.generation:
            cache.clear()
            generation = registry.generation
        key = (name, id(tags))
        sink = cache.get(key)
        if sink is None:
            sink = cache[key] = registry.sink(name, tags)
        sink.add(value)

    return emit


def _plan_message(state: TestState, share: Share, fixtures: dict[str, str]) -> dict[str, Any]:
    plan = state.plan
    return {
        "profile": plan.profile.model_dump(by_alias=True, mode="json", exclude_unset=True),
        "source": plan.source,
        "multiplier": plan.multiplier,
        "multiplierSource": plan.multiplier_source,
        "share": share.__dict__,
        "fixtures": fixtures,
    }


def _send_start(runner: MasterRunner, run: Run, state: TestState, client_id: str, share: Share) -> None:
    runner.send_message(MSG_START, _plan_message(state, share, run.fixtures), client_id=client_id)


def live_workers(environment: Any) -> list[str]:
    """The workers Locust still counts that have not gone silent (fixload's own liveness, faster than Locust's)."""
    seen = run_for(environment).alive
    now = time.monotonic()
    # a worker counts once it has said it is alive: then its handlers are registered and a share sent to
    # it is not dropped as an unknown message
    return [cid for cid in active_workers(environment.runner) if cid in seen and now - seen[cid] <= LOST_AFTER]


def _watch_workers(environment: Any) -> None:
    """Re-share the rest of the schedule whenever the set of live workers changes."""
    runner: MasterRunner = environment.runner
    run = run_for(environment)
    while True:
        gevent.sleep(WATCH_INTERVAL)
        state = state_of(environment)
        if state is None or state.finished:
            return
        now = live_workers(environment)
        if now == state.workers or not now:
            continue
        since = state.plan_time() + RESHARE_DELAY
        lost = sorted(set(state.workers) - set(now))
        joined = sorted(set(now) - set(state.workers))
        for client_id in lost:
            state.worker_events.append({"event": "lost", "worker": client_id, "at": round(since - RESHARE_DELAY, 3)})
            logger.warning("fixload: worker %s lost; re-sharing the schedule from t=%.1fs", client_id, since)
        for client_id in joined:
            state.worker_events.append({"event": "joined", "worker": client_id, "at": round(since - RESHARE_DELAY, 3)})
            logger.info("fixload: worker %s joined; re-sharing the schedule from t=%.1fs", client_id, since)
        state.workers = now
        for client_id in lost:
            state.retire(client_id, max(0.0, since))
            # silent is not always dead: should it still be running, it must stop starting iterations
            if client_id in runner.clients:
                runner.send_message(MSG_SHARE, {"retire": max(0.0, since)}, client_id=client_id)
        for index, client_id in enumerate(now):
            share = Share(index, len(now), state.t0, max(0.0, since))
            state.give(client_id, share)
            if client_id in joined:
                _send_start(runner, run, state, client_id, share)
            else:
                runner.send_message(MSG_SHARE, share.__dict__, client_id=client_id)


def vu_slots(runner: MasterRunner, state: TestState) -> dict[str, dict[str, VUSlot]]:
    """Per worker and scenario, the VUs Locust actually gave it (`WorkerNode.user_classes_count`, as each
    worker reported it), numbered over the workers in share order. Locust's dispatcher interleaves classes
    and orders workers by host then id, so worker k need not have `Share.split` users of each class."""
    slots: dict[str, dict[str, VUSlot]] = {cid: {} for cid in state.workers}
    for name, cls in state.classes.items():
        got = [
            (cid, runner.clients[cid].user_classes_count.get(cls.__name__, 0) if cid in runner.clients else 0)
            for cid in state.workers
        ]
        total = sum(count for _, count in got)
        offset = 0
        for cid, count in got:
            slots[cid][name] = VUSlot(offset, count, total)
            offset += count
    return slots


def _watch_dispatch(environment: Any) -> None:
    """Master: tell each worker which VUs it has whenever what the workers report changes (spawned,
    rebalanced after a worker joined or was lost)."""
    runner: MasterRunner = environment.runner
    sent: dict[str, dict[str, VUSlot]] = {}
    while True:
        state = state_of(environment)
        if state is None or state.finished:
            return
        for client_id, slots in vu_slots(runner, state).items():
            if sent.get(client_id) != slots and client_id in runner.clients:
                runner.send_message(MSG_VUS, {n: s.__dict__ for n, s in slots.items()}, client_id=client_id)
                sent[client_id] = slots
        gevent.sleep(WATCH_INTERVAL)


def share_fixtures(environment: Any) -> None:
    """Master, closed model (no scenario shape): every worker gets the fixtures before its users start."""
    run = run_for(environment)
    run.closed_running = True
    for client_id in live_workers(environment):
        environment.runner.send_message(MSG_FIXTURES, run.fixtures, client_id=client_id)


def halt_workers(environment: Any) -> None:
    """Master: setup failed; no worker may send anything (sent before Locust sends them spawn messages)."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        for client_id in active_workers(runner):
            runner.send_message(MSG_HALT, None, client_id=client_id)


# ------------------------------------------------------------------------------------- worker handlers


def on_worker_start(environment: Any, msg: Any, **_: Any) -> None:
    """A worker hears its share: build the plan the master runs and start the engine on the common clock."""
    run = run_for(environment)
    data = msg.data
    profile = parse_profile(data["profile"], data.get("source"))
    plan = build_plan(profile, data["multiplier"], data["multiplierSource"], data.get("source", ""))
    try:
        scenario_user_classes(environment, plan)
    except ConfigError as exc:  # the master refuses such a worker at connect; this is the last line of defence
        _leave_refused(environment, str(exc))
        return
    run.fixtures = dict(data.get("fixtures") or {})
    if run.config is not None and run.config.plan.profile != profile:
        run.config = type(run.config)(plan=plan, target=run.config.target, env=run.config.env)
    if run.engine is not None:
        run.engine.stop()
    share = Share(**data["share"])  # its wall-clock t0 becomes this worker's monotonic plan clock, once, here
    run.lifecycle.new_test()
    run.iteration_counters.clear()
    run.failures.clear()  # a new test logs its own first failures (the last test's counts went with its final)
    run.engine = Engine(plan, share, _emitter(run), _crash_reporter(run))
    run.engine.start()
    run.lifecycle.ensure(State.RUNNING)


def on_worker_share(environment: Any, msg: Any, **_: Any) -> None:
    run = run_for(environment)
    if run.engine is None:
        return
    if "retire" in msg.data:
        run.engine.retire(float(msg.data["retire"]))
    else:
        run.engine.reshare(Share(**msg.data))


def on_worker_vus(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: the VUs Locust gave this worker, numbered over all workers (see `vu_slots`)."""
    run = run_for(environment)
    if run.engine is not None:
        run.engine.assign({name: VUSlot(**slot) for name, slot in msg.data.items()})


def on_worker_fixtures(environment: Any, msg: Any, **_: Any) -> None:
    run = run_for(environment)
    run.fixtures = dict(msg.data or {})
    run.lifecycle.new_test()
    run.lifecycle.ensure(State.RUNNING)


def on_worker_halt(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: setup failed on the master; no user may send anything."""
    run_for(environment).lifecycle.stop_sending(HaltReason.SETUP_FAILED, "on the master")
    end(environment)


def on_worker_flush(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: the master is ending the test; stop the engine, send every sample not yet reported."""
    send_final(environment)


def send_final(environment: Any) -> None:
    """Worker: stop the engine and send the master every sample and count not yet reported (once per test).

    Also called when the worker quits (Ctrl-C in a terminal reaches every worker, and a worker may quit
    before the master asks): the master's finalize is waiting for these samples.
    """
    run = run_for(environment)
    lifecycle = run.lifecycle
    if lifecycle.ending:
        return
    lifecycle.to(State.FINALIZING)
    lifecycle.stop_sending(HaltReason.ENDED)
    # whether this worker ran its share to the end: a worker quitting early (its master went silent, Ctrl-C)
    # has not, and the master must not take its last report for the end of the schedule
    ran_to_end = run.engine is not None and run.engine.finished.is_set()
    try:
        end(environment)
        wait_idle(run)
        try:
            environment.runner.send_message(MSG_FINAL, _report_payload(run, final=True, finished=ran_to_end))
        except Exception as exc:  # the master is gone: nobody left to tell
            logger.debug("fixload: final report not sent: %s", exc)
    finally:
        lifecycle.to(State.DONE)


def _worker_link(runner: WorkerRunner) -> None:
    """The worker's one loop talking to its master: say it is alive every `ALIVE_INTERVAL` seconds, with the
    flows its locustfiles define (the master refuses a worker that cannot run its plan)."""
    flows = sorted(flow_classes(runner.environment))
    while True:
        try:
            runner.send_message(MSG_ALIVE, {"flows": flows})
        except Exception as exc:  # a closed connection at shutdown: nothing left to tell
            logger.debug("fixload: alive message not sent: %s", exc)
        gevent.sleep(ALIVE_INTERVAL)


def _watch_master(environment: Any) -> None:
    """Worker: once the master has been heard, its silence for MASTER_LOST_AFTER means it is gone (killed,
    its host lost): stop sending, say why, and exit, rather than run the schedule against the target alone."""
    heard: list[float] = []
    environment.events.heartbeat_received.add_listener(lambda client_id, timestamp: heard.append(time.monotonic()))
    while True:
        gevent.sleep(WATCH_INTERVAL)
        if not heard:
            continue  # not connected yet: a worker may start before its master
        silent = time.monotonic() - heard[-1]
        del heard[:-1]
        if silent > MASTER_LOST_AFTER:
            break
    logger.error(
        "fixload: no heartbeat from the master for %.1fs (it answers every second): it is gone; "
        "this worker stops its load and exits",
        silent,
    )
    run_for(environment).lifecycle.stop_sending(HaltReason.MASTER_LOST, f"silent for {silent:.1f}s")
    end(environment)
    environment.process_exit_code = 1
    environment.runner.quit()


# ------------------------------------------------------------------------------------- master handlers


def on_alive(environment: Any, msg: Any, **_: Any) -> None:
    """Master: a worker said it is alive. One that joins a running closed-model test gets the fixtures now;
    one whose locustfiles lack the plan's scenarios is refused (`refuse_if_unfit`) and never counted."""
    run = run_for(environment)
    if refuse_if_unfit(environment, msg.node_id, msg.data):
        return
    first = msg.node_id not in run.alive
    run.alive[msg.node_id] = time.monotonic()
    if first and run.closed_running:
        environment.runner.send_message(MSG_FIXTURES, run.fixtures, client_id=msg.node_id)


def on_final(environment: Any, msg: Any, **_: Any) -> None:
    _merge_report(run_for(environment), msg.node_id, msg.data)


def _report_payload(run: Run, final: bool = False, finished: bool | None = None) -> dict[str, Any]:
    """`finished`: this worker's share ran to its end (default: its engine says so now)."""
    engine = run.engine
    if finished is None:
        finished = bool(engine is not None and engine.finished.is_set())
    return {
        "metrics": run.registry.snapshot(reset=True),
        "failures": run.failures.snapshot(reset=True),
        "counts": engine.counts() if engine is not None else {},
        "crash": engine.crash if engine is not None else None,
        "finished": finished,
        "final": final,
    }


def _merge_report(run: Run, client_id: str, payload: dict[str, Any]) -> None:
    run.registry.merge(payload["metrics"])
    if payload.get("crash"):
        record_crash(run, f"{payload['crash']} (worker {client_id})")
    run.failures.merge(payload.get("failures", ()))
    state = run.test
    if state is not None:
        if payload["counts"]:
            state.worker_counts[client_id] = payload["counts"]
        state.worker_finished[client_id] = payload["finished"]
    if payload.get("final"):
        run.flushed.add(client_id)


def flush_workers(environment: Any) -> None:
    """Master: ask every live worker for its last delta and wait (bounded) until each has answered."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    run = run_for(environment)
    targets = set(active_workers(runner))
    if not targets:
        return
    run.flushed = set()
    for client_id in sorted(targets):
        runner.send_message(MSG_FLUSH, None, client_id=client_id)
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while time.monotonic() < deadline:
        pending = (targets & set(active_workers(runner))) - run.flushed
        if not pending:
            return
        gevent.sleep(0.02)
    logger.warning(
        "fixload: no final report from %s within %.0fs; their earlier reports are counted", pending, FLUSH_TIMEOUT
    )


# ------------------------------------------------------------------------------------- refusing a worker


def missing_scenarios(environment: Any, flows: list[str]) -> list[str]:
    """Master: the plan's scenarios (with their flow) that a worker defining `flows` could not run, among
    those the master's own locustfiles run (all of them in a profile run; plain Locust runs its classes)."""
    run = run_for(environment)
    if run.config is None:
        return []
    have, runs = set(flows), set(flow_classes(environment))
    return [
        name if name == scenario.flow else f"{name} (flow {scenario.flow})"
        for name, scenario in run.config.plan.scenarios.items()
        if scenario.flow in runs and scenario.flow not in have
    ]


def refuse_if_unfit(environment: Any, client_id: str, data: Any) -> bool:
    """Master: refuse a worker whose locustfiles do not define every scenario's flow, at its first word (its
    users would raise in every handler while it stayed connected, and its share would never run). The master
    says which scenarios, the worker exits non-zero (`on_worker_refused`), and the refusal is recorded in
    `lifecycle.refused`, which ends a headless run with status error (the driver's guard)."""
    run = run_for(environment)
    if client_id in run.lifecycle.refused:
        return True
    if not isinstance(data, dict) or "flows" not in data:
        return False
    missing = missing_scenarios(environment, list(data["flows"]))
    if not missing:
        return False
    why = (
        f"worker {client_id} refused: its locustfiles define no user class for scenario(s) {', '.join(missing)}; "
        "start every worker with the master's locustfiles (-f)"
    )
    run.lifecycle.refused[client_id] = why
    logger.error("fixload: %s", why)
    environment.runner.send_message(MSG_REFUSE, {"reason": why}, client_id=client_id)
    return True


def on_worker_refused(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: the master refused this worker (its locustfiles lack scenarios of the plan): say why, exit."""
    _leave_refused(environment, str((msg.data or {}).get("reason", "refused by the master")))


def _leave_refused(environment: Any, why: str) -> None:
    """Worker: it cannot run the plan; send nothing, exit with 104 (its own configuration is wrong)."""
    logger.error("fixload: %s; this worker exits", why)
    run_for(environment).lifecycle.stop_sending(HaltReason.INVALID, why)
    end(environment)
    environment.process_exit_code = int(ExitCode.INVALID_CONFIG)
    gevent.spawn(environment.runner.quit)  # not from a message handler: quitting kills the handlers' greenlets


# ------------------------------------------------------------------------------------- wiring


def install(environment: Any, runner: Any) -> None:
    """Register this runner's side of the protocol (called once, at init, by `fixload.plugin`)."""
    run = run_for(environment)
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_START, on_worker_start)
        runner.register_message(MSG_SHARE, on_worker_share)
        runner.register_message(MSG_FIXTURES, on_worker_fixtures)
        runner.register_message(MSG_VUS, on_worker_vus)
        runner.register_message(MSG_HALT, on_worker_halt)
        runner.register_message(MSG_FLUSH, on_worker_flush, concurrent=True)
        runner.register_message(MSG_REFUSE, on_worker_refused)
        gevent.spawn(_worker_link, runner)
        gevent.spawn(_watch_master, environment)

        def on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
            data[REPORT_KEY] = _report_payload(run)

        environment.events.report_to_master.add_listener(on_report_to_master)
    elif isinstance(runner, MasterRunner):
        runner.register_message(MSG_ALIVE, on_alive)
        runner.register_message(MSG_FINAL, on_final)

        def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
            payload = data.get(REPORT_KEY)
            if payload:
                _merge_report(run, client_id, payload)

        environment.events.worker_report.add_listener(on_worker_report)


# ------------------------------------------------------------------------------------- counts and the end


def counts(environment: Any) -> dict[str, dict[str, int]]:
    """Per-scenario engine counts over every runner (a lost worker keeps its last report)."""
    run = run_for(environment)
    state = state_of(environment)
    if run.engine is not None:
        return run.engine.counts()
    return {} if state is None else state.totals()


def elapsed(environment: Any) -> float:
    state = state_of(environment)
    if state is None or state.clock is None:
        return 0.0
    return max(0.0, state.clock.now())


def wait_idle(run: Run) -> None:
    """Let interrupted iterations unwind and record their samples (bounded)."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    gevent.sleep(0)
    while run.engine is not None and run.engine.running() and time.monotonic() < deadline:
        gevent.sleep(0.02)


def end(environment: Any) -> None:
    """Stop this runner's engine and background work."""
    run = run_for(environment)
    if run.engine is not None:
        run.engine.stop()
    state = state_of(environment)
    if state is not None:
        state.finished = True
        for greenlet in state.greenlets:
            greenlet.kill(block=False)


def reset(environment: Any) -> None:
    """Forget the finished test (the web UI may start another)."""
    run = run_for(environment)
    run.test = None
    run.closed_running = False
    run.engine = None
    lifecycle = run.lifecycle
    if lifecycle.state in (State.WAITING, State.RUNNING):
        lifecycle.to(State.CONFIGURED)
    lifecycle.ready.clear()
