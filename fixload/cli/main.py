"""`fixload validate`, `run`, `capacity`, `check`, `serve`, `compare`, `history` and `report`: the command line.

`locust --help` cannot show fixload's options: Locust prints its help before it loads the locustfiles,
and it is loading them that registers a plugin's options. `fixload run --help` lists every one of them
(they are accepted by `fixload run` directly and by plain `locust -f locustfiles/ ...`); so does
docs/running.md, generated from it by scripts/docs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fixload.common.children import SignalRelay
from fixload.common.exitcodes import ExitCode
from fixload.common.files import MAX_SUMMARY_BYTES, read_input

EPILOG = (
    "`locust --help` cannot show fixload's options (--multiplier, --summary, --html-report, --junit, "
    "--prometheus-port, --progress-interval, ...): Locust prints its help before loading the locustfiles "
    "that register them. `fixload run --help` lists them all; plain `locust -f locustfiles/` accepts them too."
)


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile JSON (default: K6_PROFILE_PATH, else profiles/baseline.json)")
    parser.add_argument("--multiplier", help="load multiplier (beats K6_LOAD_MULTIPLIER and the profile)")
    parser.add_argument("--env-file", help="a .env file to read instead of ./.env (the process environment wins)")
    parser.add_argument(
        "-f",
        "--locustfile",
        "--locustfiles",
        dest="locustfiles",
        help="the locustfile(s) whose ScenarioUser classes the scenarios bind to, as `locust -f` "
        "(default: ./locustfiles, else the installed copy)",
    )


def _validate(args: argparse.Namespace) -> int:
    """The verdict `fixload run` would reach (fixload.profile.validation), for the target it would use."""
    import orjson

    from fixload.profile.validation import format_verdict, validate_run, verdict_as_dict

    verdict = validate_run(
        args.profile, args.multiplier, args.env_file, processes=max(1, args.workers), locustfile=args.locustfiles
    )
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


def _report(args: argparse.Namespace) -> int:
    """`fixload report`: rebuild the HTML/JUnit reports from a summary, or a history page from a directory."""
    import orjson

    from fixload.report import html as render
    from fixload.report.compare import CompareInputError, load
    from fixload.report.timeseries import TimeSeriesError

    if args.history:
        if args.summary or args.junit:
            print("fixload report: --history DIR takes no SUMMARY and no --junit", file=sys.stderr)
            return ExitCode.INVALID_CONFIG
        from fixload.common.budget import DEFAULTS
        from fixload.report import history

        # the same page as `fixload history DIR` (default budget, 95 %)
        return history.write(Path(args.history), args.html, dict(DEFAULTS), 0.95, "fixload report")
    if not args.summary or not (args.html or args.junit):
        print("fixload report: give a SUMMARY and --html PATH and/or --junit PATH (or --history DIR)", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    try:
        load(args.summary)  # the same checks `compare` makes: names the file and what is wrong
        summary = orjson.loads(read_input(args.summary, "a fixload summary (JSON)", MAX_SUMMARY_BYTES))
        if not isinstance(summary.get("fixload"), dict):
            raise CompareInputError(
                f'{args.summary}: not a fixload summary (no "fixload" block); a k6 export has no time series'
            )
        outputs = []
        if args.html:
            outputs.append((args.html, render.html_report(summary)))
        if args.junit:
            outputs.append((args.junit, render.junit_xml(summary)))
    except (CompareInputError, TimeSeriesError, KeyError, TypeError) as exc:
        detail = str(exc) if isinstance(exc, CompareInputError) else f"{args.summary}: {exc}"
        print(f"fixload report: {detail}", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    for path, text in outputs:
        print(f"fixload: report written to {render.write_atomic(path, text)}")
    return ExitCode.OK


def _check(args: argparse.Namespace) -> int:
    # imported here: fixload.cli.check loads the flows (and Locust), a second `validate` does not need
    from fixload.cli import check

    return int(check.run(args))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `command` says which subcommand will run, so only `run` pays for reading
    the plugin's options from Locust's parser."""
    parser = argparse.ArgumentParser(prog="fixload", description=__doc__.split("\n\n")[0], epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a profile and its environment; print the plan; send nothing")
    _add_profile_options(validate)
    validate.add_argument("--json", action="store_true", help="print the plan as JSON")
    validate.add_argument("--workers", type=_count, default=0, help="check the plan for N worker processes")
    validate.set_defaults(handler=_validate)
    if command == "validate":
        return parser  # validate needs nothing else: no simulator, compare or Locust import (under 1 s)

    from fixload.cli import run as runner
    from fixload.simulator import serve

    run_parser = commands.add_parser(
        "run",
        help="validate, then run the profile on Locust (headless by default)",
        epilog=EPILOG,
    )
    runner.add_arguments(run_parser, plugin_options=command == "run")
    run_parser.set_defaults(handler=runner.run)

    from fixload.cli import capacity

    capacity_parser = commands.add_parser(
        "capacity",
        help="find the highest multiplier at which the profile is sustainable, and whether the target or the "
        "generator limits it",
    )
    capacity.add_arguments(capacity_parser)
    capacity_parser.set_defaults(handler=capacity.run)

    check_parser = commands.add_parser(
        "check", help="run setup, then one iteration of every scenario's flow; print each step; no load"
    )
    _add_profile_options(check_parser)
    check_parser.set_defaults(handler=_check)

    serve_parser = commands.add_parser("serve", help="run the embedded Fixnado simulator on loopback")
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(handler=serve.run)

    from fixload.report import compare_command

    compare_parser = commands.add_parser(
        "compare",
        help="compare two runs (or a folder of earlier runs and a new one): each change with its confidence "
        "interval against a budget; exit 99 on a regression, 104 for different experiments",
    )
    compare_command.add_arguments(compare_parser)
    compare_parser.set_defaults(handler=compare_command.run)

    from fixload.report import history

    history_parser = commands.add_parser(
        "history", help="every run in a folder, oldest first, each judged against the runs before it; an HTML page"
    )
    history.add_arguments(history_parser)
    history_parser.set_defaults(handler=history.run)

    report = commands.add_parser("report", help="rebuild the HTML/JUnit reports from a summary; --history DIR")
    report.add_argument("summary", nargs="?", help="a fixload summary JSON")
    report.add_argument("--html", help="write the HTML report here")
    report.add_argument("--junit", help="write the JUnit XML report here")
    report.add_argument("--history", metavar="DIR", help="the page of `fixload history DIR` (default budget)")
    report.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    # `fixload run` is the process the user signals: from its first instant a SIGINT/SIGTERM is kept and
    # honoured (fixload.common.children), never the default death with no summary.
    relay = SignalRelay().install() if command in ("run", "capacity") else None
    try:
        args = build_parser(command).parse_args(argv)
        args.signals = relay
        code = int(args.handler(args))
        sys.stdout.flush()  # inside the try: a reader that left shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        # the reader went away (`fixload validate ... | head`): end quietly, like the tools it is piped to
        _silence_stdout()
        return ExitCode.OK
    finally:
        if relay is not None:
            relay.restore()


def _silence_stdout() -> None:
    """Python flushes stdout once more at exit; point it at /dev/null so that flush cannot fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
