"""`fixload capacity`: the highest load multiplier at which the profile is sustainable, and what limits it.

The search grows the multiplier geometrically from `--start` until a step fails or `--max`, then bisects
between the last sustainable and the first failing multiplier down to `--precision`. Each step is the
profile's scenarios held steady at their peak rates × the multiplier (arrival-rate scenarios become
constant-arrival-rate at their highest rate, VU scenarios constant-vus at their most VUs): a warm-up run,
then a steady run whose summary alone is judged (fixload.report.capacity), so thresholds hold or fail over
the steady window only. Both are ordinary `fixload run` Locust children (fixload.cli.run's command line and
supervision: signals forwarded, nothing left behind). Setup runs once, here, before the first step: its ids
go to every step as K6_ZONE_ID/K6_SERVICE_ID/K6_CAMPAIGN_ID, so a step's own setup sends nothing. The
generator is watched too: each Locust process's CPU is sampled (psutil, Locust's own dependency) during
the steady run. Exit 0 (a sustainable multiplier ≥ --start), 99 (even the first step failed), 104 (bad
input), 105 (interrupted; the summary has the steps done so far), 107 (setup failed).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from fixload.cli import run as runner
from fixload.common import children
from fixload.common.durations import DurationError, parse_duration
from fixload.common.exitcodes import ExitCode
from fixload.common.files import atomic_write
from fixload.common.secrets import mask_url
from fixload.report import capacity as report
from fixload.report.generator import CPU_BOUND_PERCENT, START_LAG_BOUND_MS

StepRunner = Callable[[float, str], "report.Step | None"]
"""Runs one step at a multiplier ("grow" or "bisect"); None when the search was interrupted."""


class CapacityError(Exception):
    """Bad input or a search that cannot go on: the message, and the exit code."""

    def __init__(self, message: str, code: int = ExitCode.INVALID_CONFIG) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`fixload run`'s profile, env, target, locustfiles and worker options, and the search's own."""
    runner.add_arguments(parser, plugin_options=False)
    for action in parser._actions:  # `fixload run`'s, but the search sets the load and the time: refused if given
        if action.dest in ("multiplier", "ui", "run_time"):
            action.help = argparse.SUPPRESS
    group = parser.add_argument_group("capacity search")
    group.add_argument("--start", help="first multiplier (default: the profile's defaultMultiplier, else 1)")
    group.add_argument("--max", default="32", help="highest multiplier tried (default 32)")
    group.add_argument("--growth", type=float, default=2.0, help="factor between growing steps (default 2)")
    group.add_argument("--precision", type=float, default=0.05, help="bisect until within this share (default 0.05)")
    group.add_argument("--warmup", default="10s", help="warm-up run before each step's steady window (0 = none)")
    group.add_argument("--step", default="30s", help="each step's steady window (default 30s)")
    group.add_argument("--per-scenario", metavar="NAME", help="vary this scenario's rate only; the others stay at ×1")
    group.add_argument(
        "--html-report", help="an HTML page: per scenario, what its thresholds judge against offered load"
    )
    group.add_argument("--keep-steps", metavar="DIR", help="keep each step's profile, summary and Locust output in DIR")
    group.add_argument(
        "--max-start-lag",
        default=f"{START_LAG_BOUND_MS:g}ms",
        help="start lag p95 above this: the generator is saturated",
    )
    group.add_argument(
        "--cpu-ceiling",
        type=float,
        default=CPU_BOUND_PERCENT,
        help="a Locust process at this %% of a core is saturated",
    )


def run(args: argparse.Namespace) -> int:
    relay: children.SignalRelay = getattr(args, "signals", None) or children.SignalRelay().install()
    try:
        return Search(args, relay).main()
    except CapacityError as exc:
        runner._say(str(exc))
        return exc.code
    finally:
        relay.restore()


