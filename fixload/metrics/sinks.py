"""k6's four metric types and their sinks: Counter, Gauge, Rate and Trend, each mergeable across processes.

A sink keeps one series' values: exact counts, sums, min and max; a Trend's percentiles exact up to
``EXACT_LIMIT`` samples, then from a DDSketch at ``RELATIVE_ACCURACY`` with k6's interpolation between
ranks (design notes and measured costs: docs/design-notes.md#metrics-registry). ``snapshot()`` and
``merge()`` give the plain data a worker sends its master.

Recording is the hot path (eight samples per request-sized iteration), so a Counter, Rate or Trend sample is
one C call: ``sink.record`` is the ``append`` of the sink's buffer (a float array), which the hot paths keep
as their handle. Everything that reads a sink folds its buffer first (``fold``: ``len``, ``sum``, ``min``,
``max`` and the sketch's keys over the whole batch, in C), and the registry folds every sink on each snapshot
and whenever the live view samples (fixload.runtime.live), so a buffer holds a few seconds of samples.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from itertools import accumulate, repeat
from operator import add, mul, sub
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import CollapsingHighestDenseStore, CollapsingLowestDenseStore

RELATIVE_ACCURACY = 0.0025
BIN_LIMIT = 4096
EXACT_LIMIT = 512
SNAPSHOT_FORMAT = "fixload.metrics/1"


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    RATE = "rate"
    TREND = "trend"


class ValueType(StrEnum):
    """k6's ``contains``: how values are shown (time in ms, data in bytes)."""

    DEFAULT = "default"
    TIME = "time"
    DATA = "data"


# k6's table of the aggregation methods a threshold may use on each metric type ("p" stands for p(N)).
AGGREGATIONS: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("count", "rate"),
    MetricType.GAUGE: ("value",),
    MetricType.RATE: ("rate",),
    MetricType.TREND: ("avg", "min", "med", "max", "p"),
}


class MetricError(ValueError):
    """A metric used wrongly: undefined, redefined with another type, or a malformed snapshot."""


class _Buffered:
    """A sink whose samples are appended to a buffer (``record``, a C call) and folded in when it is read."""

    __slots__ = ("_buffer", "record")

    def __init__(self) -> None:
        self._buffer: array[float] = array("d")
        self.record: Callable[[float], None] = self._buffer.append
        """The hot path's handle: records one sample (`add` without a Python frame). Valid for the sink's life."""

    def add(self, value: float) -> None:
        self._buffer.append(value)

    def fold(self) -> None:
        """Fold the buffered samples into the sink's values (every reader calls it first)."""
        buffer = self._buffer
        if buffer:
            self._fold(buffer)
            del buffer[:]

    def _fold(self, values: array[float]) -> None:
        raise NotImplementedError


class CounterSink(_Buffered):
    """k6 Counter: the sum of the added values (``count``) and that sum per second (``rate``)."""

    __slots__ = ("_samples", "_value")
    type = MetricType.COUNTER

    def __init__(self) -> None:
        super().__init__()
        self._value = 0.0
        self._samples = 0

    def _fold(self, values: array[float]) -> None:
        self._value += sum(values)
        self._samples += len(values)

    def clear(self) -> None:
        del self._buffer[:]
        self._value, self._samples = 0.0, 0

    @property
    def value(self) -> float:
        self.fold()
        return self._value

    @property
    def samples(self) -> int:
        self.fold()
        return self._samples

    @property
    def is_empty(self) -> bool:
        return not self._buffer and self._samples == 0

    @property
    def count(self) -> float:
        return self.value

    def rate(self, elapsed_s: float) -> float:
        return self.value / elapsed_s if elapsed_s > 0 else 0.0

    def compute(self, aggregation: str, elapsed_s: float = 0.0) -> float | None:
        if aggregation == "count":
            return self.value
        if aggregation == "rate":
            return self.rate(elapsed_s)
        raise MetricError(f"counter has no {aggregation!r} aggregation")

    def merge(self, other: CounterSink) -> None:
        self.fold()
        self._value += other.value
        self._samples += other.samples

    def snapshot(self) -> dict[str, Any]:
        return {"v": self.value, "n": self._samples}

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        self.fold()
        self._value += float(data["v"])
        self._samples += int(data["n"])


