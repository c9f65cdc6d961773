"""No green without the run (issue 25, point 3): every way a distributed or stuck run fails to run its plan
ends with a summary whose status is not `passed` and a non-zero exit, within a bound (the plan's end plus
gracefulStop plus a few seconds), on real master/worker processes on loopback.

- the Locust master paused past the workers' heartbeat (SIGSTOP/SIGCONT of `fixload run --workers 2`'s
  master: a CPU-starved container): both workers leave, the run ends `error`, exit 1, with a summary;
- a worker whose locustfiles do not define the profile's scenarios is refused at connect: the master names
  the missing scenarios, the worker exits 104, the run ends `error`, exit 1;
- a plan that cannot complete (the shape's greenlet blocked) is ended by fixload's guard: `error`, exit 1.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import gevent
import orjson
import pytest
from enginekit import REPO, Cluster, headless_argv, locust_env, server_counts, write_profile
from gevent.event import Event

from fixload.cli.run import EXPECT_WORKERS_MAX_WAIT, Outcome, locust_command, supervise
from fixload.common.children import SignalRelay
from fixload.profile.validation import validate_run
from fixload.runtime import driver
from fixload.runtime.lifecycle import State
from fixload.runtime.protocol import MSG_FINAL
from fixload.runtime.role import role_for
from fixload.runtime.state import Runtime
from fixload.runtime.worker import WorkerRole
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for
from tests.test_wrapper_signals import Wrapper, _alive

pytestmark = pytest.mark.timeout(120)

CRASH_USERS = REPO / "tests" / "locustfiles" / "crash_users.py"
GRACE = 10.0
"""Seconds allowed past plan end + gracefulStop: the master's END_GRACE (2 s), the guard's slack (3 s), and
5 s for the final flush and Locust's own shutdown on a loaded CI machine (0.4 s on an idle one; 3.1 s once
with the suite's two shards side by side). Without the guard the run never ends."""


def _payments(seconds: int, rate: int = 5, graceful: str = "1s") -> dict:
    return {
        "payments_flow": {
            "executor": "constant-arrival-rate", "rate": rate, "timeUnit": "1s", "duration": f"{seconds}s",
            "preAllocatedVUs": 2, "maxVUs": 4, "gracefulStop": graceful,
        }
    }  # fmt: skip


# ------------------------------------------------------------------ the two causes, deterministically


class _Env:
    """Just enough of a Locust environment for the protocol's functions (hashable: runs are kept per env)."""

    def __init__(self, runner: object) -> None:
        self.runner = runner
        self.parsed_options = None


class _Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.state = "running"

    def send_message(self, kind: str, data: dict | None = None, client_id: str | None = None) -> None:
        self.sent.append((kind, data or {}))


class _Engine:
    def __init__(self, done: bool) -> None:
        self.finished = Event()
        if done:
            self.finished.set()
        self.crash = None

    def stop(self) -> None:
        self.finished.set()  # as Engine.stop does: which is why "finished" had to be read before stopping

    def running(self) -> bool:
        return False

    def counts(self) -> dict:
        return {}


@pytest.mark.parametrize("ran_to_end", [False, True])
def test_a_workers_last_report_says_whether_its_share_ran_to_the_end(ran_to_end: bool) -> None:
    """A worker quitting early (its master paused past the heartbeat, Ctrl-C) sends its last samples; they
    must not say its share finished, or the master ends the schedule as if run (was: always "finished")."""
    sender = _Sender()
    environment = _Env(sender)
    run = Runtime(environment)  # type: ignore[arg-type]
    run.role = role = WorkerRole(run, sender)
    run.lifecycle.to(State.CONFIGURED)
    run.lifecycle.to(State.RUNNING)
    run.engine = _Engine(done=ran_to_end)  # type: ignore[assignment]
    role.send_final()
    finals = [data for kind, data in sender.sent if kind == MSG_FINAL]
    assert len(finals) == 1 and finals[0]["final"] is True
    assert finals[0]["finished"] is ran_to_end


