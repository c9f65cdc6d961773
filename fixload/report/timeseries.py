"""The per-scenario time series a summary carries, so reports can be rebuilt (and runs compared) from it alone.

`fixload.runtime.live` samples every scenario every 2 s on the master. The summary keeps, per scenario, one row per
sample: what the HTML report draws (scheduled and achieved iterations/s, the iterations dropped during the
interval, the p95 request latency over the last intervals) and what `fixload compare` judges with
(`fixload.report.verdict`): the interval's own requests, started and completed iterations, failed iterations
and its request latency p50/p95/p99 (`q50 q95 q99`, of that interval alone); and what the thresholds judge,
the flow's own duration (`<flow>_duration` of the scenario's iterations: `fp95` and `favg`, over the same
last intervals as `p95`). A row is one short string, not a JSON object, because the summary is written
indented (one line per JSON value)::

    "timeSeries": {"intervalSeconds": 2, "columns": ["t", "scheduled", ..., "q99"],
                   "scenarios": {"booking_flow": ["2.001,5.1,4.5,0,12.31,41,9,9,0,8.2,12.1,15.02,812.5,640.1", ...]}}

`t` is seconds since the start, an empty field is null (no schedule for VU executors, no quantile without
requests). Size is bounded: a run longer than `MAX_ROWS` intervals (6 hours at 2 s) has consecutive samples
merged (rates averaged, counts summed, the highest p95 kept, the interval quantiles averaged weighted by
requests) so no scenario has more than `MAX_ROWS` rows. Measured (tests/test_timeseries.py): a 6-hour soak of
the baseline's five scenarios adds 4.59 MiB (10,800 rows a scenario, ~89 bytes a row as indented; 3.84 MiB
before the flow columns, 2.14 MiB before the comparison columns); a longer run no more. Summaries written
before the comparison columns (the first five only) or the flow columns (the first twelve) still read: their
new fields are None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LEGACY_COLUMNS: tuple[str, ...] = ("t", "scheduled", "achieved", "dropped", "p95")
WINDOW_COLUMNS: tuple[str, ...] = ("requests", "started", "completed", "failed", "q50", "q95", "q99")
FLOW_COLUMNS: tuple[str, ...] = ("fp95", "favg")
COLUMNS: tuple[str, ...] = LEGACY_COLUMNS + WINDOW_COLUMNS + FLOW_COLUMNS
SHAPES: tuple[tuple[str, ...], ...] = (COLUMNS, LEGACY_COLUMNS + WINDOW_COLUMNS, LEGACY_COLUMNS)
"""Every row shape a summary may carry, newest first."""
MAX_ROWS = 10_800
"""Rows per scenario at most: a 6-hour soak at one row per 2 s."""


class TimeSeriesError(ValueError):
    """A summary's `timeSeries` block that cannot be read; the message says where and what."""


@dataclass(frozen=True, slots=True)
class Row:
    t: float
    scheduled: float | None
    achieved: float | None
    dropped: int
    """Iterations dropped during this interval (not cumulative)."""
    p95: float | None
    requests: int | None = None
    """Requests answered during this interval (None: a summary without the comparison columns)."""
    started: int | None = None
    completed: int | None = None
    failed: int | None = None
    """Iterations whose flow failed during this interval."""
    q50: float | None = None
    """Request latency quantiles (ms) of this interval's requests alone."""
    q95: float | None = None
    q99: float | None = None
    fp95: float | None = None
    """The flow's duration (`<flow>_duration`, ms) p95 and average over the last intervals: what thresholds judge."""
    favg: float | None = None

    @property
    def has_window(self) -> bool:
        """It carries the per-interval counts a statistical comparison needs."""
        return self.requests is not None and self.completed is not None


