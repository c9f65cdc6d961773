"""What `fixload compare` prints: a table for people, markdown for a pull request or job summary, JSON for tools.

With per-interval data (`fixload.report.verdict`) each judged row carries its change and confidence interval
in the budget's unit and a verdict, and the output lists them one a line::

    booking_flow p95 +12.4 % [+8.1, +16.9] — regression (budget +10 %)

`caveats` says what the comparison could not check (a k6 file's missing identity and windows, one base run's
unknown run-to-run noise); every format prints them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson

from fixload.common import budget as budgets
from fixload.report import verdict as stats
from fixload.report.compare import K6_MACHINE_READABLE, Comparison, Row, Side


def cell_value(kind: str, value: float | None) -> str:
    """A value as `compare`'s table and the history page show it: ms, rate (%), per_s or a count."""
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


def _cells(row: Row, statistical: bool = False) -> list[str]:
    verdict = ("REGRESSION" if row.regression else "ok") if row.judged and row.estimate is None else ""
    budget = f"{row.rule} {verdict}".strip() if row.rule else ""

    def shown(value: float | None, total: int | None) -> str:
        return cell_value(row.kind, value) + (f"/{total}" if total is not None and value is not None else "")

    return [
        row.label,
        shown(row.base, row.base_total),
        shown(row.new, row.new_total),
        _signed_delta(row.kind, row.delta),
        _relative(row.relative),
        *((interval_text(row.estimate), row.estimate.verdict if row.estimate else "") if statistical else ()),
        " ".join(part for part in (budget, f"({row.note})" if row.note else "") if part),
    ]


HEADERS = ("metric", "base", "new", "delta", "delta %", "budget")
STAT_HEADERS = ("metric", "base", "new", "delta", "delta %", "change [interval]", "verdict", "budget")
LEFT = {"scenario", "metric", "verdict", "budget"}


def _headers(result: Comparison) -> tuple[str, ...]:
    return STAT_HEADERS if result.statistical else HEADERS


def _amount(unit: str, value: float, signed: bool = True) -> str:
    sign = "+" if signed else ""
    if unit == "%":
        return f"{value:{sign}.1f}"
    if unit == "pp":
        return f"{value:{sign}.2f}"
    if unit == "ms":
        return f"{value:{sign}.1f}"
    return f"{value:{sign}.0f}" if float(value).is_integer() else f"{value:{sign}.1f}"


def _unit(unit: str) -> str:
    return {"%": " %", "pp": " pp", "ms": " ms"}.get(unit, "")


def interval_text(estimate: stats.Estimate | None) -> str:
    """`+12.4 % [+8.1, +16.9]`; `—` without an estimate or a value."""
    if estimate is None or estimate.change is None:
        return "—"
    text = _amount(estimate.unit, estimate.change) + _unit(estimate.unit)
    if estimate.low is not None and estimate.high is not None:
        text += f" [{_amount(estimate.unit, estimate.low)}, {_amount(estimate.unit, estimate.high)}]"
    return text


def budget_text(rule: budgets.Rule | None) -> str:
    """`budget +10 %` (the bad way), or `no budget`."""
    if rule is None:
        return "no budget"
    sign = "+" if budgets.KINDS[rule.key].worse > 0 else "-"
    return f"budget {sign}{rule.amount:g}{_unit(rule.unit)}"


def verdict_lines(result: Comparison) -> list[str]:
    """One line per statistically judged row: `booking_flow p95 +12.4 % [+8.1, +16.9] — regression (budget +10 %)`."""
    out = []
    for row in result.rows:
        e = row.estimate
        if e is None or e.verdict == stats.NO_BUDGET:
            continue  # in the table, with its interval; nothing to judge it against
        if e.verdict == stats.TOO_LITTLE_DATA:
            out.append(f"{row.group} {row.metric} — {e.method}")
            continue
        noise = f", run-to-run noise ±{_amount(e.unit, e.noise, False)}{_unit(e.unit)}" if e.noise else ""
        if e.shift:
            noise += f", other scenarios' shift ±{_amount(e.unit, e.shift, False)}{_unit(e.unit)}"
        out.append(
            f"{row.group} {row.metric} {interval_text(e)} — {e.verdict} ({budget_text(result.budget.get(row.metric))}"
            f"{noise})"
        )
    return out


def _describe_side(side: Side) -> str:
    parts = [side.format]
    parts += [p for p in (side.profile, side.started_at, side.status, side.note) if p]
    return f"{side.path} ({', '.join(parts)})"


def _regression_text(row: Row) -> str:
    if row.kind == "thresholds":
        return row.note
    if row.estimate is not None:
        return interval_text(row.estimate)
    relative = f" ({_relative(row.relative)})" if row.relative is not None and row.kind != "rate" else ""
    return f"{_signed_delta(row.kind, row.delta)}{relative}"


