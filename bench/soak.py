"""Soak: the baseline profile at multiplier 1 for N minutes, 2 workers, against the simulator; RSS over time.

baseline.json lasts 6 minutes (ramp 2 m, hold-ish 3 m, ramp down 1 m). For N minutes its stage and
scenario durations are scaled by N/6, so the rates (and so the per-second load) are the baseline's and the
run is N minutes long. RSS of the Locust master, each worker and the simulator is sampled every
`--interval` s (psutil). Growth = last sample / the first sample after warm-up (the first
`--warmup` fraction of the run, default 20%), so allocation during ramp-up and fixture provisioning
is not counted as a leak. Goal: every process flat within 10%.

    python bench/soak.py [--minutes 10] [--interval 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from _common import REPO, child_env, locust_command, processes_args, read_json, total_count

from fixload.durations import parse_duration
from fixload.simulator.process import SimulatorProcess


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}s".replace(".000s", "s")


def scaled_profile(minutes: float) -> dict[str, Any]:
    profile = read_json(REPO / "profiles" / "baseline.json")
    factor = minutes / 6.0
    for scenario in profile["scenarios"].values():
        for key in ("duration", "startTime"):
            if key in scenario:
                scenario[key] = _fmt_s(parse_duration(scenario[key]) * factor)
        for stage in scenario.get("stages", []):
            stage["duration"] = _fmt_s(parse_duration(stage["duration"]) * factor)
    profile["profile"] += f" (soak, {minutes:g} min)"
    return profile


def rss_mb(proc: psutil.Process) -> float | None:
    try:
        return proc.memory_info().rss / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def soak(minutes: float, interval: float, workers: int, warmup: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-soak-"))
    profile_path = tmp / "soak.json"
    profile_path.write_text(json.dumps(scaled_profile(minutes)))
    summary_path = tmp / "summary.json"
    samples: list[dict[str, Any]] = []
    with SimulatorProcess() as sim:
        env = child_env(sim.env)
        cmd = locust_command(REPO / "locustfiles", sim.base_url, "--profile", str(profile_path))
        cmd += ["--summary", str(summary_path), *processes_args(workers)]
        log = open(tmp / "locust.log", "wb")  # noqa: SIM115
        master = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        m_proc, s_proc = psutil.Process(master.pid), psutil.Process(sim.pid)
        started = time.monotonic()
        deadline = started + minutes * 60 + 120
        while master.poll() is None and time.monotonic() < deadline:
            worker_procs = [c for c in m_proc.children(recursive=True) if c.pid != sim.pid]
            sample = {
                "t": round(time.monotonic() - started, 1),
                "master": rss_mb(m_proc),
                "workers": [rss_mb(w) for w in worker_procs],
                "simulator": rss_mb(s_proc),
            }
            if sample["master"] is not None:
                samples.append(sample)
                print(
                    f"  t={sample['t']:6.1f}s master={sample['master']:.1f}MB workers="
                    + ",".join(f"{w:.1f}" for w in sample["workers"] if w is not None)
                    + f"MB simulator={sample['simulator']:.1f}MB",
                    flush=True,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                master.wait(interval)
        if master.poll() is None:
            master.terminate()
            master.wait(30)
        log.close()
        server_requests = total_count(sim.stats())
    code = master.returncode
    wall = time.monotonic() - started
    summary = read_json(summary_path) if summary_path.exists() else {}
    after = [s for s in samples if s["t"] >= warmup * minutes * 60] or samples

    def growth(key: str, index: int | None = None) -> dict[str, float] | None:
        def pick(s: dict[str, Any]) -> float | None:
            v = s[key]
            if index is not None:
                v = v[index] if index < len(v) else None
            return v

        series = [v for v in (pick(s) for s in after) if v is not None]
        if len(series) < 2:
            return None
        return {
            "first_mb": round(series[0], 1),
            "last_mb": round(series[-1], 1),
            "max_mb": round(max(series), 1),
            "growth": round(series[-1] / series[0] - 1, 4),
        }

    n_workers = max((len(s["workers"]) for s in samples), default=0)
    result = {
        "minutes": minutes,
        "workers": workers,
        "exit_code": code,
        "wall_s": round(wall, 1),
        "samples": len(samples),
        "server_requests": server_requests,
        "iterations": summary.get("metrics", {}).get("iterations", {}).get("count"),
        "dropped": summary.get("metrics", {}).get("dropped_iterations", {}).get("count", 0),
        "rss": {
            "master": growth("master"),
            **{f"worker{i + 1}": growth("workers", i) for i in range(n_workers)},
            "simulator": growth("simulator"),
        },
        "log": str(tmp / "locust.log"),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of the run ignored for growth")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.interval, args.workers, args.warmup)
    print(f"soak {args.minutes:g} min, {args.workers} workers: exit {result['exit_code']}, {result['wall_s']} s")
    print(
        f"  iterations {result['iterations']}, dropped {result['dropped']}, server requests {result['server_requests']}"
    )
    for name, g in result["rss"].items():
        if g:
            flat = "flat" if abs(g["growth"]) <= 0.10 else "GROWS"
            print(
                f"  {name:10s} RSS {g['first_mb']:.1f} -> {g['last_mb']:.1f} MB (max {g['max_mb']:.1f}), "
                f"{g['growth']:+.1%} {flat}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
