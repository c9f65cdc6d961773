"""The console text of a summary: k6's end-of-test summary (thresholds, total results), then scenarios.

Read from the summary dict alone, so a summary rebuilt from its file prints the same text. The TOTAL
RESULTS block is k6 1.1's (checks, HTTP, EXECUTION, NETWORK), with k6's units. Colour only on a terminal
that wants it (`wants_colour`: a tty, no `NO_COLOR`, not `TERM=dumb`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

from fixload.metrics.sinks import MetricType, ValueType
from fixload.report.generator import generator_warning
from fixload.report.pointers import console_lines


def insufficient_vus_warning(name: str, rollup: Mapping[str, Any]) -> str | None:
    """The warning printed once per scenario, in k6's words."""
    info = rollup.get("insufficientVUs")
    if not info:
        return None
    need = f"; maxVUs {info['neededMaxVUs']} would have started them" if info.get("neededMaxVUs") else ""
    if info.get("vusSufficed"):
        need = f"; more VUs would not have helped ({info['vusSufficed']} cover the peak rate): the runner fell behind"
    return (
        f"WARN Insufficient VUs, reached {info['maxVUs']} active VUs and cannot initialize more"
        f"  scenario={name}: {info['dropped']} iterations dropped{need}"
    )


def insufficient_vus_warnings(block: Mapping[str, Any]) -> dict[str, str]:
    """Each scenario's Insufficient VUs warning, by scenario name in order, from a summary's `fixload` block:
    what the console, the HTML report, the JUnit case and the web UI's banner say."""
    scenarios = block.get("scenarios") or {}
    return {name: w for name, s in sorted(scenarios.items()) if (w := insufficient_vus_warning(name, s))}


def run_warnings(block: Mapping[str, Any]) -> list[str]:
    """What the console warns of above the STATUS line, from a summary's `fixload` block: each scenario's
    Insufficient VUs, then a generator that fell behind. The JUnit case's `system-out` says the same."""
    warnings = list(insufficient_vus_warnings(block).values())
    if generator := generator_warning(block.get("generator")):
        warnings.append(generator)
    return warnings


def format_value(value: float | None, aggregation: str, metric_type: str | None, contains: str | None) -> str:
    if value is None:
        return "n/a (no samples)"
    if metric_type == MetricType.RATE:
        return f"{value * 100:.2f}%"
    if metric_type == MetricType.COUNTER and aggregation == "rate":
        return f"{value:g}/s"
    if contains == ValueType.TIME:
        return f"{value:.2f}ms"
    if contains == ValueType.DATA:
        return f"{value:g}B"
    return f"{value:g}"


def wants_colour(stream: TextIO) -> bool:
    """Colour for this stream: a terminal, and neither NO_COLOR (no-color.org) nor TERM=dumb says no."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_GREEN, _RED, _YELLOW, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


def _paint(text: str, colour: str, on: bool) -> str:
    return f"{colour}{text}{_RESET}" if on else text


def k6_duration(ms: float | None) -> str:
    """A duration as k6 prints it in its summary: µs below 1 ms, ms below 1 s, then s (two decimals at most)."""
    if ms is None:
        return "n/a"
    if ms < 1:
        return f"{ms * 1000:.2f}".rstrip("0").rstrip(".") + "µs"
    if ms < 1000:
        return f"{ms:.2f}".rstrip("0").rstrip(".") + "ms"
    return f"{ms / 1000:.2f}".rstrip("0").rstrip(".") + "s"


def k6_bytes(count: float) -> str:
    """Bytes as k6 prints them (SI units: 3.8 kB, 23 kB, 1.2 MB)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1000
    raise AssertionError("unreachable")


_TREND_KEYS = ("avg", "min", "med", "max", "p(90)", "p(95)")
_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HTTP", ("http_req_duration", "http_req_duration{expected_response:true}", "http_req_failed", "http_reqs")),
    ("EXECUTION", ("iteration_duration", "iterations", "vus", "vus_max")),
    ("NETWORK", ("data_received", "data_sent")),
)


def _dots(name: str, width: int) -> str:
    return f"    {name}{'.' * max(3, width - len(name))}: "


def _metric_value(name: str, values: Mapping[str, Any], elapsed_s: float) -> str | None:
    """One k6 metric's value column, or None when the summary has nothing to say for it."""
    if "count" in values:  # counter
        rate = values.get("rate")
        if name.startswith("data_"):
            per_s = "" if rate is None else f" {k6_bytes(rate)}/s"
            return f"{k6_bytes(values['count'])}{per_s}"
        return f"{values['count']:<6g} {rate:g}/s" if rate is not None else f"{values['count']:g}"
    if "passes" in values:  # rate
        total = values["passes"] + values["fails"]
        if not total:
            return None
        return f"{values['value'] * 100:.2f}%  {values['passes']} out of {total}"
    if "avg" in values:  # trend
        return " ".join(f"{key}={k6_duration(values.get(key))}" for key in _TREND_KEYS)
    if "value" in values:  # gauge
        return f"{values['value']:<6g} min={values.get('min', 0):<8g} max={values.get('max', 0):g}"
    return None


