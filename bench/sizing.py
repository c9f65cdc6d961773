"""Sizing a run: the highest arrival rate ONE generator process sustains on this machine (issue 30, item 3).

Sustained means, over the steady window of a step (`--window` s after `--warmup` s of the same run): at most
1 % of the scheduled iterations dropped (the summary's time series) and fixload's `iteration_start_lag` p95
at most 5 ms (the summary's, of the steady window's scenarios: `warmed` runs each scenario first as a
warm-up twin, so spawning the VUs is not judged). Each step is one Locust process pinned to CPU 0, the
embedded simulator pinned to CPU 1 (as every bench here):

(a) GET /ping: `bench/ping_users.py`, constant-arrival-rate at R/s, 200 VUs; the search varies R;
(b) the five flows (`locustfiles/`) at baseline.json's mix: every scenario held at its peak rate (VUs for
    analytics_flow) x M, as `fixload capacity` holds a step (`steady_profile`), thresholds left out (the
    generator is judged, not the simulator); the search varies M.

The search is `fixload capacity`'s (fixload.cli.capacity.search): grow by `--growth` until a step fails,
then bisect to `--precision`. Reports iterations/s and requests/s of the highest sustained step (the steady
window's, from the time series). The docs table (docs/sizing.md) and MEASURED_STARTS_PER_PROCESS
(fixload/profile/limits.py) come from this. About 4 minutes with the defaults.

    python bench/sizing.py [--only ping|flows] [--window 8] [--precision 0.1] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _common import (
    GENERATOR_CPU,
    REPO,
    SIMULATOR_CPU,
    child_env,
    dropped_pct,
    engine_profile,
    finish,
    generator_process,
    locust_command,
    read_json,
    steady_window,
    total_count,
)

from fixload.cli.capacity import outcome_block, search, steady_profile
from fixload.common.exitcodes import ExitCode
from fixload.report import capacity as report
from fixload.simulator.process import SimulatorProcess

MAX_DROPPED_PCT = 1.0
MAX_LAG_P95_MS = 5.0
PING_VUS = 200
STEADY_LAG = "iteration_start_lag{phase:steady}"
WARMUP_PREFIX = "warmup_"
INVALID_CONFIG = int(ExitCode.INVALID_CONFIG)
BASELINE = REPO / "profiles" / "baseline.json"
Measure = Callable[[float], dict[str, Any]]
"""One step at a rate or multiplier: its figures (`dropped_pct`, `lag_p95_ms`, `iterations_per_s`, ...)."""


def judge(figures: Mapping[str, Any]) -> list[str]:
    """Why a step is not sustained, in words (empty: sustained)."""
    reasons = []
    dropped, lag = figures.get("dropped_pct"), figures.get("lag_p95_ms")
    if dropped is None or math.isnan(dropped):
        reasons.append("no steady window (no time series in the summary)")
    elif dropped > MAX_DROPPED_PCT:
        reasons.append(f"dropped {dropped:.2f} % > {MAX_DROPPED_PCT:g} %")
    if lag is None:
        reasons.append("no iteration_start_lag in the summary")
    elif lag > MAX_LAG_P95_MS:
        reasons.append(f"iteration_start_lag p95 {lag:.2f} ms > {MAX_LAG_P95_MS:g} ms")
    if figures.get("exit_code") not in (0, None):
        reasons.append(f"the run exited {figures['exit_code']}")
    return reasons


def find_highest(
    measure: Measure, start: float, most: float, growth: float, precision: float, retries: int = 0
) -> dict[str, Any]:
    """`fixload capacity`'s search over `measure`: the highest sustained value, the lowest failing one, every
    step (value, phase, figures, reasons) in the order run."""
    figures: list[dict[str, Any]] = []

    def step(value: float, phase: str) -> report.Step:
        started = time.monotonic()
        got = measure(value)
        reasons = judge(got)
        figures.append({"value": value, "phase": phase, **got, "reasons": reasons})
        print(
            f"  {phase:6} {value:>9g}: dropped {got.get('dropped_pct', float('nan')):.2f} %, lag p95 "
            f"{got.get('lag_p95_ms') or float('nan'):.2f} ms, {got.get('iterations_per_s', 0):.1f} it/s, "
            f"{got.get('requests_per_s', 0):.1f} req/s, generator {got.get('generator_cpu')} core, simulator "
            f"{got.get('simulator_cpu')} core "
            f"({time.monotonic() - started:.0f} s) "
            + ("sustained" if not reasons else "NOT sustained: " + "; ".join(reasons)),
            flush=True,
        )
        # a failure is laid at the generator (the simulator has a core of its own; each step says how busy it
        # was), so `retries` re-runs a failing step as `fixload capacity` does, for a machine's passing burst
        return report.Step(
            multiplier=value, phase=phase, seconds=0.0, sustainable=not reasons, generator=reasons, reasons=reasons
        )

    steps = search(step, start, most, growth, precision, retries)
    block = outcome_block(steps, start, most, interrupted=False)
    best = (block["sustainable"] or {}).get("multiplier")
    failing = (block["firstFailing"] or {}).get("multiplier")
    last = {f["value"]: f for f in figures}  # a value run again: its last run counts, as outcome_block's
    return {
        "highest": best,
        "highest_figures": last.get(best) if best is not None else None,
        "first_failing": failing,
        "first_failing_reasons": last[failing]["reasons"] if failing is not None else [],
        "steps": figures,
    }


def warmed(profile: dict[str, Any], warmup: float) -> dict[str, Any]:
    """The profile's scenarios twice, back to back: `warmup_<name>` for `warmup` s (Locust spawning the VUs,
    the first connections, the first iterations), then `<name>` from `warmup` s on, tagged phase=steady. Every
    VU is spawned at the start, so the steady scenarios' start lag is the steady window's alone: a threshold
    that always holds on it makes the summary carry it (as k6, a summary has the submetrics thresholds name)."""
    scenarios: dict[str, Any] = {}
    for name, s in profile["scenarios"].items():
        if warmup:
            scenarios[f"{WARMUP_PREFIX}{name}"] = {**s, "exec": s.get("exec") or name, "duration": f"{warmup:g}s"}
        scenarios[name] = {**s, "startTime": f"{warmup:g}s", "tags": {**(s.get("tags") or {}), "phase": "steady"}}
    return {**profile, "scenarios": scenarios, "thresholds": {STEADY_LAG: ["p(95)<1000000000"]}}


def _window(summary: Path, warmup: float, window: float) -> dict[str, Any]:
    """The figures of a step from its summary: the steady scenarios' over the steady window, and their start
    lag p95."""
    if not summary.exists():
        return {"dropped_pct": float("nan"), "lag_p95_ms": None}
    data = read_json(summary)
    steady = {k: v for k, v in steady_window(data, warmup, warmup + window).items() if not k.startswith(WARMUP_PREFIX)}
    seconds = max((s["seconds"] for s in steady.values()), default=0.0)
    arrival = {k: s for k, s in steady.items() if s["scheduled"]}

    def per_s(key: str, of: Mapping[str, Mapping[str, float]]) -> float:
        return round(sum(s[key] for s in of.values()) / seconds, 1) if seconds else 0.0

    lag = data.get("metrics", {}).get(STEADY_LAG, {}).get("p(95)")
    return {
        "dropped_pct": round(dropped_pct(steady), 3) if steady else float("nan"),
        "lag_p95_ms": round(lag, 3) if lag is not None else None,
        "scheduled_per_s": per_s("scheduled", arrival),
        "iterations_per_s": per_s("completed", steady),
        "requests_per_s": per_s("requests", steady),
        "window_s": seconds,
    }


class Steps:
    """Runs the steps of both searches against one pinned simulator, each a Locust process pinned to CPU 0."""

    def __init__(self, sim: SimulatorProcess, warmup: float, window: float, tmp: Path) -> None:
        self.sim, self.warmup, self.window, self.tmp = sim, warmup, window, tmp
        self.env = child_env(sim.env)
        self.count = 0

    def _run(self, locustfile: Path, profile: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        path, summary = self.tmp / f"step{self.count}.json", self.tmp / f"step{self.count}-summary.json"
        path.write_text(json.dumps(profile))
        cmd = locust_command(locustfile, self.sim.base_url, "--profile", str(path), "--summary", str(summary))
        code, cpu = self._supervise(cmd, path.with_suffix(".log"))
        if code == INVALID_CONFIG:  # the bench's own profile is wrong: no step means anything
            raise RuntimeError(f"the step's profile was refused (exit {code}); see {path.with_suffix('.log')}")
        return {**_window(summary, self.warmup, self.window), "exit_code": code, **cpu}

    def _supervise(self, cmd: list[str], log: Path) -> tuple[int, dict[str, float | None]]:
        """Run one step to its end; its exit code and the cores' worth of CPU the generator and the simulator
        used over about the steady window (from the first request the simulator counted, setup's included,
        + warm-up)."""
        self.sim.reset_stats()
        cpu: dict[str, float | None] = {}
        with generator_process(cmd, self.env, log, GENERATOR_CPU) as proc:
            deadline = time.monotonic() + 60
            while total_count(self.sim.stats()) == 0 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(self.warmup)
            with contextlib.suppress(psutil.Error):
                generator, simulator = psutil.Process(proc.pid), psutil.Process(self.sim.pid)
                c1, s1, t1 = sum(generator.cpu_times()[:2]), sum(simulator.cpu_times()[:2]), time.monotonic()
                time.sleep(self.window)
                seconds = time.monotonic() - t1
                cpu = {
                    "generator_cpu": round((sum(generator.cpu_times()[:2]) - c1) / seconds, 2),
                    "simulator_cpu": round((sum(simulator.cpu_times()[:2]) - s1) / seconds, 2),
                }
            proc.wait(self.window + 120)
        return proc.returncode, cpu or {"generator_cpu": None, "simulator_cpu": None}

    def ping(self, rate: float) -> dict[str, Any]:
        profile = engine_profile(int(rate), self.window, PING_VUS, graceful_stop="1s", name="ping")
        return self._run(REPO / "bench" / "ping_users.py", warmed(profile, self.warmup))

    def flows(self, multiplier: float) -> dict[str, Any]:
        from fixload.profile.schema import load_profile

        data = steady_profile(load_profile(BASELINE), multiplier, self.window)
        return {**self._run(REPO / "locustfiles", warmed(data, self.warmup)), "multiplier": multiplier}


def baseline_peak() -> dict[str, float]:
    """baseline.json's peak arrival rate per arrival-rate scenario at x1 (iterations/s)."""
    from fixload.profile.schema import load_profile

    data = steady_profile(load_profile(BASELINE), 1.0, 10.0)
    return {name: float(s["rate"]) for name, s in data["scenarios"].items() if "rate" in s}


