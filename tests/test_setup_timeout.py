"""Setup has a deadline (issue 25, point 2): k6's `setupTimeout` (default 60 s) as the profile's
`settings.setupTimeout` and `--setup-timeout`. Against a target that trickles its answer one byte at a time
(no socket read ever times out), setup ends at the deadline: status setup_failed, k6's SetupTimeout exit
code 100 (checked against the k6 binary in test_exit_codes_k6), no flow request sent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.locust_harness import PROFILES, start_locust

pytestmark = pytest.mark.timeout(90)


class Trickle:
    """A loopback HTTP server that sends its headers (a 100 kB body declared) and then one byte every 0.2 s,
    for as long as the client listens: every socket read succeeds, the response never ends."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.first: float | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            self.first = self.first or time.monotonic()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
                while not self.stop.wait(0.2):
                    conn.sendall(b" ")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    server = Trickle()
    yield server
    server.close()


def _profile(tmp_path: Path, setup_timeout: str | None) -> Path:
    data = orjson.loads((PROFILES / "exitcodes-tiny.json").read_bytes())
    if setup_timeout is not None:
        data["settings"]["setupTimeout"] = setup_timeout
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(data))
    return path


def _run(tmp_path: Path, trickle: Trickle, sim: Any, profile: Path, *args: str) -> tuple[int, dict, float, str]:
    run = start_locust(tmp_path, profile, trickle.url, {**sim.env, "K6_BASE_URL": trickle.url}, extra_args=args)
    code = run.wait(60)
    assert trickle.first is not None, run.output()[-3000:]
    took = time.monotonic() - trickle.first
    return code, run.summary()["fixload"] if run.summary_path.exists() else {}, took, run.output()


def test_setup_past_the_profiles_setup_timeout_ends_with_100(tmp_path: Path, trickle: Trickle, make_simulator) -> None:
    sim = make_simulator()  # its identities and tokens; the target is the trickling server
    code, fx, took, out = _run(tmp_path, trickle, sim, _profile(tmp_path, "2s"))
    assert code == 100, out[-3000:]
    assert fx["status"] == "setup_failed" and fx["exitCode"] == 100
    assert "setupTimeout=2s" in fx["reason"] and "setup timed out" in fx["reason"]
    assert fx["setup"]["failure"]["timeout"] == "2s"
    assert sum(s["started"] for s in fx["scenarios"].values()) == 0
    assert "setup did not finish within setupTimeout=2s" in out
    assert took < 2 + 4, f"{took:.1f}s from setup's first request to the exit"


def test_the_command_line_setup_timeout_beats_the_profiles(tmp_path: Path, trickle: Trickle, make_simulator) -> None:
    sim = make_simulator()
    code, fx, took, out = _run(tmp_path, trickle, sim, _profile(tmp_path, "30s"), "--setup-timeout", "1s")
    assert code == 100, out[-3000:]
    assert "setupTimeout=1s" in fx["reason"]
    assert took < 1 + 4, f"{took:.1f}s from setup's first request to the exit"


def test_a_bad_setup_timeout_is_invalid_input(tmp_path: Path, trickle: Trickle, make_simulator) -> None:
    sim = make_simulator()
    run = start_locust(
        tmp_path, _profile(tmp_path, None), trickle.url, {**sim.env, "K6_BASE_URL": trickle.url},
        extra_args=("--setup-timeout", "soon"),
    )  # fmt: skip
    assert run.wait(60) == 104, run.output()[-3000:]
    assert "--setup-timeout: expected a k6 duration" in run.output()
    assert trickle.first is None  # nothing was sent
    bad = _profile(tmp_path, "0s")
    run = start_locust(tmp_path, bad, trickle.url, {**sim.env, "K6_BASE_URL": trickle.url})
    assert run.wait(60) == 104, run.output()[-3000:]
    assert "settings.setupTimeout" in run.output()
