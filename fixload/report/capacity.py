"""What `fixload capacity` reports: each step judged from its run's summary, the table, the verdict, the JSON and HTML.

A step is sustainable when, over its steady window, every threshold held, each arrival-rate scenario completed
≥ 99 % of its scheduled iterations, none was dropped, the target answered and no scenario's p95 was still
climbing at the window's end (a slowly growing queue). A step that is not sustainable
is laid at the generator's door when the generator shows saturation: iteration start lag p95 over its bound,
a Locust process at its CPU ceiling, or iterations dropped (VUs exhausted) while the target's latency stayed
flat; otherwise at the target's. The HTML plots p95 and success rate against offered load per scenario with
fixload.report.html's chart helper, the knee marked and the thresholds drawn.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fixload.report.html import CSS, PALETTE, judged_lines
from fixload.report.svg import line_chart, nice_ticks
from fixload.report.timeseries import TimeSeriesError, decode

ACHIEVED_SHARE = 0.99
"""A step keeps up when each arrival-rate scenario completed at least this share of its scheduled iterations."""
RISING_FACTOR, RISING_MS = 2.0, 50.0
"""A scenario's p95 over the window's last third above this factor of (and this many ms over) its p95 in the
window's first half: the target is queueing, and a longer window would fail its thresholds; not sustainable."""


@dataclass(frozen=True)
class Bounds:
    """When the generator counts as saturated."""

    start_lag_ms: float = 100.0
    cpu_percent: float = 90.0
    flat_factor: float = 1.5
    """The target's latency is flat while its p95 stays within this factor (or 25 ms) of the lowest step's."""


@dataclass
class ScenarioStep:
    name: str
    executor: str
    offered: float | None
    """Scheduled iterations/s (arrival-rate scenarios); None for VU-driven ones."""
    achieved: float | None
    p95_ms: float | None
    success: float | None
    scheduled: int | None
    completed: int
    dropped: int
    insufficient_vus: dict[str, Any] | None = None


@dataclass
class Step:
    multiplier: float
    phase: str
    """"grow" or "bisect"."""
    seconds: float
    sustainable: bool
    requests_per_s: float = 0.0
    http_p95_ms: float | None = None
    start_lag_p95_ms: float | None = None
    cpu_percent: float | None = None
    exit_code: int = 0
    status: str = ""
    scenarios: dict[str, ScenarioStep] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    generator: list[str] = field(default_factory=list)
    """Signs of a saturated generator, each in words; decisive only for a step that is not sustainable."""
    advice: list[str] = field(default_factory=list)

    @property
    def limited_by(self) -> str | None:
        if self.sustainable:
            return None
        return "generator" if self.generator else "target"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scenarios"] = {name: _camel(asdict(s)) for name, s in self.scenarios.items()}
        out["limitedBy"] = self.limited_by
        return _camel(out)


def _camel(d: dict[str, Any]) -> dict[str, Any]:
    def key(k: str) -> str:
        head, *rest = k.split("_")
        return head + "".join(p.capitalize() for p in rest)

    return {key(k): v for k, v in d.items()}


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def failed_threshold(entry: dict[str, Any]) -> str:
    """ "booking_flow_duration p(95) 1,612 ms, needs p(95)<1400" from a summary's threshold entry."""
    observed = entry.get("observed")
    if entry.get("noSamples") or observed is None:
        return f"{entry['metric']} had no samples for {entry['expression']}"
    if entry.get("contains") == "time":
        shown = f"{observed:,.0f} ms"
    elif entry.get("metricType") == "rate":
        shown = f"{observed * 100:.2f} %"
    else:
        shown = f"{observed:,.4g}"
    return f"{entry['metric']} {entry.get('aggregation') or ''} {shown}, needs {entry['expression']}".replace("  ", " ")


