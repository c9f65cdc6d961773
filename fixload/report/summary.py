"""The end-of-run summary: k6 ``--summary-export`` JSON plus fixload's own block, built once per run.

CI jobs and dashboards written for the original harness read k6 summary exports, so ``metrics`` and
``root_group`` keep k6's field names, units and threshold booleans (``true`` means FAILED), checked
against a file k6 v1.1.0 wrote (tests/data/k6_summary_export.json). The ``fixload`` block holds what
k6's export lacks: the run's status and reason, workers, thresholds with ok/observed, the per-scenario
rollup in the team's report shape, and (from the plugin) ``timeSeries``. ``summarize()`` is the one way a
run ends, for Locust's side and the wrapper's fallback alike. Deterministic (sorted keys, no clock
reads) and redacted (every string, keys too).

The format field by field: docs/design-notes.md#report-summary.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fixload import __version__
from fixload.common.exitcodes import ExitCode
from fixload.common.files import atomic_write
from fixload.common.secrets import redact
from fixload.metrics.registry import Registry
from fixload.metrics.sinks import CounterSink, GaugeSink, RateSink, Sink, TrendSink
from fixload.metrics.thresholds import Selector, ThresholdResult, ThresholdSet
from fixload.report.console import format_console_summary

if TYPE_CHECKING:
    from fixload.profile.plan import Plan

TREND_STATS: tuple[float | str, ...] = ("avg", "min", "med", "max", 90.0, 95.0)
EXPECTED_RESPONSE_KEY = "http_req_duration{expected_response:true}"


class Status(StrEnum):
    """How a run ended; every path that ends a run writes a summary with one of these."""

    PASSED = "passed"
    THRESHOLDS_FAILED = "thresholds_failed"
    ABORTED = "aborted"  # a threshold with abortOnFail stopped it
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM
    SETUP_FAILED = "setup_failed"
    TARGET_UNREACHABLE = "target_unreachable"
    ERROR = "error"


EXIT_CODES: dict[Status, ExitCode] = {
    Status.PASSED: ExitCode.OK,
    Status.THRESHOLDS_FAILED: ExitCode.THRESHOLDS_FAILED,
    Status.ABORTED: ExitCode.THRESHOLDS_FAILED,
    Status.INTERRUPTED: ExitCode.INTERRUPTED,
    Status.SETUP_FAILED: ExitCode.SETUP_FAILED,
    Status.TARGET_UNREACHABLE: ExitCode.GENERIC,
    Status.ERROR: ExitCode.GENERIC,
}


@dataclass(frozen=True)
class ScenarioCounts:
    """What the engine counted for one scenario; the metrics give the latencies and success rates.

    ``flow`` names the flow's custom metrics (``<flow>_success_rate``); it defaults to the scenario name,
    as in the baseline profile (scenario ``booking_flow`` -> ``booking_flow_success_rate``).
    ``scheduled`` is None for executors with no fixed schedule (constant-vus, ramping-vus).
    """

    name: str
    executor: str
    flow: str | None = None
    scheduled: int | None = None
    started: int = 0
    dropped: int = 0
    completed: int = 0
    interrupted: int = 0
    duration_s: float = 0.0
    dropped_worker_lost: int = 0
    """Of `dropped`: due on a worker that was lost before it reported them (reason `worker_lost`)."""
    max_vus: int | None = None
    """An arrival-rate scenario's maxVUs (after the multiplier): what the insufficient-VUs warning compares to."""
    peak_rate: float | None = None
    """An arrival-rate scenario's peak start rate, iterations/s."""


@dataclass(frozen=True)
class RunInfo:
    profile: str
    multiplier: float
    started_at: datetime
    ended_at: datetime
    status: Status | str
    reason: str = ""
    workers: int = 0
    workers_lost: int = 0
    target: str | None = None
    exit_code: int | None = None
    """When the status alone does not say it: an engine error is status aborted with exit 109, a setup
    timeout setup_failed with 100, the web UI's STOP interrupted with 103 (fixload.runtime.outcome)."""


# ----------------------------------------------------------------------------------------- helpers


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _num(value: float | int | None) -> float | int | None:
    """A number as Go's encoding/json writes a float64: integral -> integer; NaN/Inf -> null."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        return None
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _round(value: float | None, digits: int) -> float | int | None:
    return None if value is None else _num(round(value, digits))


def _clean(value: Any) -> Any:
    """Redact every string (keys included) and normalise numbers, recursively."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _num(value)
    return value


def _pkey(p: float) -> str:
    return f"p({p:g})"