class GaugeSink:
    """k6 Gauge: the last value, plus min and max.

    Across processes "last" means the sample with the latest wall-clock time; a cluster-wide gauge such as
    ``vus`` is therefore best set by the master itself (it knows the user count), not summed from workers.
    """

    __slots__ = ("last_time", "max", "min", "samples", "value")
    type = MetricType.GAUGE

    def __init__(self) -> None:
        self.value = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.samples = 0
        self.last_time = 0.0

    @property
    def record(self) -> Callable[[float], None]:
        """As the other sinks' handle; a gauge keeps its sample's time, so it records through `add`."""
        return self.add

    def fold(self) -> None:
        """Nothing is buffered: a gauge's samples are rare (the VU counts)."""

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def add(self, value: float) -> None:
        self.value = value
        self.last_time = time.time()
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.samples += 1

    @property
    def is_empty(self) -> bool:
        return self.samples == 0

    def compute(self, aggregation: str, elapsed_s: float = 0.0) -> float | None:
        if aggregation == "value":
            return self.value
        raise MetricError(f"gauge has no {aggregation!r} aggregation")

    def merge(self, other: GaugeSink) -> None:
        self._merge(other.value, other.min, other.max, other.samples, other.last_time)

    def _merge(self, value: float, vmin: float, vmax: float, samples: int, last_time: float) -> None:
        if samples == 0:
            return
        if self.samples == 0 or last_time >= self.last_time:
            self.value, self.last_time = value, last_time
        self.min = min(self.min, vmin)
        self.max = max(self.max, vmax)
        self.samples += samples

    def snapshot(self) -> dict[str, Any]:
        if self.samples == 0:
            return {"n": 0}
        return {"v": self.value, "min": self.min, "max": self.max, "n": self.samples, "t": self.last_time}

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        if int(data["n"]):
            self._merge(float(data["v"]), float(data["min"]), float(data["max"]), int(data["n"]), float(data["t"]))


class RateSink(_Buffered):
    """k6 Rate: the share of added values that are non-zero (``rate`` = passes / total)."""

    __slots__ = ("_passes", "_total")
    type = MetricType.RATE

    def __init__(self) -> None:
        super().__init__()
        self._passes = 0
        self._total = 0

    def _fold(self, values: array[float]) -> None:
        n = len(values)
        self._passes += n - values.count(0.0)  # k6: a sample passes when it is non-zero
        self._total += n

    def clear(self) -> None:
        del self._buffer[:]
        self._passes, self._total = 0, 0

    @property
    def passes(self) -> int:
        self.fold()
        return self._passes

    @property
    def total(self) -> int:
        self.fold()
        return self._total

    @property
    def is_empty(self) -> bool:
        return not self._buffer and self._total == 0

    @property
    def fails(self) -> int:
        return self.total - self._passes

    @property
    def rate(self) -> float:
        """passes / total, 0.0 with no samples (what k6 shows; thresholds treat empty separately)."""
        total = self.total
        return self._passes / total if total else 0.0

    def compute(self, aggregation: str, elapsed_s: float = 0.0) -> float | None:
        if aggregation == "rate":
            # k6 leaves `rate` undefined on an empty Rate (no division by zero, grafana/k6#2520).
            total = self.total
            return self._passes / total if total else None
        raise MetricError(f"rate has no {aggregation!r} aggregation")

    def merge(self, other: RateSink) -> None:
        self.fold()
        self._passes += other.passes
        self._total += other.total

    def snapshot(self) -> dict[str, Any]:
        return {"p": self.passes, "n": self._total}

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        self.fold()
        self._passes += int(data["p"])
        self._total += int(data["n"])


MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
"""The key mapping of every trend's sketch (stateless, so one serves all; they merge because it is the same)."""


def _key_at_rank(store: Any, cumulative: list[float], rank: float, lower: bool = True) -> int:
    """`store.key_at_rank(rank, lower)` from the store's running counts (`cumulative`, accumulated bins):
    the first bin whose running count passes `rank` (lower) or reaches `rank + 1`, found by bisection in C
    instead of ddsketch's Python loop over every bin (thousands at RELATIVE_ACCURACY). The same key: the
    running sums are the same additions in the same order."""
    i = bisect_right(cumulative, rank) if lower else bisect_left(cumulative, rank + 1)
    return i + store.offset if i < len(cumulative) else store.max_key