def judge(
    summary: dict[str, Any],
    multiplier: float,
    phase: str,
    seconds: float,
    *,
    exit_code: int,
    cpu_percent: float | None,
    reference_p95_ms: float | None,
    bounds: Bounds,
    workers: int,
) -> Step:
    """One step from the summary of its steady window's run."""
    fx = summary.get("fixload", {})
    metrics = summary.get("metrics", {})
    http = metrics.get("http_req_duration", {})
    lag = metrics.get("iteration_start_lag", {})
    step = Step(
        multiplier=multiplier,
        phase=phase,
        seconds=seconds,
        sustainable=False,
        requests_per_s=round(float(metrics.get("http_reqs", {}).get("count", 0)) / seconds, 2) if seconds else 0.0,
        http_p95_ms=_round(http.get("p(95)")),
        start_lag_p95_ms=_round(lag.get("p(95)")),
        cpu_percent=_round(cpu_percent, 1),
        exit_code=exit_code,
        status=str(fx.get("status", "")),
    )
    for name, s in sorted(fx.get("scenarios", {}).items()):
        scheduled = s.get("scheduled")
        duration = float(s.get("durationSeconds") or seconds)
        step.scenarios[name] = ScenarioStep(
            name=name,
            executor=str(s.get("executor", "")),
            offered=round(scheduled / duration, 3) if scheduled is not None and duration else None,
            achieved=s.get("achievedRate"),
            p95_ms=s.get("p95LatencyMs"),
            success=s.get("successRate"),
            scheduled=scheduled,
            completed=int(s.get("completed") or 0),
            dropped=int(s.get("dropped") or 0),
            insufficient_vus=s.get("insufficientVUs"),
        )
    reasons = step.reasons
    if step.status not in ("passed", "thresholds_failed"):
        reasons.append(f"the run ended {step.status or 'without a summary'}: {fx.get('reason') or 'no reason given'}")
    if not metrics.get("http_reqs", {}).get("count"):
        reasons.append("no request was made in the window")
    reasons += [failed_threshold(t) for t in fx.get("thresholds", []) if not t.get("ok")]
    reasons += _rising(fx.get("timeSeries"), seconds)
    for s in step.scenarios.values():
        if s.scheduled and s.completed < ACHIEVED_SHARE * s.scheduled:
            reasons.append(f"{s.name} completed {s.completed:,} of {s.scheduled:,} scheduled iterations")
        if s.dropped:
            reasons.append(f"{s.name} dropped {s.dropped:,} iterations")
    step.sustainable = not reasons
    _generator_signs(step, reference_p95_ms, bounds, workers)
    return step


