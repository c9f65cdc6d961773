"""scripts/test's two shards (tests/shard.py): every selected test runs in exactly one shard, a file's tests all
in the same one, and the shards' loads stay balanced by the stored durations."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.shard import DURATIONS, assign, parse_shard
from tests.support import wait_for
from tests.surfacekit import REPO


def test_heaviest_first_each_to_the_least_loaded_shard() -> None:
    weights = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 1.0}
    assert assign(["d", "c", "b", "a"], weights, 2) == [["a", "d"], ["b", "c"]]
    assert assign(["x", "a"], weights, 2) == [["a"], ["x"]]  # unknown: the median's weight (5.5)


def test_the_stored_durations_split_the_suite_within_a_tenth() -> None:
    weights = json.loads(DURATIONS.read_text())
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py"))
    shards = assign(files, weights, 2)
    assert sorted(shards[0] + shards[1]) == files
    loads = [sum(weights.get(f, 0.0) for f in shard) for shard in shards]
    assert max(loads) <= 1.1 * min(loads), loads


@pytest.mark.parametrize("value", ["1", "0/2", "3/2", "a/b"])
def test_a_bad_shard_is_a_usage_error_naming_the_option(value: str) -> None:
    with pytest.raises(pytest.UsageError, match="--shard: expected"):
        parse_shard(value)


def test_two_shards_run_every_test_once_with_each_file_whole(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.shard"]\n')
    for name in "abcde":
        (tmp_path / f"test_{name}.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(3)))

    def collected(*args: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:locust",
             "-o", "addopts=", *args],
            cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        return [line for line in out.stdout.splitlines() if "::" in line]

    everything, one, two = collected(), collected("--shard", "1/2"), collected("--shard", "2/2")
    assert len(everything) == 15 and sorted(one + two) == sorted(everything) and not set(one) & set(two)
    files_one, files_two = {t.split("::")[0] for t in one}, {t.split("::")[0] for t in two}
    assert files_one and files_two and not files_one & files_two


@pytest.mark.parametrize("failing", [None, "test_a.py", "test_d.py"])
def test_scripts_test_exits_with_the_worst_shard_and_prints_both(tmp_path: Path, failing: str | None) -> None:
    """scripts/test as CI runs it (no arguments) on a copy holding four small test files: both shards' results
    are printed, and a failure in either shard (the live one or the logged one) fails the whole."""
    tests = _copy(tmp_path)
    for name in "abcd":
        body = "assert False" if failing == f"test_{name}.py" else "pass"
        (tests / f"test_{name}.py").write_text(f"def test_{name}():\n    {body}\n")
    out = subprocess.run(["scripts/test"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert out.stdout.count(" passed") == 2 and "shard 2 of 2" in out.stdout, out.stdout + out.stderr
    assert (out.returncode != 0) == (failing is not None), out.stdout + out.stderr
    assert out.stdout.rstrip().endswith(f"scripts/test: 2 shards, exit {out.returncode}")


@pytest.mark.parametrize("signal_", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_scripts_test_ends_every_shard_at_once(tmp_path: Path, signal_: signal.Signals) -> None:
    """A signal to the PID CI has (its timeout, a person's kill) ends both shards' pytest now, not when the
    running test returns; nothing is left behind."""
    tests = _copy(tmp_path)
    for name in "abcd":
        (tests / f"test_{name}.py").write_text(
            f"import os, pathlib, time\n\ndef test_{name}():\n"
            f"    pathlib.Path({str(tmp_path)!r}, f'{name}.{{os.getpid()}}').touch()\n    time.sleep(60)\n"
        )
    # SIGINT as a person's shell delivers it: this test may itself run under a non-interactive shell's
    # background job (scripts/test's shards), which starts with SIGINT ignored, and bash cannot trap a
    # signal ignored on entry
    script = subprocess.Popen(
        ["scripts/test"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: len(list(tmp_path.glob("*.[0-9]*"))) == 2, 30, "both shards in their first test")
        pids = [int(p.name.split(".")[1]) for p in tmp_path.glob("*.[0-9]*")]
        script.send_signal(signal_)
        assert script.wait(timeout=10) != 0
        wait_for(
            lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids),
            10,
            "the shards to end",
        )
    finally:
        if script.poll() is None:
            script.kill()


def _copy(root: Path) -> Path:
    """scripts/test and tests/shard.py under `root`, with an empty tests package for the caller's files."""
    (root / "scripts").mkdir()
    (root / "scripts" / "test").write_bytes((REPO / "scripts" / "test").read_bytes())
    (root / "scripts" / "test").chmod(0o755)
    tests = root / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    (tests / "shard.py").write_bytes((REPO / "tests" / "shard.py").read_bytes())
    (tests / "conftest.py").write_text('pytest_plugins = ["tests.shard"]\n')
    return tests


def _env() -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTEST_ADDOPTS": "-p no:locust -p no:cacheprovider",
    }
