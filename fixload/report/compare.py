"""`fixload compare BASE NEW`: two runs side by side, per scenario and overall, judged against a budget.

Either file may be a fixload summary or a k6 `--summary-export` file (detected; k6's newer handleSummary
JSON, `metrics.<name>.values`, is read too), so a team moving from the k6 harness can compare a k6 run with
a fixload run of the same profile. Metrics are aligned by name and tag selector: k6 writes a selector as
its threshold was written (`http_req_duration{scenario : 'booking_flow'}`), so keys are normalised the way
k6 parses them (`fixload.metrics.thresholds.parse_selector`) before they are matched.

What each row is made of:

| row | fixload summary | k6 export |
|---|---|---|
| p50/p95/p99/avg ms | the rollup (`p95LatencyMs`, ...) | `http_req_duration{scenario:S}` `med p(95) p(99) avg` |
| success rate | the rollup's `successRate` (the flow's) | `S_success_rate` (else `1 - http_req_failed{scenario:S}`) |
| failures | the rollup's `failedIterations` | `S_success_rate` fails |
| iterations/s | the rollup's `achievedRate` | `iterations{scenario:S}` rate, else flow iterations / run time |
| dropped | the rollup's `dropped` | `dropped_iterations{scenario:S}` (0 when k6 wrote no `dropped_iterations`) |
| thresholds | `fixload.thresholds` (`ok`) | each metric's `thresholds`: **in k6's format `true` means FAILED** |

The overall row reads `http_req_duration`, every `*_success_rate`, `iterations` and `dropped_iterations`
from `metrics` on both sides. A value a file does not have (k6 writes `p(99)` only with
`--summary-trend-stats`) shows as "—" and is not judged. A scenario's thresholds are those selecting it
(`{scenario:S}`) or on its flow's metrics (`S_duration`, `S_success_rate`).

With per-interval data on both sides (`timeSeries`) the p50/p95/p99, success, iterations/s and dropped rows
are judged with an interval (`fixload.report.verdict`); the rest, and k6 files, by the fixed budget
(`fixload.common.budget`). Output: `compare_output`; the command (exit 0 / 99 / 104): `compare_command`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fixload.common import budget as budgets
from fixload.common.exitcodes import ExitCode
from fixload.common.files import MAX_SUMMARY_BYTES, InputFileError, read_input
from fixload.metrics.thresholds import ThresholdError, parse_selector
from fixload.report import k6summary
from fixload.report import verdict as stats
from fixload.report.timeseries import TimeSeriesError, decode

OVERALL = "overall"
FIXLOAD = "fixload summary"
K6_EXPORT = "k6 summary export"
K6_HANDLE_SUMMARY = "k6 handleSummary JSON"
K6_MACHINE_READABLE = k6summary.FORMAT


class CompareInputError(ValueError):
    """A file that cannot be compared: names the file and what is wrong."""


# ------------------------------------------------------------------------------------------ the data


@dataclass
class Stats:
    """One row group (a scenario, or the whole run) of one side."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    avg: float | None = None
    success: float | None = None
    failures: float | None = None
    iterations: float | None = None
    dropped: float | None = None
    thresholds: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(metric key, expression) -> failed."""


@dataclass
class Side:
    path: str
    format: str
    profile: str | None
    started_at: str | None
    status: str | None
    overall: Stats
    scenarios: dict[str, Stats]
    windows: dict[str, list[stats.Window]] = field(default_factory=dict)
    """Per scenario, the per-interval quantities of its `timeSeries` (empty: none, e.g. a k6 file)."""
    interval: float | None = None
    experiment: dict[str, Any] | None = None
    runs: list[dict[str, list[stats.Window]]] = field(default_factory=list)
    """Several base runs (`--baseline-dir`): each run's windows; empty for a single run (`windows`)."""
    note: str = ""

    @property
    def is_k6(self) -> bool:
        return self.format != FIXLOAD

    def group_windows(self, group: str, run: dict[str, list[stats.Window]] | None = None) -> list[stats.Window]:
        """One scenario's windows, or the overall's (every scenario's summed interval by interval)."""
        windows = self.windows if run is None else run
        if group != OVERALL:
            return list(windows.get(group, []))
        return stats.pool(list(windows.values())) if windows else []

    def run_windows(self, group: str) -> list[list[stats.Window]]:
        """The windows of each run this side stands for (one, or the base runs of `--baseline-dir`)."""
        if not self.runs:
            return [self.group_windows(group)] if self.windows else []
        return [self.group_windows(group, run) for run in self.runs]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str
    """How it is printed: ms, rate (0..1), count, per_s, thresholds."""