def workers_needed(multiplier: float, highest: float) -> int:
    """Worker processes baseline x `multiplier` needs when one sustains x `highest`."""
    return max(1, math.ceil(multiplier / highest - 1e-9))


def bench(
    only: str | None, warmup: float, window: float, precision: float, growth: float, retries: int
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-sizing-"))
    result: dict[str, Any] = {
        "warmup_s": warmup,
        "window_s": window,
        "precision": precision,
        "growth": growth,
        "retries": retries,
        "max_dropped_pct": MAX_DROPPED_PCT,
        "max_lag_p95_ms": MAX_LAG_P95_MS,
        "tmp": str(tmp),
    }
    started = time.monotonic()
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        steps = Steps(sim, warmup, window, tmp)
        if only in (None, "ping"):
            print("(a) GET /ping, constant-arrival-rate, rate in iterations/s", flush=True)
            result["ping"] = find_highest(steps.ping, 400, 20000, growth, precision, retries)
        if only in (None, "flows"):
            print("(b) the five flows at baseline.json's mix, multiplier of its peak rates", flush=True)
            result["flows"] = find_highest(steps.flows, 0.25, 64, growth, precision, retries)
            result["flows"]["peak_rates_x1"] = baseline_peak()
    result["seconds"] = round(time.monotonic() - started)
    if result.get("flows", {}).get("highest"):
        top = result["flows"]["highest"]
        result["table"] = [[m, workers_needed(m, top)] for m in (1, 2, 5, 10, 20, 50, 100)]
    return result


def report_text(r: dict[str, Any]) -> str:
    lines = [
        f"one generator process on CPU {GENERATOR_CPU}, simulator on CPU {SIMULATOR_CPU}; sustained = dropped <= "
        f"{r['max_dropped_pct']:g} % over a {r['window_s']:g} s window after {r['warmup_s']:g} s and "
        f"iteration_start_lag p95 <= {r['max_lag_p95_ms']:g} ms; search to {r['precision']:g}, {r['seconds']} s in all"
    ]
    for key, unit in (("ping", "it/s"), ("flows", "x baseline")):
        if key not in r:
            continue
        s = r[key]
        best = s["highest_figures"]
        name = "(a) GET /ping" if key == "ping" else "(b) five flows, baseline mix"
        if best is None:
            lines.append(
                f"  {name}: no step sustained (first failing {s['first_failing']:g}: {s['first_failing_reasons']})"
            )
            continue
        fail = (
            f"; first failing {s['first_failing']:g} {unit}: {'; '.join(s['first_failing_reasons'])}"
            if s["first_failing"] is not None
            else "; nothing failed up to the search's top"
        )
        lines.append(
            f"  {name}: highest sustained {s['highest']:g} {unit}: {best['scheduled_per_s']} arrivals/s scheduled, "
            f"{best['iterations_per_s']} iterations/s, {best['requests_per_s']} requests/s, dropped "
            f"{best['dropped_pct']:.2f} %, lag p95 {best['lag_p95_ms']} ms, generator {best.get('generator_cpu')} core,"
            f" simulator {best.get('simulator_cpu')} core"
            f"{fail}"
        )
    if "table" in r:
        lines.append(
            "  baseline.json x M needs about N worker processes: " + ", ".join(f"x{m}: {n}" for m, n in r["table"])
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("ping", "flows"), help="one of the two searches")
    parser.add_argument("--warmup", type=float, default=4, help="s before the steady window (a multiple of 2)")
    parser.add_argument("--window", type=float, default=8, help="steady window per step, s (a multiple of 2)")
    parser.add_argument("--precision", type=float, default=0.1, help="bisect until within this share")
    parser.add_argument("--growth", type=float, default=2.0)
    parser.add_argument("--retries", type=int, default=0, help="re-runs of a failing step before it counts")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.window < 2 or args.warmup < 0 or not 0 < args.precision < 1 or args.growth <= 1:
        parser.error("--window at least 2, --warmup at least 0, --precision in (0, 1), --growth above 1")
    if args.window % 2 or args.warmup % 2:  # the summary's time series has a row per 2 s of plan time
        parser.error("--window and --warmup: whole multiples of 2 s (the time series' interval)")
    result = bench(args.only, args.warmup, args.window, args.precision, args.growth, args.retries)
    return finish(result, report_text, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