def test_the_summary_is_written_even_when_locust_kills_the_greenlet_that_stopped_the_test(monkeypatch) -> None:
    """Locust fires test_stop in the greenlet that stopped the test, and kills every runner greenlet when the
    last worker's `quit` arrives meanwhile: the finalize under way must go on, and quitting wait for it (was:
    killed mid-flush, no summary, exit 0)."""
    sender = _Sender()
    environment = _Env(sender)
    run = Runtime(environment)  # type: ignore[arg-type]
    run.role = role_for(run, sender)
    completed: list[int] = []
    calls: list[int] = []

    def slow_finalize(env: object, early: bool = False) -> None:
        call = len(calls)
        calls.append(call)
        gevent.sleep(0.3)  # waiting for the workers' last reports
        completed.append(call)

    monkeypatch.setattr(driver, "finalize", slow_finalize)
    stopper = gevent.spawn(driver.on_test_stop, run)
    gevent.sleep(0.05)
    stopper.kill()  # what MasterRunner.quit() does to the runner's greenlets
    driver.on_quitting(run)
    assert completed and completed[0] == 0, "the finalize test_stop started was killed"


def test_a_paused_master_whose_worker_left_ends_in_error(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """The fast twin of the next test: `locust --master` and one worker, the master SIGSTOPped until the
    worker has left (its heartbeat check: 3 s), then SIGCONTinued. Was: the worker's last report said its
    share had finished, and the run ended `passed` (or killed its own finalize: exit 0, no summary)."""
    simulator.reset_stats()
    profile = write_profile(tmp_path / "pause.json", _payments(10))
    with Cluster(simulator, profile, tmp_path, workers=1) as cluster:
        wait_for(lambda: server_counts(simulator)["payments_flow"] > 3, 60, "the worker's first requests")
        started = time.monotonic()
        cluster.master.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: cluster.worker_procs[0].poll() is not None, 15, "the worker to leave the paused master")
        finally:
            cluster.master.send_signal(signal.SIGCONT)
        result = cluster.wait(30)
        took = time.monotonic() - started
    fx = result.summary["fixload"]
    assert result.returncode == 1, result.stderr[-3000:]
    assert fx["status"] == "error" and fx["exitCode"] == 1
    assert "every worker quit or was lost before the scenarios ended" in fx["reason"]
    assert cluster.worker_procs[0].returncode == 1  # it said why: no heartbeat from its master
    assert took < 10 + 1 + GRACE, f"{took:.1f}s from the pause to the exit"


@pytest.mark.slow  # ~25 s: the wrapper, its simulator and two forked workers (the fast twin is above)
def test_a_master_paused_past_the_heartbeat_ends_in_error_with_a_summary(tmp_path: Path) -> None:
    """Issue 25's reproduction: `fixload run --workers 2`, the master SIGSTOPped until both workers have
    left (their heartbeat check: 3 s), then SIGCONTinued. Was: exit 0 and no summary."""
    profile = write_profile(tmp_path / "pause.json", _payments(20))
    wrapper = Wrapper(tmp_path, "--workers", "2", profile=profile)
    try:
        url = wrapper.simulator_url()
        wait_for(lambda: wrapper.requests(url) > 10, 60, "the workers' first requests")
        master = next(p for p in wrapper.find("locust") if p.ppid() == wrapper.proc.pid)
        workers = wait_for(lambda: [p for p in wrapper.find("locust") if p.ppid() == master.pid] or None, 10, "workers")
        started = time.monotonic()
        master.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: not any(_alive(w) for w in workers), 15, "both workers to leave the paused master")
        finally:
            master.send_signal(signal.SIGCONT)
        code = wrapper.wait(30)
        took = time.monotonic() - started
    finally:
        wrapper.kill_everything()
    assert code == 1, wrapper.output()[-3000:]
    block = wrapper.block()
    assert block["status"] == "error" and block["exitCode"] == 1
    assert "every worker quit or was lost before the scenarios ended" in block["reason"]
    assert block["scenarios"]["payments_flow"]["completed"] < block["scenarios"]["payments_flow"]["scheduled"]
    assert took < 20 + 1 + GRACE, f"{took:.1f}s from the pause to the exit"