def sink_values(sink: Sink, elapsed_s: float, percentiles: Sequence[float] = ()) -> dict[str, Any]:
    """One metric's aggregates with k6's summary-export field names."""
    if isinstance(sink, TrendSink):
        out: dict[str, Any] = {
            "avg": sink.avg,
            "min": sink.min if sink.count else 0.0,
            "med": sink.med,
            "max": sink.max if sink.count else 0.0,
        }
        for p in sorted({90.0, 95.0, *percentiles}):
            out[_pkey(p)] = sink.percentile(p)
        return out
    if isinstance(sink, CounterSink):
        return {"count": sink.count, "rate": sink.rate(elapsed_s)}
    if isinstance(sink, RateSink):
        return {"passes": sink.passes, "fails": sink.fails, "value": sink.rate}
    if isinstance(sink, GaugeSink):
        empty = sink.is_empty
        return {"value": sink.value, "min": 0.0 if empty else sink.min, "max": 0.0 if empty else sink.max}
    raise TypeError(f"unknown sink {sink!r}")


# ---------------------------------------------------------------------------------- k6 export part


def _metrics_part(
    registry: Registry, thresholds: ThresholdSet, results: Sequence[ThresholdResult], elapsed_s: float
) -> dict[str, Any]:
    entries: dict[str, tuple[str, Selector | None]] = {}
    for metric in registry.metrics():
        if registry.has_samples(metric.name):
            entries[metric.name] = (metric.name, None)
    if registry.has_samples("http_req_duration", {"expected_response": "true"}):
        entries[EXPECTED_RESPONSE_KEY] = (
            "http_req_duration",
            Selector("http_req_duration", (("expected_response", "true"),), EXPECTED_RESPONSE_KEY),
        )
    for key, selector in thresholds.selectors().items():
        if registry.get(selector.metric) is None:
            continue
        entries[key] = (selector.metric, selector if selector.tags else None)
        if selector.tags:
            entries.setdefault(selector.metric, (selector.metric, None))  # k6 shows the parent too

    failed: dict[str, dict[str, bool]] = {}
    for r in results:
        failed.setdefault(r.key, {})[r.expression] = not r.ok

    out: dict[str, Any] = {}
    for key, (metric_name, selector) in sorted(entries.items()):
        sink = registry.aggregate(metric_name, selector.selector if selector else None)
        percentiles = thresholds.percentiles(key)
        if metric_name == "http_req_duration":
            percentiles = [*percentiles, 99.0]  # for `fixload compare`; k6 adds it with --summary-trend-stats
        values = sink_values(sink, elapsed_s, percentiles)
        if key in failed:
            values["thresholds"] = failed[key]
        out[key] = values
    return out


def _group_id(path: str) -> str:
    return hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()


def _root_group(registry: Registry) -> dict[str, Any]:
    """k6's root_group: checks (from the ``checks`` Rate's ``check`` tag) nested under their ``group`` tag."""
    root: dict[str, Any] = {"name": "", "path": "", "id": _group_id(""), "groups": {}, "checks": {}}
    if registry.get("checks") is None:
        return root
    tally: dict[tuple[str, str], list[int]] = {}
    for series in registry.series("checks"):
        name = series.tags.get("check")
        if name is None or not isinstance(series.sink, RateSink):
            continue
        counts = tally.setdefault((series.tags.get("group", ""), name), [0, 0])
        counts[0] += series.sink.passes
        counts[1] += series.sink.fails
    for (group_path, name), (passes, fails) in sorted(tally.items()):
        node = root
        path = ""
        for part in [p for p in group_path.split("::") if p] if group_path else []:
            path = f"{path}::{part}"
            node = node["groups"].setdefault(
                part, {"name": part, "path": path, "id": _group_id(path), "groups": {}, "checks": {}}
            )
        check_path = f"{path}::{name}"
        node["checks"][name] = {
            "name": name,
            "path": check_path,
            "id": _group_id(check_path),
            "passes": passes,
            "fails": fails,
        }
    return root


# --------------------------------------------------------------------------------- fixload's block


def _success_threshold(
    thresholds: ThresholdSet, keys: Sequence[str], operators: tuple[str, ...]
) -> tuple[str, float] | None:
    """The first rate threshold on one of ``keys`` with one of ``operators``: (expression, bound)."""
    for key in keys:
        for t in thresholds:
            if t.key == key and t.expression.aggregation == "rate" and t.expression.operator in operators:
                return t.expression.source, t.expression.value
    return None


