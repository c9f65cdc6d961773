"""The statistical verdict of `fixload compare`: the change of each row, its confidence interval, and what it means.

A summary's `timeSeries` holds, per scenario, one row per 2 s interval with that interval's requests, completed
and failed iterations, drops and request-latency quantiles (`fixload.report.timeseries`). A row of the
comparison is a statistic of those windows: p50/p95/p99 = the request-weighted mean of the windows' quantiles,
success = 1 - failed/completed, iterations/s = completed/time, dropped = the drops summed.

The interval is a **paired moving-block bootstrap over windows** (percentile interval, `RESAMPLES` draws, a
fixed seed per row so a verdict is reproducible): windows are aligned by their time in the run (both runs
follow the same schedule, so the ramp's phases pair up), blocks of ~n^(1/3) consecutive windows keep the
short-range correlation of a run, and each draw recomputes the change from the same resampled windows on both
sides. Runs that do not align (other lengths or intervals) are resampled independently. With several base
runs (`--baseline-dir`) the base is their pooled windows, and the spread of the k runs' own values (which
holds the run-to-run noise one run's windows cannot show, and their within-run noise) gives a second interval,
+-t(k-1) x sd x sqrt(1 + 1/k) (a new run against the mean of k); the wider of the two is used. A row is a
**regression** only when the whole interval lies beyond the budget the bad way, an **improvement** when it
lies beyond it the good way, **within noise** otherwise; fewer than `MIN_WINDOWS` windows with data on a side
is **too little data**, not a guess.
"""

from __future__ import annotations

import math
import random
import statistics
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from fixload.common.budget import KINDS, Rule
from fixload.report.timeseries import Row as SeriesRow

RESAMPLES = 2000
SEED = 27
MIN_WINDOWS = 6
"""Windows with data each side needs before a row is judged (12 s at 2 s: below that an interval is a guess)."""
MAX_WINDOWS = 240
"""Longer series are merged to at most this many windows first (the bootstrap's cost is resamples x windows)."""
JUDGED: tuple[str, ...] = ("p50", "p95", "p99", "success", "iterations", "dropped")
NATURAL_UNIT = {"p50": "%", "p95": "%", "p99": "%", "success": "pp", "iterations": "%", "dropped": ""}

REGRESSION = "regression"
IMPROVEMENT = "improvement"
WITHIN_NOISE = "within noise"
TOO_LITTLE_DATA = "too little data"
NO_BUDGET = "not judged"

# the per-window quantities, summed over a resample: requests, completed, failed, dropped, then for each of
# p50/p95/p99 the request-weighted quantile (requests x q) and the requests that had one
_R, _C, _F, _D = 0, 1, 2, 3
_Q = {"p50": (4, 5), "p95": (6, 7), "p99": (8, 9)}
_WIDTH = 10


Window = tuple[float, ...]


def window_of(row: SeriesRow) -> Window | None:
    """The quantities of one series row (None when the row lacks the comparison columns)."""
    if not row.has_window:
        return None
    r = float(row.requests or 0)
    out = [r, float(row.completed or 0), float(row.failed or 0), float(row.dropped or 0)]
    for q in (row.q50, row.q95, row.q99):
        out += [r * q, r] if q is not None and r > 0 else [0.0, 0.0]
    return tuple(out)


def add(a: Window, b: Window) -> Window:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def pool(runs: Sequence[Sequence[Window]]) -> list[Window]:
    """Windows of several runs summed index by index (to the longest run)."""
    length = max((len(r) for r in runs), default=0)
    out = []
    for i in range(length):
        parts = [r[i] for r in runs if i < len(r)]
        total = parts[0]
        for part in parts[1:]:
            total = add(total, part)
        out.append(total)
    return out


def coarsen(windows: Sequence[Window], limit: int = MAX_WINDOWS) -> tuple[list[Window], int]:
    """Merge consecutive windows so at most `limit` remain; returns them and how many were merged into one."""
    factor = max(1, math.ceil(len(windows) / limit))
    merged = []
    for start in range(0, len(windows), factor):
        total = windows[start]
        for w in windows[start + 1 : start + factor]:
            total = add(total, w)
        merged.append(total)
    return merged, factor


def statistic(metric: str, sums: Window, count: int, interval: float, runs: int = 1) -> float | None:
    """A row's value from windows summed over `count` windows of `interval` seconds (`runs` pooled: counts per run)."""
    if metric in _Q:
        weighted, weight = _Q[metric]
        return sums[weighted] / sums[weight] if sums[weight] > 0 else None
    if metric == "success":
        return 1.0 - sums[_F] / sums[_C] if sums[_C] > 0 else None
    if metric == "iterations":
        return sums[_C] / (count * interval * runs) if count and interval > 0 else None
    if metric == "dropped":
        return sums[_D] / runs
    raise KeyError(metric)