def test_a_worker_without_the_profiles_scenarios_is_refused_and_the_run_is_not_green(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Issue 25's reproduction: a worker started with `-f locustfiles/ads.py` for a profile of payments.
    Was: it raised in its handlers but stayed connected; the 12 s plan was still running at 39 s."""
    profile = write_profile(tmp_path / "payments.json", _payments(12))
    cluster = Cluster(simulator, profile, tmp_path, workers=1)
    cluster.worker_setups = {0: (REPO / "locustfiles" / "ads.py", {})}
    with cluster:
        result = cluster.wait(12 + 1 + GRACE + 10)  # + start-up
        worker_code = cluster.worker_procs[0].wait(10)
    fx = result.summary["fixload"]
    assert result.returncode == 1, result.stderr[-3000:]
    assert fx["status"] == "error" and fx["exitCode"] == 1
    assert "refused" in fx["reason"] and "payments_flow" in fx["reason"]
    assert "locustfiles define no user class for scenario(s) payments_flow" in result.stderr
    assert worker_code == 104
    assert "this worker exits" in cluster.log("worker-0.log")


def test_a_plan_that_cannot_complete_is_ended_by_the_guard(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """The shape's greenlet blocks once the test has started (as one stuck in Locust's dispatch did): the
    guard halts the test at plan end + gracefulStop + END_GRACE + its slack and ends it. Was: no end."""
    profile = write_profile(tmp_path / "stuck.json", _payments(3))
    summary = tmp_path / "summary.json"
    cmd = headless_argv(simulator, profile, summary, CRASH_USERS)
    err = tmp_path / "stderr.txt"
    with err.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=locust_env(simulator, FIXLOAD_TEST_CRASH="hang"), stdout=subprocess.DEVNULL, stderr=out
        )
    try:
        wait_for(lambda: server_counts(simulator)["payments_flow"] > 0 or proc.poll() is not None, 30, "the start")
        started = time.monotonic()
        code = proc.wait(timeout=3 + 1 + GRACE + 5)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 1, err.read_text()[-3000:]
    fx = orjson.loads(summary.read_bytes())["fixload"]
    assert fx["status"] == "error" and fx["exitCode"] == 1
    assert "had not ended" in fx["reason"], fx["reason"]
    print(f"\nstuck plan: exit {took:.1f}s after the first request")
    assert took < 3 + 1 + GRACE, f"{took:.1f}s from the first request to the exit"


def test_the_wrapper_writes_an_error_summary_when_locust_gives_up_before_the_test(tmp_path: Path) -> None:
    """`fixload run --workers N` bounds the master's wait for its workers (Locust's --expect-workers-max-wait:
    a worker lost before the start, its master paused past the heartbeat, is never replaced; was: waiting
    for ever); when Locust then gives up (exit 1, no summary), the wrapper writes one saying so."""
    profile = write_profile(tmp_path / "p.json", _payments(5))
    verdict = validate_run(str(profile), simulator=True)
    assert verdict.ok, verdict.message()
    args = argparse.Namespace(
        locustfiles=None, multiplier=None, env_file=None, run_time=None, ui=False, workers=2, locust_args=[]
    )
    command = locust_command(args, str(profile), str(tmp_path / "s.json"), "http://127.0.0.1:9")
    assert command[command.index("--expect-workers-max-wait") + 1] == str(EXPECT_WORKERS_MAX_WAIT)
    summary = tmp_path / "summary.json"
    outcome = Outcome(verdict.config, str(summary), "http://127.0.0.1:9")
    gave_up = [sys.executable, "-c", "import sys; print('Gave up waiting for workers to connect'); sys.exit(1)"]
    assert supervise(gave_up, {}, SignalRelay(), outcome) == 1
    fx = orjson.loads(summary.read_bytes())["fixload"]
    assert fx["status"] == "error" and "Locust exited 1 before the test started; nothing was sent" in fx["reason"]