def _sketch_values(pos: Any, neg: Any, zero: float, ranks: Iterable[int]) -> list[float]:
    """The sketch's value at each 0-based rank: `BaseDDSketch.get_quantile_value` of a quantile aimed half a
    rank past it (so float rounding, 948.9999 for 949, does not land on the neighbouring sample), with its
    arithmetic; the stores' running counts are taken once for all ranks."""
    n = neg.count + zero + pos.count  # as BaseDDSketch counts itself
    pos_running: list[float] | None = None
    neg_running: list[float] | None = None
    out = []
    for rank in ranks:
        q = min((rank + 0.5) / (n - 1), 1.0) if n > 1 else 0.0
        at = q * (n - 1)
        if at < neg.count:
            neg_running = neg_running or list(accumulate(neg.bins))
            out.append(-MAPPING.value(_key_at_rank(neg, neg_running, neg.count - at - 1, lower=False)))
        elif at < zero + neg.count:
            out.append(0.0)
        else:
            pos_running = pos_running or list(accumulate(pos.bins))
            out.append(MAPPING.value(_key_at_rank(pos, pos_running, at - zero - neg.count)))
    return [float(v) for v in out]


def _store_snapshot(store: Any) -> list[Any]:
    """[first key, [count per key...]] over the occupied key range, counts as ints (small in msgpack)."""
    if store.count == 0:
        return []
    lo = store.min_key - store.offset
    hi = store.max_key - store.offset
    return [store.min_key, list(map(int, store.bins[lo : hi + 1]))]


def _store_merge(store: Any, data: list[Any]) -> None:
    """Add a `_store_snapshot` (or any [first key, counts] run) to `store`, as one `add` per key would."""
    if not data:
        return
    run = _trimmed(*data)  # the run's own ends hold counts, as a store's range does
    if run:
        _add_run(store, *run)


def _trimmed(first: int, counts: list[Any]) -> list[Any]:
    """[first key, counts] without the zero counts at either end ([] when nothing is left)."""
    start, end = 0, len(counts)
    while start < end and not counts[start]:
        start += 1
    while end > start and not counts[end - 1]:
        end -= 1
    return [first + start, counts[start:end]] if start < end else []


def _add_run(store: Any, first: int, counts: list[Any]) -> None:
    """`store.add(first + i, counts[i])` for every i (the run's first and last counts non-zero): the two edge
    keys extend the store's range (collapsing as `add` would), then the run is added to its slice of bins in
    one C pass; where the store collapsed part of the run into its edge bin, key by key (`_add_counts`)."""
    last = first + len(counts) - 1
    store.add(first, 0.0)
    store.add(last, 0.0)
    inside = last <= store.max_key if isinstance(store, CollapsingHighestDenseStore) else first >= store.min_key
    if not inside:
        found = {first + i: float(c) for i, c in enumerate(counts) if c}
        _add_counts(store, found, sum(found.values()))
        return
    bins, a = store.bins, first - store.offset
    bins[a : a + len(counts)] = map(add, bins[a : a + len(counts)], counts)
    store.count += float(sum(counts))


def store_delta(now: list[Any], before: list[Any]) -> list[Any]:
    """What a store gained between two of its `_store_snapshot`s: [first key, counts] over the keys whose
    count grew (a bin that shrank, where the store collapsed in between, counts 0), in C passes."""
    if not now:
        return []
    (n_first, n_counts), (b_first, b_counts) = now, before or (now[0], [])
    lo = min(n_first, b_first)
    hi = max(n_first + len(n_counts), b_first + len(b_counts))
    grown = [0] * (n_first - lo) + n_counts + [0] * (hi - n_first - len(n_counts))
    had = [0] * (b_first - lo) + b_counts + [0] * (hi - b_first - len(b_counts))
    return _trimmed(lo, list(map(max, map(sub, grown, had), repeat(0))))


def _interpolated(sorted_values: Any, q: float) -> float:
    """k6's TrendSink.P: linear interpolation between the two samples around rank q*(n-1)."""
    i = q * (len(sorted_values) - 1)
    lo = math.floor(i)
    hi = math.ceil(i)
    a = sorted_values[lo]
    return a + (sorted_values[hi] - a) * (i - lo)