METRICS: tuple[Metric, ...] = (
    Metric("p50", "http p50 ms", "ms"),
    Metric("p95", "http p95 ms", "ms"),
    Metric("p99", "http p99 ms", "ms"),
    Metric("avg", "http avg ms", "ms"),
    Metric("success", "success rate", "rate"),
    Metric("failures", "failures", "count"),
    Metric("iterations", "iterations/s", "per_s"),
    Metric("dropped", "dropped iterations", "count"),
    Metric("thresholds", "thresholds failed", "thresholds"),
)


# ------------------------------------------------------------------------------------------ reading


def canonical_key(key: str) -> str:
    """`http_req_duration{ scenario : 'booking_flow' }` -> `http_req_duration{scenario:booking_flow}` (tags sorted)."""
    try:
        selector = parse_selector(key)
    except ThresholdError:
        return key
    if not selector.tags:
        return selector.metric
    return selector.metric + "{" + ",".join(f"{k}:{v}" for k, v in sorted(selector.tags)) + "}"


def _expression(text: str) -> str:
    return "".join(str(text).split())


def _read_json(path: Path) -> Any:
    try:
        raw = read_input(path, "a summary JSON file", MAX_SUMMARY_BYTES)
    except InputFileError as exc:
        raise CompareInputError(str(exc)) from None
    if not raw.strip():
        raise CompareInputError(f"{path}: the file is empty, expected a fixload summary or a k6 --summary-export")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CompareInputError(
            f"{path}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            " (expected a fixload summary or a k6 --summary-export)"
        ) from None


class _Metrics:
    """A file's `metrics`, keyed by normalised selector, with checked number access."""

    def __init__(self, path: Path, raw: Mapping[str, Any]) -> None:
        self.path = path
        self.values: dict[str, dict[str, Any]] = {}
        self.raw_keys: dict[str, str] = {}
        self.failed: dict[tuple[str, str], bool] = {}
        for key, entry in raw.items():
            if not isinstance(entry, Mapping):
                raise CompareInputError(f'{path}: metrics["{key}"]: expected an object, got {_json_type(entry)}')
            canonical = canonical_key(str(key))
            values = entry.get("values") if isinstance(entry.get("values"), Mapping) else entry
            self.values[canonical] = {**self.values.get(canonical, {}), **values}
            self.raw_keys.setdefault(canonical, str(key))
            thresholds = entry.get("thresholds", {})
            if not isinstance(thresholds, Mapping):
                raise CompareInputError(f'{path}: metrics["{key}"].thresholds: expected an object expression -> bool')
            for expression, state in thresholds.items():
                if isinstance(state, Mapping) and isinstance(state.get("ok"), bool):  # handleSummary: {ok}
                    failed = not state["ok"]
                elif isinstance(state, bool):  # --summary-export: true means the threshold FAILED
                    failed = state
                else:
                    raise CompareInputError(
                        f'{path}: metrics["{key}"].thresholds["{expression}"]: expected true/false, got {state!r}'
                    )
                ident = (canonical, _expression(expression))
                self.failed[ident] = self.failed.get(ident, False) or failed

    def get(self, key: str, stat: str) -> float | None:
        entry = self.values.get(key)
        if entry is None or stat not in entry:
            return None
        value = entry[stat]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CompareInputError(
                f'{self.path}: metrics["{self.raw_keys[key]}"].{stat}: expected a number, got {value!r}'
            )
        return float(value)

    def has(self, key: str) -> bool:
        return key in self.values

    def scenario_tags(self) -> set[str]:
        names = set()
        for key in self.values:
            try:
                selector = parse_selector(key)
            except ThresholdError:
                continue
            names.update(v for k, v in selector.tags if k == "scenario")
        return names

    def latency(self, key: str) -> dict[str, float | None]:
        return {
            "p50": self.get(key, "med"),
            "p95": self.get(key, "p(95)"),
            "p99": self.get(key, "p(99)"),
            "avg": self.get(key, "avg"),
        }

    def rate(self, key: str) -> tuple[float | None, float | None]:
        """(success value, fails) of a Rate metric; (None, None) when it has no samples."""
        passes, fails = self.get(key, "passes"), self.get(key, "fails")
        if passes is None or fails is None or passes + fails == 0:
            return None, None
        return passes / (passes + fails), fails


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _scenario_thresholds(failed: Mapping[tuple[str, str], bool], name: str, flow: str) -> dict[tuple[str, str], bool]:
    out = {}
    for (key, expression), state in failed.items():
        try:
            selector = parse_selector(key)
        except ThresholdError:
            continue
        if ("scenario", name) in selector.tags or selector.metric.startswith(f"{flow}_"):
            out[(key, expression)] = state
    return out


