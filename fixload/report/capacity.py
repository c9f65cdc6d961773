"""What `fixload capacity` reports: each step judged from its run's summary, the table, the verdict, the JSON and HTML.

A step is sustainable when, over its steady window, every threshold held, each arrival-rate scenario completed
≥ 99 % of its scheduled iterations, none was dropped, the target answered and no scenario's p95 was still
climbing at the window's end (a slowly growing queue). A step that is not sustainable
is laid at the generator's door when the generator shows saturation: iteration start lag p95 over its bound,
a Locust process at its CPU ceiling, or iterations dropped (VUs exhausted) while the target's latency stayed
flat; otherwise at the target's. The HTML plots, per scenario, the number each threshold judged in each step
against offered load, the threshold on the same axis, the knee and the first failing step marked.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fixload.report.generator import CPU_BOUND_PERCENT, START_LAG_BOUND_MS
from fixload.report.html import CSS, PALETTE
from fixload.report.svg import line_chart, nice_ticks
from fixload.report.timeseries import TimeSeriesError, decode

ACHIEVED_SHARE = 0.99
"""A step keeps up when each arrival-rate scenario completed at least this share of its scheduled iterations."""
RISING_FACTOR, RISING_MS = 1.5, 30.0
"""A scenario's latency still climbing as the window ends: each 2-s interval's own request p95 in the window's last
third above every one in its first third, and their medians this factor and this many ms apart. A target over its
capacity by a few per cent queues a few ms more every second, steadily; a steady load's p95 wanders up and down.
The target is queueing, and a longer window would fail its thresholds: not sustainable."""
REPORT_LAG_S = 3.0
"""A master hears each worker's samples every 3 s (Locust's WORKER_REPORT_INTERVAL): its time series' rows carry
the window's last seconds up to that much after the window's end."""


@dataclass(frozen=True)
class Bounds:
    """When the generator counts as saturated."""

    start_lag_ms: float = START_LAG_BOUND_MS
    cpu_percent: float = CPU_BOUND_PERCENT
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
    flow: str = ""
    requests: int | None = None
    """The scenario's requests (its `http_reqs`) in the window, and per second of it."""
    request_rate: float | None = None


@dataclass
class Step:
    multiplier: float
    phase: str
    """"grow" or "bisect"."""
    seconds: float
    sustainable: bool
    requests_per_second: float = 0.0
    """Every request of the window (`http_reqs`) over its length: `requestsPerSecond`, as `sustainable` says it."""
    http_p95_ms: float | None = None
    start_lag_p95_ms: float | None = None
    start_grid_ms: float = 0.0
    """The plan's start grid (`settings.startGrid`), which delays starts on purpose: allowed on top of the lag
    bound, as the run's own `generator` block allows it."""
    cpu_percent: float | None = None
    exit_code: int = 0
    status: str = ""
    scenarios: dict[str, ScenarioStep] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    generator: list[str] = field(default_factory=list)
    """Signs of a saturated generator, each in words; decisive only for a step that is not sustainable."""
    advice: list[str] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    """Every threshold as the step's summary judged it: metric, expression, aggregation, observed, ok (the plot's
    numbers: the value judged, not a neighbour of it)."""

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


_KEYS = {"insufficient_vus": "insufficientVUs"}
"""Keys spelled as the run summary spells them (`insufficientVUs`, with `maxVUs` inside), not as camel case would."""


def _camel(d: dict[str, Any]) -> dict[str, Any]:
    def key(k: str) -> str:
        head, *rest = k.split("_")
        return _KEYS.get(k) or head + "".join(p.capitalize() for p in rest)

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
        requests_per_second=round(float(metrics.get("http_reqs", {}).get("count", 0)) / seconds, 2) if seconds else 0.0,
        http_p95_ms=_round(http.get("p(95)")),
        start_lag_p95_ms=_round(lag.get("p(95)")),
        start_grid_ms=float((fx.get("generator") or {}).get("startGridMs") or 0.0),
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
            flow=str(s.get("flow") or name),
            requests=s.get("requests"),
            request_rate=s.get("requestRate"),
        )
    step.thresholds = [
        {k: t.get(k) for k in ("metric", "expression", "aggregation", "observed", "ok", "metricType", "contains")}
        for t in fx.get("thresholds", [])
    ]
    reasons = step.reasons
    if step.status not in ("passed", "thresholds_failed"):
        reasons.append(f"the run ended {step.status or 'without a summary'}: {fx.get('reason') or 'no reason given'}")
    if not metrics.get("http_reqs", {}).get("count"):
        reasons.append("no request was made in the window")
    reasons += [failed_threshold(t) for t in fx.get("thresholds", []) if not t.get("ok")]
    reasons += _rising(fx.get("timeSeries"), seconds, REPORT_LAG_S if workers else 1.0)
    for s in step.scenarios.values():
        if s.scheduled and s.completed < ACHIEVED_SHARE * s.scheduled:
            reasons.append(f"{s.name} completed {s.completed:,} of {s.scheduled:,} scheduled iterations")
        if s.dropped:
            reasons.append(f"{s.name} dropped {s.dropped:,} iterations")
    step.sustainable = not reasons
    _generator_signs(step, reference_p95_ms, bounds, workers)
    return step


