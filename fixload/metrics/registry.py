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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from fixload.metrics.sinks import SNAPSHOT_FORMAT, MetricError, MetricType, Sink, ValueType, new_sink


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
"""fixload's own metrics, defined in every registry beside k6's (the executors record them)."""


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
    for metric in (m for flow in flows for m in flow_metrics(flow)):
        registry.define(metric.name, metric.type, metric.contains)
    return registry


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

    ``add`` finds the series (a dict lookup for the metric, a frozenset of the tags for the series) then
    records; the hot paths instead keep a handle per series (``recorder``) and call it.
    """

    def __init__(self, builtins: bool = True) -> None:
        self._metrics: dict[str, Metric] = {}
        self._series: dict[str, dict[TagKey, Sink]] = {}
        self.generation = 0
        """Bumped when a tap is added or removed: a handle from `recorder` (or a sink from `sink`) belongs to
        one generation; the hot paths compare it before each use and ask again when it moved."""
        self.taps: tuple[Tap, ...] = ()
        """Called with every sample added in this process (name, value, series tags): `--samples`
        (fixload.surfaces.samples), the OpenTelemetry export (fixload.surfaces.otel). None (the default)
        costs nothing."""
        self._tapped: dict[tuple[str, TagKey], TappedSink] = {}
        if builtins:
            for metric in (*BUILTIN_METRICS, *FIXLOAD_METRICS):
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
        """The series sink `add(name, ..., tags)` would feed, created if need be. A sink lives as long as the
        registry (`reset` empties it in place); what it feeds changes when a tap is added or removed, which
        bumps `generation`: a caller keeping it asks again then."""
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

    def recorder(self, name: str, tags: Mapping[str, str] | None = None) -> Callable[[float], None]:
        """The hot path's handle on one series: a function that records one sample. Without taps it is the
        sink's `record` (its buffer's `append`: a C call, no Python frame); with taps, an `add` that hands
        each sample on too. Valid until `generation` changes (a tap added or removed)."""
        return self.sink(name, tags).record

    def fold(self) -> None:
        """Fold every sink's buffered samples in (fixload.metrics.sinks): the live view does it as it samples,
        so no buffer holds more than a few seconds of samples; every read folds the sink it reads anyway."""
        for series in self._series.values():
            for sink in series.values():
                sink.fold()

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
        """Drop every sample, keep the definitions and the series (a worker does this after sending its delta).
        Each sink is emptied in place, so the handles the hot paths keep (`recorder`) stay valid."""
        for series in self._series.values():
            for sink in series.values():
                sink.clear()

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

    @property
    def record(self) -> Callable[[float], None]:
        return self.add

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.sink, attr)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known metric name, for a did-you-mean in error messages."""
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None
