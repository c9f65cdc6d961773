"""The HTML and JUnit reports of a run, rendered from its summary alone (and a history page of many runs).

One renderer serves the end-of-run files (`--junit`, `--html-report`, wired in `fixload.surfaces.report_files`) and
`fixload report SUMMARY`, which rebuilds them from a CI artefact: both read the same summary JSON, its
per-scenario time series included (`fixload.report.timeseries`), so the files are equal.

- JUnit XML: one test case per threshold (classname `fixload.thresholds`, name `<metric>: <expression>`);
  a crossed threshold is a `<failure>` whose message carries the expression and the observed value. One
  more case, `run`, fails when the run itself did not complete (aborted, setup failed, target unreachable,
  interrupted), with the summary's reason.
- HTML: one self-contained file (inline CSS and SVG, no script, nothing fetched): per scenario scheduled
  vs achieved iterations/s and dropped iterations over time, and the latency the thresholds judge (the
  flow's duration p95 beside the HTTP p95, every threshold on them a labelled line, a failed one flagged);
  the thresholds table, the scenarios' totals, requests by route and the flows' failures, every number in
  the console's units (`fixload.report.console`). Charts: `fixload.report.svg`.
- History (`fixload history DIR`, `fixload report --history DIR`): `fixload.report.history`.

Everything passes through `redact()`.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from fixload.common.files import atomic_write
from fixload.common.secrets import redact
from fixload.report import pointers
from fixload.report.console import format_value, insufficient_vus_warnings, k6_duration, run_warnings
from fixload.report.generator import generator_warning
from fixload.report.svg import line_chart
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
    if warnings := run_warnings(fx):
        ET.SubElement(case, "system-out").text = "\n".join(warnings)  # CI shows them beside the run's case

    for t in thresholds:
        name = f"{t['metric']}: {t['expression']}"
        case = ET.SubElement(suite, "testcase", classname="fixload.thresholds", name=name, time="0")
        observed = _observed(t)
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
svg .tick.mark{fill:#dc2626}
svg .grid{stroke:#e5e7eb;stroke-width:1}
footer{margin:30px 0;color:#9ca3af;font-size:12px}
"""


_BOUND = re.compile(r"^(avg|min|max|med|p\((\d+(?:\.\d+)?)\))\s*(<=|<|>=|>|===|==|!=)\s*(-?\d+(?:\.\d+)?)$")
DURATION_SERIES = {"p95": "p(95)", "fp95": "p(95)", "favg": "avg"}


def judged_lines(thresholds: Sequence[dict[str, Any]], scenario: str, flow: str) -> list[dict[str, Any]]:
    """Every threshold on what a scenario's latency chart draws (its requests' `http_req_duration`, its flow's
    `<flow>_duration`, unfiltered or filtered to this scenario), with the number it compares to: one line
    each. `ok` is the threshold's verdict (None: not judged yet, a running test's pending one)."""
    lines = []
    for t in thresholds:
        metric, _, selector = str(t["metric"]).partition("{")
        tags = dict(p.split(":", 1) for p in selector.rstrip("}").split(",") if ":" in p)
        if metric not in ("http_req_duration", f"{flow}_duration") or tags.get("scenario", scenario) != scenario:
            continue
        if metric == "http_req_duration" and tags.get("scenario") != scenario:
            continue  # every request of the run, not this scenario's: not what this chart draws
        if set(tags) - {"scenario"}:
            continue  # a narrower series (a route, a status) than the chart draws
        match = _BOUND.match(str(t["expression"]).replace(" ", ""))
        if match is None:
            continue
        ok = t.get("ok")
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        lines.append(
            {
                "value": float(match.group(4)),
                "aggregation": match.group(1),
                "metric": metric,
                "ok": ok,
                "label": f"{t['metric']} {t['expression']}{mark}",
            }
        )
    return lines


