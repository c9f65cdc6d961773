"""`fixload validate`, `fixload run` and `fixload serve`: the command line of the harness."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from fixload.exitcodes import ExitCode
from fixload.validation import format_verdict, validate_run, verdict_as_dict


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile JSON (default: K6_PROFILE_PATH, else profiles/baseline.json)")
    parser.add_argument("--multiplier", help="load multiplier (beats K6_LOAD_MULTIPLIER and the profile)")
    parser.add_argument("--env-file", help="a .env file to read instead of ./.env (the process environment wins)")


def _validate(args: argparse.Namespace) -> int:
    """The verdict `fixload run` would reach (fixload.validation), for the target it would use."""
    verdict = validate_run(args.profile, args.multiplier, args.env_file, processes=max(1, args.workers))
    if not verdict.ok:
        print(f"fixload: {verdict.message()}", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    if args.json:
        sys.stdout.write(orjson.dumps(verdict_as_dict(verdict), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_verdict(verdict))
    return ExitCode.OK


def _count(text: str) -> int:
    """A whole number ≥ 0 for --workers (argparse reports anything else as a usage error)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixload", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a profile and its environment; print the plan; send nothing")
    _add_profile_options(validate)
    validate.add_argument("--json", action="store_true", help="print the plan as JSON")
    validate.add_argument("--workers", type=_count, default=0, help="check the plan for N worker processes")
    validate.set_defaults(handler=_validate)

    from fixload import check, runner
    from fixload.simulator import serve

    run_parser = commands.add_parser("run", help="validate, then run the profile on Locust (headless by default)")
    runner.add_arguments(run_parser)
    run_parser.set_defaults(handler=runner.run)

    check_parser = commands.add_parser(
        "check", help="run setup, then one iteration of every scenario's flow; print each step; no load"
    )
    _add_profile_options(check_parser)
    check_parser.set_defaults(handler=check.run)

    serve_parser = commands.add_parser("serve", help="run the embedded Fixnado simulator on loopback")
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(handler=serve.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