def _rising(block: Any, seconds: float, lag: float = 1.0) -> list[str]:
    """Scenarios whose request latency (the summary's time series: each 2-s interval's own p95, or the rolling p95
    of a summary without it) climbed steadily through the window (RISING_FACTOR); rows up to `lag` seconds after
    the window's end are its own (a master's are late), later ones are the gracefulStop's drain."""
    try:
        rows = decode(block)
    except TimeSeriesError:
        return []
    out = []
    for name, series in sorted(rows.items()):
        own = any(r.q95 is not None for r in series)
        inside = [(r.t, v) for r in series if r.t <= seconds + lag and (v := r.q95 if own else r.p95) is not None]
        first = sorted(v for t, v in inside if t <= seconds / 3)
        last = sorted(v for t, v in inside if t > seconds * 2 / 3)
        if not first or not last:
            continue
        early, late = statistics.median(first), statistics.median(last)
        if last[0] > first[-1] and late >= RISING_FACTOR * early and late - early >= RISING_MS:
            out.append(RISING.format(name=name, early=early, late=late))
    return out


RISING = (
    "{name} latency still rising as the window ended (p95 {early:,.0f} ms in its first third, {late:,.0f} ms in its "
    "last): queueing"
)
"""A scenario's reason from `_rising`; `grouped` reads it back (`_RISING`) to say the rule once for several."""
_RISING = re.compile(
    r"^(?P<name>\S+) latency still rising as the window ended \(p95 (?P<early>[\d,]+) ms in its first third, "
    r"(?P<late>[\d,]+) ms in its last\): queueing$"
)


def grouped(reasons: Sequence[str]) -> list[str]:
    """The reasons with every scenario's "latency still rising" (one rule, several scenarios) said once, where the
    first was: "latency still rising as the window ended (p95, first third → last): ads_flow 48 → 99 ms, …"."""
    rising = [m for r in reasons if (m := _RISING.match(r))]
    if len(rising) < 2:
        return list(reasons)
    figures = ", ".join(f"{m['name']} {m['early']} → {m['late']} ms" for m in rising)
    said = f"latency still rising as the window ended (p95, first third → last third): {figures}: queueing"
    out: list[str] = []
    for reason in reasons:
        if not _RISING.match(reason):
            out.append(reason)
        elif said not in out:
            out.append(said)
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
    spread = f"spread the load over more processes ({more}) or another machine"
    lag_bound = bounds.start_lag_ms + step.start_grid_ms
    if step.start_lag_p95_ms is not None and step.start_lag_p95_ms > lag_bound:
        step.generator.append(f"generator: start lag p95 {step.start_lag_p95_ms:,.0f} ms > {lag_bound:g}")
        step.advice.append(spread)
    if step.cpu_percent is not None and step.cpu_percent >= bounds.cpu_percent:
        step.generator.append(f"generator: CPU {step.cpu_percent:.0f} % of a core (ceiling {bounds.cpu_percent:g} %)")
        if not step.advice:
            step.advice.append(spread)
    flat = latency_is_flat(step.http_p95_ms, reference_p95_ms, bounds)
    for s in step.scenarios.values():
        if not s.dropped:
            continue
        short = s.insufficient_vus or {}
        if flat or (reference_p95_ms is None and _fast(s)):
            need, most, sufficed = short.get("neededMaxVUs"), short.get("maxVUs"), short.get("vusSufficed")
            if sufficed is not None:  # the summary's bound: that many VUs always suffice, and maxVUs had them
                why = f" (not for want of VUs: maxVUs {most}, {sufficed} suffice; the runner fell behind)"
            elif most is not None:
                why = f" (insufficient VUs: maxVUs {most} at ×{step.multiplier:g})"
            else:
                why = ""
            step.generator.append(
                f"generator: {s.name} dropped {s.dropped:,} iterations with the target's latency flat{why}"
            )
            if sufficed is not None:
                if spread not in step.advice:
                    step.advice.append(spread)
            elif need:
                per_unit = f"{need / step.multiplier:.0f}"
                step.advice.append(f"raise {s.name}'s maxVUs in the profile (to about {per_unit} at ×1)")
            elif most is not None:  # no iteration finished to size it by
                step.advice.append(f"raise {s.name}'s maxVUs in the profile (it had {most} at ×{step.multiplier:g})")