def _overall(metrics: _Metrics, failed: dict[tuple[str, str], bool], dropped: float | None) -> Stats:
    passes = fails = 0.0
    for key in metrics.values:
        if key.endswith("_success_rate"):  # unselected flow rates only: canonical keys with tags have "{"
            p, f = metrics.get(key, "passes"), metrics.get(key, "fails")
            passes, fails = passes + (p or 0.0), fails + (f or 0.0)
    if passes + fails > 0:
        success, failures = passes / (passes + fails), fails
    else:
        failed_rate = metrics.get("http_req_failed", "value")
        success = None if failed_rate is None else 1.0 - failed_rate
        failures = metrics.get("http_req_failed", "passes")  # a Rate's passes are its true samples: failures
    return Stats(
        **metrics.latency("http_req_duration"),
        success=success,
        failures=failures,
        iterations=metrics.get("iterations", "rate"),
        dropped=dropped,
        thresholds=dict(failed),
    )


def _number(value: Any, where: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CompareInputError(f"{path}: {where}: expected a number, got {value!r}")
    return float(value)


def _fixload_side(path: Path, data: Mapping[str, Any], metrics: _Metrics) -> Side:
    fx = data["fixload"]
    scenarios_raw = fx.get("scenarios")
    if not isinstance(scenarios_raw, Mapping):
        raise CompareInputError(f"{path}: fixload.scenarios: expected an object keyed by scenario name")
    entries = fx.get("thresholds", [])
    if not isinstance(entries, list):
        raise CompareInputError(f"{path}: fixload.thresholds: expected an array")
    failed: dict[tuple[str, str], bool] = {}
    for index, t in enumerate(entries):
        if not isinstance(t, Mapping) or not isinstance(t.get("metric"), str) or "expression" not in t:
            raise CompareInputError(f"{path}: fixload.thresholds[{index}]: expected {{metric, expression, ok}}")
        ident = (canonical_key(t["metric"]), _expression(t["expression"]))
        failed[ident] = failed.get(ident, False) or t.get("ok") is False  # ok: null = not evaluated
    scenarios = {}
    for name, r in scenarios_raw.items():
        if not isinstance(r, Mapping):
            raise CompareInputError(f"{path}: fixload.scenarios.{name}: expected an object")
        where = f"fixload.scenarios.{name}"
        flow = str(r.get("flow") or name)
        from_metrics = metrics.latency(f"http_req_duration{{scenario:{name}}}")
        latency = {
            key: _number(r.get(f"{key}LatencyMs"), f"{where}.{key}LatencyMs", path) if f"{key}LatencyMs" in r else value
            for key, value in from_metrics.items()
        }
        failures = r.get("failedIterations")
        if "failedIterations" not in r:
            failures = metrics.rate(f"{flow}_success_rate")[1]
        scenarios[str(name)] = Stats(
            **latency,
            success=_number(r.get("successRate"), f"{where}.successRate", path),
            failures=_number(failures, f"{where}.failedIterations", path),
            iterations=_number(r.get("achievedRate"), f"{where}.achievedRate", path),
            dropped=_number(r.get("dropped"), f"{where}.dropped", path),
            thresholds=_scenario_thresholds(failed, str(name), flow),
        )
    dropped = metrics.get("dropped_iterations", "count")
    if scenarios:
        dropped = sum(s.dropped or 0.0 for s in scenarios.values())
    try:
        series = decode(fx.get("timeSeries"))
    except TimeSeriesError as exc:
        raise CompareInputError(f"{path}: {exc}") from None
    windows = {name: [w for w in map(stats.window_of, rows) if w is not None] for name, rows in series.items()}
    windows = {name: w for name, w in windows.items() if w}
    block = fx.get("timeSeries") if isinstance(fx.get("timeSeries"), Mapping) else {}
    experiment = fx.get("experiment")
    if experiment is not None and not isinstance(experiment, Mapping):
        raise CompareInputError(f"{path}: fixload.experiment: expected an object")
    return Side(
        path=str(path),
        format=FIXLOAD,
        profile=str(fx.get("profile")) if fx.get("profile") is not None else None,
        started_at=str(fx.get("startedAt")) if fx.get("startedAt") else None,
        status=str(fx.get("status")) if fx.get("status") else None,
        overall=_overall(metrics, failed, dropped),
        scenarios=scenarios,
        windows=windows,
        interval=_number(block.get("intervalSeconds"), "fixload.timeSeries.intervalSeconds", path) if windows else None,
        experiment=dict(experiment) if experiment is not None else None,
    )


def _k6_side(path: Path, metrics: _Metrics, fmt: str) -> Side:
    count, rate = metrics.get("iterations", "count"), metrics.get("iterations", "rate")
    elapsed = count / rate if count and rate else None
    any_dropped = metrics.has("dropped_iterations")
    scenarios = {}
    for name in sorted(metrics.scenario_tags()):
        success, failures = metrics.rate(f"{name}_success_rate{{scenario:{name}}}")
        if success is None:
            success, failures = metrics.rate(f"{name}_success_rate")
        if success is None and metrics.get(f"http_req_failed{{scenario:{name}}}", "value") is not None:
            success = 1.0 - (metrics.get(f"http_req_failed{{scenario:{name}}}", "value") or 0.0)
        iterations = metrics.get(f"iterations{{scenario:{name}}}", "rate")
        if iterations is None and elapsed:
            flow_total = sum(metrics.get(f"{name}_success_rate", k) or 0.0 for k in ("passes", "fails"))
            iterations = flow_total / elapsed if flow_total else None
        dropped = metrics.get(f"dropped_iterations{{scenario:{name}}}", "count")
        if dropped is None and not any_dropped:
            dropped = 0.0
        scenarios[name] = Stats(
            **metrics.latency(f"http_req_duration{{scenario:{name}}}"),
            success=success,
            failures=failures,
            iterations=iterations,
            dropped=dropped,
            thresholds=_scenario_thresholds(metrics.failed, name, name),
        )
    dropped_total = metrics.get("dropped_iterations", "count") if any_dropped else 0.0
    return Side(str(path), fmt, None, None, None, _overall(metrics, metrics.failed, dropped_total), scenarios)


def load(path: str | Path) -> Side:
    """Read a fixload summary or a k6 summary export; CompareInputError names the file and the problem."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise CompareInputError(
            f"{path}: expected a JSON object (a fixload summary or a k6 --summary-export), got {_json_type(data)}"
        )
    if k6summary.is_machine_readable(data):
        problems = k6summary.problems(data, strict=False)
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise CompareInputError(f"{path}: not a valid k6 machine-readable summary (schema 1.0.0): {shown}")
        raw_metrics, about = k6summary.to_metrics(data)
        side = _k6_side(path, _Metrics(path, raw_metrics), K6_MACHINE_READABLE)
        side.started_at = str(about["generatedAt"])
        side.note = f"k6 {about['k6Version']}, schema {about['version']}"
        return side
    raw = data.get("metrics")
    if not isinstance(raw, Mapping):
        what = "has no" if raw is None else f"has {_json_type(raw)} as its"
        raise CompareInputError(
            f'{path}: {what} "metrics" object: neither a fixload summary nor a k6 --summary-export file'
        )
    metrics = _Metrics(path, raw)
    if isinstance(data.get("fixload"), Mapping):
        return _fixload_side(path, data, metrics)
    handle_summary = any(isinstance(e, Mapping) and isinstance(e.get("values"), Mapping) for e in raw.values())
    return _k6_side(path, metrics, K6_HANDLE_SUMMARY if handle_summary else K6_EXPORT)


# ------------------------------------------------------------------------------------------ comparing


@dataclass
class Row:
    group: str
    metric: str
    label: str
    kind: str
    base: float | None
    new: float | None
    delta: float | None
    relative: float | None
    rule: str | None
    judged: bool
    """A budget rule applies and both sides have the value."""
    regression: bool
    note: str = ""
    base_total: int | None = None
    """For thresholds: how many BASE has (shown as failed/total)."""
    new_total: int | None = None
    estimate: stats.Estimate | None = None
    """The statistical verdict (p50/p95/p99, success, iterations/s, dropped with per-window data on both sides)."""

    @property
    def verdict(self) -> str:
        """regression / improvement / within noise / too little data / not judged (no budget); fixed-budget rows:
        REGRESSION or ok (empty when not judged)."""
        if self.estimate is not None:
            return self.estimate.verdict
        return ("regression" if self.regression else "within budget") if self.judged else ""


@dataclass
class ThresholdChange:
    metric: str
    expression: str
    base: bool | None
    """Failed in BASE (None: BASE has no such threshold)."""
    new: bool | None

    @property
    def newly_failed(self) -> bool:
        return bool(self.new) and not self.base


@dataclass
class Comparison:
    base: Side
    new: Side
    budget: budgets.Budget
    rows: list[Row]
    thresholds: list[ThresholdChange]
    confidence: float = 0.95

    @property
    def statistical(self) -> bool:
        """Some row was judged with an interval (both sides carry per-window data)."""
        return any(row.estimate is not None for row in self.rows)

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.regression]

    @property
    def exit_code(self) -> int:
        return int(ExitCode.THRESHOLDS_FAILED if self.regressions else ExitCode.OK)


def _delta(base: float | None, new: float | None) -> tuple[float | None, float | None]:
    if base is None or new is None:
        return None, None
    delta = new - base
    return delta, (delta / abs(base) if base else None)


def _row(
    group: str,
    metric: Metric,
    b: float | None,
    n: float | None,
    rule: budgets.Rule | None,
    exceeded: Callable[[], bool],
    note: str = "",
    totals: tuple[int | None, int | None] = (None, None),
) -> Row:
    """One row: the delta from the two values; judged when a rule applies and both sides have the value,
    and then a regression when `exceeded()` says so."""
    judged = rule is not None and b is not None and n is not None
    delta, relative = _delta(b, n)
    return Row(
        group=group,
        metric=metric.key,
        label=metric.label,
        kind=metric.kind,
        base=b,
        new=n,
        delta=delta,
        relative=relative,
        rule=str(rule) if rule else None,
        judged=judged,
        regression=judged and exceeded(),
        note=note,
        base_total=totals[0],
        new_total=totals[1],
    )


def _threshold_row(group: str, metric: Metric, base: Stats | None, new: Stats | None, budget: budgets.Budget) -> Row:
    b = None if base is None else float(sum(base.thresholds.values()))
    n = None if new is None else float(sum(new.thresholds.values()))
    before = base.thresholds if base is not None else {}
    newly = [k for k, failed in (new.thresholds.items() if new else ()) if failed and not before.get(k)]
    rule = budget.get("thresholds")
    return _row(
        group,
        metric,
        b,
        n,
        rule,
        lambda: len(newly) > rule.amount,
        note=f"{len(newly)} newly failed" if newly else "",
        totals=(
            len(base.thresholds) if base is not None else None,
            len(new.thresholds) if new is not None else None,
        ),
    )


@dataclass
class _Windows:
    """One group's per-window data on both sides, and the bootstrap draws its rows share."""

    base_runs: list[list[stats.Window]]
    new: list[stats.Window]
    interval: tuple[float, float]
    resampler: stats.Resampler | None = None


def _rows(
    group: str,
    base: Stats | None,
    new: Stats | None,
    budget: budgets.Budget,
    data: _Windows | None = None,
    confidence: float = 0.95,
) -> list[Row]:
    rows = []
    for metric in METRICS:
        if metric.key == "thresholds":
            rows.append(_threshold_row(group, metric, base, new, budget))
            continue
        b = getattr(base, metric.key) if base is not None else None
        n = getattr(new, metric.key) if new is not None else None
        rule = budget.get(metric.key)
        note = "" if base is not None and new is not None else ("only in NEW" if base is None else "only in BASE")
        row = _row(group, metric, b, n, rule, lambda rule=rule, b=b, n=n: rule.exceeded(b, n), note)
        if data is not None and metric.key in stats.JUDGED and base is not None and new is not None:
            runs, windows, interval = data.base_runs, data.new, data.interval
            estimate, data.resampler = stats.estimate(
                group, metric.key, rule, runs, windows, interval, confidence, data.resampler
            )
            _set(row, estimate)
        rows.append(row)
    return rows


def _windows(base: Side, new: Side, group: str) -> _Windows | None:
    base_runs = [w for w in base.run_windows(group) if w]
    windows = new.group_windows(group)
    if not base_runs or not windows or base.interval is None or new.interval is None:
        return None
    return _Windows(base_runs, windows, (base.interval, new.interval))


def _widen_by_common_shift(rows: list[Row], budget: budgets.Budget, confidence: float) -> None:
    """One base run: each judged row's interval also holds the shift the pair's other scenarios show."""
    for metric in stats.JUDGED:
        mine = {row.group: row for row in rows if row.metric == metric and row.estimate is not None}
        widened = stats.common_shift({g: r.estimate for g, r in mine.items()}, OVERALL, budget.get(metric), confidence)
        for group, row in mine.items():
            if widened[group] is not row.estimate:
                _set(row, widened[group])


def _set(row: Row, estimate: stats.Estimate) -> None:
    row.estimate = estimate
    row.judged = estimate.verdict in (stats.REGRESSION, stats.IMPROVEMENT, stats.WITHIN_NOISE)
    row.regression = estimate.regression


def compare(base: Side, new: Side, budget: budgets.Budget, confidence: float = 0.95) -> Comparison:
    """Row by row, overall then each scenario; statistically where both sides have per-window data. The
    thresholds rule is not applied when a side's format has no thresholds (k6's machine-readable summary)."""
    if K6_MACHINE_READABLE in (base.format, new.format):
        budget = {key: rule for key, rule in budget.items() if key != "thresholds"}
    rows = _rows(OVERALL, base.overall, new.overall, budget, _windows(base, new, OVERALL), confidence)
    for name in sorted(set(base.scenarios) | set(new.scenarios)):
        data = _windows(base, new, name)
        rows += _rows(name, base.scenarios.get(name), new.scenarios.get(name), budget, data, confidence)
    if len(base.runs) <= 1:
        _widen_by_common_shift(rows, budget, confidence)
    keys = sorted(set(base.overall.thresholds) | set(new.overall.thresholds))
    b, n = base.overall.thresholds, new.overall.thresholds
    changes = [ThresholdChange(k, e, b.get((k, e)), n.get((k, e))) for k, e in keys]
    return Comparison(base, new, budget, rows, changes, confidence)


__all__ = ("CompareInputError", "Comparison", "Side", "Stats", "compare", "load")
