"""The worker's role: it only executes the share its master gives it, on the master's clock, reports its
samples, and leaves when its master is gone or refuses it. Its messages: `protocol`."""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import gevent
from locust.runners import WorkerRunner

from fixload.common.exitcodes import ExitCode
from fixload.common.secrets import prepare
from fixload.engine.base import Share, VUSlot
from fixload.engine.engine import Engine
from fixload.profile.config import ConfigError
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile
from fixload.runtime.lifecycle import HaltReason, State
from fixload.runtime.protocol import (
    ALIVE_INTERVAL,
    MASTER_LOST_AFTER,
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
    report_payload,
)
from fixload.runtime.shape import flow_classes, scenario_user_classes
from fixload.runtime.state import WATCH_INTERVAL, Role

logger = logging.getLogger("fixload")


class WorkerRole(Role):
    name: ClassVar[str] = "worker"
    leads: ClassVar[bool] = False
    runner: WorkerRunner

    def install(self) -> None:
        runner = self.runner
        runner.register_message(MSG_START, self.on_start)
        runner.register_message(MSG_SHARE, self.on_share)
        runner.register_message(MSG_FIXTURES, self.on_fixtures)
        runner.register_message(MSG_VUS, self.on_vus)
        runner.register_message(MSG_HALT, self.on_halt)
        runner.register_message(MSG_FLUSH, self.on_flush, concurrent=True)
        runner.register_message(MSG_REFUSE, self.on_refused)
        gevent.spawn(self.link)
        gevent.spawn(self.watch_master)
        gevent.spawn(prepare, lambda: gevent.sleep(0.01))  # the secrets' patterns, one per hub turn
        self.runtime.environment.events.report_to_master.add_listener(self.on_report_to_master)

    def processes(self) -> int | None:
        return None  # a worker knows only its own share: its master checks the whole plan

    def quitting(self) -> None:
        self.send_final()

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[REPORT_KEY] = report_payload(self.runtime)

    # ------------------------------------------------------------------------------ the handlers
    def on_start(self, environment: Any, msg: Any, **_: Any) -> None:
        """Its share: build the plan the master runs and start the engine on the common clock."""
        runtime = self.runtime
        data = msg.data
        profile = parse_profile(data["profile"], data.get("source"))
        plan = build_plan(profile, data["multiplier"], data["multiplierSource"], data.get("source", ""))
        try:
            scenario_user_classes(environment, plan)
        except ConfigError as exc:  # the master refuses such a worker at connect; this is the last line of defence
            self.leave_refused(str(exc))
            return
        runtime.fixtures = dict(data.get("fixtures") or {})
        runtime.plan_from_master = plan
        if runtime.engine is not None:
            runtime.engine.stop()
        share = Share(**data["share"])  # its wall-clock t0 becomes this worker's monotonic plan clock, once, here
        runtime.lifecycle.new_test()
        runtime.iteration_counters.clear()
        runtime.failures.clear()  # a new test logs its own first failures (the last test's went with its final)
        runtime.engine = Engine(plan, share, runtime.registry, runtime.record_crash)
        runtime.engine.start()
        runtime.lifecycle.ensure(State.RUNNING)

    def on_share(self, environment: Any, msg: Any, **_: Any) -> None:
        engine = self.runtime.engine
        if engine is None:
            return
        if "retire" in msg.data:
            engine.retire(float(msg.data["retire"]))
        else:
            engine.reshare(Share(**msg.data))

    def on_vus(self, environment: Any, msg: Any, **_: Any) -> None:
        """The VUs Locust gave this worker, numbered over all workers (`MasterRole.vu_slots`)."""
        if self.runtime.engine is not None:
            self.runtime.engine.assign({name: VUSlot(**slot) for name, slot in msg.data.items()})

    def on_fixtures(self, environment: Any, msg: Any, **_: Any) -> None:
        runtime = self.runtime
        runtime.fixtures = dict(msg.data or {})
        runtime.lifecycle.new_test()
        runtime.lifecycle.ensure(State.RUNNING)

    def on_halt(self, environment: Any, msg: Any, **_: Any) -> None:
        """Setup failed on the master; no user may send anything."""
        self.runtime.lifecycle.stop_sending(HaltReason.SETUP_FAILED, "on the master")
        self.end()

    def on_flush(self, environment: Any, msg: Any, **_: Any) -> None:
        """The master is ending the test; stop the engine, send every sample not yet reported."""
        self.send_final()

    def on_refused(self, environment: Any, msg: Any, **_: Any) -> None:
        """The master refused this worker (its locustfiles lack scenarios of the plan): say why, exit."""
        self.leave_refused(str((msg.data or {}).get("reason", "refused by the master")))

    # ------------------------------------------------------------------------------ its own work
    def send_final(self) -> None:
        """Stop the engine and send the master every sample and count not yet reported (once per test).

        Also called when the worker quits (Ctrl-C in a terminal reaches every worker, and a worker may quit
        before the master asks): the master's finalize is waiting for these samples.
        """
        runtime = self.runtime
        lifecycle = runtime.lifecycle
        if lifecycle.ending:
            return
        lifecycle.to(State.FINALIZING)
        lifecycle.stop_sending(HaltReason.ENDED)
        # whether this worker ran its share to the end: a worker quitting early (its master went silent,
        # Ctrl-C) has not, and the master must not take its last report for the end of the schedule
        ran_to_end = runtime.engine is not None and runtime.engine.finished.is_set()
        try:
            self.end()
            runtime.wait_idle()
            try:
                self.runner.send_message(MSG_FINAL, report_payload(runtime, final=True, finished=ran_to_end))
            except Exception as exc:  # the master is gone: nobody left to tell
                logger.debug("fixload: final report not sent: %s", exc)
        finally:
            lifecycle.to(State.DONE)

    def link(self) -> None:
        """The worker's one loop talking to its master: say it is alive every `ALIVE_INTERVAL` seconds, with
        the flows its locustfiles define (the master refuses a worker that cannot run its plan)."""
        flows = sorted(flow_classes(self.runtime.environment))
        while True:
            try:
                self.runner.send_message(MSG_ALIVE, {"flows": flows})
            except Exception as exc:  # a closed connection at shutdown: nothing left to tell
                logger.debug("fixload: alive message not sent: %s", exc)
            gevent.sleep(ALIVE_INTERVAL)

    def watch_master(self) -> None:
        """Once the master has been heard, its silence for MASTER_LOST_AFTER means it is gone (killed, its
        host lost): stop sending, say why, and exit, rather than run the schedule against the target alone."""
        environment = self.runtime.environment
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
        self.runtime.lifecycle.stop_sending(HaltReason.MASTER_LOST, f"silent for {silent:.1f}s")
        self.end()
        environment.process_exit_code = 1
        environment.runner.quit()

    def leave_refused(self, why: str) -> None:
        """It cannot run the plan; send nothing, exit with 104 (its own configuration is wrong)."""
        logger.error("fixload: %s; this worker exits", why)
        self.runtime.lifecycle.stop_sending(HaltReason.INVALID, why)
        self.end()
        environment = self.runtime.environment
        environment.process_exit_code = int(ExitCode.INVALID_CONFIG)
        gevent.spawn(environment.runner.quit)  # not from a message handler: quitting kills the handlers' greenlets