def _scenario_rollup(registry: Registry, thresholds: ThresholdSet, counts: ScenarioCounts) -> dict[str, Any]:
    by_scenario = {"scenario": counts.name}
    flow = counts.flow or counts.name
    latency: dict[str, float | None] = dict.fromkeys(("avg", "p50", "p95", "p99"))
    if registry.get("http_req_duration") is not None and registry.has_samples("http_req_duration", by_scenario):
        trend = registry.aggregate("http_req_duration", by_scenario)
        latency = {"avg": trend.compute("avg"), **{f"p{p}": trend.percentile(p) for p in (50, 95, 99)}}

    success: float | None = None
    allowed_failure: float | None = None
    source: str | None = None
    flow_rate = f"{flow}_success_rate"
    failed_iterations: int | None = None
    if registry.get(flow_rate) is not None and registry.has_samples(flow_rate, by_scenario):
        sink = registry.aggregate(flow_rate, by_scenario)
        success, source = sink.compute("rate"), flow_rate
        failed_iterations = int(sink.fails) if isinstance(sink, RateSink) else None
        found = _success_threshold(thresholds, [f"{flow_rate}{{scenario:{counts.name}}}", flow_rate], (">", ">="))
        if found:
            allowed_failure = 1.0 - found[1]
    elif registry.get("http_req_failed") is not None and registry.has_samples("http_req_failed", by_scenario):
        failed = registry.aggregate("http_req_failed", by_scenario).compute("rate")
        success, source = (None if failed is None else 1.0 - failed), "http_req_failed"
        found = _success_threshold(
            thresholds, [f"http_req_failed{{scenario:{counts.name}}}", "http_req_failed"], ("<", "<=")
        )
        if found:
            allowed_failure = found[1]

    requests = 0
    if registry.get("http_reqs") is not None and registry.has_samples("http_reqs", by_scenario):
        requests = int(registry.aggregate("http_reqs", by_scenario).compute("count") or 0)

    budget: float | None = None
    if success is not None and allowed_failure is not None:
        failure = max(0.0, 1.0 - success)
        if allowed_failure > 0:
            budget = failure / allowed_failure
        elif failure == 0:
            budget = 0.0

    return {
        "executor": counts.executor,
        "flow": flow,
        "insufficientVUs": _insufficient_vus(registry, counts),
        "scheduled": counts.scheduled,
        "started": counts.started,
        "dropped": counts.dropped,
        "droppedReasons": {"worker_lost": counts.dropped_worker_lost} if counts.dropped_worker_lost else {},
        "completed": counts.completed,
        "interrupted": counts.interrupted,
        "durationSeconds": _round(counts.duration_s, 3),
        "achievedRate": _round(counts.completed / counts.duration_s, 4) if counts.duration_s > 0 else None,
        "requests": requests,
        "requestRate": _round(requests / counts.duration_s, 4) if counts.duration_s > 0 else None,
        "p95LatencyMs": _round(latency["p95"], 3),
        "p50LatencyMs": _round(latency["p50"], 3),
        "p99LatencyMs": _round(latency["p99"], 3),
        "avgLatencyMs": _round(latency["avg"], 3),
        "failedIterations": failed_iterations,
        "successRate": _round(success, 6),
        "successRateSource": source,
        "errorBudgetConsumed": _round(budget, 4),
    }


def _insufficient_vus(registry: Registry, counts: ScenarioCounts) -> dict[str, Any] | None:
    """k6's "Insufficient VUs" for an arrival-rate scenario that dropped iterations: how many, and a maxVUs
    that would have started them. Every iteration as long as the longest, at the peak start rate, keeps at
    most `ceil(rate × longest) + 1` VUs busy, so that many always suffice (the p95 of Little's law does not:
    it named maxVUs + 1 for drops no VU count explains). When that is no more than maxVUs, the VUs were not
    short (the runner fell behind its schedule): `neededMaxVUs` is None and `vusSufficed` the bound."""
    dropped = counts.dropped - counts.dropped_worker_lost  # a lost worker's are not a lack of VUs
    if dropped <= 0 or counts.max_vus is None or counts.peak_rate is None:
        return None
    bound = None
    by_scenario = {"scenario": counts.name}
    if registry.get("iteration_duration") is not None and registry.has_samples("iteration_duration", by_scenario):
        longest_ms = registry.aggregate("iteration_duration", by_scenario).max
        bound = math.ceil(counts.peak_rate * longest_ms / 1000.0) + 1
    info: dict[str, Any] = {"dropped": dropped, "maxVUs": counts.max_vus, "neededMaxVUs": None}
    if bound is not None and bound > counts.max_vus:
        info["neededMaxVUs"] = bound
    elif bound is not None:
        info["vusSufficed"] = bound
    return info