def total_results(summary: Mapping[str, Any], colour: bool = False) -> list[str]:
    """k6's TOTAL RESULTS block: checks, then HTTP, EXECUTION and NETWORK, from the summary's `metrics`."""
    metrics: Mapping[str, Mapping[str, Any]] = summary.get("metrics", {})
    elapsed = float(summary.get("fixload", {}).get("durationSeconds") or 0.0)
    lines = ["  █ TOTAL RESULTS", ""]
    checks = metrics.get("checks")
    if checks and (checks.get("passes", 0) + checks.get("fails", 0)):
        total = checks["passes"] + checks["fails"]
        per_s = f" {total / elapsed:.6g}/s" if elapsed > 0 else ""
        lines.append(f"{_dots('checks_total', 35)}{total:<7}{per_s}")
        ok = _paint(f"{checks['passes'] / total * 100:.2f}%", _GREEN, colour and checks["fails"] == 0)
        lines.append(f"{_dots('checks_succeeded', 35)}{ok} {checks['passes']} out of {total}")
        bad = _paint(f"{checks['fails'] / total * 100:.2f}%", _RED, colour and checks["fails"] > 0)
        lines.append(f"{_dots('checks_failed', 35)}{bad}   {checks['fails']} out of {total}")
        lines.append("")
    for title, names in _SECTIONS:
        shown = []
        for name in names:
            values = metrics.get(name)
            text = None if values is None else _metric_value(name, values, elapsed)
            if text is None:
                continue
            label = "  { expected_response:true }" if name.endswith("{expected_response:true}") else name
            shown.append(f"{_dots(label, 40)}{text}")
        if shown:
            lines += [f"    {title}", *shown, ""]
    return lines if len(lines) > 2 else []


def format_console_summary(summary: Mapping[str, Any], colour: bool = False) -> str:
    """k6's end-of-test summary, condensed: thresholds (✓/✗ with the observed value), then scenarios."""
    block = summary.get("fixload", {})
    lines: list[str] = _setup_lines(block)
    results = block.get("thresholds", [])
    evaluated = block.get("thresholdsEvaluated", True)
    if not evaluated:
        lines += ["  THRESHOLDS not evaluated (setup failed)", ""]
    if results:
        lines.append("  THRESHOLDS")
        current = None
        for r in results:
            if r["metric"] != current:
                current = r["metric"]
                lines += ["", f"    {current}"]
            mark = _paint("✓", _GREEN, colour) if r["ok"] else _paint("✗", _RED, colour)
            shown = format_value(r["observed"], r["aggregation"], r.get("metricType"), r.get("contains"))
            if r.get("noSamples"):
                mark = _paint("⚠", _YELLOW, colour) if r["ok"] else mark
                shown = f"{shown if r['observed'] is not None else 'n/a'}  NO SAMPLES: no series matched {current}"
            lines.append(f"    {mark} '{r['expression']}' {r['aggregation']}={shown}")
        lines.append("")
        empty = block.get("thresholdsWithoutSamples") or sorted({r["metric"] for r in results if r.get("noSamples")})
        if empty:
            lines.append(
                f"  WARNING: {len(empty)} threshold selector(s) matched no samples: {', '.join(empty)}. k6's rule"
                " evaluates them on empty data (an empty Rate passes whatever it says); check the metric and tag names."
            )
            lines.append("")
    lines += total_results(summary, colour)
    scenarios = block.get("scenarios", {})
    if scenarios:
        lines.append("  SCENARIOS")
        lines.append("")
        width = max(len(name) for name in scenarios)
        for name, s in sorted(scenarios.items()):
            p95 = "n/a" if s["p95LatencyMs"] is None else f"{s['p95LatencyMs']:.2f}ms"
            success = "n/a" if s["successRate"] is None else f"{s['successRate'] * 100:.2f}%"
            rate = "" if s["achievedRate"] is None else f" ({s['achievedRate']:g}/s)"
            scheduled = "" if s["scheduled"] is None else f"/{s['scheduled']} scheduled"
            budget = "" if s["errorBudgetConsumed"] is None else f"  error budget {s['errorBudgetConsumed'] * 100:.0f}%"
            lines.append(
                f"    {name:<{width}}  iterations={s['completed']}{scheduled}{rate}  dropped={s['dropped']}"
                f"  interrupted={s['interrupted']}  http p95={p95}  success={success}{budget}"
            )
        lines.append("")
    lines += console_lines(block)
    if warnings := run_warnings(block):
        lines += [f"  {w}" for w in warnings] + [""]
    failed = block.get("thresholdsFailed", 0)
    status = block.get("status", "?")
    reason = f": {block['reason']}" if block.get("reason") else ""
    tally = f" ({failed} of {len(results)} thresholds failed)" if results else ""
    if not evaluated:
        tally = " (thresholds not evaluated: setup failed)"
    shown_status = _paint(str(status), _GREEN if status == "passed" else _RED, colour)
    lines.append(f"  STATUS {shown_status}{reason}{tally}")
    return "\n".join(lines) + "\n"


def _setup_lines(block: Mapping[str, Any]) -> list[str]:
    """The request that failed setup, if one did: method, route, status and the start of its body."""
    failure = (block.get("setup") or {}).get("failure")
    if not failure:
        return []
    request = f"{failure.get('method')} {failure.get('route')} → " if failure.get("method") else ""
    status = failure.get("status")
    lines = [f"  SETUP FAILED  {failure.get('step')}: {request}status {status if status is not None else 'n/a'}"]
    if failure.get("body"):
        lines.append(f"    body: {failure['body']}")
    if failure.get("requestId"):
        lines.append(f"    grep the backend's log for {failure['requestId']} (trace {failure.get('traceId') or 'n/a'})")
    return [*lines, ""]