def search(
    run_step: StepRunner, start: float, most: float, growth: float, precision: float, retries: int = 1
) -> list[report.Step]:
    """Grow from `start` by `growth` until a step fails or `most`, then bisect to `precision`. Pure: the steps
    come from `run_step`, which returns None to stop (interrupted). A step the generator failed is run again
    (`retries` times) before it counts: on a shared machine a generator's saturation may pass; a real one
    fails again. Every step run is kept, in order."""
    steps: list[report.Step] = []

    def attempt(multiplier: float, phase: str) -> report.Step | None:
        step = run_step(multiplier, phase)
        for _ in range(retries):
            if step is None or step.limited_by != "generator":
                break
            steps.append(step)
            step = run_step(multiplier, "retry")
        if step is not None:
            steps.append(step)
        return step

    good: float | None = None
    bad: float | None = None
    multiplier = start
    while True:
        step = attempt(multiplier, "grow")
        if step is None:
            return steps
        if not step.sustainable:
            bad = multiplier
            break
        good = multiplier
        if multiplier >= most:
            return steps
        multiplier = min(_tidy(multiplier * growth), most)
    while good is not None and (bad - good) / good > precision:
        multiplier = _tidy((good + bad) / 2)
        step = attempt(multiplier, "bisect")
        if step is None:
            break
        if step.sustainable:
            good = multiplier
        else:
            bad = multiplier
    return steps


def _tidy(value: float) -> float:
    """Four significant digits: multipliers a person can read and type again."""
    return float(f"{value:.4g}")


def outcome_block(steps: list[report.Step], start: float, most: float, interrupted: bool) -> dict[str, Any]:
    """`fixload.capacity`: the highest sustainable step, the lowest failing one and why, and every step."""
    final = list({s.multiplier: s for s in steps}.values())  # a multiplier run again: its last run counts
    good = max((s for s in final if s.sustainable), key=lambda s: s.multiplier, default=None)
    failing = [s for s in final if not s.sustainable and (good is None or s.multiplier > good.multiplier)]
    first = min(failing, key=lambda s: s.multiplier, default=None)
    block: dict[str, Any] = {
        "start": start,
        "max": most,
        "sustainable": None,
        "limitedBy": first.limited_by if first else None,
        "firstFailing": None,
        "advice": list(dict.fromkeys(first.advice)) if first and first.limited_by == "generator" else [],
        "interrupted": interrupted,
        "steps": [s.as_dict() for s in steps],
    }
    if good is not None:
        block["sustainable"] = {
            "multiplier": good.multiplier,
            "requestsPerSecond": good.requests_per_second,
            "scenarios": {
                name: {"rate": s.achieved, "requestRate": s.request_rate} for name, s in good.scenarios.items()
            },
        }
    if first is not None:
        block["firstFailing"] = {
            "multiplier": first.multiplier,
            "reasons": [*first.reasons, *first.generator],
        }
    return block


