"""Python function calls per request: fixload's arrival-rate engine against Locust's own paced loop.

A count of calls does not move with the machine: on the shared 2-core VM where bench/cost.py's
CPU-per-request figures drift by 10-40 % between rounds, this is the engine's own cost, repeatable to a
call. Both generators send GET /ping to the embedded simulator at the same fixed rate, far below capacity
(profiling slows a process several times over):

- the engine: `bench/ping_users.py`, constant-arrival-rate at `--rate`/s, 200 VUs (as bench/cost.py's);
- Locust's paced loop: the bare loop of bench/_common.py, `--users` users, `constant_throughput`.

`bench/call_counter.py` counts every Python call (and every C function called from Python) over a window
of each run and the requests sent in it. Prints calls per request for each, their ratio, the calls per
request by package, and the functions that make the difference. A call is not a fixed number of µs, so
this ranks where the engine's time goes and shows whether a change removed work; bench/cost.py's (f) is
the µs figure.

    python bench/calls.py [--rate 400] [--users 50] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GENERATOR_CPU,
    REPO,
    SIMULATOR_CPU,
    child_env,
    engine_command,
    finish,
    generator_process,
    paced_command,
    paced_env,
)

from fixload.simulator.process import SimulatorProcess

COUNTER = REPO / "bench" / "call_counter.py"
AFTER_S, WINDOW_S = 3.0, 4.0
GROUPS = ("fixload", "ddsketch", "locust", "geventhttpclient", "gevent", "C", "other")


def count_calls(command: list[str], env: dict[str, str], out: Path, log: Path, what: str = "calls") -> dict[str, Any]:
    """Run one generator until the counter has written `out`; its calls (or, `what="ops"`, bytecodes) and
    requests."""
    env = {**env, "FIXLOAD_BENCH_CALLS": str(out), "FIXLOAD_BENCH_CALLS_WINDOW": f"{AFTER_S},{WINDOW_S}"}
    env["FIXLOAD_BENCH_COUNT"] = what
    with generator_process(command, env, log, GENERATOR_CPU) as proc:
        deadline = time.monotonic() + AFTER_S + WINDOW_S + 60
        while not out.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the generator wrote no call counts (exit {proc.poll()}); see {log}")
            time.sleep(0.2)
    data = json.loads(out.read_text())
    if not data["requests"]:
        raise RuntimeError(f"no request inside the counting window; see {log}")
    return data


def group(where: str) -> str:
    head = where.split("/", 1)[0]
    return head if head in GROUPS else "other"


def per_request(data: dict[str, Any]) -> tuple[float, dict[str, float], Counter[str]]:
    """Calls per request: in all, by package, by function."""
    n = data["requests"]
    by_function: Counter[str] = Counter()
    by_group: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    for where, name, calls in data["calls"]:
        by_function[f"{where}:{name}"] += calls
        by_group[group(where)] += calls / n
    return sum(by_function.values()) / n, by_group, by_function


def bench(rate: int, users: int, rounds: int, ops_rate: int | None = None) -> dict[str, Any]:
    """Calls per request at `rate`/s; with `ops_rate`, bytecodes per request too, at that rate (tracing every
    bytecode slows a process far more than counting calls, so it runs slower for neither arm to fall behind)."""
    tmp = Path(tempfile.mkdtemp(prefix="fixload-calls-"))
    seconds = int(AFTER_S + WINDOW_S + 6)
    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "paced": []}
    ops: dict[str, list[dict[str, Any]]] = {"engine": [], "paced": []}
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        plugin = f",{COUNTER}"
        for i in range(rounds):
            for key, cmd, arm_env in _arms(tmp, sim.base_url, rate, users, seconds, env, plugin):
                runs[key].append(count_calls(cmd, arm_env, tmp / f"{key}{i}.json", tmp / f"{key}{i}.log"))
            if ops_rate:
                for key, cmd, arm_env in _arms(tmp, sim.base_url, ops_rate, users, seconds, env, plugin):
                    out, log = tmp / f"{key}-ops{i}.json", tmp / f"{key}-ops{i}.log"
                    ops[key].append(count_calls(cmd, arm_env, out, log, what="ops"))
    result: dict[str, Any] = {"rate": rate, "users": users, "rounds": rounds, "tmp": str(tmp)}
    result |= _tally(runs, "calls_per_request")
    if ops_rate:
        result["ops"] = {"rate": ops_rate, **_tally(ops, "ops_per_request")}
    return result


def _arms(
    tmp: Path, host: str, rate: int, users: int, seconds: int, env: dict[str, str], plugin: str
) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, command, environment) of the engine and of Locust's paced loop at `rate`/s."""
    engine = engine_command(tmp, host, rate, seconds, max(users, 200), name=f"engine{rate}", plugins=plugin)
    paced = paced_command(tmp, host, users, seconds, plugins=plugin)
    return [("engine", engine, env), ("paced", paced, paced_env(env, rate, users))]


def _tally(runs: dict[str, list[dict[str, Any]]], figure: str) -> dict[str, Any]:
    """Per arm the median count per request, by package; engine over paced; the functions that differ most."""
    result: dict[str, Any] = {}
    functions: dict[str, Counter[str]] = {}
    for key, values in runs.items():
        totals = [per_request(v) for v in values]
        result[key] = {
            figure: round(statistics.median(t[0] for t in totals), 1),
            "runs": [round(t[0], 1) for t in totals],
            "requests": [v["requests"] for v in values],
            "by_package": {g: round(statistics.median(t[1][g] for t in totals), 1) for g in GROUPS},
        }
        merged: Counter[str] = Counter()
        for v, t in zip(values, totals, strict=True):
            for name, calls in t[2].items():
                merged[name] += calls / v["requests"] / len(values)
        functions[key] = merged
    result["engine_over_paced"] = round(result["engine"][figure] / result["paced"][figure], 3)
    extra = Counter({k: functions["engine"][k] - functions["paced"].get(k, 0.0) for k in functions["engine"]})
    result["engine_extra"] = [[name, round(calls, 2)] for name, calls in extra.most_common(20) if calls > 0.05]
    return result


def report(r: dict[str, Any]) -> str:
    lines = _report_counts(r, "calls_per_request", f"Python calls per request at {r['rate']}/s", r["users"])
    if "ops" in r:
        o = r["ops"]
        lines += _report_counts(o, "ops_per_request", f"Python bytecodes per request at {o['rate']}/s", r["users"])
    return "\n".join(lines)


def _report_counts(r: dict[str, Any], figure: str, title: str, users: int) -> list[str]:
    e, p = r["engine"], r["paced"]
    lines = [
        f"{title} (median of {len(e['runs'])} rounds; counted over {WINDOW_S:g} s)",
        f"  fixload engine, 200 VUs            : {e[figure]:7.1f}  {e['runs']}  requests {e['requests']}",
        f"  Locust paced loop, {users} users       : {p[figure]:7.1f}  {p['runs']}  requests {p['requests']}",
        f"  engine/paced = {r['engine_over_paced']}",
        "  by package (engine / paced): "
        + ", ".join(f"{g} {e['by_package'][g]:.1f}/{p['by_package'][g]:.1f}" for g in GROUPS),
        "  where the engine spends more, per request:",
    ]
    return lines + [f"    {calls:+7.2f}  {name}" for name, calls in r["engine_extra"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=400, help="requests/s asked of both generators")
    parser.add_argument("--users", type=int, default=50, help="users of Locust's paced loop")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ops-rate", type=int, default=200, help="requests/s of the bytecode count (0: calls only)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    result = bench(args.rate, args.users, args.rounds, args.ops_rate or None)
    return finish(result, report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
