"""What the open model costs on top of Locust's own paced loop, judged in one run on this machine (issue 30).

Both generators send GET /ping to the embedded simulator (generator pinned to CPU 0, simulator to CPU 1),
counted at the server, in `--rounds` interleaved rounds (engine, paced, engine, paced, ...); each figure is
the median of the rounds:

(f) CPU per request at `--rate`/s, a rate both sustain: the generator's utime+stime over the steady window
    (`--window` s after `--warmup` s) / the requests the server counted in it; the engine's
    (constant-arrival-rate, 200 VUs) over Locust's paced loop's (`--users` FastHttpUsers,
    `constant_throughput`), each round's ratio and their median. Bar: <= 1.05. The engine runs at its
    default start grid (`settings.startGrid`, 5 ms) and at each `--grid` (default 20ms), in the same rounds;
    each run also counts its wake-ups per request (the generator's voluntary context switches), which is
    where the difference goes on this machine (bench/wakeups.py prices one).
(c) Python calls per request, engine over paced (bench/calls.py's bench, imported): a count the machine does
    not move, so one round. Bar: <= 1.03.
(s) the engine's dropped share of its scheduled iterations in the 2-s intervals of its summary's time series
    that lie inside the steady window (6 s of the default 3-11 s), against (p) the paced loop's miss,
    (scheduled - served) / scheduled over the window, in the same rounds at the same rate.
    Bar: s <= p + 0.5 percentage points.
(f=) the same at equal evenness: Locust's paced loop sends in clusters, the engine on an even schedule,
    and each cluster is one wake-up (bench/wakeups.py). Before the rounds one observation of the paced loop
    (bench/evenness.py, root only) gives the band around an even schedule that holds 98 % of its requests;
    the engine runs, in the same rounds, at the start grid of that width (its band is about its grid), so
    both keep the same schedule. After the rounds every arm's evenness is observed once more, for the record.
Saturated b/a, for information only (this machine moves saturated rates by a third between rounds): the
engine asked `--saturated-rate`/s against the bare Locust loop (no wait), both per round.

    python bench/cost.py [--rounds 5] [--rate 1200] [--window 8] [--grid 20ms] [--no-saturated] [--no-evenness]
                         [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calls
import evenness
from _common import (
    GENERATOR_CPU,
    SIMULATOR_CPU,
    child_env,
    dropped_pct,
    engine_command,
    finish,
    measure,
    paced_command,
    paced_env,
    read_json,
    steady_window,
)

from fixload.simulator.process import SimulatorProcess

F_BAR, C_BAR, S_BAR_PP = 1.05, 1.03, 0.5
ENGINE_VUS = 200
OPS_RATE = 200
"""Requests/s of the bytecode count beside (c): tracing every bytecode slows both generators a lot."""


def missed_pct(rate: float, seconds: float, served: int) -> float:
    """The paced loop's miss over a window, in %: (scheduled - served) / scheduled, scheduled = rate x seconds
    (negative when it served a little more than asked in the window)."""
    scheduled = rate * seconds
    return round(100.0 * (scheduled - served) / scheduled, 3) if scheduled else float("nan")


def equal_grid(band_ms: float) -> str:
    """The start grid whose schedule is as even as a band of `band_ms` (an engine's band is about its grid;
    bench/evenness.py), within `settings.startGrid`'s 1-100 ms."""
    return f"{min(100, max(1, round(band_ms)))}ms" if not math.isnan(band_ms) else "20ms"


def round_ratios(engine: Sequence[float], paced: Sequence[float]) -> list[float]:
    """Each round's engine/paced ratio (rounds in order; a round with nothing for paced gives NaN)."""
    return [round(e / p, 3) if p else float("nan") for e, p in zip(engine, paced, strict=True)]


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)


