"""Inline SVG line charts for the reports, the web UI's chart panel and the history page (no script, no fetch).

The axes hold what is drawn: the y axis spans the data and every reference line drawn (thresholds), with
headroom, its top tick at or above the highest of them; a count axis (`integer`) has whole-number ticks and,
with nothing but zeros, the ticks 0 and 1; nothing is drawn past the x axis' end (points beyond it are left
out, a bar is clipped to the plot).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from typing import Any

HEADROOM = 0.08
"""The y axis reaches at least this fraction above the highest value or line drawn."""


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round ticks from at or below `lo` to at or above `hi` (the last tick never short of
    `hi`); `integer`: whole-number steps (a count's axis), so 0..1 is [0, 1], not steps of 0.2."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(start + step * len(ticks), 10))
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
    integer: bool = False,
    flagged: str = "",
    fit_lines: bool = False,
    dots: bool = False,
) -> str:
    """An inline SVG line chart. `series`: {label, color, points [(x, y|None)], dashed}; gaps where y is None.
    `hlines`: (y, label, color) reference lines (thresholds). `bars`: {label, color, points} drawn as columns.
    `x_axis`: (title, [(x, label)]) instead of "time since start" in seconds (the history page's runs).
    `zoom`: the y axis spans the data rather than starting at 0 (success rates near 100 %).
    `marks`: (x, y, label) points ringed in red and labelled (the history page's regressions).
    `integer`: the y axis counts (whole-number ticks). `flagged`: a red note after the title (a failed
    threshold on this chart) and a red frame. `fit_lines`: every reference line on the axis however far from the
    data (zoomed too), never "off scale" (the capacity plot: the number judged and its bound on one scale).
    `dots`: every point of a solid series also a dot (each is a measurement: a capacity step).
    Points past `x_max` are left out; bars are clipped to the plot."""
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
    x_max = x_max if x_max > 0 else 1.0
    time_ticks: list[float] = []
    if x_axis is None:  # time: the axis ends on the nearest round tick at or after the end (30.3 s -> 35 s)
        time_ticks = min((nice_ticks(0.0, x_max, n) for n in range(4, 9)), key=lambda t: (t[-1], len(t)))
        x_max = time_ticks[-1]
    series = [{**s, "points": [(x, y) for x, y in s["points"] if x <= x_max + 1e-9]} for s in series]
    data = [y for s in series for _, y in s["points"] if y is not None]
    if bars:
        bars = {**bars, "points": [(x, y) for x, y in bars["points"] if x <= x_max + 1e-9]}
        data += [y for _, y in bars["points"] if y is not None]
    data_max = max(data) if data else 0.0
    # A reference line far above the data would flatten it: draw it only when it is within 4x of the data.
    shown = [h for h in hlines if fit_lines or data_max <= 0 or h[0] <= 4 * data_max]
    off_scale = [h for h in hlines if h not in shown]
    y_max = max([data_max, *(h[0] for h in shown)]) if (data or shown) else 0.0
    y_lo = 0.0
    if zoom and data:
        low = min([*data, *(h[0] for h in shown)] if fit_lines else data)
        spread = max(y_max - low, abs(y_max) * 0.01, 1e-9)
        y_lo = max(0.0, low - 0.1 * spread)
    if y_max <= y_lo:  # nothing but zeros (or no data): a plain axis, 0 and 1 for a count
        y_ticks = [y_lo, y_lo + 1.0] if integer else nice_ticks(y_lo, y_lo + 1.0)
    else:
        y_ticks = nice_ticks(y_lo, y_max + HEADROOM * (y_max - y_lo), integer=integer)
    y_bottom = y_ticks[0] if zoom else 0.0
    y_top = y_ticks[-1] if y_ticks[-1] > y_bottom else y_bottom + 1.0
    if x_axis is None:
        x_title = "time since start"
        x_ticks = [(t, _time_label(t)) for t in time_ticks]
    else:
        x_title, x_ticks = x_axis[0], list(x_axis[1])

    def sx(x: float) -> float:
        return left + plot_w * (x / x_max)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - y_bottom) / (y_top - y_bottom))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" class="title">{html.escape(title)}'
        + (f'<tspan fill="#dc2626"> {html.escape(flagged)}</tspan>' if flagged else "")
        + "</text>",
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
                x0, x1 = max(float(left), sx(x) - bar_w / 2), min(float(left + plot_w), sx(x) + bar_w / 2)
                out.append(
                    f'<rect x="{x0:.1f}" y="{sy(y):.1f}" width="{max(0.0, x1 - x0):.1f}" '
                    f'height="{top + plot_h - sy(y):.1f}" fill="{bars["color"]}" opacity="0.55"/>'
                )
    for i, (_, label, color) in enumerate(off_scale):
        out.append(
            f'<text x="{left + plot_w - 4}" y="{top + 12 + 12 * i}" class="tick" text-anchor="end" '
            f'fill="{color}">{html.escape(label)} (far above: off scale)</text>'
        )
    taken: list[float] = []  # label baselines so far: a line near another gets its label moved clear of it
    for y, label, color in sorted(shown, key=lambda h: -h[0]):
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="{color}" '
            f'stroke-width="1.2" stroke-dasharray="2 3"/>'
        )
        at = max(sy(y) - 4, top + 10.0)
        while any(abs(at - other) < 11 for other in taken):
            at += 11
        taken.append(at)
        out.append(
            f'<text x="{left + plot_w - 4}" y="{at:.1f}" class="tick" text-anchor="end" fill="{color}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{html.escape(label)}</text>'
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
                if dots and not dash:
                    out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.6" fill="{s["color"]}"/>' for px, py in seg]
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
    frame = 'stroke="#dc2626" stroke-width="2"' if flagged else 'stroke="#9ca3af" stroke-width="0.8"'
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" class="plot" {frame}/>')
    out.append("</svg>")
    return "\n".join(out)