def _routes(registry: Registry) -> list[dict[str, Any]]:
    """Per request route, as Locust's statistics table has it: the `http_req_duration` series grouped by their
    `name` and `method` tags (setup's too, as in Locust): requests, failed requests (`http_req_failed`) and
    the p50/p95/p99 duration (ms). Sorted by method and name."""
    durations: dict[tuple[str, str], TrendSink] = {}
    failed: dict[tuple[str, str], int] = {}
    for series in registry.series("http_req_duration"):
        key = (str(series.tags.get("method", "")), str(series.tags.get("name", "")))
        durations.setdefault(key, TrendSink()).merge(series.sink)  # type: ignore[arg-type]
    if registry.get("http_req_failed") is not None:
        for series in registry.series("http_req_failed"):
            key = (str(series.tags.get("method", "")), str(series.tags.get("name", "")))
            failed[key] = failed.get(key, 0) + int(getattr(series.sink, "passes", 0))  # a pass is a failed request
    return [
        {
            "method": method,
            "name": name,
            "count": sink.count,
            "failures": failed.get((method, name), 0),
            **{f"p({p})": _round(sink.percentile(p), 3) for p in (50, 95, 99)},
        }
        for (method, name), sink in sorted(durations.items())
        if sink.count
    ]


def _threshold_entries(registry: Registry, results: Sequence[ThresholdResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        metric = registry.get(r.metric)
        entry = r.to_dict()
        entry["metricType"] = str(metric.type) if metric else None
        entry["contains"] = str(metric.contains) if metric else None
        out.append(entry)
    return out


def build_summary(
    registry: Registry,
    thresholds: ThresholdSet | None,
    run: RunInfo,
    scenarios: Sequence[ScenarioCounts] = (),
    results: Sequence[ThresholdResult] | None = None,
    extra: Mapping[str, Any] | None = None,
    failures: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    slowest: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The summary of a run as plain data: ``metrics`` + ``root_group`` (k6) and ``fixload``.

    ``results`` defaults to evaluating ``thresholds`` now (final evaluation); pass the results the run
    already computed so the file and the exit code agree. ``extra`` adds keys to the ``fixload`` block
    (e.g. fixtures, worker events) and is redacted like everything else -- add things here rather than
    to the returned dict, which is already redacted. ``failures``: each scenario's distinct failures
    (``fixload.metrics.failures``), its rollup's ``failures[]``; ``slowest``: its slowest requests' ids,
    latency and step, its rollup's ``slowest[]`` (docs/tracing.md).

    A run whose setup failed ran no scenario: its thresholds are **not evaluated** (k6 evaluates none
    either), so the block says so (``thresholdsEvaluated: false``) rather than "0 of 17 failed".
    """
    thresholds = thresholds or ThresholdSet([])
    elapsed_s = max((run.ended_at - run.started_at).total_seconds(), 0.0)
    status = Status(run.status)
    evaluated = status is not Status.SETUP_FAILED
    if not evaluated:
        results = []
    elif results is None:
        results = thresholds.evaluate(registry, elapsed_s, final=True)
    failed = [r for r in results if not r.ok]
    data: dict[str, Any] = {
        "metrics": _metrics_part(registry, thresholds, results, elapsed_s),
        "root_group": _root_group(registry),
        "fixload": {
            "version": __version__,
            "profile": run.profile,
            "multiplier": run.multiplier,
            "target": run.target,
            "startedAt": _iso(run.started_at),
            "endedAt": _iso(run.ended_at),
            "durationSeconds": _round(elapsed_s, 3),
            "status": str(status),
            "reason": run.reason,
            "exitCode": int(run.exit_code if run.exit_code is not None else EXIT_CODES[status]),
            "workers": {"count": run.workers, "lost": run.workers_lost},
            "thresholds": _threshold_entries(registry, results),
            "thresholdsEvaluated": evaluated,
            "thresholdsFailed": len(failed) if evaluated else None,
            # k6 passes a threshold whose selector matched no series; that pass says nothing, so say which
            "thresholdsWithoutSamples": sorted({r.key for r in results if r.no_samples}),
            "routes": _routes(registry),
            "scenarios": {
                c.name: {
                    **_scenario_rollup(registry, thresholds, c),
                    "failures": list((failures or {}).get(c.name, [])),
                    "slowest": list((slowest or {}).get(c.name, [])),
                }
                for c in sorted(scenarios, key=lambda c: c.name)
            },
        },
    }
    for key, value in (extra or {}).items():
        data["fixload"].setdefault(key, value)
    return _clean(data)


# ------------------------------------------------------------------------------------------ writing


def dumps(data: Mapping[str, Any]) -> bytes:
    """The bytes of a summary: sorted keys, 2-space indent, trailing newline; equal data -> equal bytes."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def default_summary_path(now: datetime | None = None, directory: str | os.PathLike[str] = "reports") -> Path:
    """``reports/summary-20251106T221500Z.json``: ISO 8601 basic format, safe on every filesystem."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return Path(directory) / f"summary-{moment.strftime('%Y%m%dT%H%M%SZ')}.json"


class SummaryWriteError(OSError):
    """The summary could not be written where asked. ``fallback`` is where it was written instead (None if
    nowhere: then ``payload`` still holds the bytes, for the caller to print)."""

    def __init__(self, path: Path, fallback: Path | None, cause: OSError, payload: bytes) -> None:
        self.path = path
        self.fallback = fallback
        self.cause = cause
        self.payload = payload
        where = f"written to {fallback} instead" if fallback else "and the fallback in the temp dir failed too"
        super().__init__(f"could not write the summary to {path} ({cause.strerror or cause}); {where}")


def write_summary(
    path: str | os.PathLike[str], data: Mapping[str, Any], fallback_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Write atomically (temp file in the same directory, fsync, rename), creating parent directories.

    Readers never see a half-written file. If the target cannot be written (permission, ENOSPC, a file in
    the way), the summary goes to ``fallback_dir`` (default: the system temp dir) and SummaryWriteError
    says where, so the caller names it in its error; nothing is silently lost.
    """
    target = Path(path)
    payload = dumps(data)
    try:
        atomic_write(target, payload)
        return target
    except OSError as exc:
        fallback = Path(fallback_dir or tempfile.gettempdir()) / f"fixload-{target.name}"
        try:
            atomic_write(fallback, payload)
        except OSError:
            raise SummaryWriteError(target, None, exc, payload) from exc
        raise SummaryWriteError(target, fallback, exc, payload) from exc


# ------------------------------------------------------------------------------------------ the end


def scenario_counts(plan: Plan, counts: Mapping[str, Mapping[str, int]], elapsed_s: float) -> list[ScenarioCounts]:
    """Each planned scenario's counts as the summary reads them (none counted: zeros). A VU executor's
    scheduled count is its planned iterations; an arrival-rate one's what was due until the end."""
    out = []
    for name, scenario in plan.scenarios.items():
        c = counts.get(name, {})
        started, completed = c.get("started", 0), c.get("completed", 0)
        out.append(
            ScenarioCounts(
                name=name,
                executor=scenario.executor,
                flow=scenario.flow,
                scheduled=c.get("scheduled", 0) if scenario.is_arrival_rate else scenario.expected_iterations,
                started=started,
                dropped=c.get("dropped", 0),
                dropped_worker_lost=c.get("dropped_worker_lost", 0),
                completed=completed,
                # at the end, an iteration that started and did not complete was interrupted
                interrupted=max(c.get("interrupted", 0), started - completed),
                duration_s=min(elapsed_s, scenario.duration),
                max_vus=scenario.vus[1] if scenario.is_arrival_rate else None,
                peak_rate=scenario.peak_rate,
            )
        )
    return out


@dataclass(frozen=True)
class Ending:
    """A run's summary, its console text, and where the summary went (`error`: not where it was asked)."""

    summary: dict[str, Any]
    console: str
    written: Path | None
    error: SummaryWriteError | None = None


def summarize(
    path: str | os.PathLike[str],
    registry: Registry,
    thresholds: ThresholdSet | None,
    run: RunInfo,
    scenarios: Sequence[ScenarioCounts],
    results: Sequence[ThresholdResult] | None = None,
    extra: Mapping[str, Any] | None = None,
    failures: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    colour: bool = False,
    slowest: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Ending:
    """The one way a run ends, whoever ends it (Locust's side, the wrapper's fallback): build the summary,
    write it (or say where it went instead) and give the console text that says so."""
    summary = build_summary(registry, thresholds, run, scenarios, results, extra, failures, slowest)
    console = format_console_summary(summary, colour)
    try:
        written = write_summary(path, summary)
    except SummaryWriteError as exc:
        return Ending(summary, console + f"\n  summary: NOT written where asked; {exc}\n", None, exc)
    return Ending(summary, console + f"\n  summary: {written}\n", written)


__all__ = [
    "EXIT_CODES",
    "Ending",
    "RunInfo",
    "ScenarioCounts",
    "Status",
    "SummaryWriteError",
    "atomic_write",
    "build_summary",
    "default_summary_path",
    "dumps",
    "scenario_counts",
    "sink_values",
    "summarize",
    "write_summary",
]
