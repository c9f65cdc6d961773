"""The live view's flow-duration window (issue 26 point 1): what a trend gained between two snapshots of the
registry, exactly while the trend keeps its samples and from the sketch's bins after, so the time series'
`fp95`/`favg` are the last intervals' own, not the run's so far."""

from __future__ import annotations

import random

import pytest

from fixload.metrics.sinks import EXACT_LIMIT, TrendSink
from fixload.runtime.live import _gained


def _exact_p95(values: list[float]) -> float:
    sink = TrendSink()
    for v in values:
        sink.add(v)
    return sink.percentile(95)


@pytest.mark.parametrize("before_count", [0, 100, EXACT_LIMIT + 400])
def test_gained_is_the_new_samples_alone(before_count: int) -> None:
    rng = random.Random(before_count)
    old = [rng.uniform(10, 50) for _ in range(before_count)]  # fast iterations, then a slowed flow
    new = [rng.uniform(1500, 2500) for _ in range(300)]
    cumulative = TrendSink()
    for v in old:
        cumulative.add(v)
    before = cumulative.snapshot() if before_count else None
    for v in new:
        cumulative.add(v)
    window = _gained(before, cumulative.snapshot())
    assert window.count == len(new)
    assert window.avg == pytest.approx(sum(new) / len(new), rel=1e-9)
    assert window.percentile(95) == pytest.approx(_exact_p95(new), rel=0.02)  # the sketch's accuracy at most
    assert window.percentile(5) >= 1500 * 0.98  # none of the old, fast samples in it


def test_nothing_gained_and_a_reset_registry() -> None:
    sink = TrendSink()
    for v in (5.0, 6.0, 7.0):
        sink.add(v)
    snap = sink.snapshot()
    assert _gained(snap, snap).is_empty
    fresh = TrendSink()
    fresh.add(9.0)
    assert _gained(snap, fresh.snapshot()).count == 1  # fewer samples than before: a new test, all of it new


@pytest.mark.parametrize("seed", [4, 5])
def test_gained_bins_are_exactly_those_of_the_new_samples(seed: int) -> None:
    """Past the exact samples the window is the sketch's bins subtracted (in C passes): bin for bin the
    sketch of the new samples alone, over old and new ranges that overlap, with negative values too."""
    rng = random.Random(seed)
    old = [rng.lognormvariate(2, 1) for _ in range(3000)] + [-rng.uniform(1, 9) for _ in range(50)]
    new = [rng.lognormvariate(3, 1.5) for _ in range(2000)] + [-rng.uniform(5, 20) for _ in range(30)]
    cumulative, alone = TrendSink(), TrendSink()
    for v in old:
        cumulative.add(v)
    before = cumulative.snapshot()
    for v in new:
        cumulative.add(v)
        alone.add(v)
    window = _gained(before, cumulative.snapshot())
    for side in ("pos", "neg"):
        assert window.snapshot()[side] == alone.snapshot()[side], side
    assert window.count == alone.count
    assert [window.percentile(p) for p in (1, 50, 99)] == pytest.approx([alone.percentile(p) for p in (1, 50, 99)])
