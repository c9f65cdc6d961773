"""Arrival-rate engine bench (issue 5): how exactly fixload keeps a k6 schedule, and how fast one process goes.

    python bench/arrival.py                 # 30 s run locally and on 2 workers, then the no-op capacity sweep
    python bench/arrival.py --seconds 60    # the issue's profile at full length
    python bench/arrival.py --no-runs       # only the capacity sweep

1. `tests/locustfiles/engine-60s.json` (20/s constant, 5→40/s ramping, 3 constant VUs; scaled to
   --seconds) against the embedded simulator, once in one process and once on a master + 2 workers:
   per scenario, k6's count vs scheduled / started / dropped (fixload's books) vs what the target
   received, and the start lag (actual − scheduled start) p50/p99.
2. No-op iterations (a `ScenarioUser` whose task does nothing) under a constant-arrival-rate shape in one
   process, stepping the rate up; the schedule error is |started − k6's count| / k6's count. The highest
   rate with ≤ 1% error (and nothing dropped) is what one process sustains.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from enginekit import (  # noqa: E402
    LOCUST,
    PROFILE_60S,
    Cluster,
    k6_count,
    load_profile_json,
    locust_env,
    run_local,
    scaled,
    server_counts,
    write_profile,
)

from fixload.simulator.process import SimulatorProcess  # noqa: E402

NOOP_LOCUSTFILE = """
import os
from locust import User, task
import fixload.plugin  # noqa: F401
from fixload.runtime.shape import ConstantArrivalRate
from fixload.flows.user import ScenarioUser


class Noop(ScenarioUser, User):
    scenario = "noop"

    @task
    def nothing(self):
        pass


class Shape(ConstantArrivalRate):
    user_class = Noop
    rate = float(os.environ["NOOP_RATE"])
    duration = os.environ.get("NOOP_DURATION", "10s")
    pre_allocated_vus = 50
    max_vus = 500
"""
NOOP_PROFILE = {
    "profile": "no-op capacity",
    "scenarios": {"payments_flow": {"executor": "constant-vus", "vus": 1, "duration": "1s"}},
    "thresholds": {"iteration_start_lag": ["p(99)<1000000"]},
}


def _lag(metrics: dict, key: str) -> str:
    m = metrics.get(key)
    if not m:
        return "-"
    return f"p50 {m['med']:.2f} ms  p99 {m['p(99)']:.2f} ms  max {m['max']:.1f} ms"


def report_run(label: str, result, profile: dict, served: dict[str, int]) -> None:
    print(f"\n## {label}: exit {result.returncode}, workers {result.summary['fixload']['workers']}")
    print(f"{'scenario':16} {'k6':>6} {'scheduled':>9} {'started':>8} {'dropped':>8} {'target saw':>10}  start lag")
    for name, s in sorted(result.scenarios.items()):
        scenario = profile["scenarios"][name]
        k6 = k6_count(scenario) if "rate" in scenario.get("executor", "") or "arrival" in scenario["executor"] else "-"
        lag = _lag(result.metrics, f"iteration_start_lag{{scenario:{name}}}") if k6 != "-" else ""
        row = f"{name:16} {k6!s:>6} {s['scheduled']!s:>9} {s['started']:>8} {s['dropped']:>8} {served[name]:>10}  {lag}"
        print(row)
    print(f"{'all arrival':16} {'':>6} {'':>9} {'':>8} {'':>8} {'':>10}  {_lag(result.metrics, 'iteration_start_lag')}")


def runs(seconds: int, tmp: Path) -> None:
    profile = load_profile_json(PROFILE_60S)
    if seconds != 60:
        profile = scaled(profile, seconds)
    thresholds = dict(profile["thresholds"])
    path = write_profile(tmp / f"engine-{seconds}s.json", profile["scenarios"], thresholds)
    sleep = {"analytics_flow": 0.25}
    with SimulatorProcess() as sim:
        sim.reset_stats()
        result = run_local(sim, path, tmp, timeout=seconds + 120, sleep=sleep)
        report_run(f"one process, {seconds} s", result, profile, server_counts(sim))
        sim.reset_stats()
        with Cluster(sim, path, tmp, workers=2, sleep=sleep) as cluster:
            result = cluster.wait(timeout=seconds + 120)
        report_run(f"master + 2 workers, {seconds} s", result, profile, server_counts(sim))


def noop_step(sim: SimulatorProcess, tmp: Path, rate: int, seconds: int) -> dict:
    locustfile = tmp / "noop_bench.py"
    locustfile.write_text(NOOP_LOCUSTFILE, encoding="utf-8")
    profile = tmp / "noop.json"
    profile.write_bytes(orjson.dumps(NOOP_PROFILE))
    summary = tmp / f"noop-{rate}.json"
    env = locust_env(sim, NOOP_RATE=str(rate), NOOP_DURATION=f"{seconds}s")
    cmd = [*LOCUST, "-f", str(locustfile), "--headless", "--only-summary", "--profile", str(profile)]
    cmd += ["--summary", str(summary), "-H", sim.base_url]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=seconds + 120)
    data = orjson.loads(summary.read_bytes())
    s = data["fixload"]["scenarios"]["noop"]
    expected = k6_count({"executor": "constant-arrival-rate", "rate": rate, "duration": f"{seconds}s"})
    return {
        "rate": rate,
        "k6": expected,
        "started": s["started"],
        "dropped": s["dropped"],
        "error": abs(s["started"] - expected) / expected,
        "lag": data["metrics"].get("iteration_start_lag", {}),
        "exit": proc.returncode,
        "cpu_warning": "cpu" in proc.stderr.lower() and "threshold" in proc.stderr.lower(),
        "wall": time.monotonic() - started,
    }


def capacity(tmp: Path, seconds: int, rates: list[int]) -> None:
    print(f"\n## no-op iterations, one process, constant-arrival-rate for {seconds} s each")
    print(f"{'rate/s':>7} {'k6':>7} {'started':>8} {'dropped':>8} {'error':>7}  start lag p50/p99/max (ms)")
    best = None
    with SimulatorProcess() as sim:
        for rate in rates:
            r = noop_step(sim, tmp, rate, seconds)
            lag = r["lag"]
            lags = f"{lag.get('med', 0):.2f} / {lag.get('p(99)', 0):.2f} / {lag.get('max', 0):.1f}" if lag else "-"
            warn = "  (Locust CPU warning)" if r["cpu_warning"] else ""
            print(f"{rate:>7} {r['k6']:>7} {r['started']:>8} {r['dropped']:>8} {r['error']:>7.2%}  {lags}{warn}")
            if r["error"] <= 0.01 and r["dropped"] <= 0.01 * r["k6"]:
                best = rate
            else:
                break
    print(f"\nhighest no-op rate one process sustains with <= 1% schedule error: {best}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30, help="length of the profile runs (default 30)")
    parser.add_argument("--no-runs", action="store_true", help="skip the profile runs")
    parser.add_argument("--step-seconds", type=int, default=10)
    parser.add_argument("--rates", default="1000,2000,4000,6000,8000,10000,12000,15000,20000")
    args = parser.parse_args()
    print(f"# bench/arrival.py  python {sys.version.split()[0]}  {os.cpu_count()} cores  load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="fixload-arrival-") as tmp:
        if not args.no_runs:
            runs(args.seconds, Path(tmp))
        capacity(Path(tmp), args.step_seconds, [int(r) for r in args.rates.split(",")])


if __name__ == "__main__":
    main()
