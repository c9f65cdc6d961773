"""The console text of a summary: k6's end-of-test summary, condensed (thresholds, then scenarios).

Read from the summary dict alone, so a summary rebuilt from its file prints the same text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fixload.metrics.registry import MetricType, ValueType


def insufficient_vus_warning(name: str, rollup: Mapping[str, Any]) -> str | None:
    """The warning printed once per scenario, in k6's words."""
    info = rollup.get("insufficientVUs")
    if not info:
        return None
    need = f"; maxVUs {info['neededMaxVUs']} would have started them" if info.get("neededMaxVUs") else ""
    return (
        f"WARN Insufficient VUs, reached {info['maxVUs']} active VUs and cannot initialize more"
        f"  scenario={name}: {info['dropped']} iterations dropped{need}"
    )


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


def format_console_summary(summary: Mapping[str, Any]) -> str:
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
            mark = "✓" if r["ok"] else "✗"
            shown = format_value(r["observed"], r["aggregation"], r.get("metricType"), r.get("contains"))
            if r.get("noSamples"):
                mark = "⚠" if r["ok"] else mark
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
                f"  interrupted={s['interrupted']}  p95={p95}  success={success}{budget}"
            )
        lines.append("")
    warnings = [w for name, s in sorted(scenarios.items()) if (w := insufficient_vus_warning(name, s))]
    if warnings:
        lines += [f"  {w}" for w in warnings] + [""]
    failed = block.get("thresholdsFailed", 0)
    status = block.get("status", "?")
    reason = f": {block['reason']}" if block.get("reason") else ""
    tally = f" ({failed} of {len(results)} thresholds failed)" if results else ""
    if not evaluated:
        tally = " (thresholds not evaluated: setup failed)"
    lines.append(f"  STATUS {status}{reason}{tally}")
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
    return [*lines, ""]
