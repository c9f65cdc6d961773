"""The HTML and JUnit reports of a run, rendered from its summary alone (and a history page of many runs).

One renderer serves the end-of-run files (`--junit`, `--html-report`, wired in `fixload.surfaces.report_files`) and
`fixload report SUMMARY`, which rebuilds them from a CI artefact: both read the same summary JSON, its
per-scenario time series included (`fixload.report.timeseries`), so the files are equal.

- JUnit XML: one test case per threshold (classname `fixload.thresholds`, name `<metric>: <expression>`);
  a crossed threshold is a `<failure>` whose message carries the expression and the observed value. One
  more case, `run`, fails when the run itself did not complete (aborted, setup failed, target unreachable,
  interrupted), with the summary's reason.
- HTML: one self-contained file (inline CSS and SVG, no script, nothing fetched): per scenario scheduled
  vs achieved iterations/s and dropped iterations over time, p95 latency over time with the scenario's p95
  threshold, the thresholds table and the scenarios' totals.
- History (`fixload history DIR`, `fixload report --history DIR`): `fixload.report.history`, drawn with `line_chart`.

Everything passes through `redact()`.
"""

from __future__ import annotations

import html
import itertools
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from fixload.common.files import atomic_write
from fixload.common.secrets import redact
from fixload.report import pointers
from fixload.report.timeseries import Row, decode

PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563")
RUN_FAILURES = {"aborted", "setup_failed", "target_unreachable", "interrupted"}


# ------------------------------------------------------------------------------------------ writing
def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """A report written the way the summary is (`fixload.common.files.atomic_write`), readable by all (0644)."""
    target = Path(path)
    atomic_write(target, text.encode("utf-8"), 0o644)
    return target


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)
    return str(value)


