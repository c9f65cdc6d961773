"""k6's four metric types and their sinks: Counter, Gauge, Rate and Trend, each mergeable across processes.

A sink keeps one series' values: exact counts, sums, min and max; a Trend's percentiles exact up to
``EXACT_LIMIT`` samples, then from a DDSketch at ``RELATIVE_ACCURACY`` with k6's interpolation between
ranks (design notes and measured costs: docs/design-notes.md#metrics-registry). ``snapshot()`` and
``merge()`` give the plain data a worker sends its master.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import CollapsingHighestDenseStore, CollapsingLowestDenseStore

RELATIVE_ACCURACY = 0.0025
BIN_LIMIT = 4096
PENDING_LIMIT = 256
"""Trend samples held back from the sketch until this many (`TrendSink._flush`)."""
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


class CounterSink:
    """k6 Counter: the sum of the added values (``count``) and that sum per second (``rate``)."""

    __slots__ = ("samples", "value")
    type = MetricType.COUNTER

    def __init__(self) -> None:
        self.value = 0.0
        self.samples = 0

    def add(self, value: float) -> None:
        self.value += value
        self.samples += 1

    @property
    def is_empty(self) -> bool:
        return self.samples == 0

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
        self.value += other.value
        self.samples += other.samples

    def snapshot(self) -> dict[str, Any]:
        return {"v": self.value, "n": self.samples}

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        self.value += float(data["v"])
        self.samples += int(data["n"])


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


class RateSink:
    """k6 Rate: the share of added values that are non-zero (``rate`` = passes / total)."""

    __slots__ = ("passes", "total")
    type = MetricType.RATE

    def __init__(self) -> None:
        self.passes = 0
        self.total = 0

    def add(self, value: float | bool) -> None:
        if value:
            self.passes += 1
        self.total += 1

    @property
    def is_empty(self) -> bool:
        return self.total == 0

    @property
    def fails(self) -> int:
        return self.total - self.passes

    @property
    def rate(self) -> float:
        """passes / total, 0.0 with no samples (what k6 shows; thresholds treat empty separately)."""
        return self.passes / self.total if self.total else 0.0

    def compute(self, aggregation: str, elapsed_s: float = 0.0) -> float | None:
        if aggregation == "rate":
            # k6 leaves `rate` undefined on an empty Rate (no division by zero, grafana/k6#2520).
            return self.passes / self.total if self.total else None
        raise MetricError(f"rate has no {aggregation!r} aggregation")

    def merge(self, other: RateSink) -> None:
        self.passes += other.passes
        self.total += other.total

    def snapshot(self) -> dict[str, Any]:
        return {"p": self.passes, "n": self.total}

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        self.passes += int(data["p"])
        self.total += int(data["n"])


MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
"""The key mapping of every trend's sketch (stateless, so one serves all; they merge because it is the same)."""


def _sketch_at_rank(sketch: BaseDDSketch, rank: int) -> float:
    # BaseDDSketch.get_quantile_value(q) looks up rank q*(n-1); aiming half a rank past the wanted one
    # keeps float rounding (948.9999 for 949) from landing on the neighbouring sample.
    n = sketch.count
    value = sketch.get_quantile_value(min((rank + 0.5) / (n - 1), 1.0) if n > 1 else 0.0)
    return float(value) if value is not None else 0.0


def _store_snapshot(store: Any) -> list[Any]:
    """[first key, [count per key...]] over the occupied key range, counts as ints (small in msgpack)."""
    if store.count == 0:
        return []
    lo = store.min_key - store.offset
    hi = store.max_key - store.offset
    return [store.min_key, [int(c) for c in store.bins[lo : hi + 1]]]


def _store_merge(store: Any, data: list[Any]) -> None:
    if not data:
        return
    first, counts = data
    add = store.add
    for i, c in enumerate(counts):
        if c:
            add(first + i, float(c))


def _interpolated(sorted_values: Any, q: float) -> float:
    """k6's TrendSink.P: linear interpolation between the two samples around rank q*(n-1)."""
    i = q * (len(sorted_values) - 1)
    lo = math.floor(i)
    hi = math.ceil(i)
    a = sorted_values[lo]
    return a + (sorted_values[hi] - a) * (i - lo)


