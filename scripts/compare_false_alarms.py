"""How often does `fixload compare` call a regression where there is none, on this machine's own noise?

    python scripts/compare_false_alarms.py RUN.json RUN.json ... [--trials 200] [--budget 'p95=+10%']

Give it summaries of one experiment run without any change (A runs). Two checks:

1. every pair of the real runs is compared (both orders): an A/A comparison each, with its real run-to-run
   drift; the share of pairs with any regression row, and per row;
2. `--trials` pseudo-run pairs are drawn by moving-block resampling the windows of one real run (chosen at
   random each trial) for both sides: the within-run noise alone, as many times as wanted.

Prints the false-alarm rates. Reproducible: a fixed seed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixload.common import budget as budgets  # noqa: E402
from fixload.report import verdict as stats  # noqa: E402
from fixload.report.compare import OVERALL, compare, load  # noqa: E402


def resampled(windows: list[stats.Window], rng: random.Random) -> list[stats.Window]:
    n = len(windows)
    block = max(1, round(n ** (1 / 3)))
    out: list[stats.Window] = []
    while len(out) < n:
        start = rng.randrange(n - block + 1)
        out.extend(windows[start : start + block])
    return out[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--budget", default="")
    parser.add_argument("--confidence", type=float, default=95.0)
    args = parser.parse_args()
    budget = budgets.resolve(budgets.parse_text(args.budget)) if args.budget else dict(budgets.DEFAULTS)
    confidence = args.confidence / 100
    sides = [load(path) for path in args.runs]

    pairs = list(itertools.permutations(range(len(sides)), 2))
    rows: Counter[str] = Counter()
    flagged = 0
    for i, j in pairs:
        result = compare(sides[i], sides[j], budget, confidence)
        bad = [f"{r.group} {r.metric}" for r in result.rows if r.regression]
        rows.update(bad)
        flagged += bool(bad)
    print(f"real A/A pairs: {flagged} of {len(pairs)} with a regression ({flagged / max(1, len(pairs)):.1%})")
    for row, count in rows.most_common():
        print(f"  {row}: {count}")

    stats.RESAMPLES = 500  # each trial's own interval: fewer draws, many trials
    rng = random.Random(27)
    hits: Counter[str] = Counter()
    judged = 0
    for trial in range(args.trials):
        side = sides[rng.randrange(len(sides))]
        for group in [*side.windows, OVERALL]:
            windows = side.group_windows(group)
            if len(windows) < stats.MIN_WINDOWS:
                continue
            base, new = resampled(windows, rng), resampled(windows, rng)
            resampler = None
            for metric in ("p95", "success", "dropped"):
                rule = budget.get(metric)
                if rule is None:
                    continue
                interval = (side.interval or 2.0, side.interval or 2.0)
                e, resampler = stats.estimate(
                    f"t{trial}/{group}", metric, rule, [base], new, interval, confidence, resampler
                )
                judged += e.verdict != stats.TOO_LITTLE_DATA
                if e.regression:
                    hits[f"{group} {metric}"] += 1
    total = sum(hits.values())
    rate = total / max(1, judged)
    print(f"resampled A/A: {total} false regressions in {judged} judged rows ({rate:.2%}) over {args.trials} trials")
    for row, count in hits.most_common():
        print(f"  {row}: {count}")
    return 0 if math.isfinite(rate) else 1


if __name__ == "__main__":
    sys.exit(main())
