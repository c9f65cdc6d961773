"""k6's metric model on Locust: Counter, Gauge, Rate and Trend, tagged, mergeable across workers.

Locust rounds response times into coarse buckets (a true p95 of 1,360 ms reads 1,400 ms, which flips
``p(95)<1400``) and has no tagged Rate/Counter/Gauge, so fixload keeps k6's four metric types, built-in
names and sub-metric semantics. One series per (metric, frozen tag set); a selector merges every series
whose tags include it (a k6 sub-metric). Trend percentiles are exact up to ``EXACT_LIMIT`` samples, then
from a DDSketch at 0.25 % relative accuracy with k6's interpolation between ranks. ``snapshot()`` and
``merge()`` are the only cross-process contract (msgpack-able deltas from workers, merged exactly).
Plain Python without awaits inside a method: under gevent no locks are needed.

Design notes and measured costs: docs/design-notes.md#metrics-registry.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

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


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    type: MetricType
    contains: ValueType = ValueType.DEFAULT


BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric("http_reqs", MetricType.COUNTER),
    Metric("http_req_duration", MetricType.TREND, ValueType.TIME),
    Metric("http_req_failed", MetricType.RATE),
    Metric("iterations", MetricType.COUNTER),
    Metric("iteration_duration", MetricType.TREND, ValueType.TIME),
    Metric("dropped_iterations", MetricType.COUNTER),
    Metric("vus", MetricType.GAUGE),
    Metric("vus_max", MetricType.GAUGE),
    Metric("checks", MetricType.RATE),
    Metric("data_received", MetricType.COUNTER, ValueType.DATA),
    Metric("data_sent", MetricType.COUNTER, ValueType.DATA),
)
FIXLOAD_METRICS: tuple[Metric, ...] = (Metric("iteration_start_lag", MetricType.TREND, ValueType.TIME),)
"""fixload's own metrics, defined on every run beside k6's."""


def flow_metrics(flow: str) -> tuple[Metric, ...]:
    """The three custom metrics every flow records, as the original harness declares them."""
    return (
        Metric(f"{flow}_duration", MetricType.TREND, ValueType.TIME),
        Metric(f"{flow}_success_rate", MetricType.RATE),
        Metric(f"{flow}_failures", MetricType.COUNTER),
    )


def define_run_metrics(registry: Registry, flows: Iterable[str]) -> Registry:
    """Every metric a run of these flows defines: what thresholds are checked against (k6: `no metric name
    "X" found`) before any traffic, by every entry point alike."""
    for metric in (*FIXLOAD_METRICS, *(m for flow in flows for m in flow_metrics(flow))):
        registry.define(metric.name, metric.type, metric.contains)
    return registry


# --------------------------------------------------------------------------------------------- sinks


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


# ------------------------------------------------------------------------------------------ registry

TagKey = frozenset[tuple[str, str]]
_NO_TAGS: TagKey = frozenset()


class Series(NamedTuple):
    metric: Metric
    tags: dict[str, str]
    sink: Sink


Tap = Callable[[str, float, Mapping[str, str]], None]


class Registry:
    """Every metric of a run, each a set of series keyed by tag set. One per process.

    ``add`` is the hot path (every HTTP sample lands here): one dict lookup for the metric, one for the
    series, then the sink's own add.
    """

    def __init__(self, builtins: bool = True) -> None:
        self._metrics: dict[str, Metric] = {}
        self._series: dict[str, dict[TagKey, Sink]] = {}
        self.generation = 0
        """Bumped by `reset`: a sink obtained from `sink()` belongs to one generation (see `sink`)."""
        self.taps: tuple[Tap, ...] = ()
        """Called with every sample added in this process (name, value, series tags): `--samples`
        (fixload.surfaces.samples), the OpenTelemetry export (fixload.surfaces.otel). None (the default)
        costs nothing."""
        self._tapped: dict[tuple[str, TagKey], TappedSink] = {}
        if builtins:
            for metric in BUILTIN_METRICS:
                self.define(metric.name, metric.type, metric.contains)

    # -- definitions

    def define(self, name: str, kind: MetricType | str, contains: ValueType | str | bool = ValueType.DEFAULT) -> Metric:
        """Define a metric (idempotent for the same type). ``contains=True`` means time, as k6's isTime flag."""
        if contains is True:
            contains = ValueType.TIME
        elif contains is False:
            contains = ValueType.DEFAULT
        try:
            metric = Metric(name, MetricType(kind), ValueType(contains))
        except ValueError as exc:
            raise MetricError(f"metric {name!r}: {exc}") from None
        if not name or "{" in name or "}" in name:
            raise MetricError(f"invalid metric name {name!r}")
        existing = self._metrics.get(name)
        if existing is not None:
            if existing.type != metric.type:
                raise MetricError(f"metric {name!r} is already defined as a {existing.type}, not a {metric.type}")
            return existing
        self._metrics[name] = metric
        self._series[name] = {}
        return metric

    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def metrics(self) -> list[Metric]:
        return [self._metrics[name] for name in sorted(self._metrics)]

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    # -- samples

    def add(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        """Record one sample. Tag values must be strings (k6 tags are strings; selectors compare strings)."""
        self.sink(name, tags).add(value)

    def sink(self, name: str, tags: Mapping[str, str] | None = None) -> Sink:
        """The series sink `add(name, ..., tags)` would feed, created if need be, for callers on the hot path
        that record the same series again and again: they keep it and call its own `add`. It stays valid
        until `reset()` bumps `generation`; then ask again."""
        try:
            series = self._series[name]
        except KeyError:
            raise MetricError(f"metric {name!r} is not defined; define it first") from None
        key = frozenset(tags.items()) if tags else _NO_TAGS
        sink = series.get(key)
        if sink is None:
            for k, v in key:
                if not isinstance(k, str) or not isinstance(v, str):
                    raise MetricError(f"tag {k!r}={v!r} on {name!r}: tag keys and values must be str")
            sink = series[key] = new_sink(self._metrics[name].type)
        if not self.taps:
            return sink
        tapped = self._tapped.get((name, key))
        if tapped is None or tapped.sink is not sink:
            tapped = self._tapped[(name, key)] = TappedSink(sink, name, dict(key), self.taps)
        return tapped  # type: ignore[return-value]  (a sink as far as its callers can tell)

    # -- queries

    def series(self, name: str | None = None) -> list[Series]:
        """Every series (of one metric, or all), sorted by metric name then tags, for exporters."""
        names = [name] if name is not None else sorted(self._metrics)
        out: list[Series] = []
        for n in names:
            metric = self._metrics.get(n)
            if metric is None:
                raise MetricError(f"metric {n!r} is not defined")
            for key, sink in sorted(self._series[n].items(), key=lambda kv: sorted(kv[0])):
                out.append(Series(metric, dict(key), sink))
        return out

    def _matching(self, name: str, selector: Mapping[str, str] | None) -> Iterator[Sink]:
        try:
            series = self._series[name]
        except KeyError:
            raise MetricError(f"metric {name!r} is not defined") from None
        wanted = frozenset(selector.items()) if selector else _NO_TAGS
        for key, sink in series.items():
            if wanted <= key:
                yield sink

    def aggregate(self, name: str, selector: Mapping[str, str] | None = None) -> Sink:
        """A fresh sink merging every series of ``name`` whose tags include ``selector`` (a k6 sub-metric)."""
        metric = self._metrics.get(name)
        if metric is None:
            raise MetricError(f"metric {name!r} is not defined")
        out = new_sink(metric.type)
        for sink in self._matching(name, selector):
            out.merge(sink)  # type: ignore[arg-type]
        return out

    def has_samples(self, name: str, selector: Mapping[str, str] | None = None) -> bool:
        return any(not sink.is_empty for sink in self._matching(name, selector))

    def tag_keys(self, name: str) -> list[str]:
        return sorted({k for key in self._series.get(name, {}) for k, _ in key})

    def tag_values(self, name: str, tag: str) -> list[str]:
        """The values a tag takes on a metric's series (e.g. the scenarios seen), sorted."""
        return sorted({v for key in self._series.get(name, {}) for k, v in key if k == tag})

    # -- across processes

    def add_tap(self, tap: Tap) -> None:
        """Hand every later sample to `tap` too; sinks held by the hot paths are fetched again (their caches
        go by `generation`), so they feed it."""
        self.taps = (*self.taps, tap)
        self._tapped.clear()
        self.generation += 1

    def remove_tap(self, tap: Tap) -> None:
        self.taps = tuple(t for t in self.taps if t != tap)
        self._tapped.clear()
        self.generation += 1

    def reset(self) -> None:
        """Drop every sample, keep the definitions (a worker does this after sending its delta)."""
        for series in self._series.values():
            series.clear()
        self._tapped.clear()
        self.generation += 1

    def snapshot(self, reset: bool = False) -> dict[str, Any]:
        """Every definition and series as plain msgpack-able data; with reset=True, a delta since the last."""
        metrics: list[dict[str, Any]] = []
        for name in sorted(self._metrics):
            metric = self._metrics[name]
            series = [
                {"tags": dict(sorted(key)), "sink": sink.snapshot()}
                for key, sink in sorted(self._series[name].items(), key=lambda kv: sorted(kv[0]))
                if not sink.is_empty
            ]
            metrics.append({"name": name, "type": str(metric.type), "contains": str(metric.contains), "series": series})
        if reset:
            self.reset()
        return {"format": SNAPSHOT_FORMAT, "metrics": metrics}

    def merge(self, snapshot: Mapping[str, Any]) -> None:
        """Fold a snapshot (a worker's delta) in: definitions are added, samples summed exactly."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise MetricError(f"not a {SNAPSHOT_FORMAT} snapshot: format={snapshot.get('format')!r}")
        for entry in snapshot["metrics"]:
            name = entry["name"]
            metric = self.define(name, entry["type"], entry.get("contains", ValueType.DEFAULT))
            series = self._series[name]
            for item in entry["series"]:
                key = frozenset((str(k), str(v)) for k, v in item["tags"].items())
                sink = series.get(key)
                if sink is None:
                    sink = series[key] = new_sink(metric.type)
                sink.merge_snapshot(item["sink"])


class TappedSink:
    """A sink whose every `add` is also handed to the registry's taps (with its metric's name and tags)."""

    __slots__ = ("name", "sink", "tags", "taps")

    def __init__(self, sink: Sink, name: str, tags: Mapping[str, str], taps: tuple[Tap, ...]) -> None:
        self.sink, self.name, self.tags, self.taps = sink, name, tags, taps

    def add(self, value: float) -> None:
        self.sink.add(value)
        for tap in self.taps:
            tap(self.name, float(value), self.tags)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.sink, attr)


class SinkCache:
    """The hot path's shortcut to a registry: the sinks of a few metrics for one tag set, found by the
    caller's own cheap key (a tuple it already has) instead of a frozenset of tags per sample. Emptied when
    the registry is reset (a worker resets after every report), so a sink is never fed after it was sent."""

    __slots__ = ("_generation", "_sinks", "registry")

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._generation = registry.generation
        self._sinks: dict[Any, tuple[Sink, ...]] = {}

    def find(self, key: Any) -> tuple[Sink, ...] | None:
        """The sinks cached under `key`, or None (then `get` them): lets the hot path skip building `tags`."""
        if self._generation != self.registry.generation:
            self._sinks.clear()
            self._generation = self.registry.generation
        return self._sinks.get(key)

    def get(self, key: Any, names: tuple[str, ...], tags: Callable[[], Mapping[str, str]]) -> tuple[Sink, ...]:
        """The sinks of `names` for the tags `tags()` builds (called only on a miss)."""
        if self._generation != self.registry.generation:
            self._sinks.clear()
            self._generation = self.registry.generation
        sinks = self._sinks.get(key)
        if sinks is None:
            built = tags()
            sinks = self._sinks[key] = tuple(self.registry.sink(name, built) for name in names)
        return sinks


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known metric name, for a did-you-mean in error messages."""
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None