def at_most(value: float | None, bar: float) -> bool | None:
    """value <= bar; None when not measured; False when the figure is NaN (a run that measured nothing)."""
    if value is None:
        return None
    return not math.isnan(value) and not math.isnan(bar) and value <= bar


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures against their bars: figure, what, value, bar in words, met (None: not judged)."""
    s_bar = r["p"]["median"] + S_BAR_PP
    out = [
        _verdict(
            "f",
            "CPU per request engine/paced, default start grid",
            r["f"]["median"],
            f"<= {F_BAR}",
            at_most(r["f"]["median"], F_BAR),
        ),
        *(
            [
                _verdict(
                    "f=",
                    f"CPU per request engine/paced at equal evenness (startGrid {r['f_even']['grid']}, the paced "
                    f"loop's band {r['f_even']['paced_band_ms']} ms)",
                    r["f_even"]["median"],
                    f"<= {F_BAR}",
                    at_most(r["f_even"]["median"], F_BAR),
                )
            ]
            if "median" in r.get("f_even", {})
            else []
        ),
        *(
            _verdict(
                f"f@{grid}",
                f"CPU per request engine/paced, startGrid {grid}",
                g["median"],
                f"<= {F_BAR}",
                at_most(g["median"], F_BAR),
            )
            for grid, g in r.get("f_grids", {}).items()
            if grid in r.get("grids", [grid])  # the grids asked for; the equal-evenness arm is (f=)
        ),
        _verdict(
            "c", "calls per request engine/paced", r["c"]["ratio"], f"<= {C_BAR}", at_most(r["c"]["ratio"], C_BAR)
        ),
        _verdict(
            "s",
            "engine dropped % vs (p) paced missed %",
            r["s"]["median"],
            f"<= p + {S_BAR_PP} pp = {s_bar:.3f}",
            at_most(r["s"]["median"], s_bar),
        ),
    ]
    if "saturated" in r:
        out.append(
            _verdict("b/a", "saturated engine/bare loop req/s", r["saturated"]["median"], "information only", None)
        )
    return out


def _verdict(figure: str, what: str, value: float | None, bar: str, met: bool | None) -> dict[str, Any]:
    return {"figure": figure, "what": what, "value": value, "bar": bar, "met": met}


def bench(
    rate: int,
    rounds: int,
    warmup: float,
    window: float,
    users: int,
    saturated_rate: int | None,
    calls_rate: int | None,
    grids: Sequence[str] = (),
    even: bool = True,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-cost-"))
    seconds = int(warmup + window + 15)  # the runs are stopped (SIGTERM) once the window is counted
    result: dict[str, Any] = {
        "rate": rate,
        "users": users,
        "vus": ENGINE_VUS,
        "rounds": rounds,
        "warmup_s": warmup,
        "window_s": window,
        "grids": list(grids),
        "tmp": str(tmp),
    }
    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "paced": [], "bare": [], "saturated": []}
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        env.pop("FIXLOAD_BENCH_PACE", None)
        bare_cmd = paced_command(tmp, sim.base_url, users, seconds)
        paced_env_ = paced_env(env, rate, users)
        if even:  # the grid whose schedule is as even as the paced loop's, run as one more arm
            seen = evenness.observe(sim, bare_cmd, paced_env_, GENERATOR_CPU, warmup, 4, tmp / "paced-even.log")
            grid = equal_grid(seen["band_ms"])
            result["f_even"] = {"grid": grid, "paced_band_ms": seen["band_ms"]}
            grids = [*grids, grid] if grid not in grids else list(grids)
        runs |= {f"engine@{grid}": [] for grid in grids}

        def engine_at(at: int, name: str, grid: str | None = None) -> dict[str, Any]:
            summary = tmp / f"{name}-summary.json"
            cmd = engine_command(tmp, sim.base_url, at, seconds, ENGINE_VUS, name, start_grid=grid)
            run = measure(
                sim, [*cmd, "--summary", str(summary)], env, GENERATOR_CPU, warmup, window, tmp / f"{name}.log"
            )
            done = read_json(summary) if summary.exists() else {}
            steady = steady_window(done, warmup, warmup + window) if done else {}
            lag = done.get("metrics", {}).get("iteration_start_lag", {}).get("p(95)", float("nan"))
            return {
                **run,
                "rate": at,
                "dropped_pct": round(dropped_pct(steady), 3) if steady else float("nan"),
                "lag_p95_ms": round(lag, 2),
            }

        for i in range(rounds):
            runs["engine"].append(engine_at(rate, f"engine{i}"))
            for grid in grids:
                runs[f"engine@{grid}"].append(engine_at(rate, f"engine{i}-{grid}", grid))
            paced = measure(sim, bare_cmd, paced_env_, GENERATOR_CPU, warmup, window, tmp / f"paced{i}.log")
            runs["paced"].append({**paced, "missed_pct": missed_pct(rate, paced["seconds"], paced["requests"])})
            if saturated_rate:
                runs["bare"].append(measure(sim, bare_cmd, env, GENERATOR_CPU, warmup, window, tmp / f"bare{i}.log"))
                runs["saturated"].append(engine_at(saturated_rate, f"saturated{i}"))
    engine_us = [v["generator_us_per_request"] for v in runs["engine"]]
    paced_us = [v["generator_us_per_request"] for v in runs["paced"]]
    f_ratios = round_ratios(engine_us, paced_us)
    result["f"] = {"engine_us": engine_us, "paced_us": paced_us, "ratios": f_ratios, "median": median(f_ratios)}
    result["f_grids"] = {}
    for grid in grids:
        us = [v["generator_us_per_request"] for v in runs[f"engine@{grid}"]]
        ratios = round_ratios(us, paced_us)
        result["f_grids"][grid] = {"engine_us": us, "ratios": ratios, "median": median(ratios)}
    result["wakeups_per_request"] = {
        k: median([v["generator_wakeups_per_request"] for v in runs[k]])
        for k in runs
        if k.startswith(("engine", "paced")) and runs[k]
    }
    result["s"] = {"dropped_pct": [v["dropped_pct"] for v in runs["engine"]]}
    result["lag_p95_ms"] = {
        k: median([v["lag_p95_ms"] for v in runs[k]]) for k in runs if k.startswith("engine") and runs[k]
    }
    result["s"]["median"] = median(result["s"]["dropped_pct"])
    result["p"] = {"missed_pct": [v["missed_pct"] for v in runs["paced"]]}
    result["p"]["median"] = median(result["p"]["missed_pct"])
    result["served_rps"] = {k: [v["rps"] for v in runs[k]] for k in ("engine", "paced")}
    result["stolen_pct"] = {k: [round(100 * v["generator_core_stolen"], 1) for v in runs[k]] for k in runs if runs[k]}
    result["simulator_cpu"] = {k: [v["simulator_cpu"] for v in runs[k]] for k in runs if runs[k]}
    if saturated_rate:
        a, b = [v["rps"] for v in runs["bare"]], [v["rps"] for v in runs["saturated"]]
        ratios = round_ratios(b, a)
        result["saturated"] = {
            "rate": saturated_rate,
            "a_rps": a,
            "b_rps": b,
            "ratios": ratios,
            "median": median(ratios),
        }
    if calls_rate:
        # all of it: RESULTS.md's calls section, with the bytecodes per request (at bench/calls.py's default rate)
        c = result["calls"] = calls.bench(calls_rate, users, rounds=1, ops_rate=OPS_RATE)
        result["c"] = {
            "rate": calls_rate,
            "rounds": 1,
            "engine": c["engine"]["calls_per_request"],
            "paced": c["paced"]["calls_per_request"],
            "ratio": c["engine_over_paced"],
            "engine_extra": c["engine_extra"][:10],
            "ops_ratio": c["ops"]["engine_over_paced"],
        }
    else:
        result["c"] = {"rate": None, "rounds": 0, "engine": None, "paced": None, "ratio": None, "engine_extra": []}
    if even:  # after the rounds: its reader adds its own work to the machine, so no round measures beside it
        result["evenness"] = evenness.bench(rate, users, warmup, 4, grids)
        result["f_even"] |= result["f_grids"][result["f_even"]["grid"]]
    result["verdicts"] = verdicts(result)
    return result


def _met(v: dict[str, Any]) -> str:
    if v["met"] is None:
        return "information only" if v["figure"] == "b/a" else "not measured"
    return "met" if v["met"] else "NOT met"


def report(r: dict[str, Any]) -> str:
    f, s, p, c = r["f"], r["s"], r["p"], r["c"]
    lines = [
        f"GET /ping, generator on CPU {GENERATOR_CPU}, simulator on CPU {SIMULATOR_CPU}, counted at the server over "
        f"{r['window_s']:g} s after {r['warmup_s']:g} s; {r['rounds']} interleaved rounds, medians",
        f"  (f) CPU per request at {r['rate']}/s: engine ({r['vus']} VUs) {f['engine_us']} µs, paced loop "
        f"({r['users']} users) {f['paced_us']} µs",
        f"      engine/paced per round {f['ratios']}: median {f['median']}",
        *(
            f"      startGrid {grid}: engine µs {g['engine_us']}, engine/paced per round {g['ratios']}: median "
            f"{g['median']}"
            for grid, g in r.get("f_grids", {}).items()
        ),
        *(
            [
                f"      at equal evenness: the paced loop's band {e['paced_band_ms']} ms, the engine at startGrid "
                f"{e['grid']}: engine/paced per round {e['ratios']}: median {e['median']}"
            ]
            if "median" in (e := r.get("f_even", {}))
            else []
        ),
        f"      wake-ups per request (medians): {r.get('wakeups_per_request', {})}; start lag p95 ms (whole run, "
        f"medians): {r.get('lag_p95_ms', {})}",
        f"  (c) calls per request at {c['rate']}/s ({c['rounds']} round: a count, repeatable to ~0.2 calls): engine "
        f"{c['engine']}, paced {c['paced']}: engine/paced {c['ratio']}",
        f"  (s) engine dropped % at {r['rate']}/s per round {s['dropped_pct']}: median {s['median']}",
        f"  (p) paced loop missed % at {r['rate']}/s per round {p['missed_pct']}: median {p['median']}",
        f"      served req/s: engine {r['served_rps']['engine']}, paced {r['served_rps']['paced']}",
    ]
    if "evenness" in r:
        lines += [
            f"  evenness, one observation each: {name} 98 % within {e['band_ms']} ms of an even schedule, gap p99 "
            f"{e['gap_p99_ms']} ms"
            for name, e in r["evenness"]["arms"].items()
        ]
    if "saturated" in r:
        sat = r["saturated"]
        lines.append(
            f"  saturated, information only: engine asked {sat['rate']}/s {sat['b_rps']} req/s, bare loop "
            f"{sat['a_rps']} req/s: b/a per round {sat['ratios']}, median {sat['median']}"
        )
    lines.append(f"  generator core stolen by the hypervisor, % per round: {r['stolen_pct']}")
    lines.append("verdict:")
    lines += [f"  ({v['figure']}) {v['what']}: {v['value']}  bar {v['bar']}: {_met(v)}" for v in r["verdicts"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5); medians reported")
    parser.add_argument("--rate", type=int, default=1200, help="requests/s asked of both for (f), (s), (p)")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--window", type=float, default=8)
    parser.add_argument("--users", type=int, default=50, help="users of Locust's paced and bare loops")
    parser.add_argument("--saturated-rate", type=int, default=20000, help="the engine's ask for saturated b/a")
    parser.add_argument("--no-saturated", action="store_true", help="skip saturated b/a")
    parser.add_argument("--calls-rate", type=int, default=400, help="requests/s of bench/calls.py's run for (c)")
    parser.add_argument("--no-calls", action="store_true", help="skip (c)")
    parser.add_argument(
        "--grid",
        action="append",
        default=None,
        help="also run the engine with this settings.startGrid (repeatable; default 20ms; 'none' for none)",
    )
    parser.add_argument("--no-evenness", action="store_true", help="skip evenness (it reads packets: root only)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rate < 1 or args.window < 1 or args.warmup < 0:
        parser.error("--rounds, --rate and --window must be at least 1, --warmup at least 0")
    result = bench(
        args.rate,
        args.rounds,
        args.warmup,
        args.window,
        args.users,
        None if args.no_saturated else args.saturated_rate,
        None if args.no_calls else args.calls_rate,
        [g for g in (args.grid or ["20ms"]) if g != "none"],
        not args.no_evenness,
    )
    return finish(result, report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