class Search:
    """One `fixload capacity` invocation: validation, the target, setup once, the steps, the reports."""

    def __init__(self, args: argparse.Namespace, relay: children.SignalRelay) -> None:
        self.args = args
        self.relay = relay
        self.started = datetime.now(UTC)
        self.keep = getattr(args, "keep_steps", None)
        if self.keep:
            Path(self.keep).mkdir(parents=True, exist_ok=True)
        self.workdir = Path(self.keep) if self.keep else Path(tempfile.mkdtemp(prefix="fixload-capacity-"))
        self.reference_p95: float | None = None
        self.count = 0

    # ------------------------------------------------------------------ input
    def _options(self) -> None:
        args = self.args
        problems = []
        for flag, given in (("--multiplier", args.multiplier), ("--ui", args.ui), ("--run-time", args.run_time)):
            if given:
                problems.append(f"{flag}: not an option of `fixload capacity` (the search sets the load and time)")
        try:
            self.warmup = parse_duration(args.warmup)
            self.step_s = parse_duration(args.step)
            self.lag_ms = parse_duration(args.max_start_lag) * 1000.0
        except DurationError as exc:
            problems.append(f"--warmup/--step/--max-start-lag: {exc}")
            self.warmup = self.step_s = self.lag_ms = 0.0
        if (self.warmup and self.warmup < 1) or self.step_s < 1:
            problems.append("--warmup/--step: a step and a warm-up last at least 1s (k6's shortest duration)")
        if not 0 < args.precision < 1:
            problems.append(f"--precision: expected a share in (0, 1), e.g. 0.05, got {args.precision}")
        if not args.growth > 1 or not math.isfinite(args.growth):
            problems.append(f"--growth: expected a factor above 1, got {args.growth}")
        if not 0 < args.cpu_ceiling <= 100:
            problems.append(f"--cpu-ceiling: expected a percentage in (0, 100], got {args.cpu_ceiling}")
        if problems:
            raise CapacityError("invalid capacity search:\n" + "\n".join(f"  - {p}" for p in problems))

    def _multipliers(self, profile: Any) -> tuple[float, float]:
        from fixload.profile.plan import MultiplierError, parse_multiplier

        try:
            start = (
                parse_multiplier(self.args.start, "--start")
                if self.args.start is not None
                else float(profile.settings.default_multiplier or 1.0)
            )
            most = parse_multiplier(self.args.max, "--max")
        except MultiplierError as exc:
            raise CapacityError(str(exc)) from None
        if most < start:
            raise CapacityError(f"--max: expected at least --start ({start:g}), got {most:g}")
        name = self.args.per_scenario
        if name is not None and name not in profile.scenarios:
            known = ", ".join(sorted(profile.scenarios))
            raise CapacityError(f"--per-scenario: {name!r} is not a scenario of the profile (known: {known})")
        return start, most

    # ------------------------------------------------------------------ the run
    def main(self) -> int:
        from fixload.profile.validation import validate_run

        args = self.args
        self._options()
        verdict = validate_run(
            args.profile, None, args.env_file, processes=max(1, args.workers), locustfile=args.locustfiles
        )
        if not verdict.ok:
            raise CapacityError(verdict.message())
        assert verdict.config is not None
        self.config = verdict.config
        self.profile = verdict.config.plan.profile
        self.profile_path = verdict.profile_path
        self.start, self.most = self._multipliers(self.profile)
        self.bounds = report.Bounds(start_lag_ms=self.lag_ms, cpu_percent=args.cpu_ceiling)
        if args.validate_only:
            print(f"fixload: capacity search of {self.profile_path}: ×{self.start:g} to ×{self.most:g}, valid")
            return ExitCode.OK
        try:
            if not verdict.simulated:
                self.base_url = verdict.config.target.base_url
                return self._search({**os.environ, **verdict.config.env})
            from fixload.simulator.process import SimulatorProcess

            with SimulatorProcess(keep_env_file=False) as simulator:
                runner._say(f"no K6_BASE_URL set: searching against the embedded simulator at {simulator.base_url}")
                self.base_url = simulator.base_url
                return self._search({**os.environ, **simulator.env})
        finally:
            if not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _search(self, env: dict[str, str]) -> int:
        from fixload.flows.fixtures import SetupError, provision
        from fixload.profile.config import ConfigError
        from fixload.profile.validation import load_run_config

        if self.relay.received:
            return self._finish([], interrupted=True)
        try:
            config = load_run_config(
                self.profile_path, "1", self.args.env_file, process_env=env, locustfile=self.args.locustfiles
            )
            refused = runner._check_first(self.args, config)  # --check-first: setup + one iteration per flow
            if refused is not None:
                return refused
            fixtures = provision(config)
        except ConfigError as exc:
            raise CapacityError(str(exc)) from None
        except SetupError as exc:
            raise CapacityError(f"setup failed, no step was run: {exc}", ExitCode.SETUP_FAILED) from None
        runner._say(f"setup once for the whole search: {fixtures}")
        self.env = {
            **env,
            "K6_ZONE_ID": fixtures["zoneId"],
            "K6_SERVICE_ID": fixtures["serviceId"],
            "K6_CAMPAIGN_ID": fixtures["campaignId"],
        }
        self.began = time.monotonic()
        steps = search(self._step, self.start, self.most, self.args.growth, self.args.precision)
        return self._finish(steps, interrupted=bool(self.relay.received))

    def _step(self, multiplier: float, phase: str) -> report.Step | None:
        if self.relay.received:  # a signal between two steps: start no other
            return None
        self.count += 1
        index = self.count
        runner._say(f"step {index}: ×{multiplier:g} ({phase}), warm-up {self.warmup:g}s then {self.step_s:g}s")
        steady = self._profile(multiplier, self.step_s, f"step-{index}")
        if self.warmup:
            code, _, _ = self._launch(self._profile(multiplier, self.warmup, f"warmup-{index}"), f"warmup-{index}")
            if self.relay.received:
                return None
            if code in (ExitCode.INVALID_CONFIG, ExitCode.SETUP_FAILED):
                raise CapacityError(f"the warm-up of ×{multiplier:g} ended with exit {code}: {self._log_tail()}", code)
        code, summary, cpu = self._launch(steady, f"step-{index}")
        if self.relay.received:
            return None
        if summary is None or code in (ExitCode.INVALID_CONFIG, ExitCode.SETUP_FAILED):
            raise CapacityError(f"the step at ×{multiplier:g} ended with exit {code}: {self._log_tail()}", code or 1)
        step = report.judge(
            summary,
            multiplier,
            phase,
            self.step_s,
            exit_code=code,
            cpu_percent=cpu,
            reference_p95_ms=self.reference_p95,
            bounds=self.bounds,
            workers=self.args.workers,
        )
        if step.sustainable and step.http_p95_ms is not None:
            self.reference_p95 = min(step.http_p95_ms, self.reference_p95 or math.inf)
        print(report.step_table([step]).replace("step 1 ", f"step {index} ", 1), flush=True)
        return step

    def _profile(self, multiplier: float, seconds: float, name: str) -> str:
        """The profile held steady at ×multiplier (one scenario only with --per-scenario), as a file of ours."""
        from fixload.profile.plan import MultiplierError

        try:
            data = steady_profile(self.profile, multiplier, seconds, self.args.per_scenario)
        except MultiplierError as exc:
            raise CapacityError(f"×{multiplier:g}: {exc}") from None
        path = self.workdir / f"{name}.profile.json"
        atomic_write(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
        return str(path)

    def _launch(self, profile: str, name: str) -> tuple[int, dict[str, Any] | None, float | None]:
        """One Locust child (fixload run's command line and supervision): exit code, its summary, its CPU."""
        args = argparse.Namespace(**vars(self.args))
        args.multiplier, args.run_time, args.ui = "1", None, False
        summary = self.workdir / f"{name}.json"
        command = runner.locust_command(args, profile, str(summary), self.base_url)
        outcome = runner.Outcome(self.config, str(summary), self.base_url)
        sampler = CpuSampler(self.relay)
        sampler.start()
        with open(self.workdir / "steps.log", "ab") as log:
            log.write(f"--- {name}\n".encode())
            log.flush()
            code = runner.supervise(command, self.env, self.relay, outcome, output=log)
        sampler.stop()
        try:
            data = orjson.loads(summary.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return code, None, None
        return code, data, sampler.ceiling(data.get("fixload", {}))

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.workdir / "steps.log").read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n" + "\n".join(text.splitlines()[-lines:])

    def _finish(self, steps: list[report.Step], interrupted: bool) -> int:
        block = outcome_block(steps, self.start, self.most, interrupted)
        block.update(
            perScenario=self.args.per_scenario,
            warmupSeconds=self.warmup,
            stepSeconds=self.step_s,
            precision=self.args.precision,
            growth=self.args.growth,
            workers=self.args.workers,
            searchSeconds=round(time.monotonic() - getattr(self, "began", time.monotonic()), 1),
        )
        if interrupted:
            code = ExitCode.INTERRUPTED
        elif block["sustainable"] is not None:
            code = ExitCode.OK
        else:
            code = ExitCode.THRESHOLDS_FAILED
        thresholds = [
            {"metric": metric, "expression": entry if isinstance(entry, str) else entry.get("threshold", "")}
            for metric, entries in self.profile.model_dump(by_alias=True, mode="json")["thresholds"].items()
            for entry in entries
        ]
        meta = {
            "version": _version(),
            "command": "capacity",
            "profile": self.profile.profile,
            "target": mask_url(getattr(self, "base_url", "")),
            "startedAt": self.started.isoformat().replace("+00:00", "Z"),
            "endedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "status": "interrupted" if interrupted else ("passed" if code == ExitCode.OK else "not_sustainable"),
            "exitCode": int(code),
            "thresholds": thresholds,
            "capacity": block,
        }
        print(report.verdict_line(block), flush=True)
        from fixload.report.summary import default_summary_path

        path = Path(self.args.summary or default_summary_path())
        atomic_write(path, orjson.dumps({"fixload": meta}, option=orjson.OPT_INDENT_2))
        runner._say(f"capacity summary: {path}")
        if self.args.html_report:
            from fixload.report.html import write_atomic

            written = write_atomic(self.args.html_report, report.html_report(block, meta))
            runner._say(f"capacity report: {written}")
        return code


def _version() -> str:
    from fixload import __version__

    return str(__version__)


def steady_profile(profile: Any, multiplier: float, seconds: float, only: str | None = None) -> dict[str, Any]:
    """The profile's JSON with every scenario held at its peak for `seconds` (from t=0, gracefulStop at most 5 s),
    scaled by `multiplier` by the multiplier's own rules (fixload.profile.plan), all or only `only`."""
    from fixload.profile.schema import parse_profile

    data = profile.model_dump(by_alias=True, mode="json")
    data["settings"].pop("defaultMultiplier", None)
    for name, raw in data["scenarios"].items():
        data["scenarios"][name] = _steady(raw, seconds)
    held = parse_profile(data)
    for name, scenario in held.scenarios.items():
        if only is None or name == only:
            scaled = scenario.scaled(multiplier)
            data["scenarios"][name] = scaled.model_dump(by_alias=True, mode="json")
    return data


def _steady(raw: dict[str, Any], seconds: float) -> dict[str, Any]:
    keep = {k: raw[k] for k in ("tags", "env", "exec") if raw.get(k)}
    keep["gracefulStop"] = f"{min(parse_duration(raw.get('gracefulStop', '30s')), 5.0):g}s"
    keep["duration"] = f"{seconds:g}s"
    executor = raw["executor"]
    if executor in ("constant-arrival-rate", "ramping-arrival-rate"):
        peak = (
            raw["rate"]
            if executor == "constant-arrival-rate"
            else max([raw.get("startRate", 0), *(s["target"] for s in raw["stages"])])
        )
        pool = {k: raw[k] for k in ("preAllocatedVUs", "maxVUs") if raw.get(k) is not None}
        return {
            "executor": "constant-arrival-rate",
            "rate": peak,
            "timeUnit": raw.get("timeUnit", "1s"),
            **pool,
            **keep,
        }
    if executor == "ramping-vus":
        vus = max([raw.get("startVUs", 1), *(int(s["target"]) for s in raw["stages"])])
    else:
        vus = raw.get("vus", 1)
    return {"executor": "constant-vus", "vus": max(1, vus), **keep}


class CpuSampler:
    """Each Locust process's CPU (% of one core) every half second while a step's child runs (psutil)."""

    def __init__(self, relay: children.SignalRelay, interval: float = 0.5) -> None:
        self.relay = relay
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixload-cpu", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psutil

        watched: dict[int, Any] = {}
        while not self._stop.wait(self.interval):
            child = self.relay.child
            if child is None:
                continue
            try:
                root = psutil.Process(child.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            now = time.time()
            for proc in procs:
                try:
                    if proc.pid not in watched:
                        watched[proc.pid] = proc
                        proc.cpu_percent(None)  # the first call only starts the count
                        continue
                    self.samples.append((now, proc.pid, watched[proc.pid].cpu_percent(None)))
                except psutil.Error:
                    continue

    def ceiling(self, fx: dict[str, Any]) -> float | None:
        """The busiest process's mean CPU over the test (after its first second), None without samples."""
        try:
            began = datetime.fromisoformat(fx["startedAt"].replace("Z", "+00:00")).timestamp() + 1.0
            ended = datetime.fromisoformat(fx["endedAt"].replace("Z", "+00:00")).timestamp()
        except (KeyError, AttributeError, ValueError):
            return None
        per: dict[int, list[float]] = {}
        for at, pid, percent in self.samples:
            if began <= at <= ended:
                per.setdefault(pid, []).append(percent)
        means = [sum(v) / len(v) for v in per.values() if len(v) >= 2]
        return max(means) if means else None
