"""`fixload compare BASE NEW` and `fixload compare --baseline-dir DIR NEW`: the command line of the comparison.

Reads the files (`fixload.report.compare.load`), refuses two different experiments (exit 104, naming the
fields, unless `--allow-different FIELD,...`), resolves the budget (defaults, the profile's `compare` block,
`--budget`), compares at `--confidence` and prints in `--format`. With `--baseline-dir` the base is the
latest `--baseline-runs` summaries of NEW's experiment in DIR (other experiments there are skipped, each
with a line saying why); their spread is the run-to-run noise the verdict must exceed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from fixload.common import budget as budgets
from fixload.common.exitcodes import ExitCode
from fixload.report.compare import CompareInputError, Side, compare, load
from fixload.report.compare_output import FORMATS
from fixload.report.experiment import EXPERIMENT_FIELDS, describe_differences, experiment_differences
from fixload.report.runs import load_runs, pooled_base

BASELINE_RUNS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "fixload compare [options] BASE NEW\n       fixload compare [options] --baseline-dir DIR NEW"
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="the BASE run and the NEW run (fixload summaries, k6 --summary-export or machine-readable summaries); "
        "with --baseline-dir only NEW",
    )
    parser.add_argument("--budget", default="", help="override the budget, e.g. 'p95=+5%%,success=-0.2pp,dropped=+10'")
    parser.add_argument("--profile", help='read the budget from this profile\'s "compare" block (--budget wins)')
    parser.add_argument("--format", choices=tuple(FORMATS), default="table", help="output format (default: table)")
    parser.add_argument(
        "--confidence",
        type=float,
        default=95.0,
        metavar="PERCENT",
        help="confidence level of the intervals, in percent (default 95; between 50 and 99.9)",
    )
    parser.add_argument(
        "--baseline-dir",
        metavar="DIR",
        help="use the latest runs of NEW's experiment in DIR as the base; their spread is the noise floor",
    )
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=BASELINE_RUNS,
        metavar="N",
        help=f"with --baseline-dir: how many of the latest runs (default {BASELINE_RUNS})",
    )
    parser.add_argument(
        "--allow-different",
        action="append",
        default=[],
        metavar="FIELD[,FIELD]",
        help=f"compare runs whose experiments differ in these fields ({', '.join(EXPERIMENT_FIELDS)}); repeatable",
    )


def resolve_budget(profile_path: str | None, text: str) -> budgets.Budget:
    """Defaults, then the profile's `compare.budget`, then `--budget`; raises BudgetError or ProfileError."""
    overrides: list[Mapping[str, budgets.Rule | None]] = []
    if profile_path:
        from fixload.profile.schema import load_profile

        profile = load_profile(profile_path)
        if profile.compare is not None:
            overrides.append(budgets.parse_mapping(profile.compare.budget, f"{profile_path}: compare.budget"))
    if text:
        overrides.append(budgets.parse_text(text))
    return budgets.resolve(*overrides)


def _allowed(values: list[str], problems: list[str]) -> set[str]:
    allowed = {part.strip() for value in values for part in value.split(",") if part.strip()}
    for name in sorted(allowed - set(EXPERIMENT_FIELDS)):
        problems.append(f"--allow-different: unknown field {name!r}, expected one of {', '.join(EXPERIMENT_FIELDS)}")
    return allowed


def _options(args: argparse.Namespace, problems: list[str]) -> tuple[float, set[str]]:
    confidence = float(args.confidence)
    if not 50.0 <= confidence <= 99.9:
        problems.append(f"--confidence {args.confidence:g}: expected a percentage between 50 and 99.9 (e.g. 95)")
    expected = 1 if args.baseline_dir else 2
    if len(args.files) != expected:
        shape = "NEW (the base is --baseline-dir)" if args.baseline_dir else "BASE and NEW"
        problems.append(f"expected {shape}, got {len(args.files)} file(s): {' '.join(args.files)}")
    if args.baseline_runs < 1:
        problems.append(f"--baseline-runs {args.baseline_runs}: expected a whole number >= 1")
    return confidence / 100.0, _allowed(args.allow_different, problems)


def _differences(base: Side, new: Side, allowed: set[str]) -> dict[str, tuple[object, object]]:
    if base.experiment is None or new.experiment is None:
        return {}  # k6 files and older summaries: said in the caveats
    differences = experiment_differences(base.experiment, new.experiment)
    return {key: value for key, value in differences.items() if key not in allowed}


def _baseline(directory: str, new: Side, allowed: set[str], count: int) -> tuple[Side | None, list[str]]:
    """The pooled base from DIR (None when no run fits) and a line per run left out."""
    runs, skipped = load_runs(Path(directory))
    notes = [f"skipped {line}" for line in skipped]
    same = []
    for run in runs:
        if Path(directory, run.path).resolve() == Path(new.path).resolve():
            continue  # NEW itself, kept in the same folder
        differences = _differences(run, new, allowed)
        if differences:
            notes.append(f"skipped {run.path}: another experiment: {describe_differences(differences)}")
            continue
        same.append(run)
    if not same:
        return None, notes
    chosen = same[-count:]
    return pooled_base(chosen, f"{directory} ({len(chosen)} runs)"), notes


def run(args: argparse.Namespace) -> int:
    from fixload.profile.schema import ProfileError

    problems: list[str] = []
    confidence, allowed = _options(args, problems)
    try:
        budget = resolve_budget(args.profile, args.budget)
    except (budgets.BudgetError, ProfileError) as exc:
        problems.append(str(exc))
    sides: list[Side] = []
    for path in args.files[: 1 if args.baseline_dir else 2]:
        try:
            sides.append(load(path))
        except CompareInputError as exc:
            problems.append(str(exc))
    base: Side | None = None
    if args.baseline_dir and sides and not problems:
        try:
            base, notes = _baseline(args.baseline_dir, sides[0], allowed, args.baseline_runs)
        except CompareInputError as exc:
            problems.append(str(exc))
            notes = []
        for note in notes:
            print(f"fixload compare: {note}", file=sys.stderr)
        if base is None and not problems:
            problems.append(f"{args.baseline_dir}: no summary of the same experiment as {sides[0].path} in it")
    elif len(sides) == 2:
        base = sides[0]
    if problems:
        for problem in problems:
            print(f"fixload compare: {problem}", file=sys.stderr)
        return int(ExitCode.INVALID_CONFIG)
    assert base is not None
    new = sides[-1]
    differences = _differences(base, new, allowed)
    if differences:
        print(
            f"fixload compare: {base.path} and {new.path} are different experiments: "
            f"{describe_differences(differences)}; to compare them anyway: --allow-different {','.join(differences)}",
            file=sys.stderr,
        )
        return int(ExitCode.INVALID_CONFIG)
    result = compare(base, new, budget, confidence)
    sys.stdout.write(FORMATS[args.format](result))
    return result.exit_code
