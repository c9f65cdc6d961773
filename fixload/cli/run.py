"""`fixload run`: the original team's `run-load-tests` wrapper, on Locust.

It validates first (profile, environment, thresholds: exit 104 and nothing sent), then runs Locust
headless (or with its web UI), locally or as a master with N local workers (Locust's own
`--processes`), and exits with Locust's exit code, which fixload's plugin sets to k6's numbers.
Without `K6_BASE_URL` it starts the embedded simulator on a free loopback port, takes its identities
and tokens, and stops it afterwards, so a fresh machine needs nothing else.

It is the process the user holds (`fixload.common.children`): SIGINT/SIGTERM are honoured whenever they come
(before Locust started: nothing is sent and the summary says so; after: Locust stops the run and writes
it), the exit code is never a raw signal number, and nothing it started outlives it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fixload.cli import config_files
from fixload.common import children
from fixload.common.exitcodes import ExitCode
from fixload.common.secrets import mask_url
from fixload.profile.binding import locustfiles_path
from fixload.profile.binding import unpatched as _unpatched

FIXLOAD_OPTIONS_TITLE = "fixload options (of the Locust plugin; also accepted by plain `locust`)"


def add_arguments(parser: argparse.ArgumentParser, plugin_options: bool = True) -> None:
    parser.add_argument("--profile", help="profile JSON (default: K6_PROFILE_PATH, else profiles/baseline.json)")
    parser.add_argument("--summary", help="summary JSON path (default: reports/summary-<UTC timestamp>.json)")
    parser.add_argument("--multiplier", help="load multiplier (beats K6_LOAD_MULTIPLIER and the profile)")
    parser.add_argument("--env-file", help="a .env file to read instead of ./.env (the process environment wins)")
    parser.add_argument("--validate-only", action="store_true", help="print the plan and exit; send nothing")
    parser.add_argument(
        "--check-first",
        action="store_true",
        help="run `fixload check` (setup + one iteration per flow) first; start no load if a step fails",
    )
    parser.add_argument("--ui", action="store_true", help="open Locust's web UI instead of running headless")
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print which configuration file (~/.locust.conf, locust.conf, pyproject.toml [tool.locust], --config) "
        "set which option, as Locust reads them (every option, fixload's included; the command line wins); exit",
    )
    parser.add_argument("--workers", type=int, default=0, help="run a master and N local worker processes")
    parser.add_argument(
        "-f",
        "--locustfile",
        "--locustfiles",
        dest="locustfiles",
        help="locustfile(s) to load, as `locust -f` (default: the repository's locustfiles/); the profile's "
        "scenarios bind to their ScenarioUser classes",
    )
    parser.add_argument(
        "-t",
        "--run-time",
        help="Locust's --run-time: stop the run after this long (20s, 1m30s; a bare number is seconds), "
        "the summary then says 'stopped: run-time'; the verdict is by thresholds as usual",
    )
    if plugin_options:
        group = parser.add_argument_group(FIXLOAD_OPTIONS_TITLE)
        taken = {flag for action in parser._actions for flag in action.option_strings}
        copied = [a for a in _plugin_actions() if not taken.intersection(a.option_strings)]
        for action in copied:
            _copy_action(group, action)
        parser.set_defaults(plugin_actions=copied)
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: arguments passed to Locust as-is")


def _plugin_actions() -> list[argparse.Action]:
    """The options fixload's plugin modules add to Locust's parser, read from Locust's own parser.

    One definition (in the module that uses each option), two command lines.
    """
    with _unpatched():
        from locust import argument_parser

        import fixload.plugin  # noqa: F401  registers the options (and the surfaces' own)
    base = argument_parser.get_empty_argument_parser(add_help=False)
    argument_parser.setup_parser_arguments(base)
    known = {flag for action in base._actions for flag in action.option_strings}
    full = argument_parser.get_parser()
    return [a for a in full._actions if a.option_strings and not known.intersection(a.option_strings)]


def _copy_action(group: Any, action: argparse.Action) -> None:
    """The same option on our parser; absent from the namespace unless given (then passed on to Locust)."""
    kwargs: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS, "help": action.help}
    if isinstance(action, argparse._StoreTrueAction):
        kwargs["action"] = "store_true"
    elif isinstance(action, argparse._StoreFalseAction):
        kwargs["action"] = "store_false"
    else:
        kwargs.update(type=action.type, choices=action.choices, metavar=action.metavar, nargs=action.nargs)
    group.add_argument(*action.option_strings, **kwargs)


def _forwarded(args: argparse.Namespace) -> Iterator[str]:
    """The plugin options given to `fixload run`, as Locust's command line."""
    for action in getattr(args, "plugin_actions", []):
        if not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            if value != action.default:
                yield flag
        elif isinstance(value, list):
            yield flag
            yield from map(str, value)
        else:
            yield flag
            yield str(value)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def locust_command(args: argparse.Namespace, profile: str, summary: str, base_url: str) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", args.locustfiles or locustfiles_path()]
    command += ["--profile", profile, "--summary", summary]
    if mask_url(base_url) == base_url:
        command += ["--host", base_url]
    # else: a password in the URL would show in the process list; the plugin takes the host from K6_BASE_URL
    if args.multiplier is not None:
        command += ["--multiplier", str(args.multiplier)]
    if args.env_file:
        command += ["--env-file", args.env_file]
    if args.run_time:
        command += ["--run-time", args.run_time]
    command += list(_forwarded(args))
    if args.ui:
        command += ["--web-host", "127.0.0.1"]
    else:
        command += ["--headless", "--only-summary"]
    if args.workers > 0:
        # Locust forks the workers; they reach the master on loopback at a port no other run is using.
        port = str(free_port())
        command += ["--processes", str(args.workers), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
        # a worker lost before the start (the master paused past its heartbeat) is not replaced: without a
        # bound the master would wait for it forever
        command += ["--expect-workers-max-wait", str(EXPECT_WORKERS_MAX_WAIT)]
    passed = list(args.locust_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    return command + passed


EXPECT_WORKERS_MAX_WAIT = 60
"""Seconds a `--workers` master waits for its local workers to connect (Locust's --expect-workers-max-wait)."""


def _say(message: str) -> None:
    """The wrapper's own lines go to stderr, like Locust's log (stdout may be a closed pipe)."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(f"fixload: {message}", file=sys.stderr, flush=True)


class Outcome:
    """What the wrapper knows about the run it supervises, to say (and write) how it ended."""

    def __init__(self, config: Any, summary: str, target: str) -> None:
        self.config = config
        self.summary = summary
        self.target = target
        self.started = datetime.now(UTC)

    def summary_written_since_start(self) -> bool:
        try:
            return Path(self.summary).stat().st_mtime >= self.started.timestamp() - 1.0
        except OSError:
            return False

    def write(self, status: str, reason: str) -> None:
        """The summary of a run Locust could not summarise (stopped before it started, or killed): the
        profile, its thresholds and scenarios with what is known (nothing was counted), and why."""
        from fixload.metrics.thresholds import ThresholdSet
        from fixload.profile.validation import run_registry
        from fixload.report.console import wants_colour
        from fixload.report.summary import RunInfo, scenario_counts, summarize

        plan = self.config.plan
        registry = run_registry(self.config.metric_flows)
        thresholds = ThresholdSet.parse(plan.profile.model_dump(by_alias=True, mode="json")["thresholds"], registry)
        info = RunInfo(
            profile=plan.profile.profile,
            multiplier=plan.multiplier,
            started_at=self.started,
            ended_at=datetime.now(UTC),
            status=status,
            reason=reason,
            target=mask_url(self.target),
        )
        counts = scenario_counts(plan, {}, 0.0)
        console = summarize(self.summary, registry, thresholds, info, counts, colour=wants_colour(sys.stderr)).console
        _say("\n" + console)


def stopped_before_start(outcome: Outcome, relay: children.SignalRelay) -> int:
    reason = f"stopped by {relay.first} before the test started; nothing was sent"
    _say(f"{relay.first} received before Locust started: not starting it (exit {int(ExitCode.INTERRUPTED)})")
    outcome.write("interrupted", reason)
    return ExitCode.INTERRUPTED


def supervise(
    command: list[str], env: dict[str, str], relay: children.SignalRelay, outcome: Outcome, output: Any = None
) -> int:
    """Run Locust in its own process group, forward every signal to it, remove what is left when it ends,
    and end with a k6 exit code (and a summary) whatever happened to it. `output`: a file for Locust's
    stdout and stderr (`fixload capacity`'s steps), else the wrapper's own."""
    streams = {"stdout": output, "stderr": output} if output is not None else {}
    child = children.start(command, env=env, **streams)
    relay.attach(child)
    try:
        code = child.wait()
    finally:
        relay.child = None
        children.remove_group(child)  # workers of a master that died, anything it left
    written = outcome.summary_written_since_start()
    if code >= 0:
        if not written and not relay.received and code not in (ExitCode.OK, ExitCode.INVALID_CONFIG):
            # Locust gave up before any test (its workers never all connected, say): say so in a summary
            outcome.write("error", f"Locust exited {code} before the test started; nothing was sent")
            return children.exit_code(code, ExitCode.GENERIC)
        if written or not relay.received or code in (ExitCode.INVALID_CONFIG, ExitCode.SETUP_FAILED):
            return children.exit_code(code, ExitCode.GENERIC)
        # Locust stopped on the signal before any test began (a master waiting for its workers, say)
        outcome.write("interrupted", f"stopped by {relay.first} before the test started; nothing was sent")
        return ExitCode.INTERRUPTED
    killer = signal_name(-code)
    _say(f"Locust (pid {child.pid}) was killed by {killer}; everything it started is stopped")
    if not written:
        lost = f"Locust was killed by {killer} before writing its summary; its counts are lost"
        if relay.received:
            outcome.write("interrupted", f"stopped by {relay.first}; {lost}")
        else:
            outcome.write("error", lost)
    return ExitCode.INTERRUPTED if relay.received else ExitCode.GENERIC


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def run(args: argparse.Namespace) -> int:
    relay: children.SignalRelay = getattr(args, "signals", None) or children.SignalRelay().install()
    try:
        return _run(args, relay)
    finally:
        relay.restore()


def _run(args: argparse.Namespace, relay: children.SignalRelay) -> int:
    from fixload.profile.config import ConfigError
    from fixload.profile.validation import format_verdict, load_run_config, validate_run
    from fixload.report.experiment import EMBEDDED_TARGET_ENV
    from fixload.report.summary import default_summary_path

    settings = config_files.apply(args)  # locust.conf & co., as Locust reads them; the command line wins
    if args.show_config:
        print(config_files.describe(settings))
        return ExitCode.OK
    # The one validation (fixload.profile.validation), for the target this run will use, before anything starts.
    verdict = validate_run(
        args.profile, args.multiplier, args.env_file, processes=max(1, args.workers), locustfile=args.locustfiles
    )
    if not verdict.ok:
        _say(verdict.message())
        return ExitCode.INVALID_CONFIG
    try:
        run_time = _run_time(args.run_time)
    except ConfigError as exc:
        _say(str(exc))
        return ExitCode.INVALID_CONFIG
    if args.validate_only:
        print(format_verdict(verdict))
        return ExitCode.OK
    args.run_time = run_time
    for warning in verdict.warnings:
        _say(f"warning: {warning}")
    assert verdict.config is not None
    env = verdict.config.env
    profile = verdict.profile_path
    summary = args.summary or str(default_summary_path())
    if relay.received:
        return stopped_before_start(Outcome(verdict.config, summary, verdict.config.target.base_url), relay)
    if not verdict.simulated:
        outcome = Outcome(verdict.config, summary, verdict.config.target.base_url)
        refused = _check_first(args, verdict.config)
        if refused is not None:
            return refused
        if relay.received:
            return stopped_before_start(outcome, relay)
        return supervise(locust_command(args, profile, summary, verdict.config.target.base_url), env, relay, outcome)

    from fixload.simulator.process import SimulatorProcess

    with SimulatorProcess(keep_env_file=False) as simulator:
        outcome = Outcome(verdict.config, summary, simulator.base_url)
        if relay.received:
            return stopped_before_start(outcome, relay)
        _say(f"no K6_BASE_URL set: running against the embedded simulator at {simulator.base_url}")
        child_env = {**os.environ, **simulator.env, EMBEDDED_TARGET_ENV: "embedded simulator"}
        config = verdict.config
        if args.check_first:
            try:
                config = load_run_config(
                    profile, args.multiplier, args.env_file, process_env=child_env, locustfile=args.locustfiles
                )
            except ConfigError as exc:
                _say(str(exc))
                return ExitCode.INVALID_CONFIG
        refused = _check_first(args, config)
        if refused is not None:
            return refused
        if relay.received:
            return stopped_before_start(outcome, relay)
        return supervise(locust_command(args, profile, summary, simulator.base_url), child_env, relay, outcome)


def _check_first(args: argparse.Namespace, config: Any) -> int | None:
    """`--check-first`: the check's exit code when it did not pass (no load is started), else None."""
    if not args.check_first:
        return None
    from fixload.cli.check import check_config

    report = check_config(config)
    if report.code == ExitCode.OK:
        print("fixload: check passed; starting the load")
        return None
    _say(f"check did not pass ({report.verdict}); the load was not started")
    return int(report.code)


def _run_time(value: str | None) -> str | None:
    """Locust's own reading of -t (a bare number is seconds); a bad one is bad input (104)."""
    if value is None:
        return None
    from fixload.profile.config import ConfigError

    with _unpatched():
        from locust.util.timespan import parse_timespan

    try:
        seconds = parse_timespan(value)
    except ValueError:
        raise ConfigError(f"--run-time: expected a time span such as 20s, 1m30s or 2h, got {value!r}") from None
    if seconds <= 0:
        raise ConfigError(f"--run-time: expected a positive time span, got {value!r}")
    return f"{seconds}s"
