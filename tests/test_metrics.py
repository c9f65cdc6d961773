"""fixload.metrics.registry: k6's metric types, tagged series, sub-metric queries, and the worker -> master merge."""

from __future__ import annotations

import math
import random
import time

import msgpack
import pytest

from fixload.metrics.registry import BUILTIN_METRICS, Registry
from fixload.metrics.sinks import (
    BIN_LIMIT,
    EXACT_LIMIT,
    RELATIVE_ACCURACY,
    CounterSink,
    GaugeSink,
    MetricError,
    MetricType,
    RateSink,
    TrendSink,
    ValueType,
)


def exact_percentile(sorted_values: list[float], p: float) -> float:
    """k6's TrendSink.P: linear interpolation at rank p/100 * (n-1)."""
    i = p / 100 * (len(sorted_values) - 1)
    lo, hi = math.floor(i), math.ceil(i)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (i - lo)


def roundtrip(snapshot: dict) -> dict:
    """What Locust's report_to_master does to the payload."""
    return msgpack.unpackb(msgpack.packb(snapshot), strict_map_key=False)


# ----------------------------------------------------------------------------------------- built-ins


def test_builtins_are_predefined_with_k6_types():
    registry = Registry()
    expected = {
        "http_reqs": (MetricType.COUNTER, ValueType.DEFAULT),
        "http_req_duration": (MetricType.TREND, ValueType.TIME),
        "http_req_failed": (MetricType.RATE, ValueType.DEFAULT),
        "iterations": (MetricType.COUNTER, ValueType.DEFAULT),
        "iteration_duration": (MetricType.TREND, ValueType.TIME),
        "dropped_iterations": (MetricType.COUNTER, ValueType.DEFAULT),
        "vus": (MetricType.GAUGE, ValueType.DEFAULT),
        "vus_max": (MetricType.GAUGE, ValueType.DEFAULT),
        "checks": (MetricType.RATE, ValueType.DEFAULT),
        "data_received": (MetricType.COUNTER, ValueType.DATA),
        "data_sent": (MetricType.COUNTER, ValueType.DATA),
    }
    assert {m.name for m in BUILTIN_METRICS} == set(expected)
    for name, (kind, contains) in expected.items():
        metric = registry.get(name)
        assert metric is not None and (metric.type, metric.contains) == (kind, contains)
    assert Registry(builtins=False).metrics() == []


def test_define_custom_metrics_and_adding_to_undefined_is_an_error():
    registry = Registry()
    registry.define("booking_flow_duration", "trend", contains="time")
    registry.define("booking_flow_success_rate", MetricType.RATE)
    registry.define("booking_flow_failures", "counter")
    assert registry.define("booking_flow_duration", "trend", contains=True).contains is ValueType.TIME  # idempotent
    with pytest.raises(MetricError, match="already defined as a trend"):
        registry.define("booking_flow_duration", "rate")
    with pytest.raises(MetricError):
        registry.define("x", "histogram")
    with pytest.raises(MetricError):
        registry.define("bad{name}", "trend")
    with pytest.raises(MetricError, match="not defined"):
        registry.add("chat_flow_duration", 1.0)
    with pytest.raises(MetricError, match="must be str"):
        registry.add("http_reqs", 1, {"status": 200})  # type: ignore[dict-item]


# ------------------------------------------------------------------------------------- sink semantics


def test_counter_count_and_rate_per_second():
    sink = CounterSink()
    assert sink.is_empty and sink.compute("count") == 0 and sink.compute("rate", 10) == 0
    for v in (1, 1, 3):
        sink.add(v)
    assert sink.count == 5
    assert sink.compute("rate", 2.0) == 2.5
    assert sink.rate(0) == 0.0
    with pytest.raises(MetricError):
        sink.compute("avg")


def test_rate_is_share_of_non_zero_values():
    sink = RateSink()
    assert sink.compute("rate") is None  # k6 leaves it undefined
    assert sink.rate == 0.0
    for v in (True, False, 1, 0, 2.5):
        sink.add(v)
    assert (sink.passes, sink.fails, sink.total) == (3, 2, 5)
    assert sink.compute("rate") == pytest.approx(0.6)


def test_gauge_keeps_last_min_max():
    sink = GaugeSink()
    assert sink.compute("value") == 0.0
    for v in (7, 3, 9, 4):
        sink.add(v)
    assert (sink.value, sink.min, sink.max) == (4, 3, 9)
    with pytest.raises(MetricError):
        sink.compute("count")