_LOG2_MULTIPLIER: float = MAPPING._multiplier
_KEY_OFFSET: float = MAPPING._offset


def _keys(values: Iterable[float]) -> Iterable[int]:
    """`MAPPING.key` of each (positive) value, computed as it does (ceil(log2(v) * multiplier) + offset), with
    the iteration in C: no Python frame per sample (tests/test_sinks.py checks it against `MAPPING.key`)."""
    keys = map(math.ceil, map(mul, map(math.log, values, repeat(2.0)), repeat(_LOG2_MULTIPLIER)))
    return keys if _KEY_OFFSET == 0 else (int(k + _KEY_OFFSET) for k in keys)


def _add_counts(store: Any, counts: Mapping[int, float], total: float) -> None:
    """`store.add(key, count)` for every key of `counts` (`total` samples in all), with two `add` calls: the
    lowest and the highest key extend the store's range (collapsing its lowest, or highest, bins as `add`
    would), then every count goes into its bin directly: `key - offset`, or the edge bin for a key beyond a
    collapsed store's range (ddsketch.store's `_get_index`). tests/test_metrics.py checks the bins against
    ddsketch's own sample-by-sample `add`."""
    store.add(min(counts), 0.0)
    store.add(max(counts), 0.0)
    bins, offset = store.bins, store.offset
    if isinstance(store, CollapsingHighestDenseStore):
        highest, top = store.max_key, len(bins) - 1
        for key, c in counts.items():
            bins[key - offset if key <= highest else top] += c
    else:
        lowest = store.min_key
        for key, c in counts.items():
            bins[key - offset if key >= lowest else 0] += c
    store.count += total


