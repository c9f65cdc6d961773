"""scripts/test's two shards (tests/shard.py): every selected test runs in exactly one shard, a file's tests all
in the same one, and the shards' loads stay balanced by the stored durations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shard import DURATIONS, assign, parse_shard

REPO = Path(__file__).resolve().parents[1]


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
