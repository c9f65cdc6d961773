"""Inputs that are files, bounded (issue 25, point 4): one reader (`fixload.common.files.read_input`) for
profiles, env files and summaries. A FIFO with no writer, a device, a directory, a process substitution
`<(...)` or a file past its bound is refused at once with a message naming the path and what was expected
(104 from the commands), never read forever or into memory without end; `validate` and `run` say the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixload.common.files import MAX_ENV_FILE_BYTES, MAX_PROFILE_BYTES, InputFileError, read_input

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "profiles" / "baseline.json"

pytestmark = pytest.mark.timeout(60)


def _fixload(*args: str, shell: str | None = None, timeout: float = 30) -> tuple[int, str, float]:
    """`fixload ARGS` (or a bash command line), its exit code, its output and how long it took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env["PYTHONPATH"] = str(ROOT)
    command = ["bash", "-c", shell] if shell else [sys.executable, "-m", "fixload", *args]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "profile.json"
    os.mkfifo(path)
    return path


# ----------------------------------------------------------------------------------------- the reader


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b'{"a": 1}')
    assert read_input(path, "a profile file", 100) == b'{"a": 1}'


def test_a_fifo_without_a_writer_is_refused_at_once(fifo: Path) -> None:
    started = time.monotonic()
    with pytest.raises(InputFileError, match=r"is a pipe or FIFO .*; expected a profile file, a regular file"):
        read_input(fifo, "a profile file", MAX_PROFILE_BYTES)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused(device: str) -> None:
    with pytest.raises(InputFileError, match=rf"^{device}: is a device; expected an env file"):
        read_input(device, "an env file", MAX_ENV_FILE_BYTES)


def test_a_directory_and_a_missing_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"is a directory; expected a summary JSON file, a regular file$"):
        read_input(tmp_path, "a summary JSON file", 10)
    with pytest.raises(InputFileError, match=r"nope\.json: file not found \(expected a summary JSON file\)"):
        read_input(tmp_path / "nope.json", "a summary JSON file", 10)


def test_a_file_past_the_bound_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (3 * 1024 * 1024))
    assert len(read_input(path, "a profile file", 3 * 1024 * 1024)) == 3 * 1024 * 1024
    with pytest.raises(InputFileError, match="larger than 2 MiB, the bound for a profile file"):
        read_input(path, "a profile file", 2 * 1024 * 1024)


# ------------------------------------------------------------------------------------------ the commands


def test_validate_refuses_a_fifo_at_once_with_104(fifo: Path) -> None:
    code, out, took = _fixload("validate", "--profile", str(fifo))
    assert code == 104, out
    assert f"{fifo}: is a pipe or FIFO" in out and took < 20


def test_validate_refuses_dev_zero_without_reading_it(tmp_path: Path) -> None:
    code, out, _ = _fixload("validate", "--profile", "/dev/zero")
    assert code == 104, out
    assert "/dev/zero: is a device" in out and "MemoryError" not in out and "Traceback" not in out


def test_an_env_file_that_is_a_fifo_is_refused(fifo: Path) -> None:
    code, out, _ = _fixload("validate", "--profile", str(BASELINE), "--env-file", str(fifo))
    assert code == 104, out
    assert f"env file {fifo}: is a pipe or FIFO" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="process substitution needs bash")
def test_a_process_substitution_is_refused_alike_by_validate_and_run() -> None:
    """`<(cat p.json)` passed validate and then failed in run (104, file not found: /dev/fd/63): now both
    refuse it, with the same message, before anything starts."""
    said = []
    for command in ("validate", "run"):
        code, out, _ = _fixload(shell=f"{sys.executable} -m fixload {command} --profile <(cat {BASELINE})")
        assert code == 104, out
        line = next(x for x in out.splitlines() if "is a pipe or FIFO" in x)
        said.append(line.split("/dev/fd/", 1)[1].split(":", 1)[1])
    assert said[0] == said[1]
    assert "embedded simulator" not in out  # run started nothing


def test_report_history_with_a_fifo_in_the_directory_does_not_block(tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    os.mkfifo(history / "stuck.json")
    shutil.copy(ROOT / "tests" / "data" / "k6_summary_export.json", history / "k6.json")
    code, out, took = _fixload("report", "--history", str(history))
    assert code == 0, out
    assert "skipped" in out and "stuck.json: is a pipe or FIFO" in out and took < 20
    os.unlink(history / "k6.json")
    code, out, _ = _fixload("report", "--history", str(history))
    assert code == 104, out  # nothing readable left


def test_compare_and_report_refuse_devices_and_fifos(fifo: Path) -> None:
    code, out, _ = _fixload("compare", str(fifo), "/dev/zero")
    assert code == 104, out
    assert f"{fifo}: is a pipe or FIFO" in out and "/dev/zero: is a device" in out
    code, out, _ = _fixload("report", str(fifo), "--html", str(fifo.parent / "r.html"))
    assert code == 104, out
    assert f"{fifo}: is a pipe or FIFO" in out
