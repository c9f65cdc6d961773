"""A folder of run summaries: read in time order, told apart by experiment, and pooled into one base.

`load_runs(DIR)` reads every fixload summary and k6 file under DIR (oldest first; junk is skipped with a line
saying why): what `fixload history` draws and `fixload compare --baseline-dir` judges against.
`experiment_differences` names the identity fields (`fixload.report.summary.experiment_identity`) two runs
disagree on; `pooled_base` makes one BASE of several runs of one experiment: its table values are the runs'
means, its windows each run's own, so `fixload.report.verdict` can pool them and measure their spread.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from fixload.report.compare import CompareInputError, Side, Stats, load


def load_runs(directory: Path) -> tuple[list[Side], list[str]]:
    """Every summary under `directory` (fixload or k6), oldest first, and a line per JSON file skipped.
    Each run's `path` is made relative to `directory`, as the history page shows it.

    A fixload summary is placed by its `startedAt`; a k6 export, which records no time, by its file's mtime."""
    if not directory.is_dir():
        raise CompareInputError(f"{directory}: not a directory (expected a directory of summaries)")
    dated: list[tuple[str, str, Side]] = []
    skipped = []
    for path in sorted(directory.rglob("*.json")):
        try:
            side = load(path)
        except CompareInputError as exc:
            skipped.append(str(exc))
            continue
        side.path = str(path.relative_to(directory))
        if side.started_at is None:
            moment = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            side.started_at = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dated.append((side.started_at, str(path), side))
    if not dated:
        raise CompareInputError(f"{directory}: no fixload summary or k6 export found in it")
    return [side for *_, side in sorted(dated, key=lambda item: item[:2])], skipped


def _mean_stats(stats: Sequence[Stats]) -> Stats:
    """Each value's mean over the runs that have it; the thresholds of the latest run."""
    out = Stats(thresholds=dict(stats[-1].thresholds))
    for f in fields(Stats):
        if f.name == "thresholds":
            continue
        values = [getattr(s, f.name) for s in stats if getattr(s, f.name) is not None]
        setattr(out, f.name, statistics.fmean(values) if values else None)
    return out


def pooled_base(runs: Sequence[Side], label: str) -> Side:
    """One BASE standing for several runs of one experiment (oldest first): means in the table, every run's
    windows for the verdict. Runs whose interval differs from the latest's are left out of the windows."""
    latest = runs[-1]
    base = copy.copy(latest)
    base.path = label
    base.overall = _mean_stats([r.overall for r in runs])
    names = sorted({name for r in runs for name in r.scenarios})
    base.scenarios = {name: _mean_stats([r.scenarios[name] for r in runs if name in r.scenarios]) for name in names}
    base.runs = [r.windows for r in runs if r.windows and r.interval == latest.interval]
    base.started_at = f"{runs[0].started_at} … {latest.started_at}" if len(runs) > 1 else latest.started_at
    base.note = f"{len(runs)} runs"
    return base
