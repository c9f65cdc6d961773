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

The verdict is `fixload.common.budget`'s: exit 0 within budget, 99 on a regression, 104 when an input cannot be
read (the message names the file and what is wrong) or the budget is invalid.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fixload.common import budget as budgets
from fixload.common.exitcodes import ExitCode
from fixload.common.files import MAX_SUMMARY_BYTES, InputFileError, read_input
from fixload.metrics.thresholds import ThresholdError, parse_selector

OVERALL = "overall"
FIXLOAD = "fixload summary"
K6_EXPORT = "k6 summary export"
K6_HANDLE_SUMMARY = "k6 handleSummary JSON"


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


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str
    """How it is printed: ms, rate (0..1), count, per_s, thresholds."""


METRICS: tuple[Metric, ...] = (
    Metric("p50", "p50 ms", "ms"),
    Metric("p95", "p95 ms", "ms"),
    Metric("p99", "p99 ms", "ms"),
    Metric("avg", "avg ms", "ms"),
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
    return Side(
        path=str(path),
        format=FIXLOAD,
        profile=str(fx.get("profile")) if fx.get("profile") is not None else None,
        started_at=str(fx.get("startedAt")) if fx.get("startedAt") else None,
        status=str(fx.get("status")) if fx.get("status") else None,
        overall=_overall(metrics, failed, dropped),
        scenarios=scenarios,
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


def _rows(group: str, base: Stats | None, new: Stats | None, budget: budgets.Budget) -> list[Row]:
    rows = []
    for metric in METRICS:
        if metric.key == "thresholds":
            rows.append(_threshold_row(group, metric, base, new, budget))
            continue
        b = getattr(base, metric.key) if base is not None else None
        n = getattr(new, metric.key) if new is not None else None
        rule = budget.get(metric.key)
        note = "" if base is not None and new is not None else ("only in NEW" if base is None else "only in BASE")
        rows.append(_row(group, metric, b, n, rule, lambda rule=rule, b=b, n=n: rule.exceeded(b, n), note))
    return rows


def compare(base: Side, new: Side, budget: budgets.Budget) -> Comparison:
    rows = _rows(OVERALL, base.overall, new.overall, budget)
    for name in sorted(set(base.scenarios) | set(new.scenarios)):
        rows += _rows(name, base.scenarios.get(name), new.scenarios.get(name), budget)
    keys = sorted(set(base.overall.thresholds) | set(new.overall.thresholds))
    b, n = base.overall.thresholds, new.overall.thresholds
    changes = [ThresholdChange(k, e, b.get((k, e)), n.get((k, e))) for k, e in keys]
    return Comparison(base, new, budget, rows, changes)


# ------------------------------------------------------------------------------------------ rendering


def _value(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == "ms":
        return f"{value:.2f}"
    if kind == "rate":
        return f"{value * 100:.2f}%"
    if kind == "per_s":
        return f"{value:.2f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _signed_delta(kind: str, delta: float | None) -> str:
    if delta is None:
        return "—"
    if kind == "rate":
        return f"{delta * 100:+.2f}pp"
    if kind in ("ms", "per_s"):
        return f"{delta:+.2f}"
    return f"{delta:+.0f}" if float(delta).is_integer() else f"{delta:+g}"


def _relative(relative: float | None) -> str:
    return "—" if relative is None else f"{relative * 100:+.1f}%"


def _cells(row: Row) -> list[str]:
    verdict = ("REGRESSION" if row.regression else "ok") if row.judged else ""
    budget = f"{row.rule} {verdict}".strip() if row.rule else ""

    def shown(value: float | None, total: int | None) -> str:
        return _value(row.kind, value) + (f"/{total}" if total is not None and value is not None else "")

    return [
        row.label,
        shown(row.base, row.base_total),
        shown(row.new, row.new_total),
        _signed_delta(row.kind, row.delta),
        _relative(row.relative),
        " ".join(part for part in (budget, f"({row.note})" if row.note else "") if part),
    ]


HEADERS = ("metric", "base", "new", "delta", "delta %", "budget")


def _describe_side(side: Side) -> str:
    parts = [side.format]
    parts += [p for p in (side.profile, side.started_at, side.status) if p]
    return f"{side.path} ({', '.join(parts)})"


def _regression_text(row: Row) -> str:
    if row.kind == "thresholds":
        return row.note
    relative = f" ({_relative(row.relative)})" if row.relative is not None and row.kind != "rate" else ""
    return f"{_signed_delta(row.kind, row.delta)}{relative}"


def verdict_line(result: Comparison) -> str:
    regressions = result.regressions
    if not regressions:
        return f"within budget ({budgets.describe(result.budget)})"
    shown = ", ".join(f"{r.group} {r.label} {_regression_text(r)}" for r in regressions[:4])
    more = f", and {len(regressions) - 4} more" if len(regressions) > 4 else ""
    return f"REGRESSION: {len(regressions)} over budget: {shown}{more} (budget: {budgets.describe(result.budget)})"


def format_table(result: Comparison) -> str:
    lines = [
        f"fixload compare: {verdict_line(result)}",
        f"  base: {_describe_side(result.base)}",
        f"  new:  {_describe_side(result.new)}",
        "",
    ]
    table = [["scenario", *HEADERS]]
    previous = None
    for row in result.rows:
        table.append([row.group if row.group != previous else "", *_cells(row)])
        previous = row.group
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for index, cells in enumerate(table):
        pairs = enumerate(zip(cells, widths, strict=True))
        aligned = [c.ljust(w) if i in (0, 1, 6) else c.rjust(w) for i, (c, w) in pairs]
        mark = "✗ " if index and result.rows[index - 1].regression else "  "
        lines.append((mark + "  ".join(aligned)).rstrip())
    changed = [t for t in result.thresholds if t.base or t.new]
    if changed:
        lines += ["", "thresholds failing on either side:"]
        for t in changed:
            lines.append(
                f"  {_state(t.base):<5} -> {_state(t.new):<5}  {t.metric}: {t.expression}"
                + ("  (newly failed)" if t.newly_failed else "")
            )
    return "\n".join(lines) + "\n"


def _state(failed: bool | None) -> str:
    return "—" if failed is None else ("FAIL" if failed else "pass")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(result: Comparison) -> str:
    """For a pull-request comment or a job summary: the verdict line, a table (regressions bold), thresholds."""
    icon = "❌" if result.regressions else "✅"
    lines = [
        f"### {icon} fixload compare: {_md(verdict_line(result))}",
        "",
        f"- base: `{_describe_side(result.base)}`",
        f"- new: `{_describe_side(result.new)}`",
        "",
        "| scenario | " + " | ".join(HEADERS) + " |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    previous = None
    for row in result.rows:
        cells = [row.group if row.group != previous else "", *_cells(row)]
        previous = row.group
        cells = [f"**{_md(c)}**" if c and row.regression else _md(c) for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    changed = [t for t in result.thresholds if t.base or t.new]
    passing = len(result.thresholds) - len(changed)
    lines += ["", f"Thresholds: {len(changed)} failing on either side, {passing} passing on both."]
    if changed:
        lines += ["", "| threshold | base | new |", "|---|---|---|"]
        for t in changed:
            cells = [f"`{_md(t.metric)}`: `{_md(t.expression)}`", _state(t.base), _state(t.new)]
            if t.newly_failed:
                cells = [f"**{c}**" for c in cells[:2]] + ["**FAIL (newly failed)**"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def as_dict(result: Comparison) -> dict[str, Any]:
    def side(s: Side) -> dict[str, Any]:
        return {"path": s.path, "format": s.format, "profile": s.profile, "startedAt": s.started_at, "status": s.status}

    return {
        "verdict": "regression" if result.regressions else "within_budget",
        "exitCode": result.exit_code,
        "summary": verdict_line(result),
        "base": side(result.base),
        "new": side(result.new),
        "budget": {key: str(rule) for key, rule in result.budget.items()},
        "rows": [{_camel(k): v for k, v in asdict(row).items()} for row in result.rows],
        "thresholds": [{**asdict(t), "newlyFailed": t.newly_failed} for t in result.thresholds],
    }


def format_json(result: Comparison) -> str:
    return orjson.dumps(as_dict(result), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()


FORMATS = {"table": format_table, "markdown": format_markdown, "json": format_json}


# ------------------------------------------------------------------------------------------ command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="the BASE run: a fixload summary or a k6 --summary-export JSON")
    parser.add_argument("new", help="the NEW run, compared against BASE")
    parser.add_argument("--budget", default="", help="override the budget, e.g. 'p95=+5%%,success=-0.2pp,dropped=+10'")
    parser.add_argument("--profile", help='read the budget from this profile\'s "compare" block (--budget wins)')
    parser.add_argument("--format", choices=tuple(FORMATS), default="table", help="output format (default: table)")


def resolve_budget(profile_path: str | None, text: str) -> budgets.Budget:
    """Defaults, then the profile's `compare.budget`, then `--budget`; raises BudgetError or ProfileError."""
    overrides: list[Mapping[str, budgets.Rule | None]] = []
    if profile_path:
        from fixload.profile.schema import load_profile

        profile = load_profile(profile_path)
        if profile.compare is not None:
            overrides.append(budgets.parse_mapping(profile.compare.budget, f"{profile_path}: compare.budget"))
    if text:
        overrides.append(budgets.parse_text(text))
    return budgets.resolve(*overrides)


def run(args: argparse.Namespace) -> int:
    from fixload.profile.schema import ProfileError

    problems = []
    try:
        budget = resolve_budget(args.profile, args.budget)
    except (budgets.BudgetError, ProfileError) as exc:
        problems.append(str(exc))
    sides: list[Side] = []
    for path in (args.base, args.new):
        try:
            sides.append(load(path))
        except CompareInputError as exc:
            problems.append(str(exc))
    if problems:
        for problem in problems:
            print(f"fixload compare: {problem}", file=sys.stderr)
        return int(ExitCode.INVALID_CONFIG)
    result = compare(sides[0], sides[1], budget)
    sys.stdout.write(FORMATS[args.format](result))
    return result.exit_code


__all__: Sequence[str] = ("CompareInputError", "Comparison", "Side", "Stats", "compare", "load", "run")