def _number(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    text = f"{round(float(value), digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _weighted(values: Sequence[tuple[float | None, int]]) -> float | None:
    """The mean of the present values weighted by their request counts (merged intervals' quantiles)."""
    present = [(v, max(w, 0)) for v, w in values if v is not None]
    total = sum(w for _, w in present)
    if not present:
        return None
    if total == 0:
        return _mean([v for v, _ in present])
    return sum(v * w for v, w in present) / total


def _rows(points: Sequence[Mapping[str, Any]], name: str, factor: int) -> list[Row]:
    """One scenario's rows from live points (`dropped`, `started`, `completed`, `failed` cumulative there;
    `requests` and `q*` per interval), `factor` points merged per row."""
    rows: list[Row] = []
    previous = dict.fromkeys(("dropped", "started", "completed", "failed"), 0)
    mine = [(float(p["t"]), p["scenarios"][name]) for p in points if name in p["scenarios"]]
    for start in range(0, len(mine), factor):
        group = mine[start : start + factor]
        last = group[-1][1]
        cumulative = {key: int(last.get(key) or 0) for key in previous}
        delta = {key: max(0, cumulative[key] - previous[key]) for key in previous}
        p95s = [s.get("p95") for _, s in group if s.get("p95") is not None]
        fp95s = [s.get("fp95") for _, s in group if s.get("fp95") is not None]
        counts = [int(s.get("requests") or 0) for _, s in group]
        windowed = "requests" in last
        rows.append(
            Row(
                t=group[-1][0],
                scheduled=_mean([s.get("target") for _, s in group]),
                achieved=_mean([s.get("achieved") for _, s in group]),
                dropped=delta["dropped"],
                p95=max(p95s) if p95s else None,
                requests=sum(counts) if windowed else None,
                started=delta["started"] if windowed else None,
                completed=delta["completed"] if windowed else None,
                failed=delta["failed"] if windowed else None,
                q50=_weighted([(s.get("q50"), c) for (_, s), c in zip(group, counts, strict=True)]),
                q95=_weighted([(s.get("q95"), c) for (_, s), c in zip(group, counts, strict=True)]),
                q99=_weighted([(s.get("q99"), c) for (_, s), c in zip(group, counts, strict=True)]),
                fp95=max(fp95s) if fp95s else None,
                favg=_mean([s.get("favg") for _, s in group]),
            )
        )
        previous = cumulative
    return rows


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


def _line(r: Row) -> str:
    fields = [_number(r.t, 3), _number(r.scheduled, 2), _number(r.achieved, 2), str(r.dropped), _number(r.p95, 2)]
    fields += [_count(r.requests), _count(r.started), _count(r.completed), _count(r.failed)]
    fields += [_number(r.q50, 2), _number(r.q95, 2), _number(r.q99, 2), _number(r.fp95, 2), _number(r.favg, 2)]
    return ",".join(fields)


def encode(points: Sequence[Mapping[str, Any]], interval: float) -> dict[str, Any]:
    """The summary's `timeSeries` block from `fixload.runtime.live` points sampled every `interval` seconds."""
    factor = max(1, math.ceil(len(points) / MAX_ROWS))
    names = sorted({name for p in points for name in p["scenarios"]})
    scenarios = {name: [_line(r) for r in _rows(points, name, factor)] for name in names}
    return {"intervalSeconds": interval * factor, "columns": list(COLUMNS), "scenarios": scenarios}


def _field(text: str, where: str, column: str) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise TimeSeriesError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TimeSeriesError(f"{where}: {column} {text!r} is not a finite number")
    return value


def decode(block: Any) -> dict[str, list[Row]]:
    """Rows per scenario from a summary's `timeSeries` block (None or missing: no series)."""
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise TimeSeriesError("fixload.timeSeries: expected an object")
    columns = block.get("columns")
    widths = tuple(len(shape) for shape in SHAPES)  # no `columns`: any shape, row by row
    if columns is not None:
        if not isinstance(columns, list) or tuple(columns) not in SHAPES:
            raise TimeSeriesError(f"fixload.timeSeries.columns: expected {list(COLUMNS)}, got {columns!r}")
        widths = (len(columns),)
    scenarios = block.get("scenarios", {})
    if not isinstance(scenarios, Mapping):
        raise TimeSeriesError("fixload.timeSeries.scenarios: expected an object of scenario -> rows")
    out: dict[str, list[Row]] = {}
    for name, rows in scenarios.items():
        if not isinstance(rows, list):
            raise TimeSeriesError(f"fixload.timeSeries.scenarios.{name}: expected an array of rows")
        decoded = []
        for index, row in enumerate(rows):
            where = f"fixload.timeSeries.scenarios.{name}[{index}]"
            parts = row.split(",") if isinstance(row, str) else None
            if parts is None or len(parts) not in widths:
                raise TimeSeriesError(f'{where}: expected a row "{",".join(COLUMNS[: widths[0]])}", got {row!r}')
            values = {c: _field(p, where, c) for p, c in zip(parts, COLUMNS, strict=False)}
            if values["t"] is None:
                raise TimeSeriesError(f"{where}: t is empty")
            counts = {c: None if values.get(c) is None else int(values[c] or 0) for c in WINDOW_COLUMNS[:4]}
            decoded.append(
                Row(
                    values["t"],
                    values["scheduled"],
                    values["achieved"],
                    int(values["dropped"] or 0),
                    values["p95"],
                    **counts,
                    q50=values.get("q50"),
                    q95=values.get("q95"),
                    q99=values.get("q99"),
                    fp95=values.get("fp95"),
                    favg=values.get("favg"),
                )
            )
        out[str(name)] = decoded
    return out
