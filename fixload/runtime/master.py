"""The master's role: it plans, gives each worker its share on a common clock, re-shares when workers come
and go, merges their reports and collects their last samples at the end. Its messages: `protocol`."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, ClassVar

import gevent
from locust.runners import STATE_MISSING, MasterRunner

from fixload.common.clock import PlanClock
from fixload.engine.base import Share, VUSlot
from fixload.runtime.dispatch import ScenarioDispatcher
from fixload.runtime.lifecycle import State
from fixload.runtime.protocol import (
    FLUSH_TIMEOUT,
    LEAD_SECONDS,
    LOST_AFTER,
    MSG_ALIVE,
    MSG_FINAL,
    MSG_FIXTURES,
    MSG_FLUSH,
    MSG_HALT,
    MSG_REFUSE,
    MSG_SHARE,
    MSG_START,
    MSG_VUS,
    REPORT_KEY,
    RESHARE_DELAY,
    plan_message,
)
from fixload.runtime.shape import flow_classes
from fixload.runtime.state import WATCH_INTERVAL, Role, Runtime, TestState

logger = logging.getLogger("fixload")


class MasterRole(Role):
    name: ClassVar[str] = "master"
    lead_seconds = LEAD_SECONDS
    counts_arrive_in_reports = True
    runner: MasterRunner

    def __init__(self, runtime: Runtime, runner: MasterRunner) -> None:
        super().__init__(runtime, runner)
        self.alive: dict[str, float] = {}
        """When each worker last said it is alive (monotonic seconds)."""
        self.flushed: set[str] = set()
        """The workers whose final report arrived during this finalize."""
        self.closed_running = False
        """A closed-model test runs, so a joining worker gets the fixtures when it first says alive."""

    def install(self) -> None:
        self.runtime.environment.dispatcher_class = ScenarioDispatcher  # each scenario's VUs even over workers
        self.runner.register_message(MSG_ALIVE, self.on_alive)
        self.runner.register_message(MSG_FINAL, self.on_final)
        self.runtime.environment.events.worker_report.add_listener(self.on_worker_report)

    # ------------------------------------------------------------------------------ counting the workers
    def processes(self) -> int | None:
        options = self.runtime.environment.parsed_options
        forked = getattr(options, "processes", None) or 0
        if forked < 0:
            forked = os.cpu_count() or 1
        return max(1, forked, getattr(options, "expect_workers", 1) or 1)

    def workers(self) -> list[str]:
        return sorted(cid for cid, node in self.runner.clients.items() if node.state != STATE_MISSING)

    def worker_count(self) -> int:
        return len(self.workers())

    def every_worker_gone(self) -> bool:
        return not self.workers()

    def live_workers(self) -> list[str]:
        """The workers Locust still counts that have not gone silent (fixload's liveness, faster than Locust's)."""
        seen = self.alive
        now = time.monotonic()
        # a worker counts once it has said it is alive: then its handlers are registered and a share sent to
        # it is not dropped as an unknown message
        return [cid for cid in self.workers() if cid in seen and now - seen[cid] <= LOST_AFTER]

    def scenarios_over(self, state: TestState) -> bool:
        return bool(state.worker_finished) and all(state.worker_finished.get(w, False) for w in state.workers)

    # ------------------------------------------------------------------------------ the test's start
    def begin(self) -> None:
        """test_start: t0, every live worker's share (the fixtures are already resolved)."""
        runtime = self.runtime
        state = runtime.test
        if state is None:  # closed model: users run as Locust schedules them, once they have the fixtures
            self.share_fixtures()
            runtime.lifecycle.ensure(State.RUNNING)
            return
        if state.started:
            return
        runtime.lifecycle.ensure(State.WAITING)
        state.clock, state.t0 = PlanClock.starting_in(self.lead_seconds + state.users / state.spawn_rate)
        state.started = True
        state.workers = self.live_workers()
        for index, client_id in enumerate(state.workers):
            share = Share(index, len(state.workers), state.t0, 0.0)
            state.give(client_id, share)
            self._send_start(state, client_id, share)
        state.greenlets.append(gevent.spawn(self.watch_workers))
        state.greenlets.append(gevent.spawn(self.watch_dispatch))
        runtime.lifecycle.to(State.RUNNING)

    def _send_start(self, state: TestState, client_id: str, share: Share) -> None:
        self.runner.send_message(MSG_START, plan_message(state, share, self.runtime.fixtures), client_id=client_id)

    def share_fixtures(self) -> None:
        """Closed model (no scenario shape): every worker gets the fixtures before its users start."""
        self.closed_running = True
        for client_id in self.live_workers():
            self.runner.send_message(MSG_FIXTURES, self.runtime.fixtures, client_id=client_id)

    def halt_workers(self) -> None:
        """Setup failed; no worker may send anything (sent before Locust sends them spawn messages)."""
        for client_id in self.workers():
            self.runner.send_message(MSG_HALT, None, client_id=client_id)

    def watch_workers(self) -> None:
        """Re-share the rest of the schedule whenever the set of live workers changes."""
        runner = self.runner
        while True:
            gevent.sleep(WATCH_INTERVAL)
            state = self.runtime.test
            if state is None or state.finished:
                return
            now = self.live_workers()
            if now == state.workers or not now:
                continue
            since = state.plan_time() + RESHARE_DELAY
            lost = sorted(set(state.workers) - set(now))
            joined = sorted(set(now) - set(state.workers))
            at = round(since - RESHARE_DELAY, 3)
            for client_id in lost:
                state.worker_events.append({"event": "lost", "worker": client_id, "at": at})
                logger.warning("fixload: worker %s lost; re-sharing the schedule from t=%.1fs", client_id, since)
            for client_id in joined:
                state.worker_events.append({"event": "joined", "worker": client_id, "at": at})
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
                    self._send_start(state, client_id, share)
                else:
                    runner.send_message(MSG_SHARE, share.__dict__, client_id=client_id)

    def vu_slots(self, state: TestState) -> dict[str, dict[str, VUSlot]]:
        """Per worker and scenario, the VUs Locust actually gave it (`WorkerNode.user_classes_count`, as each
        worker reported it), numbered over the workers in share order. Locust's dispatcher interleaves classes
        and orders workers by host then id, so worker k need not have `Share.split` users of each class."""
        runner = self.runner
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

    def watch_dispatch(self) -> None:
        """Tell each worker which VUs it has whenever what the workers report changes (spawned, rebalanced
        after a worker joined or was lost)."""
        runner = self.runner
        sent: dict[str, dict[str, VUSlot]] = {}
        while True:
            state = self.runtime.test
            if state is None or state.finished:
                return
            for client_id, slots in self.vu_slots(state).items():
                if sent.get(client_id) != slots and client_id in runner.clients:
                    runner.send_message(MSG_VUS, {n: s.__dict__ for n, s in slots.items()}, client_id=client_id)
                    sent[client_id] = slots
            gevent.sleep(WATCH_INTERVAL)

    # ------------------------------------------------------------------------------ the handlers
    def on_alive(self, environment: Any, msg: Any, **_: Any) -> None:
        """A worker said it is alive. One that joins a running closed-model test gets the fixtures now; one
        whose locustfiles lack the plan's scenarios is refused (`refuse_if_unfit`) and never counted."""
        if self.refuse_if_unfit(msg.node_id, msg.data):
            return
        first = msg.node_id not in self.alive
        self.alive[msg.node_id] = time.monotonic()
        if first and self.closed_running:
            self.runner.send_message(MSG_FIXTURES, self.runtime.fixtures, client_id=msg.node_id)

    def on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        self.merge_report(msg.node_id, msg.data)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        payload = data.get(REPORT_KEY)
        if payload:
            self.merge_report(client_id, payload)

    def merge_report(self, client_id: str, payload: dict[str, Any]) -> None:
        runtime = self.runtime
        runtime.registry.merge(payload["metrics"])
        if payload.get("crash"):
            runtime.record_crash(f"{payload['crash']} (worker {client_id})")
        runtime.failures.merge(payload.get("failures", ()))
        state = runtime.test
        if state is not None:
            if payload["counts"]:
                state.worker_counts[client_id] = payload["counts"]
            state.worker_finished[client_id] = payload["finished"]
        if payload.get("final"):
            self.flushed.add(client_id)

    def flush(self) -> None:
        """Ask every live worker for its last delta and wait (bounded) until each has answered."""
        runner = self.runner
        targets = set(self.workers())
        if not targets:
            return
        self.flushed = set()
        for client_id in sorted(targets):
            runner.send_message(MSG_FLUSH, None, client_id=client_id)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while time.monotonic() < deadline:
            pending = (targets & set(self.workers())) - self.flushed
            if not pending:
                return
            gevent.sleep(0.02)
        logger.warning(
            "fixload: no final report from %s within %.0fs; their earlier reports are counted", pending, FLUSH_TIMEOUT
        )

    # ------------------------------------------------------------------------------ refusing a worker
    def missing_scenarios(self, flows: list[str]) -> list[str]:
        """The plan's scenarios (with their flow) that a worker defining `flows` could not run, among those
        the master's own locustfiles run (all of them in a profile run; plain Locust runs its classes)."""
        config = self.runtime.config
        if config is None:
            return []
        have, runs = set(flows), set(flow_classes(self.runtime.environment))
        return [
            name if name == scenario.flow else f"{name} (flow {scenario.flow})"
            for name, scenario in config.plan.scenarios.items()
            if scenario.flow in runs and scenario.flow not in have
        ]

    def refuse_if_unfit(self, client_id: str, data: Any) -> bool:
        """Refuse a worker whose locustfiles do not define every scenario's flow, at its first word (its users
        would raise in every handler while it stayed connected, and its share would never run). The master
        says which scenarios, the worker exits non-zero (`WorkerRole.on_refused`), and the refusal is recorded
        in `lifecycle.refused`, which ends a headless run with status error (the guard)."""
        lifecycle = self.runtime.lifecycle
        if client_id in lifecycle.refused:
            return True
        if not isinstance(data, dict) or "flows" not in data:
            return False
        missing = self.missing_scenarios(list(data["flows"]))
        if not missing:
            return False
        why = (
            f"worker {client_id} refused: its locustfiles define no user class for scenario(s) {', '.join(missing)}; "
            "start every worker with the master's locustfiles (-f)"
        )
        lifecycle.refused[client_id] = why
        logger.error("fixload: %s", why)
        self.runner.send_message(MSG_REFUSE, {"reason": why}, client_id=client_id)
        return True

    def reset(self) -> None:
        super().reset()
        self.closed_running = False
