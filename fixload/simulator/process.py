"""Start a real `fixload serve` process for tests, benchmarks and `fixload run --simulator`-style callers.

    with SimulatorProcess(auth="strict", faults=[{...}]) as sim:
        sim.base_url, sim.env["K6_ADMIN_TOKEN"], sim.token("provider")
        status, body = sim.request("POST", "/api/zones", {...}, token="admin")
        sim.stats(); sim.requests(limit=100); sim.add_fault({...}); sim.clear_faults(); sim.reset_stats()

Readiness is the `.env` file appearing (written only once the socket listens), waited on with a bounded
timeout that also notices the process dying early; no sleeps. The client is urllib: no extra dependency.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from fixload.common import children
from fixload.common.envfile import read_env_file

_REPO_ROOT = Path(__file__).resolve().parents[2]


class SimulatorError(RuntimeError):
    """The simulator did not start (its stderr is in the message) or stopped badly."""


class SimulatorProcess:
    """One simulator subprocess on loopback with a free port."""

    def __init__(
        self,
        *,
        auth: str = "product",
        seed: int | None = None,
        faults: Iterable[Mapping[str, Any]] = (),
        preset: str | None = None,
        extra_args: Iterable[str] = (),
        env_out: Path | str | None = None,
        startup_timeout: float = 10.0,
        cpu: int | None = None,
        keep_env_file: bool = True,
    ) -> None:
        self.auth = auth
        self.seed = seed
        self.faults = [dict(f) for f in faults]
        self.preset = preset
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.cpu = cpu
        self._tmpdir: str | None = None
        self.env_path = Path(env_out) if env_out else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.base_url = ""
        self._stderr: Any = None
        """An unlinked temporary file (nothing to clean up, whatever happens to this process)."""
        self.keep_env_file = keep_env_file
        """False: the tokens live in `env` only; the 0600 file is removed as soon as it is read, so none
        outlives a starter killed by SIGKILL (`fixload run`)."""

    # ------------------------------------------------------------------ lifecycle
    def command(self) -> list[str]:
        assert self.env_path is not None
        cmd = [sys.executable, "-m", "fixload.simulator", "--port", "0", "--env-out", str(self.env_path)]
        cmd += ["--auth", self.auth]
        if not self.keep_env_file:
            cmd.append("--env-out-until-exit")  # the simulator removes it too, should this starter die first
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        for rule in self.faults:
            cmd += ["--fault", orjson.dumps(rule).decode()]
        if self.preset:
            cmd += ["--preset", self.preset]
        return cmd + self.extra_args

    def start(self) -> SimulatorProcess:
        self._tmpdir = tempfile.mkdtemp(prefix="fixload-sim-")
        if self.env_path is None:
            self.env_path = Path(self._tmpdir) / "simulator.env"
        self.env_path.unlink(missing_ok=True)
        self._stderr = tempfile.TemporaryFile(prefix="fixload-sim-stderr-")  # noqa: SIM115  closed in stop()
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), child_env.get("PYTHONPATH")]))
        # Its own process group (a terminal's Ctrl-C is for the run, not its target) and SIGTERM when its
        # starter dies, even by SIGKILL: a simulator never outlives whoever started it.
        self.proc = children.start(
            self.command(),
            hold_signals=False,
            then=(lambda: os.sched_setaffinity(0, {self.cpu})) if self.cpu is not None else None,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=child_env,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not self.env_path.exists():
            if self.proc.poll() is not None:
                raise SimulatorError(f"simulator exited with {self.proc.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                self.stop()
                raise SimulatorError(f"simulator not ready within {self.startup_timeout}s: {self.stderr()}")
            time.sleep(0.01)  # polling interval for a file to appear, not a synchronisation sleep
        self.env = read_env_file(self.env_path)
        self.base_url = self.env["K6_BASE_URL"]
        if not self.keep_env_file:
            self.env_path.unlink(missing_ok=True)
            self._remove_tmpdir()
        return self

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait (then SIGKILL past `timeout`); the exit code."""
        code = 0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        self._remove_tmpdir()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return code

    def _remove_tmpdir(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, limit: int = 16_000_000) -> str:
        """The simulator's whole stderr so far (its request log: `fixload serve --log-level`), at most `limit` bytes."""
        if self._stderr is None:
            return ""
        return os.pread(self._stderr.fileno(), limit, 0).decode(errors="replace")

    def stderr(self) -> str:
        if self._stderr is None:
            return ""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        # pread: the child writes through the same file offset, which a seek here would move
        return os.pread(fd, 4000, max(0, size - 4000)).decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    # ------------------------------------------------------------------ identities
    def token(self, role: str) -> str:
        """The token for `admin`, `provider`, `user` (the customer) or `company`."""
        key = {"admin": "K6_ADMIN_TOKEN", "provider": "K6_PROVIDER_TOKEN", "user": "K6_USER_TOKEN"}.get(role)
        return self.env[key or "K6_COMPANY_TOKEN"]

    # ------------------------------------------------------------------ HTTP helpers
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or None). `token` is a role name or a raw token string; `body` bytes are
        sent as they are (a malformed body), anything else as JSON."""
        data = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = "Bearer " + (self.token(token) if "." not in token else token)
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        parsed = None
        if raw:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(raw)
        return status, parsed

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/__fixload/stats")[1]

    def reset_stats(self) -> None:
        self.request("POST", "/__fixload/stats/reset")

    def requests(self, limit: int = 20_000) -> list[dict[str, Any]]:
        return self.request("GET", f"/__fixload/requests?limit={limit}")[1]

    def add_fault(self, rule: Mapping[str, Any]) -> list[dict[str, Any]]:
        status, body = self.request("POST", "/__fixload/faults", dict(rule))
        if status != 201:
            raise SimulatorError(f"fault rule rejected ({status}): {body}")
        return body

    def clear_faults(self) -> None:
        self.request("DELETE", "/__fixload/faults")