def verdict_line(result: Comparison) -> str:
    regressions = result.regressions
    judged = [r for r in result.rows if r.estimate is not None and r.estimate.verdict != stats.TOO_LITTLE_DATA]
    if not regressions and judged:
        level = f"{result.confidence * 100:g} %"
        return f"within noise at {level} confidence (budget: {budgets.describe(result.budget)})"
    if not regressions and result.statistical:
        return (
            f"no verdict: too little data for an interval ({stats.MIN_WINDOWS} windows of data a side needed); "
            f"no fixed-budget row over budget ({budgets.describe(result.budget)})"
        )
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
        *(f"  note: {caveat}" for caveat in caveats(result)),
        "",
    ]
    headers = ["scenario", *_headers(result)]
    table = [headers]
    previous = None
    for row in result.rows:
        table.append([row.group if row.group != previous else "", *_cells(row, result.statistical)])
        previous = row.group
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for index, cells in enumerate(table):
        pairs = enumerate(zip(cells, widths, strict=True))
        aligned = [c.ljust(w) if headers[i] in LEFT else c.rjust(w) for i, (c, w) in pairs]
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
    judged = verdict_lines(result)
    if judged:
        level = f"{result.confidence * 100:g} %"
        lines += ["", f"verdicts (change and {level} interval, {_method(result)}):"]
        lines += [f"  {line}" for line in judged]
    return "\n".join(lines) + "\n"


def _method(result: Comparison) -> str:
    methods = sorted({row.estimate.method for row in result.rows if row.estimate and row.estimate.change is not None})
    runs = len(result.base.runs)
    base = f"base of {runs} runs" if runs > 1 else "one base run"
    return ", ".join([*methods, base]) if methods else base


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
        *(f"- note: {_md(caveat)}" for caveat in caveats(result)),
        "",
        "| scenario | " + " | ".join(_headers(result)) + " |",
        "|" + "|".join("---" if h in LEFT else "---:" for h in ["scenario", *_headers(result)]) + "|",
    ]
    previous = None
    for row in result.rows:
        cells = [row.group if row.group != previous else "", *_cells(row, result.statistical)]
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
    judged = verdict_lines(result)
    if judged:
        lines += ["", f"Verdicts (change and {result.confidence * 100:g} % interval, {_md(_method(result))}):", ""]
        lines += [f"- {'**' + _md(line) + '**' if ' — regression' in line else _md(line)}" for line in judged]
    return "\n".join(lines) + "\n"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _row_dict(row: Row) -> dict[str, Any]:
    out = {_camel(k): v for k, v in asdict(row).items() if k != "estimate"}
    out["verdict"] = row.verdict
    e = row.estimate
    out["estimate"] = None
    if e is not None:
        out["estimate"] = {
            "change": e.change,
            "low": e.low,
            "high": e.high,
            "unit": e.unit,
            "verdict": e.verdict,
            "windows": {"base": e.windows[0], "new": e.windows[1]},
            "method": e.method,
            "runToRunNoise": e.noise,
            "otherScenariosShift": e.shift,
            "budget": e.budget,
            "text": interval_text(e),
        }
    return out


def as_dict(result: Comparison) -> dict[str, Any]:
    def side(s: Side) -> dict[str, Any]:
        return {
            "path": s.path,
            "format": s.format,
            "profile": s.profile,
            "startedAt": s.started_at,
            "status": s.status,
            "experiment": s.experiment,
            "runs": max(1, len(s.runs)),
        }

    verdict = "within_noise" if result.statistical else "within_budget"
    return {
        "verdict": "regression" if result.regressions else verdict,
        "exitCode": result.exit_code,
        "summary": verdict_line(result),
        "confidence": result.confidence,
        "caveats": caveats(result),
        "base": side(result.base),
        "new": side(result.new),
        "budget": {key: str(rule) for key, rule in result.budget.items()},
        "rows": [_row_dict(row) for row in result.rows],
        "verdicts": verdict_lines(result),
        "thresholds": [{**asdict(t), "newlyFailed": t.newly_failed} for t in result.thresholds],
    }


def format_json(result: Comparison) -> str:
    return orjson.dumps(as_dict(result), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()


FORMATS = {"table": format_table, "markdown": format_markdown, "json": format_json}


def _machine_readable(sides: list[Side]) -> bool:
    return any(side.format == K6_MACHINE_READABLE for side in sides)


def caveats(result: Comparison) -> list[str]:
    """What this comparison could not check, one sentence each."""
    base, new = result.base, result.new
    out = []
    k6 = [side for side in (base, new) if side.is_k6]
    if k6:
        out.append(
            f"{' and '.join(side.path for side in k6)}: a k6 summary records no experiment identity (not checked:"
            " make sure both runs used the same script, load and target) and no per-interval data (its rows are"
            " judged against the fixed budget, without an interval)"
            + (
                "; k6's machine-readable format has no thresholds"
                if any(s.format == K6_MACHINE_READABLE for s in k6)
                else ""
            )
        )
    for side in (base, new):
        missing = []
        if not side.is_k6 and not side.windows:
            missing.append("no per-interval data (its rows are judged against the fixed budget)")
        if not side.is_k6 and side.experiment is None and not side.runs:
            missing.append("no experiment identity (not checked)")
        if missing:
            out.append(f"{side.path}: {' and '.join(missing)}: a summary written before fixload recorded them")
    if result.statistical and len(base.runs) <= 1:
        out.append(
            "one base run: the intervals hold the noise within the runs and the shift the other scenarios show,"
            " not a run-to-run drift that moves every scenario alike; a base of several runs (--baseline-dir)"
            " measures that"
        )
    return out