def _fast(s: ScenarioStep) -> bool:
    """Without a lower step to compare with: the scenario's requests were far from slow (p95 under 250 ms)."""
    return s.p95_ms is not None and s.p95_ms < 250.0


# ---------------------------------------------------------------------------------------- console


def step_table(steps: Sequence[Step]) -> str:
    """One block per step: a header line (multiplier, req/s, verdict and reasons), then a row per scenario."""
    lines: list[str] = []
    header = (
        f"  {'scenario':<16} {'offered it/s':>12} {'achieved it/s':>13} {'req/s':>8} {'p95 ms':>9} {'success':>8}"
        f" {'dropped':>8}"
    )
    for i, step in enumerate(steps, 1):
        verdict = "sustainable" if step.sustainable else f"NOT sustainable (limited by the {step.limited_by})"
        lines.append(
            f"step {i} ({step.phase}) ×{step.multiplier:g}: {step.requests_per_second:,.1f} req/s, "
            f"http p95 {_num(step.http_p95_ms)} ms, start lag p95 {_num(step.start_lag_p95_ms)} ms, "
            f"generator CPU {_num(step.cpu_percent)} % — {verdict}"
        )
        lines.append(header)
        for s in step.scenarios.values():
            success = "-" if s.success is None else f"{s.success * 100:.2f}%"
            lines.append(
                f"  {s.name:<16} {_num(s.offered, 2):>12} {_num(s.achieved, 2):>13} {_num(s.request_rate, 1):>8} "
                f"{_num(s.p95_ms):>9} "
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
            " ".join([name, *_rates(s)]) for name, s in sustainable["scenarios"].items() if any(_rates(s))
        )
        total = f"{sustainable['requestsPerSecond']:,.0f} req/s in all"
        text = f"sustainable up to ×{sustainable['multiplier']:g} ({rates}; {total})"
    else:
        text = "no sustainable step"
    if failing:
        reasons = grouped(failing["reasons"])
        more = f"; and {len(reasons) - 3} more (in the step table)" if len(reasons) > 3 else ""
        text += f"; first failing ×{failing['multiplier']:g} by {'; '.join(reasons[:3])}{more}"
    elif sustainable:
        text += f"; nothing failed up to --max ×{block['max']:g}"
    limited = block.get("limitedBy")
    text += f"; limited by the {limited}" if limited else "; the limit was not reached"
    if block.get("advice"):
        text += f" ({'; '.join(block['advice'])})"
    if block.get("interrupted"):
        text += " — interrupted: the search is incomplete"
    return text


def _rates(scenario: dict[str, Any]) -> list[str]:
    """ "27.1 it/s", "140 req/s": a sustainable scenario's achieved iterations and requests per second."""
    out = []
    if scenario.get("rate") is not None:
        out.append(f"{scenario['rate']:,.1f} it/s")
    if scenario.get("requestRate") is not None:
        out.append(f"{scenario['requestRate']:,.0f} req/s")
    return out


# ---------------------------------------------------------------------------------------- HTML