def change(unit: str, base: float | None, new: float | None) -> float | None:
    """The change from base to new in a budget unit: % relative, pp, or ms / a count absolute."""
    if base is None or new is None:
        return None
    if unit == "%":
        return (new / base - 1.0) * 100.0 if base > 0 else None
    if unit == "pp":
        return (new - base) * 100.0
    return new - base


def has_data(metric: str, w: Window) -> bool:
    if metric in _Q:
        return w[_Q[metric][1]] > 0
    if metric == "success":
        return w[_C] > 0
    return True


def t_quantile(confidence: float, dof: int) -> float:
    """Student's t two-sided quantile (Cornish-Fisher expansion of the normal one; within 1 % for dof >= 3)."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    if dof <= 0:
        return math.inf
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@dataclass(frozen=True)
class Estimate:
    """One judged row: the change and its interval in `unit`, and the verdict."""

    metric: str
    unit: str
    change: float | None
    low: float | None
    high: float | None
    verdict: str
    windows: tuple[int, int]
    """Windows with data (base, new)."""
    method: str
    """`paired block bootstrap`, `block bootstrap` (unaligned runs), or why there is none."""
    noise: float | None = None
    """With several base runs: the run-to-run half-width added to the interval, in `unit`."""
    budget: str | None = None
    shift: float | None = None
    """With one base run: the half-width the other scenarios' common shift in this pair gives, in `unit`."""

    @property
    def regression(self) -> bool:
        return self.verdict == REGRESSION


def _block_sums(windows: Sequence[Window], block: int) -> list[Window]:
    """The sum of every run of `block` consecutive windows (moving blocks), computed once."""
    block = min(block, len(windows))
    return [_sum(windows[start : start + block]) for start in range(len(windows) - block + 1)]


def _draw(rng: random.Random, starts: int, blocks: int) -> list[int]:
    return [rng.randrange(starts) for _ in range(blocks)]


def _total(sums: Sequence[Window], picks: Sequence[int]) -> Window:
    return tuple(map(math.fsum, zip(*(sums[p] for p in picks), strict=True)))