def _rising(block: Any, seconds: float) -> list[str]:
    """Scenarios whose request p95 (the summary's time series, 2 s rows) was still climbing as the window ended."""
    try:
        rows = decode(block)
    except TimeSeriesError:
        return []
    out = []
    for name, series in sorted(rows.items()):
        inside = [r for r in series if r.t <= seconds + 1.0 and r.p95 is not None]
        early = sorted(r.p95 for r in inside if r.t <= seconds / 2)
        late = [r.p95 for r in inside if r.t > seconds * 2 / 3]
        if len(inside) < 3 or not early or not late:
            continue
        first, last = early[(len(early) - 1) // 2], inside[-1].p95
        if min(late) > RISING_FACTOR * first and min(late) - first > RISING_MS:  # the whole last third: no blip
            out.append(f"{name} latency still rising as the window ended (p95 {first:,.0f} → {last:,.0f} ms): queueing")
    return out


def _round(value: Any, digits: int = 2) -> float | None:
    return round(float(value), digits) if isinstance(value, int | float) else None


def latency_is_flat(p95_ms: float | None, reference_ms: float | None, bounds: Bounds) -> bool:
    """The target's latency did not grow with the load: within the bound of the lowest step's p95."""
    if p95_ms is None or reference_ms is None:
        return False
    return p95_ms <= max(bounds.flat_factor * reference_ms, reference_ms + 25.0)


def _generator_signs(step: Step, reference_p95_ms: float | None, bounds: Bounds, workers: int) -> None:
    more = f"--workers {max(2, workers * 2)}" if workers else "--workers 2"
    if step.start_lag_p95_ms is not None and step.start_lag_p95_ms > bounds.start_lag_ms:
        step.generator.append(f"generator: start lag p95 {step.start_lag_p95_ms:,.0f} ms > {bounds.start_lag_ms:g}")
        step.advice.append(f"spread the load over more processes ({more}) or another machine")
    if step.cpu_percent is not None and step.cpu_percent >= bounds.cpu_percent:
        step.generator.append(f"generator: CPU {step.cpu_percent:.0f} % of a core (ceiling {bounds.cpu_percent:g} %)")
        if not step.advice:
            step.advice.append(f"spread the load over more processes ({more}) or another machine")
    flat = latency_is_flat(step.http_p95_ms, reference_p95_ms, bounds)
    for s in step.scenarios.values():
        if not s.dropped:
            continue
        short = s.insufficient_vus or {}
        if flat or (reference_p95_ms is None and _fast(s)):
            need = short.get("neededMaxVUs")
            most = short.get("maxVUs")
            step.generator.append(
                f"generator: {s.name} dropped {s.dropped:,} iterations with the target's latency flat"
                + (f" (insufficient VUs: maxVUs {most} at ×{step.multiplier:g})" if most is not None else "")
            )
            if most is not None:
                per_unit = f"{need / step.multiplier:.0f}" if need else "more"
                step.advice.append(f"raise {s.name}'s maxVUs in the profile (to about {per_unit} at ×1)")


def _fast(s: ScenarioStep) -> bool:
    """Without a lower step to compare with: the scenario's requests were far from slow (p95 under 250 ms)."""
    return s.p95_ms is not None and s.p95_ms < 250.0


# ---------------------------------------------------------------------------------------- console


def step_table(steps: Sequence[Step]) -> str:
    """One block per step: a header line (multiplier, req/s, verdict and reasons), then a row per scenario."""
    lines: list[str] = []
    header = (
        f"  {'scenario':<16} {'offered it/s':>12} {'achieved it/s':>13} {'p95 ms':>9} {'success':>8} {'dropped':>8}"
    )
    for i, step in enumerate(steps, 1):
        verdict = "sustainable" if step.sustainable else f"NOT sustainable (limited by the {step.limited_by})"
        lines.append(
            f"step {i} ({step.phase}) ×{step.multiplier:g}: {step.requests_per_s:,.1f} req/s, "
            f"http p95 {_num(step.http_p95_ms)} ms, start lag p95 {_num(step.start_lag_p95_ms)} ms, "
            f"generator CPU {_num(step.cpu_percent)} % — {verdict}"
        )
        lines.append(header)
        for s in step.scenarios.values():
            success = "-" if s.success is None else f"{s.success * 100:.2f}%"
            lines.append(
                f"  {s.name:<16} {_num(s.offered, 2):>12} {_num(s.achieved, 2):>13} {_num(s.p95_ms):>9} "
                f"{success:>8} {s.dropped:>8}"
            )
        for reason in [*step.reasons, *(step.generator if not step.sustainable else [])]:
            lines.append(f"    ✗ {reason}")
        lines.append("")
    return "\n".join(lines)


def verdict_line(block: dict[str, Any]) -> str:
    """ "sustainable up to ×M (booking_flow 38 it/s, …, N req/s in all); first failing ×M' by …; limited by …"."""
    sustainable = block.get("sustainable")
    failing = block.get("firstFailing")
    if sustainable:
        rates = ", ".join(
            f"{name} {s['rate']:,.1f} it/s" for name, s in sustainable["scenarios"].items() if s["rate"] is not None
        )
        total = f"{sustainable['requestsPerSecond']:,.0f} req/s in all"
        text = f"sustainable up to ×{sustainable['multiplier']:g} ({rates}; {total})"
    else:
        text = "no sustainable step"
    if failing:
        text += f"; first failing ×{failing['multiplier']:g} by {'; '.join(failing['reasons'][:3])}"
    elif sustainable:
        text += f"; nothing failed up to --max ×{block['max']:g}"
    limited = block.get("limitedBy")
    text += f"; limited by the {limited}" if limited else "; the limit was not reached"
    if block.get("advice"):
        text += f" ({'; '.join(block['advice'])})"
    if block.get("interrupted"):
        text += " — interrupted: the search is incomplete"
    return text


# ---------------------------------------------------------------------------------------- HTML


def html_report(block: dict[str, Any], meta: dict[str, Any]) -> str:
    """p95 and success rate against offered load (× the profile) per scenario, the knee marked, thresholds drawn."""
    e = html.escape
    steps = sorted(block["steps"], key=lambda s: s["multiplier"])
    thresholds = meta.get("thresholds", [])
    knee = (block.get("sustainable") or {}).get("multiplier")
    failing = (block.get("firstFailing") or {}).get("multiplier")
    x_max = max([s["multiplier"] for s in steps] + [1e-9]) * 1.05
    ticks = [(t, f"×{t:g}") for t in nice_ticks(0.0, x_max, 6) if t <= x_max]
    names = sorted({n for s in steps for n in s["scenarios"]})
    panels = []
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        p95 = [(s["multiplier"], s["scenarios"][name]["p95Ms"]) for s in steps if name in s["scenarios"]]
        success = [
            (s["multiplier"], None if (v := s["scenarios"][name]["success"]) is None else v * 100)
            for s in steps
            if name in s["scenarios"]
        ]
        # the p95 thresholds on what this chart draws: the scenario's requests (and its flow's duration)
        bounds = [line for line in judged_lines(thresholds, name, name) if line["aggregation"] == "p(95)"]
        top = max([y for _, y in p95 if y is not None] + [b["value"] for b in bounds] + [1.0])
        marks = _marks(knee, failing, top)
        axis = ("offered load (× the profile's peak rates)", ticks)
        p95_chart = line_chart(
            f"{name} — p95 latency (ms) vs load",
            [{"label": "p95 ms", "color": color, "points": p95}, *marks],
            x_max,
            "ms",
            hlines=[(b["value"], b["label"], "#dc2626") for b in bounds],
            x_axis=axis,
        )
        rate_bound = _success_threshold(thresholds, name)
        low = min([y for _, y in success if y is not None] + [rate_bound * 100 if rate_bound else 100.0])
        success_chart = line_chart(
            f"{name} — success rate (%) vs load",
            [{"label": "success %", "color": color, "points": success}, *_marks(knee, failing, 100.0, low)],
            x_max,
            "%",
            hlines=[(rate_bound * 100, f"threshold rate>{rate_bound:g}", "#dc2626")] if rate_bound else (),
            x_axis=axis,
            zoom=True,
        )
        panels.append(f'<div class="panel"><h3>{e(name)}</h3>{p95_chart}{success_chart}</div>')
    rows = "".join(
        f'<tr class="{"" if s["sustainable"] else "fail"}"><td class=num>×{s["multiplier"]:g}</td>'
        f"<td>{e(s['phase'])}</td>"
        f"<td class=num>{s['requestsPerS']:,.1f}</td><td class=num>{_num(s['httpP95Ms'])}</td>"
        f"<td class=num>{_num(s['startLagP95Ms'])}</td><td class=num>{_num(s['cpuPercent'])}</td>"
        f'<td class="res {"pass" if s["sustainable"] else ""}">'
        f"{'sustainable' if s['sustainable'] else e(str(s['limitedBy']))}</td>"
        f"<td>{e('; '.join(s['reasons'] + ([] if s['sustainable'] else s['generator'])))}</td></tr>"
        for s in block["steps"]
    )
    verdict = verdict_line(block)
    kind = "ok" if block.get("sustainable") and block.get("limitedBy") != "generator" else "warn"
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>fixload capacity — {e(meta.get('profile', ''))}</title>"
        f"<style>{CSS}</style></head><body><h1>Capacity search — {e(meta.get('profile', ''))}</h1>"
        f"<p class=meta>target {e(meta.get('target', ''))} · {len(block['steps'])} steps · "
        f'{block.get("searchSeconds", 0):.0f} s</p><p><span class="badge {kind}">{e(verdict)}</span></p>'
        f'<h2>p95 and success rate against offered load</h2><div class="grid2">{"".join(panels)}</div>'
        "<h2>Steps (in the order run)</h2><table><tr><th>multiplier</th><th>phase</th><th>req/s</th>"
        "<th>http p95 ms</th>"
        "<th>start lag p95 ms</th><th>generator CPU %</th><th>verdict</th><th>reasons</th></tr>"
        f"{rows}</table><footer>fixload capacity</footer></body></html>"
    )


def _marks(knee: float | None, failing: float | None, top: float, bottom: float = 0.0) -> list[dict[str, Any]]:
    """The knee (last sustainable) and the first failing multiplier as vertical dashed lines."""
    marks = []
    for x, label, color in ((knee, "knee", "#059669"), (failing, "first failing", "#dc2626")):
        if x is not None:
            marks.append(
                {"label": f"{label} ×{x:g}", "color": color, "points": [(x, bottom), (x, top)], "dashed": True}
            )
    return marks


def _success_threshold(thresholds: Sequence[dict[str, Any]], flow: str) -> float | None:
    for t in thresholds:
        expression = str(t.get("expression", "")).replace(" ", "")
        if t.get("metric") == f"{flow}_success_rate" and expression.startswith("rate>"):
            try:
                return float(expression.split(">", 1)[1].lstrip("="))
            except ValueError:
                return None
    return None
