"""Real `locust` processes for the end-to-end plugin tests (issue 7): local, or a master with workers.

Every wait is bounded and waits on something observable (a process exit, a file, a counter on the
simulator); polling intervals are not synchronisation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "tests" / "profiles"
LOCUST = [sys.executable, "-m", "locust"]


def dead_url() -> str:
    """A loopback URL with nothing listening (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> str:
        text = ""
        for path in (self.out, self.err):
            if path.exists():
                text += path.read_text(errors="replace")
        return text


@dataclass
class LocustRun:
    main: Proc
    workers: list[Proc]
    summary_path: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def returncode(self) -> int | None:
        return self.main.popen.returncode

    def wait(self, timeout: float = 60.0) -> int:
        try:
            code = self.main.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"locust did not exit within {timeout}s:\n{self.output()[-4000:]}") from None
        self.ended = time.monotonic()
        for worker in self.workers:
            try:
                worker.popen.wait(15)
            except subprocess.TimeoutExpired:
                worker.popen.kill()
                worker.popen.wait()
                raise AssertionError(f"worker did not exit after the master:\n{worker.output()[-3000:]}") from None
        return code

    @property
    def wall(self) -> float:
        assert self.ended is not None
        return self.ended - self.started

    def send(self, sig: int) -> None:
        self.main.popen.send_signal(sig)

    def kill(self) -> None:
        for proc in [self.main, *self.workers]:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait()

    def output(self) -> str:
        return self.main.output() + "".join(w.output() for w in self.workers)

    def summary(self) -> dict[str, Any]:
        return orjson.loads(self.summary_path.read_bytes())

    def summary_bytes(self) -> bytes:
        return self.summary_path.read_bytes()


def _spawn(args: Sequence[str], env: Mapping[str, str], tmp: Path, name: str) -> Proc:
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        popen = subprocess.Popen(list(args), cwd=REPO, env=dict(env), stdout=o, stderr=e, stdin=subprocess.DEVNULL)
    return Proc(popen, out, err)


def child_env(target_env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "LOCUST_", "FIXLOAD_"))}
    env.update(target_env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_locust(
    tmp: Path,
    profile: str | Path,
    host: str,
    target_env: Mapping[str, str],
    *,
    workers: int = 0,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    locustfile: str = "locustfiles/",
) -> LocustRun:
    """`locust -f locustfiles/ --headless --profile P --summary S -H host`, plus `workers` worker processes."""
    profile_path = Path(profile)
    if not profile_path.is_absolute():
        profile_path = PROFILES / profile_path
    summary = tmp / "summary.json"
    environ = child_env(target_env, env)
    common = ["-f", locustfile, "--profile", str(profile_path)]
    args = [*LOCUST, *common, "--headless", "--summary", str(summary), "-H", host, *extra_args]
    procs: list[Proc] = []
    if workers:
        port = free_port()
        args += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
        args += ["--expect-workers", str(workers), "--expect-workers-max-wait", "30"]
        main = _spawn(args, environ, tmp, "master")
        for i in range(workers):
            wargs = [*LOCUST, *common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
            procs.append(_spawn(wargs, environ, tmp, f"worker{i}"))
    else:
        main = _spawn(args, environ, tmp, "locust")
    return LocustRun(main, procs, summary)


def term(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
