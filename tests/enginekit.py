"""Helpers for the engine tests (issue 5): profiles, real `locust` processes, server-side counts.

Everything runs on 127.0.0.1 against the embedded simulator with `tests/locustfiles/engine_users.py`,
whose users send one request per iteration to a route of their own (see `ROUTE_KEYS`), so the
simulator's per-route counts are each scenario's iterations as the target saw them.

k6's counts are computed here from the profile's numbers with exact fractions, independently of
`fixload.engine.schedules`: constant-arrival-rate starts one iteration every timeUnit / rate truncated to whole
nanoseconds (k6's ticker period), so ceil(duration / period) in all (3000/s for 5 s is 15001, not
15000); ramping-arrival-rate starts floor(area under the rate curve).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from fixload.simulator.process import SimulatorProcess
from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "tests" / "locustfiles" / "engine_users.py"
PROFILE_60S = REPO / "tests" / "locustfiles" / "engine-60s.json"
ROUTE_KEYS: dict[str, str] = {
    "booking_flow": "GET /ping",
    "chat_flow": "GET /api/ping",
    "payments_flow": "GET /api/v1/ping",
    "analytics_flow": "HEAD /ping",
    "ads_flow": "HEAD /api/ping",
}
LOCUST = [sys.executable, "-m", "locust"]


# ------------------------------------------------------------------------------------ k6 arithmetic
def _seconds(value: str | float) -> Fraction:
    if isinstance(value, int | float):
        return Fraction(value)
    units = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].replace(".", "", 1).isdigit():
            return Fraction(value[: -len(unit)]) * units[unit]
    raise ValueError(f"test helper understands simple durations only, not {value!r}")


def k6_count(scenario: Mapping[str, Any]) -> int:
    """How many iterations k6 starts for an arrival-rate scenario (exact rational arithmetic)."""
    unit = _seconds(scenario.get("timeUnit", "1s"))
    if scenario["executor"] == "constant-arrival-rate":
        period_ns = math.floor(unit * 1_000_000_000 / Fraction(scenario["rate"]))
        return math.ceil(_seconds(scenario["duration"]) * 1_000_000_000 / period_ns)
    area = Fraction(0)
    rate = Fraction(scenario.get("startRate", 0))
    for stage in scenario["stages"]:
        target = Fraction(stage["target"])
        area += (rate + target) / 2 * _seconds(stage["duration"]) / unit
        rate = target
    return math.floor(area)


def k6_starts(scenario: Mapping[str, Any]) -> list[float]:
    """The start offsets (s) of a constant-arrival-rate scenario: i × the ticker period."""
    assert scenario["executor"] == "constant-arrival-rate"
    period_ns = math.floor(_seconds(scenario.get("timeUnit", "1s")) * 1_000_000_000 / Fraction(scenario["rate"]))
    return [i * period_ns / 1e9 for i in range(k6_count(scenario))]


def within(actual: int, expected: int, fraction: float = 0.01) -> bool:
    return abs(actual - expected) <= fraction * expected


# ----------------------------------------------------------------------------------------- profiles
def write_profile(
    path: Path, scenarios: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, list[str]] | None = None
) -> Path:
    body = {
        "profile": f"engine test {path.stem}",
        "scenarios": scenarios,
        "thresholds": dict(thresholds or {"http_req_failed": ["rate<0.5"]}),
    }
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    return path


def load_profile_json(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def scaled(profile: Mapping[str, Any], seconds: int) -> dict[str, Any]:
    """A copy of a profile whose scenarios (single-duration or single-stage) last `seconds` instead."""
    out = orjson.loads(orjson.dumps(profile))
    for scenario in out["scenarios"].values():
        if "duration" in scenario:
            scenario["duration"] = f"{seconds}s"
        for stage in scenario.get("stages", []):
            stage["duration"] = f"{seconds / len(scenario['stages']):g}s"
    out["profile"] = f"{profile['profile']} ({seconds} s)"
    return out


# -------------------------------------------------------------------------------------- processes
@dataclass
class Result:
    returncode: int
    summary: dict[str, Any]
    stderr: str
    wall: float

    @property
    def scenarios(self) -> dict[str, dict[str, Any]]:
        return self.summary["fixload"]["scenarios"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary["metrics"]


def locust_env(sim: SimulatorProcess, sleep: Mapping[str, float] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update(sim.env)
    env["PYTHONUNBUFFERED"] = "1"
    env["FIXLOAD_TEST_SLEEP"] = orjson.dumps(dict(sleep or {})).decode()
    env.update(extra)
    return env


def _read_summary(path: Path, stderr: str) -> dict[str, Any]:
    assert path.exists(), f"no summary written; locust stderr:\n{stderr[-4000:]}"
    return orjson.loads(path.read_bytes())


def headless_argv(
    sim: SimulatorProcess, profile: Path, summary: Path, locustfile: Path | str = LOCUSTFILE
) -> list[str]:
    """`locust -f <locustfile> --headless --profile <profile>` against `sim`, its summary to `summary`
    (`locustfile`: one path, or Locust's comma-separated list)."""
    argv = [*LOCUST, "-f", str(locustfile), "--headless", "-H", sim.base_url, "--profile", str(profile)]
    return [*argv, "--summary", str(summary), "--loglevel", "INFO", "--only-summary"]


def run_local(
    sim: SimulatorProcess,
    profile: Path,
    tmp_path: Path,
    timeout: float,
    sleep: Mapping[str, float] | None = None,
    extra_env: Mapping[str, str] | None = None,
    locustfile: Path = LOCUSTFILE,
) -> Result:
    """`locust -f engine_users.py --headless --profile <profile>` to the end; its summary and exit code."""
    summary = tmp_path / f"summary-{profile.stem}.json"
    started = time.monotonic()
    proc = subprocess.run(
        headless_argv(sim, profile, summary, locustfile),
        cwd=REPO,
        env=locust_env(sim, sleep, **dict(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.monotonic() - started
    return Result(proc.returncode, _read_summary(summary, proc.stderr), proc.stderr, wall)


@dataclass
class Cluster:
    """A master and its workers as separate `locust` processes on loopback."""

    sim: SimulatorProcess
    profile: Path
    tmp_path: Path
    workers: int = 2
    sleep: Mapping[str, float] | None = None
    master_args: Iterable[str] = ()
    port: int = field(default_factory=free_port)
    master: subprocess.Popen[str] | None = None
    worker_procs: list[subprocess.Popen[str]] = field(default_factory=list)
    worker_setups: Mapping[int, tuple[Path, Mapping[str, str]]] = field(default_factory=dict)
    """Worker i's own locustfile and extra environment (default: LOCUSTFILE, nothing extra)."""

    @property
    def summary_path(self) -> Path:
        return self.tmp_path / f"summary-{self.profile.stem}-cluster.json"

    def _spawn(
        self, args: list[str], log: str, locustfile: Path = LOCUSTFILE, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        out = open(self.tmp_path / log, "w", encoding="utf-8")  # noqa: SIM115  (closed with the process)
        base = [*LOCUST, "-f", str(locustfile), "--profile", str(self.profile), "--loglevel", "INFO"]
        return subprocess.Popen(
            base + args,
            cwd=REPO,
            env=locust_env(self.sim, self.sleep, **dict(env or {})),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def start(self) -> Cluster:
        master = ["--master", "--headless", "--expect-workers", str(self.workers), "--master-bind-host", "127.0.0.1"]
        master += ["--master-bind-port", str(self.port), "-H", self.sim.base_url, "--summary", str(self.summary_path)]
        master += ["--only-summary", *self.master_args]
        self.master = self._spawn(master, "master.log")
        for _ in range(self.workers):
            self.join_worker()
        return self

    def join_worker(self) -> None:
        """Start worker i (the next one): its own locustfile and environment if `worker_setups` has them.
        Past the `workers` the master expects, it joins the running test."""
        i = len(self.worker_procs)
        worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(self.port)]
        locustfile, env = self.worker_setups.get(i, (LOCUSTFILE, {}))
        self.worker_procs.append(self._spawn(worker, f"worker-{i}.log", locustfile, env))

    def log(self, name: str = "master.log") -> str:
        return (self.tmp_path / name).read_text(encoding="utf-8", errors="replace")

    def kill_worker(self, i: int) -> None:
        self.worker_procs[i].send_signal(signal.SIGKILL)
        self.worker_procs[i].wait(timeout=10)

    def wait(self, timeout: float) -> Result:
        assert self.master is not None
        started = time.monotonic()
        try:
            code = self.master.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"master still running after {timeout}s:\n{self.log()[-4000:]}") from None
        for proc in self.worker_procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = self.log()
        return Result(code, _read_summary(self.summary_path, log), log, time.monotonic() - started)

    def stop(self) -> None:
        for proc in [*self.worker_procs, self.master]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------ server side
def server_counts(sim: SimulatorProcess) -> dict[str, int]:
    """Requests per scenario as the simulator counted them."""
    routes = sim.stats()["routes"]
    return {name: routes.get(key, {}).get("count", 0) for name, key in ROUTE_KEYS.items()}


def arrivals(sim: SimulatorProcess, scenario: str) -> list[float]:
    """Wall-clock arrival times (server side) of a scenario's requests, oldest first."""
    method, path = ROUTE_KEYS[scenario].split(" ", 1)
    return sorted(r["at"] for r in sim.requests() if r["method"] == method and r["path"] == path)


def events(path: Path) -> list[tuple[str, str, float]]:
    """The (scenario, outcome, time) lines the test users wrote to FIXLOAD_TEST_EVENTS."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        scenario, outcome, at = line.split()
        out.append((scenario, outcome, float(at)))
    return out