def test_gauge_merge_takes_the_latest_value():
    old, new = GaugeSink(), GaugeSink()
    old.add(50)
    time.sleep(0.002)
    new.add(5)
    merged = GaugeSink()
    merged.merge_snapshot(roundtrip(new.snapshot()))
    merged.merge_snapshot(roundtrip(old.snapshot()))
    merged.merge_snapshot(GaugeSink().snapshot())
    assert (merged.value, merged.min, merged.max, merged.samples) == (5, 5, 50, 2)


def test_trend_small_series_is_exact_like_k6():
    sink = TrendSink()
    assert sink.percentile(95) == 0.0 and sink.compute("avg") == 0 and sink.compute("max") == 0
    values = [100.0, 200.0]
    for v in values:
        sink.add(v)
    assert sink.percentile(95) == 195.0  # k6 interpolates; a sketch would say ~200
    assert sink.med == 150.0
    assert (sink.min, sink.max, sink.avg, sink.count) == (100.0, 200.0, 150.0, 2)
    assert sink.compute("p(99.9)") == pytest.approx(199.9)
    assert sink.percentile(0) == 100.0 and sink.percentile(100) == 200.0


def test_trend_handles_zero_and_negative_values_past_the_exact_limit():
    rng = random.Random(3)
    values = [rng.uniform(-50, 50) for _ in range(EXACT_LIMIT * 4)] + [0.0] * 100
    sink = TrendSink()
    for v in values:
        sink.add(v)
    assert sink.exact is None
    ordered = sorted(values)
    for p in (1, 10, 50, 90, 99):
        exact = exact_percentile(ordered, p)
        assert abs(sink.percentile(p) - exact) <= max(abs(exact) * 0.005, 0.2)
    restored = TrendSink()
    restored.merge_snapshot(roundtrip(sink.snapshot()))
    assert restored.percentile(25) == sink.percentile(25)
    assert (restored.min, restored.max, restored.count) == (sink.min, sink.max, sink.count)


BATCH = 256
"""Samples a test adds between two folds, where it folds by hand (a run folds at every read and sample)."""


