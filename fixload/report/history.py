"""`fixload history DIR` (and `fixload report --history DIR`): every run in a folder, oldest first, judged in turn.

Each run is compared (`fixload.report.compare`, statistically where the summaries carry per-interval data)
with the runs before it of the same experiment: the last `--window` of them pooled as its base, so a run is a
regression only when it lies beyond the budget *and* beyond the noise of the runs before it. The first run of
an experiment has no verdict. The output is a table on stdout (per run and scenario: p95, success, achieved
iterations/s, dropped and the verdict, a regression with its interval) and one self-contained HTML page, drawn
with the reports' renderer (`fixload.report.svg.line_chart`): p95, success, achieved rate and dropped per
scenario across runs, regressions ringed in red and labelled with their interval, then the same table.
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixload.common import budget as budgets
from fixload.common.exitcodes import ExitCode
from fixload.common.secrets import redact
from fixload.report.compare import OVERALL, CompareInputError, Comparison, Row, Side, compare
from fixload.report.compare_output import cell_value, interval_text
from fixload.report.experiment import experiment_differences
from fixload.report.html import CSS, PALETTE, _short_time, write_atomic
from fixload.report.runs import load_runs, pooled_base
from fixload.report.svg import line_chart

WINDOW = 5
HTTP_P95_TITLE = "HTTP p95 (http_req_duration) by scenario across runs (ms)"
COLUMNS = (
    ("p95", "http p95 ms", "ms"),
    ("success", "success", "rate"),
    ("iterations", "iter/s", "per_s"),
    ("dropped", "dropped", "count"),
)
"""Each scenario's columns: the `Side` attribute, its heading, and its kind as `compare` formats it."""


@dataclass
class Entry:
    run: Side
    result: Comparison | None
    """Against the runs before it of the same experiment (None: the first of its experiment)."""
    base_runs: int = 0


def judge(runs: Sequence[Side], budget: budgets.Budget, confidence: float, window: int = WINDOW) -> list[Entry]:
    """Each run against up to `window` runs before it of the same experiment (k6 files: any run before)."""
    entries = []
    for i, run in enumerate(runs):
        before = [r for r in runs[:i] if _same(r, run)][-window:]
        if not before:
            entries.append(Entry(run, None))
            continue
        base = pooled_base(before, f"{len(before)} runs before") if len(before) > 1 else before[0]
        entries.append(Entry(run, compare(base, run, budget, confidence), len(before)))
    return entries


def _same(a: Side, b: Side) -> bool:
    """Same experiment (or unknown: a k6 file or an older summary)."""
    return a.experiment is None or b.experiment is None or not experiment_differences(a.experiment, b.experiment)


def _stats(run: Side, group: str) -> object | None:
    return run.overall if group == OVERALL else run.scenarios.get(group)


def _regressions(entry: Entry, group: str) -> list[Row]:
    if entry.result is None:
        return []
    return [row for row in entry.result.rows if row.group == group and row.regression]


def verdict_text(entry: Entry, group: str) -> str:
    """`first run`, `within noise`, or `REGRESSION p95 +30.2 % [+25.1, +35.0]; ...`."""
    if entry.result is None:
        return "first run"
    bad = _regressions(entry, group)
    if bad:
        return "REGRESSION " + "; ".join(f"{r.metric} {_change(r)}" for r in bad)
    rows = [r for r in entry.result.rows if r.group == group]
    if any(r.estimate is not None and r.estimate.verdict == "improvement" for r in rows):
        return "improvement"
    return "within noise" if any(r.estimate is not None for r in rows) else "within budget"


def _change(row: Row) -> str:
    return interval_text(row.estimate) if row.estimate is not None else row.note or f"{row.rule} exceeded"


def groups_of(runs: Sequence[Side]) -> list[str]:
    return [*sorted({name for run in runs for name in run.scenarios}), OVERALL]


def format_table(entries: Sequence[Entry]) -> str:
    runs = [e.run for e in entries]
    table = [["#", "started", "scenario", *(label for _, label, _ in COLUMNS), "verdict"]]
    for i, entry in enumerate(entries):
        for j, group in enumerate(groups_of(runs)):
            s = _stats(entry.run, group)
            values = [cell_value(kind, getattr(s, key, None) if s is not None else None) for key, _, kind in COLUMNS]
            lead = [str(i + 1), _short_time(entry.run.started_at)] if j == 0 else ["", ""]
            table.append([*lead, group, *values, verdict_text(entry, group)])
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    lines = []
    for cells in table:
        pairs = enumerate(zip(cells, widths, strict=True))
        aligned = [c.ljust(w) if k in (1, 2, 7) else c.rjust(w) for k, (c, w) in pairs]
        lines.append("  ".join(aligned).rstrip())
    return "\n".join(lines) + "\n"