def html_report(block: dict[str, Any], meta: dict[str, Any]) -> str:
    """Per scenario, each number its thresholds judge (the threshold's own metric and aggregation, as each step's
    summary judged it) against offered load (× the profile), the threshold on the same axis, the knee and the
    first failing multiplier marked; thresholds on no one scenario in a panel of their own; then the steps."""
    e = html.escape
    steps = sorted({s["multiplier"]: s for s in block["steps"]}.values(), key=lambda s: s["multiplier"])
    knee = (block.get("sustainable") or {}).get("multiplier")
    failing = (block.get("firstFailing") or {}).get("multiplier")
    x_max = max([s["multiplier"] for s in steps] + [1e-9]) * 1.05
    axis = ("offered load (× the profile's peak rates)", [(t, f"×{t:g}") for t in nice_ticks(0.0, x_max, 6)])
    flows = {name: str(sc.get("flow") or name) for s in steps for name, sc in s["scenarios"].items()}
    judged: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for t in [t for s in steps for t in s.get("thresholds", [])] or meta.get("thresholds", []):
        owner = threshold_owner(str(t["metric"]), flows)
        rows = judged.setdefault(owner, {}).setdefault(_key(t), [])
        if all(r["expression"] != t["expression"] for r in rows):
            rows.append(t)
    panels = []
    for name in [*sorted(flows), *sorted(set(judged) - set(flows))]:
        shares = completion_of(name, steps) if name in flows else None
        completion = (name, shares) if shares else None
        charts = [
            judged_chart(
                f"{name} — {title}",
                kind,
                series,
                steps,
                x_max,
                axis,
                knee,
                failing,
                completion if kind == "rate" else None,
            )
            for kind, title in KINDS.items()
            if (series := {key: rows for key, rows in judged.get(name, {}).items() if _kind(rows[0]) == kind})
            or (kind == "rate" and completion)
        ]
        if not charts and name in flows:
            charts.append(f"<p class=meta>no threshold judges {e(name)}: its request p95 (ms)</p>")
            charts.append(_p95_chart(name, steps, x_max, axis, knee, failing))
        panels.append(f'<div class="panel"><h3>{e(name)}</h3>{"".join(charts)}</div>')
    rows = "".join(
        f'<tr class="{"" if s["sustainable"] else "fail"}"><td class=num>×{s["multiplier"]:g}</td>'
        f"<td>{e(s['phase'])}</td>"
        f"<td class=num>{s['requestsPerSecond']:,.1f}</td><td class=num>{_num(s['httpP95Ms'])}</td>"
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
        "<h2>What the thresholds judge, against offered load</h2>"
        "<p class=meta>each point is a step's steady window as its summary judged it; a dotted line of the same "
        "colour is the threshold on that number; ○ a threshold that failed at the first failing step, or a step "
        "that dropped iterations (the rates chart's completed % of scheduled: the search's own rule)</p>"
        f'<div class="grid2">{"".join(panels)}</div>'
        "<h2>Steps (in the order run)</h2><table><tr><th>multiplier</th><th>phase</th><th>req/s</th>"
        "<th>http p95 ms</th>"
        "<th>start lag p95 ms</th><th>generator CPU %</th><th>verdict</th><th>reasons</th></tr>"
        f"{rows}</table><footer>fixload capacity</footer></body></html>"
    )


KINDS = {"time": "judged latency (ms) vs load", "rate": "judged rates (%) vs load", "value": "judged values vs load"}
_EXPRESSION = re.compile(r"^([a-z]+(?:\(\d+(?:\.\d+)?\))?)(<=|<|>=|>|===|==|!=)(-?\d+(?:\.\d+)?(?:e-?\d+)?)$")


def threshold_owner(metric: str, flows: dict[str, str]) -> str:
    """The scenario a threshold's metric belongs to: its `{scenario:…}` selector, else the flow whose metric it
    is (`booking_flow_duration`); "the whole run" for the rest (`http_req_failed`)."""
    base, _, selector = metric.partition("{")
    tags = dict(p.split(":", 1) for p in selector.rstrip("}").split(",") if ":" in p)
    if tags.get("scenario") in flows:
        return tags["scenario"]
    owners = [name for name, flow in flows.items() if base.startswith(f"{flow}_")]
    return max(owners, key=lambda name: len(flows[name]), default="the whole run")


def _kind(t: dict[str, Any]) -> str:
    if t.get("contains") == "time":
        return "time"
    return "rate" if t.get("metricType") == "rate" else "value"


def bound_of(expression: str) -> tuple[str, float] | None:
    """ "p(95)<1400" -> ("<", 1400.0): the operator and the number a threshold compares with."""
    match = _EXPRESSION.match(expression.replace(" ", ""))
    return None if match is None else (match.group(2), float(match.group(3)))


