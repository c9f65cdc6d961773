"""How many requests/s one core sends to the simulator's GET /ping, three ways, in one run:

(a) a bare Locust `FastHttpUser` loop: closed model, `--users` users, no wait time;
(b) fixload's arrival-rate engine asked for more than it can do: constant-arrival-rate at `--rate`/s
    (default far above capacity) with a large maxVUs; started iterations = the server-side count;
(c) k6 `constant-vus` with `--users` VUs, one GET per iteration.

The generator is pinned to CPU 0 and the simulator to CPU 1. Each rate is the server-side count over a
steady window (`--window` s after `--warmup` s), so ramp-up and shutdown are not counted; a, b and c run in
`--rounds` interleaved rounds and the medians are compared. Prints b/a (goal >= 0.9) and b/c, and (b') the
engine asked only 1.25x what the bare loop just did (few drops, so the price of the drops shows).
The engine against Locust's own paced loop at a rate both sustain (CPU per request, dropped against missed,
calls per request) is bench/cost.py's.

Then 1 vs 2 worker processes (`--processes N`, master + N workers) with the engine as in (b). This
machine has 2 cores, so with 2 workers the simulator, the master and both workers share both cores: the
ratio is what this machine allows, not what 2 dedicated generator cores would give.

    python bench/throughput.py [--window 10] [--users 50] [--rate 20000] [--skip-workers] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GENERATOR_CPU,
    SIMULATOR_CPU,
    child_env,
    engine_command,
    finish,
    k6_binary,
    measure,
    paced_command,
    processes_args,
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


def bench(users: int, rate: int, warmup: float, window: float, workers: bool, rounds: int = 3) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-throughput-"))
    script = tmp / "k6.js"
    script.write_text(K6_SCRIPT)
    seconds = int(warmup + window + 15)
    vus = max(users, 200)
    result: dict[str, Any] = {"users": users, "rate": rate, "window_s": window, "rounds": rounds, "tmp": str(tmp)}
    runs: dict[str, list[dict[str, Any]]] = {
        "a_bare_locust": [],
        "b_fixload_engine": [],
        "c_k6": [],
        "b_near": [],
    }
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        env.pop("FIXLOAD_BENCH_PACE", None)  # (a) is the unpaced loop (bench/cost.py paces it)
        engine_cmd = engine_command(tmp, sim.base_url, rate, seconds, vus)
        k6_env = child_env({"BASE_URL": sim.base_url, "VUS": str(users), "DURATION": f"{seconds}s"})
        bare_cmd = paced_command(tmp, sim.base_url, users, seconds)
        k6_cmd = [k6_binary(), "run", "--quiet", "--no-usage-report", str(script)]

        def engine_at(rate: int, name: str) -> dict[str, Any]:
            """The engine asked `rate`/s (profile and summary under `name` in tmp): the measure, its rate."""
            cmd = [
                *engine_command(tmp, sim.base_url, rate, seconds, vus, name),
                "--summary",
                str(tmp / f"{name}-summary.json"),
            ]
            return {**measure(sim, cmd, env, GENERATOR_CPU, warmup, window, tmp / f"{name}.log"), "rate": rate}

        # interleaved rounds: the machine is shared, so each generator sees the same spread of neighbours
        for i in range(rounds):
            runs["a_bare_locust"].append(measure(sim, bare_cmd, env, GENERATOR_CPU, warmup, window, tmp / f"a{i}.log"))
            a_rps = runs["a_bare_locust"][-1]["rps"]
            # (b') the engine asked only 1.25x what the bare loop just did: few drops, so the drop cost shows
            runs["b_near"].append(engine_at(int(a_rps * 1.25), f"near{i}"))
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
                    cmd = [*engine_command(tmp, sim.base_url, rate, seconds, vus, f"w{n}-{i}"), *processes_args(n)]
                    cmd += ["--summary", str(tmp / f"w{n}-{i}.json")]
                    per_n[n].append(measure(sim, cmd, env, None, warmup + 2, window, tmp / f"w{n}-{i}.log"))
        for n, values in per_n.items():
            best = sorted(values, key=lambda v: v["rps"])[len(values) // 2]
            result[f"workers_{n}"] = {**best, "runs": sorted(v["rps"] for v in values)}
        w1, w2 = result["workers_1"]["rps"], result["workers_2"]["rps"]
        result["workers_2_over_1"] = round(w2 / w1, 3) if w1 else None
    return result


def report(r: dict[str, Any]) -> str:
    lines = [
        f"one generator core (CPU {GENERATOR_CPU}), simulator on CPU {SIMULATOR_CPU}, {r['window_s']:g} s window, "
        f"median of {r['rounds']} interleaved rounds",
        f"  (a) bare Locust FastHttpUser, {r['users']} users, no wait : {r['a_bare_locust']['rps']:>8.0f} req/s",
        f"  (b) fixload constant-arrival-rate {r['rate']}/s       : {r['b_fixload_engine']['rps']:>8.0f} req/s",
        f"  (b') fixload asked 1.25x (a) ({r['b_near']['rates']}/s)  : {r['b_near']['rps']:>8.0f} req/s"
        f"  b'/a = {r['b_near_over_a']}",
        f"  (c) k6 constant-vus, {r['users']} VUs                     : {r['c_k6']['rps']:>8.0f} req/s",
        f"      generator core stolen by the hypervisor, % per round: bare {r['a_bare_locust']['stolen_pct_rounds']}"
        f", engine {r['b_fixload_engine']['stolen_pct_rounds']}",
        f"  b/a = {r['b_over_a']}  (goal >= 0.9)   b/c = {r['b_over_c']}",
        "  runs: "
        + "; ".join(
            f"{k} {r[k]['runs']}"
            for k in (
                "a_bare_locust",
                "b_fixload_engine",
                "b_near",
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
