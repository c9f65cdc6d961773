"""`fixload run`: the original team's `run-load-tests` wrapper, on Locust.

It validates first (profile, environment, thresholds: exit 104 and nothing sent), then runs Locust
headless (or with its web UI), locally or as a master with N local workers (Locust's own
`--processes`), and exits with Locust's exit code, which fixload's plugin sets to k6's numbers.
Without `K6_BASE_URL` it starts the embedded simulator on a free loopback port, takes its identities
and tokens, and stops it afterwards, so a fresh machine needs nothing else.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from fixload.config import ConfigError, RunConfig, load_run_config
from fixload.exitcodes import ExitCode
from fixload.secrets import mask_url
from fixload.summary import default_summary_path
from fixload.validation import format_verdict, validate_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--workers", type=int, default=0, help="run a master and N local worker processes")
    parser.add_argument("--locustfiles", help="locustfile(s) to load (default: the repository's locustfiles/)")
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: arguments passed to Locust as-is")


def locustfiles_path() -> str:
    """`./locustfiles` when run from a checkout, else the copy installed with the package."""
    local = Path("locustfiles")
    if local.is_dir():
        return str(local)
    import locustfiles

    return str(Path(locustfiles.__file__).parent)


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
    if args.ui:
        command += ["--web-host", "127.0.0.1"]
    else:
        command += ["--headless", "--only-summary"]
    if args.workers > 0:
        # Locust forks the workers; they reach the master on loopback at a port no other run is using.
        port = str(free_port())
        command += ["--processes", str(args.workers), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    extra = list(args.locust_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return command + extra


def _run_locust(command: list[str], env: dict[str, str]) -> int:
    """Run Locust in the foreground; pass SIGTERM on so it writes its summary; return its exit code."""
    child = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the terminal sent SIGINT to both of us; Locust handles its own
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    # The one validation (fixload.validation), for the target this run will use, before anything starts.
    verdict = validate_run(args.profile, args.multiplier, args.env_file, processes=max(1, args.workers))
    if not verdict.ok:
        print(f"fixload: {verdict.message()}", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    if args.validate_only:
        print(format_verdict(verdict))
        return ExitCode.OK
    for warning in verdict.warnings:
        print(f"fixload: warning: {warning}", file=sys.stderr)
    assert verdict.config is not None
    env = verdict.config.env
    profile = verdict.profile_path
    summary = args.summary or str(default_summary_path())
    if not verdict.simulated:
        refused = _check_first(args, verdict.config)
        if refused is not None:
            return refused
        return _run_locust(locust_command(args, profile, summary, verdict.config.target.base_url), env)

    from fixload.simulator.process import SimulatorProcess

    with SimulatorProcess() as simulator:
        print(f"fixload: no K6_BASE_URL set: running against the embedded simulator at {simulator.base_url}")
        child_env = {**os.environ, **simulator.env}
        config = verdict.config
        if args.check_first:
            try:
                config = load_run_config(profile, args.multiplier, args.env_file, process_env=child_env)
            except ConfigError as exc:
                print(f"fixload: {exc}", file=sys.stderr)
                return ExitCode.INVALID_CONFIG
        refused = _check_first(args, config)
        if refused is not None:
            return refused
        return _run_locust(locust_command(args, profile, summary, simulator.base_url), child_env)


def _check_first(args: argparse.Namespace, config: RunConfig) -> int | None:
    """`--check-first`: the check's exit code when it did not pass (no load is started), else None."""
    if not args.check_first:
        return None
    from fixload.check import check_config

    report = check_config(config)
    if report.code == ExitCode.OK:
        print("fixload: check passed; starting the load")
        return None
    print(f"fixload: check did not pass ({report.verdict}); the load was not started", file=sys.stderr)
    return int(report.code)