def judged_chart(
    title: str,
    kind: str,
    series: dict[tuple[str, str], list[dict[str, Any]]],
    steps: Sequence[dict[str, Any]],
    x_max: float,
    axis: tuple[str, Sequence[tuple[float, str]]],
    knee: float | None,
    failing: float | None,
    completion: tuple[str, list[tuple[float, float | None, str | None]]] | None = None,
) -> str:
    """One chart: each (metric, aggregation) judged, the step's observed value at its multiplier, and each of its
    thresholds as a line of the same colour at its bound, on one y axis that holds them all (`fit_lines`); on a
    rates chart, the scenario's completed share of its scheduled iterations too (`completion_of`), the search's
    own rule: ringed and labelled where the step dropped iterations, a failure its success rate does not show."""
    scale = 100.0 if kind == "rate" else 1.0
    drawn: list[dict[str, Any]] = []
    lines: list[tuple[float, str, str]] = []
    rings: list[tuple[float, float, str]] = []
    for i, ((metric, aggregation), entries) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = []
        for s in steps:
            seen = next((t for t in s.get("thresholds", []) if _key(t) == (metric, aggregation)), None)
            value = None if seen is None or seen.get("observed") is None else float(seen["observed"]) * scale
            points.append((s["multiplier"], value))
            if s["multiplier"] == failing and seen is not None and seen.get("ok") is False and value is not None:
                rings.append((s["multiplier"], value, "✗"))
        drawn.append({"label": f"{metric} {aggregation}".strip(), "color": color, "points": points})
        for t in entries:
            bound = bound_of(str(t["expression"]))
            if bound is not None:
                lines.append((bound[1] * scale, f"{metric} {t['expression']}", color))
    if completion:
        color, (name, shares) = PALETTE[len(drawn) % len(PALETTE)], completion
        completed = {"label": f"{name} completed % of scheduled", "color": color, "points": [p[:2] for p in shares]}
        drawn.insert(0, completed)  # drawn first: the success rate, the threshold's number, on top where they meet
        lines.append((ACHIEVED_SHARE * 100, f"search: completed ≥{ACHIEVED_SHARE * 100:g} %, none dropped", color))
        rings += [(x, y, label) for x, y, label in shares if label and y is not None]
    values = [y for d in drawn for _, y in d["points"] if y is not None] + [y for y, _, _ in lines]
    low, top = min(values, default=0.0), max([*values, 1.0])
    zoom = kind == "rate" and all(
        (bound_of(str(t["expression"])) or (">",))[0].startswith(">") for e in series.values() for t in e
    )
    return line_chart(
        title,
        [*drawn, *_marks(knee, failing, top, low if zoom else 0.0)],
        x_max,
        {"time": "ms", "rate": "%", "value": ""}[kind],
        hlines=lines,
        x_axis=(axis[0], list(axis[1])),
        zoom=zoom,
        marks=rings,
        fit_lines=True,
        dots=True,
    )


def completion_of(name: str, steps: Sequence[dict[str, Any]]) -> list[tuple[float, float | None, str | None]] | None:
    """Per step, the scenario's completed iterations as a % of its scheduled ones, and a label where it dropped
    any or fell short of the search's rule ("✗ 92 dropped (21 %)"); None for a scenario that schedules none
    (a VU scenario): its success rate is then all there is."""
    out: list[tuple[float, float | None, str | None]] = []
    for s in steps:
        sc = s["scenarios"].get(name) or {}
        scheduled, completed, dropped = sc.get("scheduled"), int(sc.get("completed") or 0), int(sc.get("dropped") or 0)
        if not scheduled:
            out.append((s["multiplier"], None, None))
            continue
        share = 100.0 * completed / scheduled
        label = None
        if dropped:
            part = 100.0 * dropped / scheduled
            label = f"✗ {dropped:,} dropped ({part:.0f} %)" if part >= 10 else f"✗ {dropped:,} dropped ({part:.2g} %)"
        elif completed < ACHIEVED_SHARE * scheduled:
            label = f"✗ {completed:,} of {scheduled:,} completed"
        out.append((s["multiplier"], share, label))
    return out if any(y is not None for _, y, _ in out) else None


def _key(t: dict[str, Any]) -> tuple[str, str]:
    return str(t["metric"]), str(t.get("aggregation") or "")


def _p95_chart(
    name: str,
    steps: Sequence[dict[str, Any]],
    x_max: float,
    axis: tuple[str, Sequence[tuple[float, str]]],
    knee: float | None,
    failing: float | None,
) -> str:
    points = [(s["multiplier"], s["scenarios"][name]["p95Ms"]) for s in steps if name in s["scenarios"]]
    top = max([y for _, y in points if y is not None] + [1.0])
    series = [{"label": "request p95 ms", "color": PALETTE[0], "points": points}, *_marks(knee, failing, top)]
    return line_chart(f"{name} — request p95 (ms) vs load", series, x_max, "ms", x_axis=(axis[0], list(axis[1])))


def _marks(knee: float | None, failing: float | None, top: float, bottom: float = 0.0) -> list[dict[str, Any]]:
    """The knee (last sustainable) and the first failing multiplier as vertical dashed lines."""
    marks = []
    for x, label, color in ((knee, "knee", "#111827"), (failing, "first failing", "#dc2626")):
        if x is not None:
            marks.append(
                {"label": f"{label} ×{x:g}", "color": color, "points": [(x, bottom), (x, top)], "dashed": True}
            )
    return marks