class Resampler:
    """Bootstrap draws of one group's windows (both sides), shared by every metric of the group."""

    def __init__(
        self, base: Sequence[Window], new: Sequence[Window], interval: tuple[float, float], seed: str, runs: int = 1
    ) -> None:
        self.runs = runs
        """How many base runs `base` pools (counts are per run)."""
        self.paired = abs(len(base) - len(new)) <= max(1, len(base) // 10) and interval[0] == interval[1]
        if self.paired:
            n = min(len(base), len(new))
            base, new = base[:n], new[:n]
        self.base, self.new = list(base), list(new)
        self.interval = interval
        self.rng_seed = SEED ^ zlib.crc32(seed.encode())
        self.draws: list[tuple[Window, int, Window, int]] | None = None

    def _sample(self) -> list[tuple[Window, int, Window, int]]:
        rng = random.Random(self.rng_seed)
        out = []
        sides = []
        for windows in (self.base, self.new):
            n = len(windows)
            block = max(1, round(n ** (1 / 3)))
            sides.append((_block_sums(windows, block), n - min(block, n) + 1, math.ceil(n / block), block))
        for _ in range(RESAMPLES):
            (bs, bstarts, bblocks, bblock), (ns, nstarts, nblocks, nblock) = sides
            picks = _draw(rng, bstarts, bblocks)
            base = _total(bs, picks)
            new_picks = picks if self.paired else _draw(rng, nstarts, nblocks)
            new = _total(ns, new_picks)
            out.append((base, bblocks * bblock, new, nblocks * nblock))
        return out

    def interval_of(self, metric: str, unit: str, confidence: float) -> tuple[float | None, float | None]:
        if self.draws is None:
            self.draws = self._sample()
        changes = []
        for base, bcount, new, ncount in self.draws:
            b = statistic(metric, base, bcount, self.interval[0], self.runs)
            n = statistic(metric, new, ncount, self.interval[1])
            c = change(unit, b, n)
            if c is not None:
                changes.append(c)
        if len(changes) < RESAMPLES // 2:
            return None, None
        changes.sort()
        tail = (1.0 - confidence) / 2

        def at(q: float) -> float:
            pos = q * (len(changes) - 1)
            lo = math.floor(pos)
            hi = min(lo + 1, len(changes) - 1)
            return changes[lo] + (changes[hi] - changes[lo]) * (pos - lo)

        return at(tail), at(1.0 - tail)


def judge(
    metric: str,
    rule: Rule | None,
    low: float | None,
    high: float | None,
) -> str:
    """The verdict of an interval against a rule (its amount in the interval's unit)."""
    if rule is None:
        return NO_BUDGET
    if low is None or high is None:
        return TOO_LITTLE_DATA
    worse = KINDS[metric].worse
    bad_low, bad_high = sorted((low * worse, high * worse))
    if bad_low > rule.amount + 1e-9:
        return REGRESSION
    if bad_high < -rule.amount - 1e-9:
        return IMPROVEMENT
    return WITHIN_NOISE


def _sum(windows: Sequence[Window]) -> Window:
    total: Window = tuple(0.0 for _ in range(_WIDTH))
    for w in windows:
        total = add(total, w)
    return total


def run_noise(metric: str, unit: str, runs: Sequence[Sequence[Window]], interval: float) -> float | None:
    """The sd of the base runs' values around their pool, in `unit` (None with fewer than two runs)."""
    if len(runs) < 2:
        return None
    pooled = pool(runs)
    reference = statistic(metric, _sum(pooled), len(pooled), interval, len(runs))
    deviations = [change(unit, reference, statistic(metric, _sum(r), len(r), interval)) for r in runs]
    present = [d for d in deviations if d is not None]
    return statistics.stdev(present) if len(present) >= 2 else None


def estimate(
    group: str,
    metric: str,
    rule: Rule | None,
    base_runs: Sequence[Sequence[Window]],
    new: Sequence[Window],
    interval: tuple[float, float],
    confidence: float,
    resampler: Resampler | None = None,
) -> tuple[Estimate, Resampler | None]:
    """One row's estimate: `base_runs` (one or more runs' windows, aligned by index) against `new`."""
    unit = rule.unit if rule is not None else NATURAL_UNIT[metric]
    base = pool(base_runs) if len(base_runs) > 1 else list(base_runs[0]) if base_runs else []
    counts = (sum(has_data(metric, w) for w in base), sum(has_data(metric, w) for w in new))
    budget = str(rule) if rule is not None else None
    if min(counts) < MIN_WINDOWS:
        why = f"too little data: {counts[0]} base / {counts[1]} new windows with data, {MIN_WINDOWS} needed"
        return Estimate(metric, unit, None, None, None, TOO_LITTLE_DATA, counts, why, budget=budget), resampler
    if resampler is None:
        merged_base, _ = coarsen(base)
        merged_new, _ = coarsen(new)
        factor = max(math.ceil(len(base) / MAX_WINDOWS), 1), max(math.ceil(len(new) / MAX_WINDOWS), 1)
        resampler = Resampler(
            merged_base,
            merged_new,
            (interval[0] * factor[0], interval[1] * factor[1]),
            f"{group}/{len(base_runs)}",
            runs=max(1, len(base_runs)),
        )
    b_stat = statistic(metric, _sum(base), len(base), interval[0], max(1, len(base_runs)))
    n_stat = statistic(metric, _sum(new), len(new), interval[1])
    point = change(unit, b_stat, n_stat)
    low, high = resampler.interval_of(metric, unit, confidence)
    noise = run_noise(metric, unit, base_runs, interval[0])
    extra = None
    if noise is not None and point is not None and low is not None and high is not None:
        # k runs' spread holds all the noise a run has (within and between runs): a new run differs from their
        # mean by sd x sqrt(1 + 1/k); the windows' bootstrap stays the floor when the runs happen to agree
        k = len(base_runs)
        extra = t_quantile(confidence, k - 1) * noise * math.sqrt(1 + 1 / k)
        low, high = min(low, point - extra), max(high, point + extra)
    if point is None or low is None or high is None:
        why = "no value on one side (a zero base for a relative change, or no requests)"
        return Estimate(metric, unit, point, None, None, TOO_LITTLE_DATA, counts, why, budget=budget), resampler
    method = "paired block bootstrap" if resampler.paired else "block bootstrap (runs not aligned)"
    verdict = judge(metric, rule, low, high)
    return Estimate(metric, unit, point, low, high, verdict, counts, method, extra, budget), resampler


def common_shift(
    estimates: Mapping[str, Estimate], overall: str, rule: Rule | None, confidence: float
) -> dict[str, Estimate]:
    """One base run cannot see a whole run shifted by the machine; the other scenarios of the same pair can.
    Their changes hold that shift plus their own sampling noise (their intervals' width), so the shift's
    variance is estimated as mean(change^2 - sd^2) over the *other* scenarios (the overall row: over all),
    when at least two others have an interval; each interval then grows by z x that sd, in quadrature. A
    change confined to one flow stands out; one moving every flow alike is the machine's until a base
    history (`--baseline-dir`) says otherwise. The verdict is judged again."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    spread = {
        g: (e.change, (e.high - e.low) / (2 * z))
        for g, e in estimates.items()
        if g != overall and e.change is not None and e.low is not None and e.high is not None
    }
    out = dict(estimates)
    for group, e in estimates.items():
        if e.change is None or e.low is None or e.high is None:
            continue
        others = [(c, sd) for g, (c, sd) in spread.items() if g != group]
        if len(others) < 2:
            continue
        variance = max(0.0, statistics.fmean(c * c - sd * sd for c, sd in others))
        extra = z * math.sqrt(variance)
        if extra <= 0:
            continue
        low, high = e.change - math.hypot(e.change - e.low, extra), e.change + math.hypot(e.high - e.change, extra)
        out[group] = replace(e, low=low, high=high, verdict=judge(e.metric, rule, low, high), shift=extra)
    return out
