"""The per-scenario time series a summary carries, so reports can be rebuilt from the summary alone.

`fixload.runtime.live` samples every scenario every 2 s on the master. The summary keeps, per scenario, one row per
sample of what the HTML report draws: scheduled and achieved iterations/s, the iterations dropped during the
interval, and the p95 request latency over the last intervals. A row is one short string, not a JSON
object, because the summary is written indented (one line per JSON value)::

    "timeSeries": {
      "intervalSeconds": 2,
      "columns": ["t", "scheduled", "achieved", "dropped", "p95"],
      "scenarios": {"booking_flow": ["2.001,5.1,4.5,0,12.31", "4.002,5.3,5,0,11.8", ...]}
    }

`t` is seconds since the start, an empty field is null (no schedule for VU executors, no p95 without
requests). Size is bounded: a run longer than `MAX_ROWS` intervals (6 hours at 2 s) has consecutive samples
merged (rates averaged, drops summed, the highest p95 kept) so no scenario ever has more than `MAX_ROWS` rows;
`intervalSeconds` then says the merged interval. Measured (tests/test_timeseries.py): a 6-hour soak of
the baseline's five scenarios adds 2.14 MiB to the summary (10,800 rows a scenario, ~41 bytes a row as
indented); a longer run no more (12 hours: 4 s a row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

COLUMNS: tuple[str, ...] = ("t", "scheduled", "achieved", "dropped", "p95")
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


def _number(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    text = f"{round(float(value), digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _rows(points: Sequence[Mapping[str, Any]], name: str, factor: int) -> list[Row]:
    """One scenario's rows from live points (`dropped` cumulative there), `factor` points merged per row."""
    rows: list[Row] = []
    previous = 0
    mine = [(float(p["t"]), p["scenarios"][name]) for p in points if name in p["scenarios"]]
    for start in range(0, len(mine), factor):
        group = mine[start : start + factor]
        cumulative = int(group[-1][1].get("dropped") or 0)
        p95s = [s.get("p95") for _, s in group if s.get("p95") is not None]
        rows.append(
            Row(
                t=group[-1][0],
                scheduled=_mean([s.get("target") for _, s in group]),
                achieved=_mean([s.get("achieved") for _, s in group]),
                dropped=max(0, cumulative - previous),
                p95=max(p95s) if p95s else None,
            )
        )
        previous = cumulative
    return rows


def encode(points: Sequence[Mapping[str, Any]], interval: float) -> dict[str, Any]:
    """The summary's `timeSeries` block from `fixload.runtime.live` points sampled every `interval` seconds."""
    factor = max(1, math.ceil(len(points) / MAX_ROWS))
    names = sorted({name for p in points for name in p["scenarios"]})
    scenarios = {
        name: [
            ",".join(
                (_number(r.t, 3), _number(r.scheduled, 2), _number(r.achieved, 2), str(r.dropped), _number(r.p95, 2))
            )
            for r in _rows(points, name, factor)
        ]
        for name in names
    }
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
    if columns is not None and tuple(columns) != COLUMNS:
        raise TimeSeriesError(f"fixload.timeSeries.columns: expected {list(COLUMNS)}, got {columns!r}")
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
            if parts is None or len(parts) != len(COLUMNS):
                raise TimeSeriesError(f'{where}: expected a row "{",".join(COLUMNS)}", got {row!r}')
            t, scheduled, achieved, dropped, p95 = (_field(p, where, c) for p, c in zip(parts, COLUMNS, strict=True))
            if t is None:
                raise TimeSeriesError(f"{where}: t is empty")
            decoded.append(Row(t, scheduled, achieved, int(dropped or 0), p95))
        out[str(name)] = decoded
    return out