def scenario_charts(
    scenarios: dict[str, dict[str, Any]],
    thresholds: Sequence[dict[str, Any]],
    rows: dict[str, list[Row]],
    interval: float,
    x_max: float,
) -> str:
    """Per scenario: scheduled vs achieved iterations/s with the iterations dropped (per second of each
    interval's real length, so a short last interval is not a fall), and the latency the thresholds judge:
    the flow's duration p95 (and average, when a threshold judges it) beside the HTTP p95, with every
    threshold on them as a labelled line; a chart with a failed threshold is flagged. The HTML report and
    the web UI's chart panel both draw with this, from the same time series (`fixload.report.timeseries`
    rows); `scenarios`: name -> {executor, flow}; `thresholds`: [{metric, expression, ok}]."""
    names = sorted(scenarios) or sorted(rows)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    e = html.escape
    rows = {name: settled(rs, interval) for name, rs in rows.items()}

    def series_of(name: str, field: str) -> list[tuple[float, float | None]]:
        return [(r.t, getattr(r, field)) for r in rows.get(name, [])]

    def dropped_per_second(name: str) -> list[tuple[float, float | None]]:
        out, previous = [], 0.0
        for r in rows.get(name, []):
            length = r.t - previous if r.t > previous else interval
            out.append((r.t, r.dropped / length))
            previous = r.t
        return out

    parts: list[str] = []
    parts.append('<div class="grid2">')
    for name in names:
        info = scenarios.get(name, {})
        color = colors[name]
        flow = str(info.get("flow") or name)
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
        drops = dropped_per_second(name)
        drop_bars = {"label": "dropped it/s", "color": "#dc2626", "points": drops}
        rate_chart = line_chart(
            f"{name} — iterations/s ({info.get('executor', '')})",
            rate_series,
            x_max,
            "iterations/s",
            bars=drop_bars if any(y for _, y in drops) else None,
        )
        judged = judged_lines(thresholds, name, flow)
        latency = [{"label": "http_req_duration p95", "color": color, "points": series_of(name, "p95")}]
        if any(y is not None for _, y in series_of(name, "fp95")):
            latency.insert(0, {"label": f"{flow}_duration p95", "color": "#111827", "points": series_of(name, "fp95")})
            if any(j["metric"] == f"{flow}_duration" and j["aggregation"] == "avg" for j in judged):
                avg = {"label": f"{flow}_duration avg", "color": "#6b7280", "points": series_of(name, "favg")}
                latency.insert(1, {**avg, "dashed": True})
        failed = [j for j in judged if j["ok"] is False]
        latency_chart = line_chart(
            f"{name} — latency (ms)",
            latency,
            x_max,
            "ms",
            hlines=[(j["value"], j["label"], _line_color(j["ok"])) for j in judged],
            flagged=_flag(len(failed)),
        )
        frame = ' style="border-color:#dc2626"' if failed else ""
        parts.append(f'<div class="panel"{frame}><h3>{e(name)}</h3>{rate_chart}{latency_chart}</div>')
    parts.append("</div>")

    return "\n".join(parts)


LATENCY_FIELDS = ("p95", "fp95", "favg")


def settled(rows: list[Row], interval: float) -> list[Row]:
    """The rows as drawn: a last row shorter than half an interval (the sample the summary takes at the end)
    keeps its rates (over their real length) and its drops, but not its latencies, which a fraction of an
    interval's requests would swing up or down at the very end of every chart."""
    if len(rows) < 2 or rows[-1].t - rows[-2].t >= interval / 2:
        return rows
    return [*rows[:-1], dataclasses.replace(rows[-1], **dict.fromkeys(LATENCY_FIELDS))]


def _flag(failed: int) -> str:
    return "" if not failed else ("✗ threshold failed" if failed == 1 else f"✗ {failed} thresholds failed")


def _line_color(ok: bool | None) -> str:
    return "#6b7280" if ok is None else ("#047857" if ok else "#dc2626")


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

    def http_p95(name: str) -> list[tuple[float, float | None]]:
        return [(r.t, r.p95) for r in settled(rows.get(name, []), interval)]

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
    if warning := generator_warning(fx.get("generator")):
        tag = '<span class="badge warn">generator</span>'
        parts.append(f'<div class="meta generator-warning">{tag} {e(warning)}</div>')
    for name, warning in insufficient_vus_warnings(fx).items():  # k6's Insufficient VUs, as the console prints it
        parts.append(f'<div class="meta vus-warning"><span class="badge warn">{e(name)}</span> {e(warning)}</div>')

    metrics = summary.get("metrics", {})
    reqs = metrics.get("http_reqs", {})
    failed = metrics.get("http_req_failed", {})
    duration = metrics.get("http_req_duration", {})
    dropped_total = sum(int(s.get("dropped") or 0) for s in scenarios.values())
    cards = [
        ("duration", f"{float(fx.get('durationSeconds') or 0):.0f} s"),
        ("HTTP requests", _fmt(reqs.get("count"))),
        ("requests/s", f"{_fmt(reqs.get('rate'), 3)}/s"),
        ("HTTP failures", f"{100 * float(failed.get('value') or 0):.2f} %"),
        ("HTTP p95 (http_req_duration)", k6_duration(duration.get("p(95)"))),
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
                "HTTP p95 (http_req_duration) by scenario (ms)",
                [{"label": n, "color": colors[n], "points": http_p95(n)} for n in names],
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
                integer=True,
            )
        )
        parts.append("</div></div>")

    parts.append("<h2>Thresholds</h2>")
    parts.append("<table><tr><th>Metric</th><th>Expression</th><th>Observed</th><th>Result</th></tr>")
    for t in fx.get("thresholds", []):
        ok = bool(t.get("ok"))
        observed = _observed(t) + (" (no samples)" if t.get("noSamples") else "")
        parts.append(
            f'<tr class="{"pass" if ok else "fail"}"><td>{e(t["metric"])}</td><td><code>{e(t["expression"])}</code>'
            f'</td><td class="num">{e(observed)}</td>'
            f'<td class="res {"pass" if ok else "fail"}">{"pass" if ok else "FAIL"}</td></tr>'
        )
    parts.append("</table>")

    parts += _totals_table(scenarios)
    parts += _routes_table(fx.get("routes"))
    parts += _failures_section(scenarios)
    parts.append(pointers.html_section(summary))
    series_json = orjson.dumps(fx.get("timeSeries") or {}, option=orjson.OPT_SORT_KEYS).decode().replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="fixload-timeseries">{series_json}</script>')
    parts.append(
        f"<footer>fixload {e(str(fx.get('version', '')))} · samples every {interval:g} s on the master · "
        "achieved = iterations started per second over the last seconds; scheduled = the profile's arrival rate"
        "</footer></body></html>"
    )
    return redact("\n".join(parts))