class TrendSink:
    """k6 Trend: exact count/sum/min/max/avg, exact percentiles up to EXACT_LIMIT samples, then DDSketch.

    Samples reach the sketch's stores in batches of PENDING_LIMIT (`_flush`), and before anything reads
    them (`sketch`, `pos`, `neg` flush first). A batch is counted per bin (`collections.Counter` over the
    mapping's keys) and each bin it touches gets one weighted `Store.add`, instead of a `DDSketch.add`
    per sample: five Python calls fewer per sample, and a sample added in the middle of an iteration no
    longer runs the sketch's code cold (~10 µs on the bench's generator against ~1 µs in a batch; py-spy at
    2,000 iterations/s, bench/HISTORY.md). The bins end up the same, value for value.

    The sink keeps the stores and the zero count itself; `sketch` is a read-only view built on them
    (`BaseDDSketch` derives its count from the stores), which percentiles and Prometheus read."""

    __slots__ = ("_neg", "_pending", "_pos", "_zero", "count", "exact", "max", "min", "sum")
    type = MetricType.TREND

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._pos = CollapsingLowestDenseStore(BIN_LIMIT)
        self._neg = CollapsingHighestDenseStore(BIN_LIMIT)
        self._zero = 0.0
        self._pending: array[float] = array("d")
        self.exact: array[float] | None = array("d")

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        key, smallest = MAPPING.key, MAPPING.min_possible
        if min(pending) > smallest:  # the usual batch: every sample positive (a duration, a size)
            add = self._pos.add
            for bin_key, n in Counter([key(value) for value in pending]).items():
                add(bin_key, float(n))
        else:
            for value in pending:
                if value > smallest:
                    self._pos.add(key(value))
                elif value < -smallest:
                    self._neg.add(key(-value))
                else:
                    self._zero += 1.0
        del pending[:]

    @property
    def sketch(self) -> BaseDDSketch:
        """A view of the samples as a DDSketch, to read (a merge into it would not reach this sink)."""
        self._flush()
        return BaseDDSketch(MAPPING, self._pos, self._neg, self._zero)

    @property
    def pos(self) -> Any:
        self._flush()
        return self._pos

    @property
    def neg(self) -> Any:
        self._flush()
        return self._neg

    def add(self, value: float) -> None:
        pending = self._pending
        pending.append(value)
        if len(pending) >= PENDING_LIMIT:
            self._flush()
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        exact = self.exact
        if exact is not None:
            if len(exact) < EXACT_LIMIT:
                exact.append(value)
            else:
                self.exact = None

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def med(self) -> float:
        return self.percentile(50)

    def percentile(self, p: float) -> float:
        """The p-th percentile (0..100), k6's definition; 0.0 with no samples, as k6."""
        if self.count == 0:
            return 0.0
        q = min(max(p / 100.0, 0.0), 1.0)
        if self.exact is not None:
            return _interpolated(sorted(self.exact), q)
        rank = q * (self.count - 1)
        lo = math.floor(rank)
        sketch = self.sketch
        v_lo = _sketch_at_rank(sketch, lo)
        if lo != rank:
            v_hi = _sketch_at_rank(sketch, lo + 1)
            v_lo = v_lo + (v_hi - v_lo) * (rank - lo)
        return min(max(v_lo, self.min), self.max)

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
        if self.exact is not None and other_exact is not None and self.count + other_count <= EXACT_LIMIT:
            self.exact.extend(other_exact)
        else:
            self.exact = None

    def merge(self, other: TrendSink) -> None:
        if other.count == 0:
            return
        self._merge_exact(other.exact, other.count)
        self._flush()
        self._pos.merge(other.pos)
        self._neg.merge(other.neg)
        self._zero += other._zero
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def snapshot(self) -> dict[str, Any]:
        if self.count == 0:
            return {"n": 0}
        return {
            "n": self.count,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
            "exact": list(self.exact) if self.exact is not None else None,
            "zero": int(self._zero),
            "pos": _store_snapshot(self.pos),
            "neg": _store_snapshot(self.neg),
        }

    def merge_snapshot(self, data: Mapping[str, Any]) -> None:
        n = int(data["n"])
        if n == 0:
            return
        self._merge_exact(data.get("exact"), n)
        pos, neg = CollapsingLowestDenseStore(BIN_LIMIT), CollapsingHighestDenseStore(BIN_LIMIT)
        _store_merge(pos, data["pos"])
        _store_merge(neg, data["neg"])
        self._flush()
        self._pos.merge(pos)
        self._neg.merge(neg)
        self._zero += float(data["zero"])
        self.count += n
        self.sum += float(data["sum"])
        self.min = min(self.min, float(data["min"]))
        self.max = max(self.max, float(data["max"]))


Sink = CounterSink | GaugeSink | RateSink | TrendSink
SINKS: dict[MetricType, type[CounterSink] | type[GaugeSink] | type[RateSink] | type[TrendSink]] = {
    MetricType.COUNTER: CounterSink,
    MetricType.GAUGE: GaugeSink,
    MetricType.RATE: RateSink,
    MetricType.TREND: TrendSink,
}


def new_sink(kind: MetricType | str) -> Sink:
    return SINKS[MetricType(kind)]()