def _chart(entries: Sequence[Entry], key: str, title: str, unit: str, scale: float = 1.0, zoom: bool = False) -> str:
    runs = [e.run for e in entries]
    groups = groups_of(runs)
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups[:-1])} | {OVERALL: "#111827"}
    step = max(1, math.ceil(len(runs) / 10))
    ticks = [(float(i), f"#{i + 1} {_short_time(run.started_at)[6:]}") for i, run in enumerate(runs) if i % step == 0]
    series, marks = [], []
    for group in groups:
        points: list[tuple[float, float | None]] = []
        for i, entry in enumerate(entries):
            s = _stats(entry.run, group)
            value = getattr(s, key, None) if s is not None else None
            points.append((float(i), None if value is None else value * scale))
            for row in _regressions(entry, group):
                if row.metric == key and value is not None:
                    marks.append((float(i), value * scale, f"{group} {_change(row)}"))
        series.append({"label": group, "color": colors[group], "points": points, "dashed": group == OVERALL})
    axis = (
        f"run (# and start time, UTC; {_short_time(runs[0].started_at)[:5]} → {_short_time(runs[-1].started_at)[:5]})",
        ticks,
    )
    x_max = max(len(runs) - 1.0, 1.0)  # the axis ends at the last run
    return line_chart(title, series, x_max, unit, width=1120, height=300, x_axis=axis, zoom=zoom, marks=marks)


def history_html(entries: Sequence[Entry]) -> str:
    """One page: the four charts across runs, regressions marked, then every run's numbers and verdicts."""
    e = html.escape
    runs = [entry.run for entry in entries]
    groups = groups_of(runs)
    flagged = sum(1 for entry in entries for g in groups if _regressions(entry, g))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>fixload history — {len(runs)} runs</title>",
        f"<style>{CSS}.regression{{color:#dc2626;font-weight:600}}td.num{{white-space:nowrap}}td.path{{word-break:break-all}}.scroll{{overflow-x:auto}}</style></head><body>",
        "<h1>fixload history</h1>",
        f'<div class="meta">{len(runs)} runs, {e(_short_time(runs[0].started_at))} → '
        f"{e(_short_time(runs[-1].started_at))}; each judged against up to {WINDOW} runs before it of the same "
        f"experiment · {flagged} regression(s) marked</div>",
        f'<div class="panel">{_chart(entries, "p95", HTTP_P95_TITLE, "ms")}</div>',
        f'<div class="panel">{_chart(entries, "success", "success rate by scenario across runs (%)", "%", 100.0, True)}'
        "</div>",
        f'<div class="panel">{_chart(entries, "iterations", "achieved iterations/s by scenario across runs", "/s")}'
        "</div>",
        f'<div class="panel">{_chart(entries, "dropped", "dropped iterations by scenario across runs", "count")}</div>',
        "<h2>Runs</h2>",
        '<div class="scroll"><table><tr><th>#</th><th>started</th><th>file</th><th>profile</th><th>status</th>'
        "<th>scenario</th>" + "".join(f"<th>{e(label)}</th>" for _, label, _ in COLUMNS) + "<th>verdict</th></tr>",
    ]
    for i, entry in enumerate(entries):
        run = entry.run
        for j, group in enumerate(groups):
            s = _stats(run, group)
            cells = "".join(
                f'<td class="num">{e(cell_value(kind, getattr(s, key, None) if s is not None else None))}</td>'
                for key, _, kind in COLUMNS
            )
            verdict = verdict_text(entry, group)
            cls = ' class="regression"' if verdict.startswith("REGRESSION") else ""
            lead = (
                f'<td class="num">{i + 1}</td><td>{e(_short_time(run.started_at))}</td>'
                f'<td class="path">{e(run.path)}</td>'
                f"<td>{e(run.profile or run.format)}</td><td>{e(run.status or '')}</td>"
                if j == 0
                else "<td></td>" * 5
            )
            parts.append(f"<tr>{lead}<td>{e(group)}</td>{cells}<td{cls}>{e(verdict)}</td></tr>")
    parts.append("</table></div>")
    parts.append(
        "<footer>fixload history · p95 of http_req_duration; success rate of each flow; verdicts by fixload compare"
        "</footer>"
    )
    parts.append("</body></html>")
    return redact("\n".join(parts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="a folder of fixload summaries (and k6 files)")
    parser.add_argument("--html", help="write the page here (default: DIR/history.html)")
    parser.add_argument("--budget", default="", help="the compare budget, e.g. 'p95=+5%%'")
    parser.add_argument("--profile", help='read the budget from this profile\'s "compare" block (--budget wins)')
    parser.add_argument("--confidence", type=float, default=95.0, metavar="PERCENT", help="default 95")


def write(directory: Path, target: str | None, budget: budgets.Budget, confidence: float, say: str) -> int:
    """Read DIR, judge, print the table, write the page; 104 naming DIR when it has nothing to read."""
    try:
        runs, skipped = load_runs(directory)
    except CompareInputError as exc:
        print(f"{say}: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID_CONFIG)
    for problem in skipped:
        print(f"{say}: skipped {problem}", file=sys.stderr)
    entries = judge(runs, budget, confidence)
    sys.stdout.write(format_table(entries))
    written = write_atomic(target or str(directory / "history.html"), history_html(entries))
    print(f"fixload: history of {len(runs)} runs written to {written}")
    return int(ExitCode.OK)


def run(args: argparse.Namespace) -> int:
    from fixload.profile.schema import ProfileError
    from fixload.report.compare_command import resolve_budget

    try:
        budget = resolve_budget(args.profile, args.budget)
    except (budgets.BudgetError, ProfileError) as exc:
        print(f"fixload history: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID_CONFIG)
    if not 50.0 <= args.confidence <= 99.9:
        print(f"fixload history: --confidence {args.confidence:g}: expected 50 to 99.9", file=sys.stderr)
        return int(ExitCode.INVALID_CONFIG)
    return write(Path(args.directory), args.html, budget, args.confidence / 100.0, "fixload history")