def test_trend_samples_held_back_from_the_sketch_are_in_every_read():
    # a sink read while samples are still buffered: its percentiles, its snapshot and a merge count every
    # sample, and match a sink whose sketch got each sample at once
    rng = random.Random(11)
    values = [rng.lognormvariate(3, 1) for _ in range(EXACT_LIMIT * 3 + BATCH // 2 + 7)]
    sink, reference = TrendSink(), TrendSink()
    for i, v in enumerate(values):
        sink.add(v)
        reference.add(v)
        reference.fold()
        if i in (EXACT_LIMIT * 2 + 3, len(values) - 1):  # mid-batch reads
            assert sink.percentile(95) == reference.percentile(95)
            folded, one_by_one = sink.snapshot(), reference.snapshot()
            assert folded.pop("sum") == pytest.approx(one_by_one.pop("sum"), rel=1e-12)  # added in another order
            assert folded == one_by_one
    merged = TrendSink()
    merged.add(1.0)  # pending in the target too
    merged.merge(sink)
    assert merged.count == len(values) + 1 == merged.sketch.count
    restored = TrendSink()
    restored.merge_snapshot(roundtrip(sink.snapshot()))
    assert restored.percentile(99) == sink.percentile(99) and restored.sketch.count == len(values)


def test_trend_sketch_percentiles_at_the_edges():
    same = TrendSink()
    for _ in range(EXACT_LIMIT + 100):
        same.add(250.0)
    assert same.percentile(0) == same.percentile(99.9) == same.percentile(100) == 250.0
    negative = TrendSink()
    values = [-float(i) for i in range(1, EXACT_LIMIT * 3)]
    for v in values:
        negative.add(v)
    ordered = sorted(values)
    for p in (0, 5, 50, 95, 100):
        exact = exact_percentile(ordered, p)
        assert abs(negative.percentile(p) - exact) <= abs(exact) * 0.005, p


def test_trend_memory_is_bounded_whatever_the_sample_count():
    """Bins depend on the value range (log scale), never on the count; past BIN_LIMIT the lowest collapse."""
    rng = random.Random(5)
    sink = TrendSink()
    for _ in range(400_000):
        sink.add(rng.lognormvariate(5, 1.5))
    bins = len(sink.snapshot()["pos"][1])
    gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    assert bins <= math.log(sink.max / sink.min) / math.log(gamma) + 2
    assert len(msgpack.packb(sink.snapshot())) < 16_000
    for v in (1e-9, 1e-6, 1e12):  # a range far beyond the bin limit
        sink.add(v)
    assert len(sink.snapshot()["pos"][1]) <= BIN_LIMIT
    assert sink.max == 1e12 and sink.min == 1e-9  # still exact


def test_trend_bins_are_those_ddsketch_gives_sample_by_sample():
    # TrendSink counts a batch per bin and adds each bin once; the bins, zero count and quantiles must be
    # exactly what the library's own DDSketch.add makes of the same samples one at a time: positive,
    # zero and negative values, and a range wide enough that the lowest bins collapse
    from ddsketch.ddsketch import BaseDDSketch
    from ddsketch.mapping import LogarithmicMapping
    from ddsketch.store import CollapsingHighestDenseStore, CollapsingLowestDenseStore

    rng = random.Random(23)
    values = [rng.lognormvariate(1, 2) for _ in range(BATCH * 7 + 5)]
    values += [0.0, -3.5, -0.25, 1e-12, 1e9, -1e-15, -1e12] + [rng.uniform(1, 3) for _ in range(BATCH * 2)]
    values += [rng.choice((1e-15, 1e12, 3e-6, 42.0)) for _ in range(BATCH * 2)]  # positive, collapsing
    pos, neg = CollapsingLowestDenseStore(BIN_LIMIT), CollapsingHighestDenseStore(BIN_LIMIT)
    reference = BaseDDSketch(LogarithmicMapping(RELATIVE_ACCURACY), pos, neg, 0.0)
    sink = TrendSink()
    for i, v in enumerate(values):
        reference.add(v)
        sink.record(v)
        if i % BATCH == BATCH - 1:
            sink.fold()  # batches of positive values (keys in C), and one with zero and negative values
    assert pos.is_collapsed and sink.pos.is_collapsed
    assert sink.pos.bins == pos.bins and sink.pos.min_key == pos.min_key and sink.pos.max_key == pos.max_key
    assert sink.neg.bins == neg.bins and sink.pos.count == pos.count and sink.neg.count == neg.count
    assert sink.sketch.count == reference.count == len(values)
    for q in (0.0, 0.01, 0.25, 0.5, 0.95, 0.999, 1.0):
        assert sink.sketch.get_quantile_value(q) == reference.get_quantile_value(q), q
    # a master merging the worker's snapshot gets the same bins, both stores collapsed
    assert neg.is_collapsed
    restored = TrendSink()
    restored.merge_snapshot(roundtrip(sink.snapshot()))
    assert restored.snapshot() == sink.snapshot()
    for q in (0.0, 0.01, 0.5, 0.999, 1.0):
        assert restored.sketch.get_quantile_value(q) == reference.get_quantile_value(q), q


def test_a_batch_s_keys_are_the_mapping_s_own():
    """`_keys` computes LogarithmicMapping.key in C over a batch: the same key for every value, including
    values at bin edges, tiny and huge ones."""
    from fixload.metrics.sinks import MAPPING, _keys

    rng = random.Random(3)
    values = [rng.lognormvariate(0, 6) for _ in range(20_000)]
    values += [MAPPING.value(k) for k in range(-2000, 2000, 7)]  # a bin's representative value
    values += [MAPPING.min_possible * 1.5, 1e-300, 1e300, 1.0, 2.0, 1 + 1e-15]
    assert list(_keys(values)) == [MAPPING.key(v) for v in values]


def test_counter_rate_and_trend_record_through_their_buffer_and_read_folded():
    counter, rate, trend = CounterSink(), RateSink(), TrendSink()
    for i in range(10):
        counter.record(2.0)
        rate.record(float(i % 3 == 0))
        trend.record(float(i + 1))
    assert (counter.count, counter.samples) == (20.0, 10)
    assert (rate.passes, rate.total, rate.fails) == (4, 10, 6)
    assert (trend.count, trend.min, trend.max, trend.avg) == (10, 1.0, 10.0, 5.5)
    rate.record(float("nan"))  # non-zero: a pass, as k6 counts it
    rate.record(-0.0)  # zero: a fail
    assert (rate.passes, rate.total) == (5, 12)


def test_reset_empties_the_sinks_in_place_so_kept_handles_stay_valid():
    registry = Registry()
    record = registry.recorder("http_reqs", {"scenario": "s"})
    record(1.0)
    generation = registry.generation
    snapshot = registry.snapshot(reset=True)
    assert snapshot["metrics"][[m["name"] for m in snapshot["metrics"]].index("http_reqs")]["series"]
    assert registry.generation == generation and registry.aggregate("http_reqs").count == 0
    record(1.0)
    record(1.0)
    assert registry.aggregate("http_reqs").count == 2.0


def test_a_tap_gets_every_sample_of_a_handle_taken_after_it_came():
    registry = Registry()
    seen: list[tuple[str, float]] = []
    before = registry.generation
    registry.add_tap(lambda name, value, tags: seen.append((name, value)))
    assert registry.generation != before  # handles taken before the tap must be taken again
    registry.recorder("iterations", {"scenario": "s"})(1.0)
    assert seen == [("iterations", 1.0)] and registry.aggregate("iterations").count == 1.0


# -------------------------------------------------------------------------------- series and queries

BOOKING_POST = {"scenario": "booking_flow", "method": "POST", "name": "/bookings", "status": "201"}
BOOKING_GET = {"scenario": "booking_flow", "method": "GET", "name": "/bookings/{id}", "status": "200"}
CHAT_POST = {"scenario": "chat_flow", "method": "POST", "name": "/messages", "status": "500"}


def filled_registry() -> Registry:
    registry = Registry()
    for v in (100, 200, 300):
        registry.add("http_req_duration", v, BOOKING_POST)
    for v in (10, 20):
        registry.add("http_req_duration", v, BOOKING_GET)
    registry.add("http_req_duration", 5000, CHAT_POST)
    registry.add("http_req_failed", False, BOOKING_POST)
    registry.add("http_req_failed", True, CHAT_POST)
    registry.add("http_reqs", 1, BOOKING_POST)
    registry.add("http_reqs", 1, CHAT_POST)
    registry.add("vus", 12)
    return registry


def test_selector_merges_every_series_whose_tags_include_it():
    registry = filled_registry()
    whole = registry.aggregate("http_req_duration")
    assert (whole.count, whole.max) == (6, 5000)
    booking = registry.aggregate("http_req_duration", {"scenario": "booking_flow"})
    assert (booking.count, booking.min, booking.max) == (5, 10, 300)
    post = registry.aggregate("http_req_duration", {"scenario": "booking_flow", "method": "POST"})
    assert (post.count, post.avg) == (3, 200)
    none = registry.aggregate("http_req_duration", {"scenario": "nope"})
    assert none.is_empty and none.percentile(95) == 0.0
    assert registry.aggregate("http_req_failed", {"scenario": "chat_flow"}).compute("rate") == 1.0
    assert registry.has_samples("http_reqs", {"scenario": "chat_flow"})
    assert not registry.has_samples("iterations")
    with pytest.raises(MetricError):
        registry.aggregate("nope")


def test_listing_series_and_tag_values():
    registry = filled_registry()
    series = registry.series("http_req_duration")
    assert len(series) == 3
    assert [s.tags["scenario"] for s in series] == ["booking_flow", "booking_flow", "chat_flow"]
    assert registry.tag_values("http_req_duration", "scenario") == ["booking_flow", "chat_flow"]
    assert registry.tag_values("http_req_duration", "status") == ["200", "201", "500"]
    assert registry.tag_keys("http_reqs") == ["method", "name", "scenario", "status"]
    assert {s.metric.name for s in registry.series()} == {"http_req_duration", "http_req_failed", "http_reqs", "vus"}
    assert "vus" in registry and "nope" not in registry


# ------------------------------------------------------------------------------------------- merging


def test_snapshot_is_plain_msgpack_data_and_merge_is_exact():
    workers = [filled_registry() for _ in range(3)]
    workers[0].define("booking_flow_failures", "counter")
    workers[0].add("booking_flow_failures", 2, {"scenario": "booking_flow"})
    master = Registry()
    for w in workers:
        master.merge(roundtrip(w.snapshot(reset=True)))
        assert w.aggregate("http_req_duration").is_empty  # delta sent, worker reset
        assert w.get("booking_flow_failures") is not None or w is not workers[0]
    booking = master.aggregate("http_req_duration", {"scenario": "booking_flow"})
    assert (booking.count, booking.min, booking.max, booking.sum) == (15, 10, 300, 3 * 630)
    assert booking.percentile(50) == exact_percentile(sorted([100, 200, 300, 10, 20] * 3), 50)
    assert master.aggregate("http_reqs").count == 6
    assert master.aggregate("http_req_failed").compute("rate") == 0.5
    assert master.get("booking_flow_failures").type is MetricType.COUNTER
    assert master.aggregate("booking_flow_failures").count == 2
    # a second delta after the reset adds on top
    workers[1].add("http_reqs", 1, BOOKING_GET)
    master.merge(roundtrip(workers[1].snapshot(reset=True)))
    assert master.aggregate("http_reqs").count == 7


def test_merge_rejects_foreign_or_conflicting_snapshots():
    master = Registry()
    with pytest.raises(MetricError, match="snapshot"):
        master.merge({"metrics": []})
    other = Registry(builtins=False)
    other.define("http_reqs", "trend")
    other.add("http_reqs", 1.0)
    with pytest.raises(MetricError, match="already defined"):
        master.merge(other.snapshot())


def test_snapshot_is_deterministic():
    def packed() -> bytes:
        snapshot = filled_registry().snapshot()
        for entry in snapshot["metrics"]:
            for series in entry["series"]:
                series["sink"].pop("t", None)  # a gauge's wall-clock time of its last sample
        return msgpack.packb(snapshot)

    assert packed() == packed()


def test_million_heavy_tailed_samples_across_four_workers_within_half_a_percent():
    """The issue's accuracy test: 1M log-normal samples (seeded), 4 workers, merged on a master."""
    rng = random.Random(20251106)
    n = 1_000_000
    values = [rng.lognormvariate(math.log(420.0), 0.9) for _ in range(n)]
    workers = [Registry() for _ in range(4)]
    tags = {"scenario": "booking_flow", "method": "POST", "name": "/bookings", "status": "201"}
    for i, v in enumerate(values):
        workers[i & 3].add("http_req_duration", v, tags)
    master = Registry()
    wire_sizes = []
    for w in workers:
        payload = msgpack.packb(w.snapshot(reset=True))
        wire_sizes.append(len(payload))
        master.merge(msgpack.unpackb(payload))
    sink = master.aggregate("http_req_duration", {"scenario": "booking_flow"})
    ordered = sorted(values)
    assert sink.count == n
    assert sink.min == ordered[0] and sink.max == ordered[-1]
    assert sink.avg == pytest.approx(sum(values) / n, rel=1e-12)
    errors = {}
    for p in (50, 90, 95, 99, 99.9):
        exact = exact_percentile(ordered, p)
        errors[p] = abs(sink.percentile(p) - exact) / exact
        assert errors[p] < 0.005, (p, sink.percentile(p), exact)
    series_bytes = len(msgpack.packb(master.series("http_req_duration")[0].sink.snapshot()))
    print(
        f"\nmax relative error {max(errors.values()):.4%}; worker delta {max(wire_sizes)} B; "
        f"merged series snapshot {series_bytes} B"
    )
    assert series_bytes < 16_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_percentiles_are_ddsketch_s_own_ranks_found_in_c(seed):
    """A trend past its exact samples reads its percentiles by bisecting the stores' running counts (C), not
    ddsketch's loop over every bin: the same value at every rank as `get_quantile_value`, with negative, zero
    and positive samples, and on a store collapsed by BIN_LIMIT."""
    from fixload.metrics.sinks import _sketch_values

    rng = random.Random(seed)
    values = [rng.lognormvariate(1, 3) for _ in range(3000)]
    values += [-rng.lognormvariate(0, 2) for _ in range(seed * 300)] + [0.0] * (seed * 50)
    sink = TrendSink()
    for v in values:
        sink.record(v)
    sketch = sink.sketch
    n = sketch.count
    assert sink.exact is None and sink.neg.count and sink.zero
    ranks = list(range(int(n)))
    mine = _sketch_values(sink.pos, sink.neg, sink.zero, ranks)
    for rank, value in zip(ranks, mine, strict=True):
        assert value == float(sketch.get_quantile_value(min((rank + 0.5) / (n - 1), 1.0))), rank
    huge = TrendSink()  # keys past BIN_LIMIT bins: the lowest collapse into the first bin
    for v in [1e-9 * 1.3**i for i in range(2000)]:
        huge.record(v)
    assert huge.pos.is_collapsed
    n = huge.sketch.count
    for rank in range(0, int(n), 7):
        (value,) = _sketch_values(huge.pos, huge.neg, huge.zero, (rank,))
        assert value == float(huge.sketch.get_quantile_value(min((rank + 0.5) / (n - 1), 1.0))), rank