# ------------------------------------------------------------------------------------------ JUnit
def junit_xml(summary: dict[str, Any]) -> str:
    """The summary's thresholds as JUnit test cases (plus one `run` case for the run's own status)."""
    fx = summary["fixload"]
    thresholds = fx.get("thresholds", [])
    status = fx.get("status", "")
    run_failed = status != "passed"  # thresholds_failed, interrupted, error, ...: the run case fails too
    failures = sum(1 for t in thresholds if not t.get("ok")) + (1 if run_failed else 0)
    duration = f"{float(fx.get('durationSeconds') or 0.0):.3f}"
    suites = ET.Element(
        "testsuites", name="fixload", tests=str(len(thresholds) + 1), failures=str(failures), errors="0", time=duration
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"fixload thresholds: {fx.get('profile', '')}",
        tests=str(len(thresholds) + 1),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=duration,
        timestamp=str(fx.get("startedAt", "")),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("profile", "multiplier", "target", "status", "reason", "exitCode", "startedAt", "endedAt"):
        ET.SubElement(props, "property", name=key, value=_fmt(fx.get(key)))

    case = ET.SubElement(suite, "testcase", classname="fixload", name="run", time=duration)
    if run_failed:
        failure = ET.SubElement(case, "failure", message=f"{status}: {fx.get('reason', '')}", type=status)
        failure.text = f"status {status} (exit code {fx.get('exitCode')}): {fx.get('reason', '')}"

    for t in thresholds:
        name = f"{t['metric']}: {t['expression']}"
        case = ET.SubElement(suite, "testcase", classname="fixload.thresholds", name=name, time="0")
        observed = _fmt(t.get("observed"), 6)
        if not t.get("ok"):
            message = f"{t['metric']} {t['expression']} crossed: observed {t.get('aggregation', '')} = {observed}"
            failure = ET.SubElement(case, "failure", message=message, type="threshold")
            failure.text = "\n".join(
                [
                    f"metric:      {t['metric']}",
                    f"expression:  {t['expression']}",
                    f"observed:    {observed}" + (" (no samples)" if t.get("noSamples") else ""),
                    f"abortOnFail: {_fmt(t.get('abortOnFail'))}",
                ]
            )
        elif t.get("noSamples"):
            ET.SubElement(
                case, "system-out"
            ).text = f"NO SAMPLES: no series matched {t['metric']}; passed without being tested (k6's rule)"
        else:
            ET.SubElement(case, "system-out").text = f"observed {t.get('aggregation', '')} = {observed}"
    ET.indent(suites)
    return redact('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n")


# ------------------------------------------------------------------------------------------ SVG
def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value < hi + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _time_label(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def line_chart(
    title: str,
    series: Sequence[dict[str, Any]],
    x_max: float,
    y_unit: str,
    *,
    width: int = 560,
    height: int = 220,
    hlines: Sequence[tuple[float, str, str]] = (),
    bars: dict[str, Any] | None = None,
    x_axis: tuple[str, Sequence[tuple[float, str]]] | None = None,
    zoom: bool = False,
    marks: Sequence[tuple[float, float, str]] = (),
) -> str:
    """An inline SVG line chart. `series`: {label, color, points [(x, y|None)], dashed}; gaps where y is None.
    `hlines`: (y, label, color) reference lines (thresholds). `bars`: {label, color, points} drawn as columns.
    `x_axis`: (title, [(x, label)]) instead of "time since start" in seconds (the history page's runs).
    `zoom`: the y axis spans the data rather than starting at 0 (success rates near 100 %).
    `marks`: (x, y, label) points ringed in red and labelled (the history page's regressions)."""
    left, right, bottom = 52, 12, 40
    legend = [*series, *([bars] if bars else [])]
    rows: list[list[tuple[float, dict[str, Any]]]] = [[]]
    x = float(left)
    for item in legend:  # legend above the plot, wrapped to the chart's width
        item_w = 30 + 6.5 * len(item["label"])
        if rows[-1] and x + item_w > width - right:
            rows.append([])
            x = float(left)
        rows[-1].append((x, item))
        x += item_w
    top = 26 + 16 * len(rows)
    height += 16 * (len(rows) - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    data = [y for s in series for _, y in s["points"] if y is not None]
    if bars:
        data += [y for _, y in bars["points"] if y is not None]
    data_max = max(data) if data else 0.0
    # A reference line far above the data would flatten it: draw it only when it is within 4x of the data.
    shown = [h for h in hlines if data_max <= 0 or h[0] <= 4 * data_max]
    off_scale = [h for h in hlines if h not in shown]
    y_max = max([data_max, *(h[0] for h in shown)]) if (data or shown) else 1.0
    y_lo = 0.0
    if zoom and data:
        spread = max(y_max - min(data), abs(y_max) * 0.01, 1e-9)
        y_lo = max(0.0, min(data) - 0.1 * spread)
    y_ticks = nice_ticks(y_lo, y_max + 0.05 * (y_max - y_lo) if y_max > y_lo else y_lo + 1.0)
    y_bottom = y_ticks[0] if zoom else 0.0
    y_top = y_ticks[-1] if y_ticks[-1] > y_bottom else y_bottom + 1.0
    x_max = x_max if x_max > 0 else 1.0
    if x_axis is None:
        x_title = "time since start"
        x_ticks = [(t, _time_label(t)) for t in nice_ticks(0.0, x_max, 6) if t <= x_max + 1e-9]
    else:
        x_title, x_ticks = x_axis[0], list(x_axis[1])

    def sx(x: float) -> float:
        return left + plot_w * (x / x_max)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - y_bottom) / (y_top - y_bottom))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>',
    ]
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_tick_label(t)}</text>')
    for t, tick_label in x_ticks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>')
        out.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="tick" text-anchor="middle">'
            f"{html.escape(tick_label)}</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" class="axis" text-anchor="middle">'
        f"{html.escape(x_title)}</text>"
    )
    out.append(
        f'<text x="12" y="{top + plot_h / 2:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{html.escape(y_unit)}</text>'
    )
    if bars and bars["points"]:
        xs = [x for x, _ in bars["points"]]
        gap = min((b - a for a, b in itertools.pairwise(xs) if b > a), default=2.0)
        bar_w = max(1.0, plot_w * gap / x_max * 0.7)
        for x, y in bars["points"]:
            if y:
                out.append(
                    f'<rect x="{sx(x) - bar_w / 2:.1f}" y="{sy(y):.1f}" width="{bar_w:.1f}" '
                    f'height="{top + plot_h - sy(y):.1f}" fill="{bars["color"]}" opacity="0.55"/>'
                )
    for i, (_, label, color) in enumerate(off_scale):
        out.append(
            f'<text x="{left + plot_w - 4}" y="{top + 12 + 12 * i}" class="tick" text-anchor="end" '
            f'fill="{color}">{html.escape(label)} (far above: off scale)</text>'
        )
    for y, label, color in shown:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="{color}" '
            f'stroke-width="1.2" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{left + plot_w - 4}" y="{sy(y) - 4:.1f}" class="tick" text-anchor="end" '
            f'fill="{color}">{html.escape(label)}</text>'
        )
    for s in sorted(series, key=lambda item: bool(item.get("dashed"))):  # dashed (scheduled) on top
        segments: list[list[tuple[float, float]]] = [[]]
        for x, y in s["points"]:
            if y is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((sx(x), sy(y)))
        dash = ' stroke-dasharray="6 4"' if s.get("dashed") else ""
        for seg in segments:
            if len(seg) == 1:
                (px, py) = seg[0]
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{s["color"]}"/>')
            elif seg:
                pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in seg)
                out.append(
                    f'<polyline points="{pts}" fill="none" stroke="{s["color"]}" stroke-width="{1.6 if dash else 2}"'
                    f' stroke-linejoin="round"{dash}/>'
                )
    for x, y, label in marks:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="none" stroke="#dc2626" stroke-width="2.5"/>')
        out.append(
            f'<text x="{sx(x) - 9:.1f}" y="{sy(y) - 10:.1f}" class="tick mark" text-anchor="end" fill="#dc2626" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{html.escape(label)}</text>"
        )
    for row_index, row in enumerate(rows):
        y = 30 + 16 * row_index
        for x, item in row:
            dash = ' stroke-dasharray="6 4"' if item.get("dashed") else ""
            out.append(
                f'<line x1="{x:.0f}" x2="{x + 18:.0f}" y1="{y - 4}" y2="{y - 4}" stroke="{item["color"]}" '
                f'stroke-width="3"{dash}/>'
            )
            out.append(f'<text x="{x + 22:.0f}" y="{y}" class="legend">{html.escape(item["label"])}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9ca3af" '
        f'stroke-width="0.8"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
color:#111827;background:#f9fafb;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:14px;margin:0 0 6px}
.meta{color:#4b5563;font-size:13px}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;
font-size:13px;color:#fff}.ok{background:#059669}.bad{background:#dc2626}.warn{background:#d97706}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#6b7280}
.grid2{display:grid;grid-template-columns:repeat(auto-fill,minmax(570px,1fr));gap:14px}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e5e7eb;padding:5px 8px;text-align:left}th{background:#f3f4f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.fail td{background:#fef2f2}tr.fail td.res{color:#b91c1c;
font-weight:600}td.res.pass{color:#047857;font-weight:600}
svg.chart{max-width:100%;height:auto;font-family:inherit}svg .title{font-size:13px;font-weight:600;fill:#111827}
svg .tick{font-size:10px;fill:#4b5563}svg .axis{font-size:10px;fill:#6b7280}svg .legend{font-size:11px;fill:#374151}
svg .grid{stroke:#e5e7eb;stroke-width:1}
footer{margin:30px 0;color:#9ca3af;font-size:12px}
"""


def _scenario_p95_threshold(thresholds: Sequence[dict[str, Any]], scenario: str, flow: str) -> float | None:
    """The tightest `p(95)<N` on this scenario's request or flow duration, to draw on its latency chart."""
    bounds = []
    for t in thresholds:
        expression = t["expression"].replace(" ", "")
        if t["metric"] in (f"http_req_duration{{scenario:{scenario}}}", f"{flow}_duration") and expression.startswith(
            "p(95)<"
        ):
            try:
                bounds.append(float(expression.split("<", 1)[1].lstrip("=")))
            except ValueError:
                continue
    return min(bounds) if bounds else None


def scenario_charts(
    scenarios: dict[str, dict[str, Any]],
    thresholds: Sequence[dict[str, Any]],
    rows: dict[str, list[Row]],
    interval: float,
    x_max: float,
) -> str:
    """Per scenario: scheduled vs achieved iterations/s with the iterations dropped, and p95 against its
    threshold. The HTML report and the web UI's chart panel both draw with this, from the same time series
    (`fixload.report.timeseries` rows); `scenarios`: name -> {executor, flow}; `thresholds`: [{metric, expression}]."""
    names = sorted(scenarios) or sorted(rows)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    e = html.escape

    def series_of(name: str, field: str) -> list[tuple[float, float | None]]:
        return [(r.t, getattr(r, field)) for r in rows.get(name, [])]

    def dropped_per_interval(name: str) -> list[tuple[float, float | None]]:
        return [(r.t, float(r.dropped)) for r in rows.get(name, [])]

    parts: list[str] = []
    parts.append('<div class="grid2">')
    for name in names:
        info = scenarios.get(name, {})
        color = colors[name]
        rate_series = [
            {"label": "achieved it/s", "color": color, "points": series_of(name, "achieved")},
        ]
        if any(y is not None for _, y in series_of(name, "scheduled")):
            rate_series.insert(
                0,
                {
                    "label": "scheduled it/s",
                    "color": "#374151",
                    "points": series_of(name, "scheduled"),
                    "dashed": True,
                },
            )
        drops = dropped_per_interval(name)
        drop_bars = {"label": f"dropped / {interval:g} s", "color": "#dc2626", "points": drops}
        rate_chart = line_chart(
            f"{name} — iterations/s ({info.get('executor', '')})",
            rate_series,
            x_max,
            "iterations/s",
            bars=drop_bars if any(y for _, y in drops) else None,
        )
        bound = _scenario_p95_threshold(thresholds, name, str(info.get("flow") or name))
        latency_chart = line_chart(
            f"{name} — p95 latency (ms)",
            [{"label": "p95 ms", "color": color, "points": series_of(name, "p95")}],
            x_max,
            "ms",
            hlines=[(bound, f"threshold p(95)<{bound:g}", "#dc2626")] if bound is not None else (),
        )
        parts.append(f'<div class="panel"><h3>{e(name)}</h3>{rate_chart}{latency_chart}</div>')
    parts.append("</div>")

    return "\n".join(parts)


def _series_frame(fx: dict[str, Any]) -> tuple[dict[str, list[Row]], float, float]:
    """A summary's time series rows, their interval and the time axis' end (the run's duration, at least)."""
    block = fx.get("timeSeries")
    rows = decode(block)
    interval = float((block or {}).get("intervalSeconds") or 2.0)
    x_max = max([r.t for rs in rows.values() for r in rs] + [float(fx.get("durationSeconds") or 0.0), 1.0])
    return rows, interval, x_max


def summary_scenario_charts(summary: dict[str, Any]) -> str:
    """A finished run's per-scenario charts, exactly as its HTML report draws them (the web UI shows these)."""
    fx = summary["fixload"]
    rows, interval, x_max = _series_frame(fx)
    return scenario_charts(fx.get("scenarios", {}), fx.get("thresholds", []), rows, interval, x_max)


def html_report(summary: dict[str, Any]) -> str:
    """The self-contained HTML report of one run, from its summary (time series included)."""
    fx = summary["fixload"]
    scenarios: dict[str, Any] = fx.get("scenarios", {})
    status = str(fx.get("status", ""))
    badge = "ok" if status == "passed" else ("bad" if status in RUN_FAILURES | {"thresholds_failed"} else "warn")
    rows, interval, x_max = _series_frame(fx)
    names = sorted(scenarios) or sorted(rows)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    has_points = any(rows.get(name) for name in names)
    e = html.escape

    def series_of(name: str, field: str) -> list[tuple[float, float | None]]:
        return [(r.t, getattr(r, field)) for r in rows.get(name, [])]

    def dropped_cumulative(name: str) -> list[tuple[float, float | None]]:
        return list(
            zip(
                [r.t for r in rows.get(name, [])],
                itertools.accumulate(float(r.dropped) for r in rows.get(name, [])),
                strict=True,
            )
        )

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>fixload report — {e(str(fx.get('profile', '')))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(str(fx.get('profile', '')))}</h1>",
        f'<div class="meta"><span class="badge {badge}">{e(status)}</span> exit code {e(_fmt(fx.get("exitCode")))}'
        + (f" — {e(str(fx.get('reason')))}" if fx.get("reason") else "")
        + "</div>",
        f'<div class="meta">{e(str(fx.get("startedAt", "")))} → {e(str(fx.get("endedAt", "")))}'
        f" · multiplier {e(_fmt(fx.get('multiplier')))} · target {e(str(fx.get('target', '')))}"
        f" · workers {e(_fmt((fx.get('workers') or {}).get('count')))}</div>",
    ]

    metrics = summary.get("metrics", {})
    reqs = metrics.get("http_reqs", {})
    failed = metrics.get("http_req_failed", {})
    duration = metrics.get("http_req_duration", {})
    dropped_total = sum(int(s.get("dropped") or 0) for s in scenarios.values())
    cards = [
        ("duration", f"{float(fx.get('durationSeconds') or 0):.0f} s"),
        ("HTTP requests", _fmt(reqs.get("count"))),
        ("requests/s", _fmt(reqs.get("rate"), 3)),
        ("HTTP failures", f"{100 * float(failed.get('value') or 0):.2f} %"),
        ("p95 latency", f"{_fmt(duration.get('p(95)'), 4)} ms"),
        ("dropped iterations", str(dropped_total)),
        (
            "thresholds failed",
            f"{fx.get('thresholdsFailed', 0)} of {len(fx.get('thresholds', []))}"
            if fx.get("thresholdsEvaluated", True)
            else "not evaluated (setup failed)",
        ),
    ]
    parts.append('<div class="cards">')
    for key, value in cards:
        parts.append(f'<div class="card"><div class="v">{e(value)}</div><div class="k">{e(key)}</div></div>')
    parts.append("</div>")

    parts.append("<h2>Scenarios over time</h2>")
    if not has_points:
        parts.append("<p>No time series was recorded (the run ended before the first sample).</p>")
    else:
        parts.append(scenario_charts(scenarios, fx.get("thresholds", []), rows, interval, x_max))

        parts.append("<h2>All scenarios</h2>")
        parts.append('<div class="grid2"><div class="panel">')
        parts.append(
            line_chart(
                "p95 latency by scenario (ms)",
                [{"label": n, "color": colors[n], "points": series_of(n, "p95")} for n in names],
                x_max,
                "ms",
                width=570,
            )
        )
        parts.append('</div><div class="panel">')
        parts.append(
            line_chart(
                "dropped iterations (cumulative)",
                [{"label": n, "color": colors[n], "points": dropped_cumulative(n)} for n in names],
                x_max,
                "iterations",
                width=570,
            )
        )
        parts.append("</div></div>")

    parts.append("<h2>Thresholds</h2>")
    parts.append("<table><tr><th>Metric</th><th>Expression</th><th>Observed</th><th>Result</th></tr>")
    for t in fx.get("thresholds", []):
        ok = bool(t.get("ok"))
        observed = _fmt(t.get("observed"), 6) + (" (no samples)" if t.get("noSamples") else "")
        parts.append(
            f'<tr class="{"pass" if ok else "fail"}"><td>{e(t["metric"])}</td><td><code>{e(t["expression"])}</code>'
            f'</td><td class="num">{e(observed)}</td>'
            f'<td class="res {"pass" if ok else "fail"}">{"pass" if ok else "FAIL"}</td></tr>'
        )
    parts.append("</table>")

    parts.append("<h2>Scenario totals</h2>")
    headers = (
        ("executor", "executor"),
        ("scheduled", "scheduled"),
        ("started", "started"),
        ("dropped", "dropped"),
        ("completed", "completed"),
        ("interrupted", "interrupted"),
        ("achievedRate", "achieved it/s"),
        ("p95LatencyMs", "p95 ms"),
        ("successRate", "success rate"),
        ("errorBudgetConsumed", "error budget used"),
    )
    parts.append("<table><tr><th>scenario</th>" + "".join(f"<th>{e(h)}</th>" for _, h in headers) + "</tr>")
    for name, info in scenarios.items():
        cells = "".join(
            f'<td class="{"" if key == "executor" else "num"}">{e(_fmt(info.get(key), 5))}</td>' for key, _ in headers
        )
        parts.append(f"<tr><td>{e(name)}</td>{cells}</tr>")
    parts.append("</table>")
    parts.append(pointers.html_section(summary))
    series_json = orjson.dumps(fx.get("timeSeries") or {}, option=orjson.OPT_SORT_KEYS).decode().replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="fixload-timeseries">{series_json}</script>')
    parts.append(
        f"<footer>fixload {e(str(fx.get('version', '')))} · samples every {interval:g} s on the master · "
        "achieved = iterations started per second over the last seconds; scheduled = the profile's arrival rate"
        "</footer></body></html>"
    )
    return redact("\n".join(parts))


def _short_time(moment: str | None) -> str:
    """`2026-12-01T09:15:02.123Z` -> `12-01 09:15`."""
    if not moment:
        return "?"
    text = moment.replace("T", " ")
    return text[5:16] if len(text) >= 16 else text
