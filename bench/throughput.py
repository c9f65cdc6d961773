"""How many requests/s one core sends to the simulator's GET /ping, three ways, in one run:

(a) a bare Locust `FastHttpUser` loop: closed model, `--users` users, no wait time;
(b) fixload's arrival-rate engine asked for more than it can do: constant-arrival-rate at `--rate`/s
    (default far above capacity) with a large maxVUs; started iterations = the server-side count;
(c) k6 `constant-vus` with `--users` VUs, one GET per iteration.

The generator is pinned to CPU 0 and the simulator to CPU 1. Each rate is the server-side count over a
steady window (`--window` s after `--warmup` s), so ramp-up and shutdown are not counted; a, b and c run in
`--rounds` interleaved rounds and the medians are compared. Prints b/a (goal >= 0.9) and b/c, and
(s) the engine asked 0.85x what the bare loop just did: the rate it sustains over (a), and the share of
its scheduled iterations it dropped (goal: >= 0.85 with <= 1% dropped), and (p) its same-run baseline:
Locust's own paced loop (`constant_throughput`, `--users` users) asked that same rate, and how much of it
the paced loop missed. (f): both asked 0.6x (a), a rate both keep up with: the generator's CPU per request,
the engine's over the paced loop's (how much of the engine's cost at a sustainable rate is its own).

Then 1 vs 2 worker processes (`--processes N`, master + N workers) with the engine as in (b). This
machine has 2 cores, so with 2 workers the simulator, the master and both workers share both cores: the
ratio is what this machine allows, not what 2 dedicated generator cores would give.

    python bench/throughput.py [--window 10] [--users 50] [--rate 20000] [--skip-workers] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BARE_LOCUSTFILE,
    GENERATOR_CPU,
    REPO,
    SIMULATOR_CPU,
    child_env,
    engine_profile,
    finish,
    generator_process,
    k6_binary,
    locust_command,
    processes_args,
    route_count,
    steal_seconds,
)

from fixload.simulator.process import SimulatorProcess

K6_SCRIPT = textwrap.dedent(
    """
    import http from 'k6/http';
    export const options = {
      discardResponseBodies: true,
      scenarios: { ping: { executor: 'constant-vus', vus: __ENV.VUS * 1, duration: __ENV.DURATION } },
    };
    export default function () { http.get(`${__ENV.BASE_URL}/ping`); }
    """
)


def measure(
    sim: SimulatorProcess,
    command: list[str],
    env: dict[str, str],
    cpu: int | None,
    warmup: float,
    window: float,
    log: Path,
) -> dict[str, Any]:
    """Start the generator, wait for traffic, count GET /ping over the window after warm-up; stop it."""
    sim.reset_stats()
    with generator_process(command, env, log, cpu) as proc:
        deadline = time.monotonic() + 60
        while route_count(sim.stats()) == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"generator produced no traffic (exit {proc.poll()}); see {log}")
            time.sleep(0.2)
        time.sleep(warmup)
        server, generator = psutil.Process(sim.pid), psutil.Process(proc.pid)
        c1, t1, cpu1 = route_count(sim.stats()), time.monotonic(), sum(server.cpu_times()[:2])
        gen1, steal1 = sum(generator.cpu_times()[:2]), steal_seconds(GENERATOR_CPU)
        time.sleep(window)
        c2, t2, cpu2 = route_count(sim.stats()), time.monotonic(), sum(server.cpu_times()[:2])
        gen2, steal2 = sum(generator.cpu_times()[:2]), steal_seconds(GENERATOR_CPU)
    return {
        "rps": round((c2 - c1) / (t2 - t1), 1),
        "requests": c2 - c1,
        "seconds": round(t2 - t1, 2),
        "simulator_cpu": round((cpu2 - cpu1) / (t2 - t1), 2),  # cores' worth of CPU the simulator used
        "generator_cpu": round((gen2 - gen1) / (t2 - t1), 2),
        "generator_us_per_request": round(1e6 * (gen2 - gen1) / max(1, c2 - c1), 1),
        # the share of the generator's core the hypervisor took during the window: a round with much of it
        # measured the host's neighbours, whichever generator ran
        "generator_core_stolen": round((steal2 - steal1) / (t2 - t1), 3),
    }


def bench(users: int, rate: int, warmup: float, window: float, workers: bool, rounds: int = 3) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-throughput-"))
    bare = tmp / "bare.py"
    bare.write_text(BARE_LOCUSTFILE)
    script = tmp / "k6.js"
    script.write_text(K6_SCRIPT)
    seconds = int(warmup + window + 15)
    profile = tmp / "profile.json"
    profile.write_text(json.dumps(engine_profile(rate, seconds, max(users, 200))))
    result: dict[str, Any] = {"users": users, "rate": rate, "window_s": window, "rounds": rounds, "tmp": str(tmp)}
    run_time = ["--run-time", f"{seconds}s"]
    engine_cmd = locust_command(REPO / "bench" / "ping_users.py", "HOST", "--profile", str(profile))
    runs: dict[str, list[dict[str, Any]]] = {
        "a_bare_locust": [],
        "b_fixload_engine": [],
        "c_k6": [],
        "b_near": [],
        "s_sustained": [],
        "p_paced": [],
        "f_engine": [],
        "f_paced": [],
    }
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        env.pop("FIXLOAD_BENCH_PACE", None)  # (a) is the unpaced loop; paced_at sets it for (p) and (f)
        engine_cmd[engine_cmd.index("HOST")] = sim.base_url
        k6_env = child_env({"BASE_URL": sim.base_url, "VUS": str(users), "DURATION": f"{seconds}s"})
        bare_cmd = locust_command(bare, sim.base_url, "-u", str(users), "-r", str(users), *run_time)
        k6_cmd = [k6_binary(), "run", "--quiet", "--no-usage-report", str(script)]

        def engine_at(rate: int, name: str) -> dict[str, Any]:
            """The engine asked `rate`/s (profile and summary under `name` in tmp): the measure, its rate."""
            at = tmp / f"{name}.json"
            at.write_text(json.dumps(engine_profile(rate, seconds, max(users, 200))))
            cmd = [*engine_cmd, "--summary", str(tmp / f"{name}-summary.json")]
            cmd[cmd.index(str(profile))] = str(at)
            return {**measure(sim, cmd, env, GENERATOR_CPU, warmup, window, tmp / f"{name}.log"), "rate": rate}

        def paced_at(rate: int, name: str) -> dict[str, Any]:
            """Locust's own paced loop, the bare loop's users, asked `rate`/s in all."""
            paced_env = {**env, "FIXLOAD_BENCH_PACE": repr(rate / users)}
            return {
                **measure(sim, bare_cmd, paced_env, GENERATOR_CPU, warmup, window, tmp / f"{name}.log"),
                "rate": rate,
            }

        # interleaved rounds: the machine is shared, so each generator sees the same spread of neighbours
        for i in range(rounds):
            runs["a_bare_locust"].append(measure(sim, bare_cmd, env, GENERATOR_CPU, warmup, window, tmp / f"a{i}.log"))
            a_rps = runs["a_bare_locust"][-1]["rps"]
            # (b') the engine asked only 1.25x what the bare loop just did: few drops, so the drop cost shows
            runs["b_near"].append(engine_at(int(a_rps * 1.25), f"near{i}"))
            # (s) the engine asked 0.85x the bare loop's rate: does it keep up, and how much does it drop?
            s_run = engine_at(int(a_rps * 0.85), f"s{i}")
            runs["s_sustained"].append({**s_run, **_dropped(tmp / f"s{i}-summary.json", warmup, warmup + window)})
            # (p) the same-run baseline for (s): Locust's own paced loop (`constant_throughput`, the bare loop's
            # users) asked the same rate. What it misses is what a Locust loop at that rate cannot do here.
            runs["p_paced"].append(paced_at(s_run["rate"], f"p{i}"))
            # (f) both at a rate they keep up with, 0.6x (a): CPU per request, the engine's against the paced loop's
            runs["f_engine"].append(engine_at(int(a_rps * 0.6), f"fe{i}"))
            runs["f_paced"].append(paced_at(int(a_rps * 0.6), f"fp{i}"))
            b_cmd = [*engine_cmd, "--summary", str(tmp / f"b{i}.json")]
            runs["b_fixload_engine"].append(measure(sim, b_cmd, env, GENERATOR_CPU, warmup, window, tmp / f"b{i}.log"))
            runs["c_k6"].append(measure(sim, k6_cmd, k6_env, GENERATOR_CPU, warmup, window, tmp / f"c{i}.log"))
    for key, values in runs.items():
        rates = sorted(v["rps"] for v in values)
        result[key] = {
            "rps": statistics.median(rates),
            "runs": rates,
            "stolen_pct_rounds": [round(100 * v["generator_core_stolen"], 1) for v in values],  # round order
        }
    a, b, c = (result[k]["rps"] for k in ("a_bare_locust", "b_fixload_engine", "c_k6"))
    result["b_near"]["rates"] = [v["rate"] for v in runs["b_near"]]
    sustained = runs["s_sustained"]
    result["s_sustained"]["rates"] = [v["rate"] for v in sustained]
    result["s_sustained"]["dropped_pct"] = statistics.median(v["dropped_pct"] for v in sustained)
    result["s_sustained"]["dropped_pct_runs"] = [v["dropped_pct"] for v in sustained]
    result["s_sustained"]["dropped_pct_whole_run"] = statistics.median(v["dropped_pct_run"] for v in sustained)
    paced_runs = runs["p_paced"]
    result["p_paced"]["rates"] = [v["rate"] for v in paced_runs]
    result["p_paced"]["missed_pct"] = statistics.median(100.0 * (1 - v["rps"] / v["rate"]) for v in paced_runs)
    result["p_paced"]["missed_pct_runs"] = [round(100.0 * (1 - v["rps"] / v["rate"]), 2) for v in paced_runs]
    for key in ("f_engine", "f_paced"):
        result[key]["rates"] = [v["rate"] for v in runs[key]]
        result[key]["us_per_request"] = statistics.median(v["generator_us_per_request"] for v in runs[key])
        result[key]["us_per_request_runs"] = [v["generator_us_per_request"] for v in runs[key]]
    result["f_engine_over_paced"] = round(
        statistics.median(
            e["generator_us_per_request"] / p["generator_us_per_request"]
            for e, p in zip(runs["f_engine"], runs["f_paced"], strict=True)
        ),
        3,
    )
    result["s_asked_over_a"] = round(
        statistics.median(v["rate"] / a_run["rps"] for v, a_run in zip(sustained, runs["a_bare_locust"], strict=True)),
        3,
    )
    result["s_over_a"] = round(result["s_sustained"]["rps"] / a, 3) if a else None
    result["b_near_over_a"] = round(result["b_near"]["rps"] / a, 3) if a else None
    result["b_over_a"] = round(b / a, 3) if a else None
    result["b_over_c"] = round(b / c, 3) if c else None
    if workers:
        # no pinning: 2 cores for the simulator, the master and the workers
        with SimulatorProcess() as sim:
            env = child_env(sim.env)
            per_n: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for i in range(max(1, rounds - 1)):
                for n in (1, 2):
                    cmd = [*engine_cmd, "--summary", str(tmp / f"w{n}-{i}.json"), *processes_args(n)]
                    cmd[cmd.index("-H") + 1] = sim.base_url
                    per_n[n].append(measure(sim, cmd, env, None, warmup + 2, window, tmp / f"w{n}-{i}.log"))
        for n, values in per_n.items():
            best = sorted(values, key=lambda v: v["rps"])[len(values) // 2]
            result[f"workers_{n}"] = {**best, "runs": sorted(v["rps"] for v in values)}
        w1, w2 = result["workers_1"]["rps"], result["workers_2"]["rps"]
        result["workers_2_over_1"] = round(w2 / w1, 3) if w1 else None
    return result


def _dropped(summary: Path, since: float, until: float) -> dict[str, Any]:
    """What (s) dropped, from the summary the engine wrote: over the steady window (the time series' 2 s
    intervals that lie inside [since, until] s of plan time, the window the rates are counted over) and
    over its whole run, which also holds the start (every VU opens its connection at once) and the end
    (the bench stops the run with SIGTERM)."""
    try:
        fixload = json.loads(summary.read_text())["fixload"]
        scenario = fixload["scenarios"]["ping_flat_out"]
        series = fixload["timeSeries"]
    except (OSError, KeyError, ValueError):
        return {"dropped_pct": float("nan"), "dropped_pct_run": float("nan")}
    columns, step = series["columns"], float(series["intervalSeconds"])
    t, rate, dropped = columns.index("t"), columns.index("scheduled"), columns.index("dropped")
    rows = [row.split(",") for row in series["scenarios"]["ping_flat_out"]]
    steady = [r for r in rows if float(r[t]) - step >= since - 1e-6 and float(r[t]) <= until + 0.05]
    scheduled_steady = sum(float(r[rate]) * step for r in steady)
    dropped_steady = sum(float(r[dropped] or 0) for r in steady)
    scheduled = scenario.get("scheduled") or 0
    return {
        "dropped_pct": round(100.0 * dropped_steady / scheduled_steady, 3) if scheduled_steady else float("nan"),
        "dropped_pct_run": round(100.0 * (scenario.get("dropped") or 0) / scheduled, 3) if scheduled else float("nan"),
        "steady_s": len(steady) * step,
    }


def report(r: dict[str, Any]) -> str:
    lines = [
        f"one generator core (CPU {GENERATOR_CPU}), simulator on CPU {SIMULATOR_CPU}, {r['window_s']:g} s window, "
        f"median of {r['rounds']} interleaved rounds",
        f"  (a) bare Locust FastHttpUser, {r['users']} users, no wait : {r['a_bare_locust']['rps']:>8.0f} req/s",
        f"  (b) fixload constant-arrival-rate {r['rate']}/s       : {r['b_fixload_engine']['rps']:>8.0f} req/s",
        f"  (b') fixload asked 1.25x (a) ({r['b_near']['rates']}/s)  : {r['b_near']['rps']:>8.0f} req/s"
        f"  b'/a = {r['b_near_over_a']}",
        f"  (c) k6 constant-vus, {r['users']} VUs                     : {r['c_k6']['rps']:>8.0f} req/s",
        f"  (s) fixload asked 0.85x (a) ({r['s_sustained']['rates']}/s): {r['s_sustained']['rps']:>8.0f} req/s"
        f"  s/a = {r['s_over_a']}, asked {r['s_asked_over_a']}x (a), dropped {r['s_sustained']['dropped_pct']}% in the"
        f" steady window {r['s_sustained']['dropped_pct_runs']} (whole run incl. start and SIGTERM:"
        f" {r['s_sustained']['dropped_pct_whole_run']}%)  (goal: asked >= 0.85x with <= 1% dropped)",
        f"      the generator's core taken by the hypervisor in those rounds: {r['s_sustained']['stolen_pct_rounds']}%"
        f" (paced loop's rounds: {r['p_paced']['stolen_pct_rounds']}%, bare loop's:"
        f" {r['a_bare_locust']['stolen_pct_rounds']}%)",
        f"  (p) Locust's paced loop (constant_throughput, {r['users']} users) asked the same as (s): "
        f"{r['p_paced']['rps']:>8.0f} req/s, missed {r['p_paced']['missed_pct']:.2f}% of it"
        f" {r['p_paced']['missed_pct_runs']}"
        "  (the same-run baseline for (s))",
        f"  (f) at 0.6x (a) ({r['f_engine']['rates']}/s), CPU per request: engine {r['f_engine']['us_per_request']} µs"
        f" {r['f_engine']['us_per_request_runs']}, Locust's paced loop {r['f_paced']['us_per_request']} µs"
        f" {r['f_paced']['us_per_request_runs']}: engine/paced = {r['f_engine_over_paced']}"
        " (median of the rounds' ratios)",
        f"  b/a = {r['b_over_a']}  (goal >= 0.9)   s/a = {r['s_over_a']}  (goal >= 0.85)   b/c = {r['b_over_c']}",
        "  runs: "
        + "; ".join(
            f"{k} {r[k]['runs']}"
            for k in (
                "a_bare_locust",
                "b_fixload_engine",
                "b_near",
                "s_sustained",
                "p_paced",
                "f_engine",
                "f_paced",
                "c_k6",
            )
        ),
    ]
    if "workers_1" in r:
        lines += [
            "fixload engine, master + N workers, unpinned (2 cores shared with the simulator)",
            f"  1 worker : {r['workers_1']['rps']:>8.0f} req/s (simulator used {r['workers_1']['simulator_cpu']} core)",
            f"  2 workers: {r['workers_2']['rps']:>8.0f} req/s (simulator used {r['workers_2']['simulator_cpu']} core)"
            f"   2/1 = {r['workers_2_over_1']}  (goal >= 1.8)",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="users/VUs for (a) and (c)")
    parser.add_argument("--rate", type=int, default=20000, help="arrival rate asked of (b), per second")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--window", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of a, b, c; medians reported")
    parser.add_argument("--skip-workers", action="store_true", help="skip the 1 vs 2 worker processes part")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    result = bench(args.users, args.rate, args.warmup, args.window, not args.skip_workers, args.rounds)
    return finish(result, report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
