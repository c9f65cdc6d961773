"""`fixload run` as the process a user holds (issue 13): signals to its own PID, killing it, killing its
Locust master; and Locust workers whose master dies.

Every test runs the real wrapper (embedded simulator, real Locust) on loopback and asserts the exit code,
the summary, what is left of the run's processes (psutil, on the PIDs this run started) and the target's
own request count after the kill. Waits are bounded polls on something observable.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from fixload.cli.run import free_port
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for
from tests.surfacekit import scaled_profile

ROOT = Path(__file__).resolve().parents[1]
FLOWS = {"booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"}
SIM_URL = re.compile(r"embedded simulator at (http://127\.0\.0\.1:\d+)")

pytestmark = pytest.mark.timeout(120)


class Wrapper:
    """One `fixload run` process, in its own session (so a signal to it is a signal to it alone)."""

    def __init__(
        self, tmp_path: Path, *args: str, profile: Path | None = None, target: SimulatorProcess | None = None
    ) -> None:
        self.summary = tmp_path / "summary.json"
        self.log = tmp_path / "out.log"
        profile = profile or scaled_profile(tmp_path, 2.0)  # 30 s: long enough to interrupt
        command = [sys.executable, "-m", "fixload", "run", "--profile", str(profile), "--summary", str(self.summary)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}  # the embedded simulator
        if target is not None:  # a target that outlives the run, to count what reaches it after a kill
            env.update(target.env)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*command, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started = time.monotonic()
        self.seen: dict[int, psutil.Process] = {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def simulator_url(self, timeout: float = 60) -> str:
        match = wait_for(lambda: SIM_URL.search(self.output()), timeout, "the embedded simulator's address")
        return match.group(1)

    def requests(self, url: str) -> int:
        with urllib.request.urlopen(url + "/__fixload/stats", timeout=5) as response:
            return int(orjson.loads(response.read())["total"]["count"])

    def note_tree(self) -> list[psutil.Process]:
        """Remember every process this run has started so far (to look for leftovers later)."""
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
        return list(self.seen.values())

    def find(self, word: str) -> list[psutil.Process]:
        return [p for p in self.note_tree() if _alive(p) and any(word in part for part in p.cmdline())]

    def leftovers(self) -> list[str]:
        return [f"{p.pid}: {' '.join(p.cmdline())}" for p in self.seen.values() if _alive(p)]

    def env_files(self) -> list[Path]:
        """The simulator's 0600 env file (and its temp directory), from the simulator's command line."""
        found = []
        for p in self.seen.values():
            cmdline = _cmdline(p)
            if "--env-out" in cmdline:
                found.append(Path(cmdline[cmdline.index("--env-out") + 1]))
        return found

    def send_at(self, sig: signal.Signals, after: float) -> float:
        """Signal the wrapper `after` seconds from its start, once its handlers are installed (the first
        thing it does; before then Python itself is still starting). Returns when it was sent."""
        wait_for(lambda: _catches(self.proc.pid, sig), 10, "the wrapper's signal handlers")
        delay = self.started + after - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the moment under test, not synchronisation
        self.note_tree()
        self.proc.send_signal(sig)
        return time.monotonic() - self.started

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.note_tree()

    def kill_everything(self) -> None:
        for p in [*self.seen.values()]:
            if _alive(p):
                p.kill()
        if self.proc.poll() is None:
            self.proc.kill()

    def block(self) -> dict[str, Any]:
        return orjson.loads(self.summary.read_bytes())["fixload"]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _catches(pid: int, sig: signal.Signals) -> bool:
    """Whether the process has a handler for `sig` (the SigCgt mask in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


def _nothing_left(wrapper: Wrapper, within: float) -> None:
    """No process of the run alive `within` seconds after the wrapper ended, and no env file."""
    try:
        wait_for(lambda: not wrapper.leftovers(), within, "every process of the run to end")
    except TimeoutError:
        raise AssertionError(f"left behind: {wrapper.leftovers()}") from None
    for path in wrapper.env_files():
        assert not path.exists(), f"the simulator's token file {path} was left behind"
        assert not path.parent.exists(), f"the simulator's temp directory {path.parent} was left behind"


@pytest.fixture
def wrapper_factory(tmp_path: Path) -> Any:
    started: list[Wrapper] = []

    def make(*args: str, **kwargs: Any) -> Wrapper:
        wrapper = Wrapper(tmp_path, *args, **kwargs)
        started.append(wrapper)
        return wrapper

    yield make
    for wrapper in started:
        wrapper.kill_everything()


# --------------------------------------------------------------------------------------- the user's signals


def test_sigint_to_the_wrapper_mid_run_exits_105_with_every_scenarios_counts(wrapper_factory: Any) -> None:
    """`kill -INT <pid of fixload run>` with a master and two workers: the wrapper forwards it (it is the
    only process a terminal's Ctrl-C reaches now), the master stops the run and collects every worker's
    last samples; 105, every scenario's counts, nothing left."""
    wrapper = wrapper_factory("--workers", "2")
    url = wrapper.simulator_url()
    wait_for(lambda: wrapper.requests(url) > 150, 60, "load on the embedded simulator")
    wrapper.note_tree()
    wrapper.proc.send_signal(signal.SIGINT)
    code = wrapper.wait(30)
    assert code == 105, wrapper.output()[-3000:]
    fx = wrapper.block()
    assert fx["status"] == "interrupted" and "SIGINT" in fx["reason"], fx["reason"]
    assert fx["workers"]["count"] == 2
    assert set(fx["scenarios"]) == FLOWS
    for name, rollup in fx["scenarios"].items():
        assert rollup["started"] > 0, (name, rollup)
        assert rollup["completed"] + rollup["interrupted"] == rollup["started"], (name, rollup)
        if rollup.get("scheduled") is not None and name != "analytics_flow":
            assert rollup["started"] + rollup["dropped"] == rollup["scheduled"], (name, rollup)
    assert "STATUS interrupted" in wrapper.output()
    _nothing_left(wrapper, 3)


def test_sigterm_during_start_up_exits_105_with_a_summary_and_leaves_nothing(wrapper_factory: Any) -> None:
    wrapper = wrapper_factory()
    sent_at = wrapper.send_at(signal.SIGTERM, 0.5)
    code = wrapper.wait(30)
    assert code == 105, (sent_at, wrapper.output()[-3000:])
    fx = wrapper.block()
    assert fx["status"] == "interrupted" and "SIGTERM" in fx["reason"], fx["reason"]
    assert set(fx["scenarios"]) == FLOWS  # the profile's scenarios, nothing started
    _nothing_left(wrapper, 3)


@pytest.mark.slow  # the same path as SIGINT mid-run, with SIGTERM (test_exit_codes signals Locust itself)
def test_sigterm_to_the_wrapper_mid_run_exits_105_and_leaves_nothing(wrapper_factory: Any) -> None:
    wrapper = wrapper_factory()
    url = wrapper.simulator_url()
    wait_for(lambda: wrapper.requests(url) > 60, 60, "load on the embedded simulator")
    wrapper.note_tree()
    wrapper.proc.send_signal(signal.SIGTERM)
    assert wrapper.wait(30) == 105, wrapper.output()[-3000:]
    fx = wrapper.block()
    assert fx["status"] == "interrupted" and "SIGTERM" in fx["reason"]
    assert all(rollup["started"] > 0 for rollup in fx["scenarios"].values()), fx["scenarios"]
    _nothing_left(wrapper, 3)


def test_sigterm_while_locust_is_still_starting_is_held_and_honoured(wrapper_factory: Any) -> None:
    """The moment the issue saw exit 143/241: Locust's process exists, its handlers do not yet. The signal
    waits in Locust's signal mask until fixload's plugin takes it (at init); then 105 and a summary."""
    wrapper = wrapper_factory()
    wait_for(lambda: wrapper.find("locust"), 60, "Locust's process", interval=0.005)
    wrapper.proc.send_signal(signal.SIGTERM)
    assert wrapper.wait(30) == 105, wrapper.output()[-3000:]
    output = wrapper.output()
    assert "SIGTERM received" in output and "Traceback" not in output, output[-3000:]
    fx = wrapper.block()
    assert fx["status"] == "interrupted" and "SIGTERM" in fx["reason"], fx["reason"]
    assert set(fx["scenarios"]) == FLOWS
    _nothing_left(wrapper, 3)


@pytest.mark.slow  # more start-up moments, by the clock (which path takes them depends on the machine's load)
@pytest.mark.parametrize("after", [1.5, 2.5, 3.5])
def test_sigterm_while_locust_starts_exits_105_with_a_summary(wrapper_factory: Any, after: float) -> None:
    wrapper = wrapper_factory()
    wrapper.send_at(signal.SIGTERM, after)
    assert wrapper.wait(30) == 105, wrapper.output()[-3000:]
    assert wrapper.block()["status"] == "interrupted"
    _nothing_left(wrapper, 3)


@pytest.mark.slow  # parent-death signals: the kernel's part, exercised by the master-kill test's cleanup too
def test_sigkill_of_the_wrapper_leaves_no_process_of_the_run(wrapper_factory: Any) -> None:
    wrapper = wrapper_factory("--workers", "2")
    url = wrapper.simulator_url()
    wait_for(lambda: wrapper.requests(url) > 60, 60, "load on the embedded simulator")
    wait_for(lambda: len(wrapper.find("locust")) == 3, 10, "the master and its two workers")
    wrapper.proc.send_signal(signal.SIGKILL)
    wrapper.wait(10)
    _nothing_left(wrapper, 15)  # the master writes its summary first (it got SIGTERM), then all are gone
    assert wrapper.block()["status"] == "interrupted"


# ------------------------------------------------------------------------------------- the master dies


def _two(processes: list[psutil.Process]) -> list[psutil.Process] | None:
    return processes if len(processes) == 2 else None


def _stops_sending(count: Any, within: float) -> tuple[float, int]:
    """Seconds until the target's request count stopped rising (observed flat for 1.5 s), and the count."""
    start = time.monotonic()
    last, last_change = count(), time.monotonic()
    while time.monotonic() - last_change < 1.5:
        assert time.monotonic() - start < within + 1.5, f"still sending {within}s after the kill"
        time.sleep(0.1)  # polling interval
        now = count()
        if now != last:
            last, last_change = now, time.monotonic()
    return last_change - start, last


def test_sigkill_of_the_locust_master_stops_the_load_and_the_workers(wrapper_factory: Any, make_simulator: Any) -> None:
    target = make_simulator()
    wrapper = wrapper_factory("--workers", "2", target=target)
    count = lambda: target.stats()["total"]["count"]  # noqa: E731
    wait_for(lambda: count() > 100, 60, "load from the workers")
    master = next(p for p in wrapper.find("locust") if p.ppid() == wrapper.proc.pid)
    workers = wait_for(lambda: _two([p for p in wrapper.find("locust") if p.ppid() == master.pid]), 10, "workers")
    master.kill()
    killed = time.monotonic()
    stopped_after, _ = _stops_sending(count, within=5)
    assert stopped_after <= 5
    wait_for(lambda: not any(_alive(w) for w in workers), 10 - (time.monotonic() - killed), "no worker alive")
    code = wrapper.wait(10)
    assert code == 1, wrapper.output()[-3000:]  # not -9 / 247: the wrapper says what happened
    assert "killed by SIGKILL" in wrapper.output()
    assert wrapper.block()["status"] == "error"
    _nothing_left(wrapper, 3)


@pytest.mark.slow  # ~15 s: standalone workers (as in containers) have no parent to take them down
def test_workers_whose_master_dies_stop_within_5s_and_exit(tmp_path: Path) -> None:
    """No wrapper, no process group: only the workers' own check on the master's heartbeat stops them."""
    with SimulatorProcess() as sim:
        profile = scaled_profile(tmp_path, 2.0)
        port = str(free_port())
        env = {**os.environ, **sim.env}
        base = [sys.executable, "-m", "locust", "-f", "locustfiles", "--profile", str(profile)]
        logs = [open(tmp_path / f"{name}.log", "wb") for name in ("master", "worker1", "worker2")]  # noqa: SIM115
        master = subprocess.Popen(
            [
                *base,
                "--headless",
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                port,
                "--expect-workers",
                "2",
                "--summary",
                str(tmp_path / "summary.json"),
                "-H",
                sim.base_url,
            ],
            cwd=ROOT,
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
        workers = [
            subprocess.Popen(
                [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for log in logs[1:]
        ]
        try:
            wait_for(lambda: sim.stats()["total"]["count"] > 150, 60, "load from both workers")
            master.kill()
            killed = time.monotonic()
            stopped_after, _ = _stops_sending(lambda: sim.stats()["total"]["count"], within=5)
            assert stopped_after <= 5
            codes = [w.wait(10 - (time.monotonic() - killed)) for w in workers]
            assert codes == [1, 1]
        finally:
            for proc in (master, *workers):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.close()
        for name in ("worker1", "worker2"):
            assert "no heartbeat from the master" in (tmp_path / f"{name}.log").read_text(), name


def test_workers_locust_forked_end_with_their_master_at_once(tmp_path: Path) -> None:
    """`locust --processes 2`, no wrapper: SIGKILL its master. Locust's cleanup of its forked workers is the
    master's `atexit`, which never runs; the kernel's parent-death signal ends them within 2 s, sooner than
    their heartbeat check would (5 s), and nothing reaches the target after."""
    with SimulatorProcess() as sim:
        port = str(free_port())
        command = [sys.executable, "-m", "locust", "-f", "locustfiles", "--profile", str(scaled_profile(tmp_path, 2.0))]
        command += ["--headless", "--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        command += ["--master-port", port, "--summary", str(tmp_path / "summary.json"), "-H", sim.base_url]
        with open(tmp_path / "out.log", "wb") as out:
            proc = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **sim.env}, stdout=out, stderr=subprocess.STDOUT
            )
        workers: list[psutil.Process] = []
        try:
            count = lambda: sim.stats()["total"]["count"]  # noqa: E731
            wait_for(lambda: count() > 150, 60, "load from both forked workers")
            master = psutil.Process(proc.pid)
            workers = wait_for(lambda: _two(master.children()), 10, "the master's two forked workers")
            master.kill()
            killed = time.monotonic()
            stopped_after, _ = _stops_sending(count, within=2)
            assert stopped_after <= 2, f"the target still got requests {stopped_after:.1f}s after the master died"
            wait_for(lambda: not any(_alive(w) for w in workers), 2 - (time.monotonic() - killed), "no worker alive")
        finally:
            for worker in workers:
                with contextlib.suppress(psutil.Error):
                    worker.kill()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