def _observed(t: dict[str, Any]) -> str:
    """A threshold's observed value in the console's units (`fixload.report.console.format_value`)."""
    return format_value(t.get("observed"), str(t.get("aggregation", "")), t.get("metricType"), t.get("contains"))


def _percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.2f}%"


def _totals_table(scenarios: dict[str, Any]) -> list[str]:
    """Each scenario's counts and rates, in the console's units."""
    e = html.escape
    columns: tuple[tuple[str, str, Any], ...] = (
        ("executor", "executor", str),
        ("scheduled", "scheduled", _fmt),
        ("started", "started", _fmt),
        ("dropped", "dropped", _fmt),
        ("completed", "completed", _fmt),
        ("interrupted", "interrupted", _fmt),
        ("achievedRate", "achieved", lambda v: "—" if v is None else f"{v:g} it/s"),
        ("p95LatencyMs", "http p95", lambda v: "—" if v is None else k6_duration(v)),
        ("successRate", "success rate", _percent),
        ("errorBudgetConsumed", "error budget used", _percent),
    )
    out = ["<h2>Scenario totals</h2>"]
    out.append("<table><tr><th>scenario</th>" + "".join(f"<th>{e(h)}</th>" for _, h, _ in columns) + "</tr>")
    for name, info in scenarios.items():
        cells = "".join(
            f'<td class="{"" if key == "executor" else "num"}">{e(show(info.get(key)))}</td>'
            for key, _, show in columns
        )
        out.append(f"<tr><td>{e(name)}</td>{cells}</tr>")
    out.append("</table>")
    return out


def _routes_table(routes: Any) -> list[str]:
    """Per request route, as Locust's statistics: requests, failures, p50/p95/p99 (the summary's `routes`)."""
    e = html.escape
    out = ["<h2>Requests by route</h2>"]
    if not routes:
        return [*out, "<p>No per-route data in this summary (written before fixload recorded it, or no requests).</p>"]
    out.append(
        "<table><tr><th>method</th><th>route</th><th>requests</th><th>failures</th>"
        "<th>p50</th><th>p95</th><th>p99</th></tr>"
    )
    for r in routes:
        count, failures = int(r.get("count") or 0), int(r.get("failures") or 0)
        share = f" ({failures / count * 100:.2f}%)" if count and failures else ""
        cls = ' class="fail"' if failures else ""
        out.append(
            f"<tr{cls}><td>{e(str(r.get('method', '')))}</td><td><code>{e(str(r.get('name', '')))}</code></td>"
            f'<td class="num">{count}</td><td class="num">{failures}{e(share)}</td>'
            + "".join(f'<td class="num">{e(k6_duration(r.get(f"p({p})")))}</td>' for p in (50, 95, 99))
            + "</tr>"
        )
    out.append("</table>")
    return out


def _failures_section(scenarios: dict[str, Any]) -> list[str]:
    """The flows' distinct failures (`fixload.scenarios.*.failures`): step, status, count and the first body."""
    e = html.escape
    rows = [(name, f) for name, info in scenarios.items() for f in info.get("failures") or ()]
    out = ["<h2>Failures</h2>"]
    if not rows:
        return [*out, "<p>No flow failed a step.</p>"]
    out.append("<table><tr><th>scenario</th><th>step</th><th>status</th><th>count</th><th>first body</th></tr>")
    for name, f in rows:
        status = f.get("status")
        out.append(
            f'<tr class="fail"><td>{e(name)}</td><td>{e(str(f.get("step", "")))}</td>'
            f'<td class="num">{e("—" if status is None else str(status))}</td>'
            f'<td class="num">{e(_fmt(f.get("count")))}</td><td><code>{e(str(f.get("body") or ""))}</code></td></tr>'
        )
    out.append("</table>")
    return out


def _short_time(moment: str | None) -> str:
    """`2026-12-01T09:15:02.123Z` -> `12-01 09:15`."""
    if not moment:
        return "?"
    text = moment.replace("T", " ")
    return text[5:16] if len(text) >= 16 else text
