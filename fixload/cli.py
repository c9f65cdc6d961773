"""`fixload validate`, `fixload run` and `fixload serve`: the command line of the harness."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from fixload.config import ConfigError, load_run_config
from fixload.exitcodes import ExitCode
from fixload.plan import format_plan


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile JSON (default: K6_PROFILE_PATH, else profiles/baseline.json)")
    parser.add_argument("--multiplier", type=float, help="load multiplier (beats K6_LOAD_MULTIPLIER and the profile)")
    parser.add_argument("--env-file", help="a .env file to read instead of ./.env (the process environment wins)")


def _validate(args: argparse.Namespace) -> int:
    try:
        config = load_run_config(args.profile, args.multiplier, args.env_file)
    except ConfigError as exc:
        print(f"fixload: {exc}", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    if args.json:
        sys.stdout.write(orjson.dumps(config.plan.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_plan(config.plan))
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixload", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a profile and its environment; print the plan; send nothing")
    _add_profile_options(validate)
    validate.add_argument("--json", action="store_true", help="print the plan as JSON")
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