class TrendSink(_Buffered):
    """k6 Trend: exact count/sum/min/max/avg, exact percentiles up to EXACT_LIMIT samples, then DDSketch.

    Samples wait in the buffer (`record`) until something reads the sink; `fold` then takes the batch's
    count, sum, min and max with C builtins, keeps the first EXACT_LIMIT samples exactly, and counts the batch
    per sketch bin (`collections.Counter` over `_keys`) and adds each bin's count to it (`_add_counts`).
    The bins end up the same, value for value, as one `DDSketch.add` per sample.

    The sink keeps the stores and the zero count itself; `sketch` is a read-only view built on them
    (`BaseDDSketch` derives its count from the stores), which percentiles and Prometheus read."""

    __slots__ = ("_count", "_exact", "_max", "_min", "_neg", "_pos", "_sum", "_zero")
    type = MetricType.TREND

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._pos = CollapsingLowestDenseStore(BIN_LIMIT)
        self._neg = CollapsingHighestDenseStore(BIN_LIMIT)
        self._zero = 0.0
        self._exact: array[float] | None = array("d")

    def clear(self) -> None:
        buffer, record = self._buffer, self.record
        self.__init__()  # type: ignore[misc]
        self._buffer, self.record = buffer, record  # the handles given out stay valid
        del buffer[:]

    def _fold(self, values: array[float]) -> None:
        n = len(values)
        low, high = min(values), max(values)
        self._count += n
        self._sum += sum(values)
        if low < self._min:
            self._min = low
        if high > self._max:
            self._max = high
        exact = self._exact
        if exact is not None:
            if len(exact) + n <= EXACT_LIMIT:
                exact.extend(values)
            else:
                self._exact = None
        smallest = MAPPING.min_possible
        if low > smallest:  # the usual batch: every sample positive (a duration, a size)
            _add_counts(self._pos, Counter(_keys(values)), n)
            return
        key = MAPPING.key
        for value in values:
            if value > smallest:
                self._pos.add(key(value))
            elif value < -smallest:
                self._neg.add(key(-value))
            else:
                self._zero += 1.0

    @property
    def count(self) -> int:
        self.fold()
        return self._count

    @property
    def sum(self) -> float:
        self.fold()
        return self._sum

    @property
    def min(self) -> float:
        self.fold()
        return self._min

    @property
    def max(self) -> float:
        self.fold()
        return self._max

    @property
    def exact(self) -> array[float] | None:
        """Every sample, while there are at most EXACT_LIMIT of them; then None (the sketch has them)."""
        self.fold()
        return self._exact

    @property
    def sketch(self) -> BaseDDSketch:
        """A view of the samples as a DDSketch, to read (a merge into it would not reach this sink)."""
        self.fold()
        return BaseDDSketch(MAPPING, self._pos, self._neg, self._zero)

    @property
    def pos(self) -> Any:
        self.fold()
        return self._pos

    @property
    def neg(self) -> Any:
        self.fold()
        return self._neg

    @property
    def zero(self) -> float:
        self.fold()
        return self._zero

    @property
    def is_empty(self) -> bool:
        return not self._buffer and self._count == 0

    @property
    def avg(self) -> float:
        count = self.count
        return self._sum / count if count else 0.0

    @property
    def med(self) -> float:
        return self.percentile(50)

    def percentile(self, p: float) -> float:
        """The p-th percentile (0..100), k6's definition; 0.0 with no samples, as k6."""
        count = self.count
        if count == 0:
            return 0.0
        q = min(max(p / 100.0, 0.0), 1.0)
        if self._exact is not None:
            return _interpolated(sorted(self._exact), q)
        rank = q * (count - 1)
        lo = math.floor(rank)
        if lo == rank:
            (v_lo,) = _sketch_values(self._pos, self._neg, self._zero, (lo,))
        else:
            v_lo, v_hi = _sketch_values(self._pos, self._neg, self._zero, (lo, lo + 1))
            v_lo = v_lo + (v_hi - v_lo) * (rank - lo)
        return min(max(v_lo, self._min), self._max)

    def compute(self, aggregation: str, elapsed_s: float = 0.0) -> float | None:
        if aggregation == "avg":
            return self.avg
        if aggregation == "min":
            return self.min if self.count else 0.0
        if aggregation == "max":
            return self.max if self.count else 0.0
        if aggregation == "med":
            return self.med
        if aggregation.startswith("p(") and aggregation.endswith(")"):
            return self.percentile(float(aggregation[2:-1]))
        raise MetricError(f"trend has no {aggregation!r} aggregation")

    def _merge_exact(self, other_exact: Iterable[float] | None, other_count: int) -> None:
        if self._exact is not None and other_exact is not None and self._count + other_count <= EXACT_LIMIT:
            self._exact.extend(other_exact)
        else:
            self._exact = None

    def merge(self, other: TrendSink) -> None:
        if other.count == 0:
            return
        self.fold()
        self._merge_exact(other.exact, other.count)
        self._pos.merge(other.pos)
        self._neg.merge(other.neg)
        self._zero += other.zero
        self._count += other.count
        self._sum += other.sum
        self._min = min(self._min, other.min)
        self._max = max(self._max, other.max)

    def snapshot(self) -> dict[str, Any]:
        if self.count == 0:
            return {"n": 0}
        return {
            "n": self._count,
            "sum": self._sum,
            "min": self._min,
            "max": self._max,
            "exact": list(self._exact) if self._exact is not None else None,
            "zero": int(self._zero),
            "pos": _store_snapshot(self._pos),
            "neg": _store_snapshot(self._neg),
        }

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        n = int(data["n"])
        if n == 0:
            return
        self.fold()
        self._merge_exact(data.get("exact"), n)
        pos, neg = CollapsingLowestDenseStore(BIN_LIMIT), CollapsingHighestDenseStore(BIN_LIMIT)
        _store_merge(pos, data["pos"])
        _store_merge(neg, data["neg"])
        self._pos.merge(pos)
        self._neg.merge(neg)
        self._zero += float(data["zero"])
        self._count += n
        self._sum += float(data["sum"])
        self._min = min(self._min, float(data["min"]))
        self._max = max(self._max, float(data["max"]))


Sink = CounterSink | GaugeSink | RateSink | TrendSink
SINKS: dict[MetricType, type[CounterSink] | type[GaugeSink] | type[RateSink] | type[TrendSink]] = {
    MetricType.COUNTER: CounterSink,
    MetricType.GAUGE: GaugeSink,
    MetricType.RATE: RateSink,
    MetricType.TREND: TrendSink,
}


def new_sink(kind: MetricType | str) -> Sink:
    return SINKS[MetricType(kind)]()
