"""The one validation of a run, before any traffic: every entry point calls `validate_run` and obeys it.

`fixload validate`, `fixload run` (and `--validate-only`), `locust … --profile` (the plugin's init),
`fixload check` and the web UI's START all come here, so they give one verdict for the same inputs:

- the profile (schema, every field's bound: fixload.profile.limits),
- the environment for the target the run would use: with `simulator=None` (the wrapper's rule) no
  `K6_BASE_URL` means the embedded simulator, which provides the identities and tokens itself, and the
  verdict says so; Locust itself never starts a simulator (`simulator=False`),
- the multiplier (`--multiplier`, `K6_LOAD_MULTIPLIER` as text or number),
- the plan's bounds (rates per second, VUs per process, iterations),
- the thresholds: k6's grammar, every selector, and every metric name against the metrics the loaded flows
  define (k6: `no metric name "X" found`).

Every problem is collected; `Verdict.message()` lists them all, one line each, and a caller exits 104
(`ExitCode.INVALID_CONFIG`) without sending anything. `Verdict.raise_for_problems()` does that as a
`ValidationFailed` (a `ConfigError`) for callers that prefer an exception.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixload.common.secrets import mask_url, redact
from fixload.metrics.registry import Registry, define_run_metrics
from fixload.metrics.thresholds import Selector, ThresholdSet, location_of
from fixload.profile.binding import binding_problems, import_flows, locustfiles_path, metric_flows
from fixload.profile.config import ConfigError, RunConfig, default_profile_path
from fixload.profile.environment import EnvError, load_environment, missing_required, request_timeout, resolve_target
from fixload.profile.limits import check_plan
from fixload.profile.plan import MultiplierError, build_plan, parse_multiplier, resolve_multiplier
from fixload.profile.schema import Profile, ProfileError, parse_profile, read_profile_data, threshold_key_path

SIMULATOR_PROVIDES: tuple[str, ...] = (
    "K6_BASE_URL",
    "K6_COMPANY_ID",
    "K6_PROVIDER_ID",
    "K6_CUSTOMER_ID",
    "K6_USER_TOKEN",
    "K6_PROVIDER_TOKEN",
    "K6_ADMIN_TOKEN",
    "K6_COMPANY_TOKEN",
)
"""What `fixload serve --env-out` writes (fixload/simulator/serve.py `env_lines`): a simulated run has them."""


class ValidationFailed(ConfigError):
    """A verdict with problems, as an exception: `verdict` holds every one."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.message())


@dataclass(frozen=True)
class Verdict:
    """What `validate_run` found. `ok` → `config` and `thresholds` are set and the run may start."""

    profile_path: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    simulated: bool = False
    config: RunConfig | None = field(default=None, repr=False)
    thresholds: ThresholdSet | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """Every problem, one `  - ` line each (secrets masked): what the user sees before exit 104."""
        if self.ok:
            return ""
        count = len(self.problems)
        head = f"invalid run configuration ({self.profile_path}): {count} problem{'s' if count > 1 else ''}"
        return redact(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))

    def raise_for_problems(self) -> Verdict:
        if not self.ok:
            raise ValidationFailed(self)
        return self


def run_registry(flows: Iterable[str]) -> Registry:
    """The metrics a run of these flows defines (k6's built-ins, fixload's own, each flow's three)."""
    return define_run_metrics(Registry(), flows)


def validate_run(
    profile: str | Path | None = None,
    multiplier: str | float | None = None,
    env_file: str | Path | None = None,
    *,
    simulator: bool | None = None,
    processes: int | None = 1,
    registry: Registry | None = None,
    process_env: Mapping[str, str] | None = None,
    flows: Mapping[str, type] | None = None,
    locustfile: str | None = None,
) -> Verdict:
    """Check everything a run needs, collecting every problem; never raises for bad input.

    profile: the profile path (default K6_PROFILE_PATH, else profiles/baseline.json).
    multiplier: `--multiplier` as given (text or number; None or "" = not given).
    simulator: None = the wrapper's rule (no K6_BASE_URL → the embedded simulator); False = the target
        is the configured one (Locust, the web UI); True = the simulator whatever K6_BASE_URL says.
    processes: the Locust processes that will share the load (1, or the number of workers); None when
        unknown (a worker runs its share only), which skips the per-process ceilings.
    registry: the metrics the thresholds are checked against (default: those the loaded flows define).
    flows: the loaded flows by scenario (fixload.profile.binding.loaded_flows of Locust's user classes); None =
        import `locustfile` (default `locustfiles/`) as `locust -f` would and use its classes.
    """
    problems: list[str] = []
    try:
        env = load_environment(env_file, process_env)
    except EnvError as exc:
        env = dict(os.environ if process_env is None else process_env)
        problems.append(str(exc))
    path = str(profile or default_profile_path(env))
    simulated = not env.get("K6_BASE_URL", "").strip() if simulator is None else simulator

    parsed: Profile | None = None
    data: Any = None
    profile_problems: list[str] = []
    try:
        data = read_profile_data(path)
        parsed = parse_profile(data, path)
    except ProfileError as exc:
        profile_problems = list(exc.problems)
    problems += profile_problems

    # The multiplier, even when the profile is broken (its own default needs the profile).
    value, source = 1.0, "default"
    try:
        if parsed is not None:
            value, source = resolve_multiplier(multiplier, env, parsed)
        elif multiplier is not None and str(multiplier).strip():
            parse_multiplier(multiplier, "--multiplier")
        elif env.get("K6_LOAD_MULTIPLIER", "").strip():
            parse_multiplier(env["K6_LOAD_MULTIPLIER"], "K6_LOAD_MULTIPLIER")
    except MultiplierError as exc:
        problems.append(str(exc))
        parsed_multiplier_ok = False
    else:
        parsed_multiplier_ok = True

    if flows is None:
        try:
            flows = import_flows(locustfile)
        except Exception as exc:  # a locustfile that does not import: the run could not start either
            problems.append(
                f"locustfiles ({locustfiles_path(locustfile)}): cannot be loaded: {type(exc).__name__}: {exc}"
            )
            flows = {}
    if parsed is not None:
        problems += binding_problems(parsed, flows)
        problems += _environment_problems(parsed, env, simulated)

    thresholds = _threshold_block(data)
    checked, threshold_problems = ThresholdSet.check(
        thresholds,
        registry if registry is not None else run_registry(metric_flows(flows)),
        skip=[key for key in (thresholds or {}) if _reported(key, profile_problems)],
    )
    problems += [str(p) for p in threshold_problems]
    warnings: list[str] = []
    if parsed is not None:
        unknown_scenarios, unknown_tags = selector_problems(parsed, checked.declared if checked else {})
        problems += unknown_scenarios
        warnings += unknown_tags

    config = None
    if parsed is not None and parsed_multiplier_ok:
        try:
            plan = build_plan(parsed, value, source, path)
        except MultiplierError as exc:
            problems.append(str(exc))
        else:
            bounds = check_plan(plan, processes)
            problems += bounds.errors
            warnings += bounds.warnings
            if not problems:
                config = RunConfig(
                    plan=plan, target=resolve_target(parsed, env), env=env, metric_flows=metric_flows(flows)
                )
    return Verdict(
        profile_path=path,
        problems=tuple(problems),
        warnings=tuple(warnings),
        simulated=simulated,
        config=config,
        thresholds=checked if not problems else None,
    )


def selector_problems(profile: Profile, selectors: Mapping[str, Selector]) -> tuple[list[str], list[str]]:
    """Selectors naming what the profile does not define, with a did-you-mean: a scenario it lacks is a
    problem (its threshold could only ever judge no samples); a value of one of its scenarios' own tags
    (`tags`) that no scenario sets is a warning (a flow may set tags of its own at run time)."""
    scenarios = sorted(profile.scenarios)
    defined: dict[str, set[str]] = {}
    for scenario in profile.scenarios.values():
        for key, value in scenario.tags.items():
            defined.setdefault(key, set()).add(value)
    problems: list[str] = []
    warnings: list[str] = []
    for key, selector in selectors.items():
        for name, value in selector.tags:
            if name == "scenario" and value not in profile.scenarios:
                hint = difflib.get_close_matches(value, scenarios, n=1)
                extra = f'; did you mean "{hint[0]}"?' if hint else ""
                problems.append(
                    f'{location_of(key)}: no scenario "{value}" in this profile{extra} '
                    f"(expected one of {', '.join(scenarios)})"
                )
            elif name != "scenario" and name in defined and value not in defined[name]:
                hint = difflib.get_close_matches(value, sorted(defined[name]), n=1)
                extra = f'; did you mean "{hint[0]}"?' if hint else ""
                warnings.append(
                    f'{location_of(key)}: no scenario of this profile sets tag {name}="{value}"{extra}; '
                    "its threshold sees samples only if a flow sets that tag itself"
                )
    return problems, warnings


def _environment_problems(profile: Profile, env: Mapping[str, str], simulated: bool) -> list[str]:
    provided = set(SIMULATOR_PROVIDES) if simulated else set()
    missing = [name for name in missing_required(profile, env) if name not in provided]
    problems = []
    try:
        request_timeout(env)
    except ValueError as exc:
        problems.append(str(exc))
    if missing:
        plural = "s" if len(missing) > 1 else ""
        problems.append(
            f"missing required environment variable{plural} (requiredEnv): {', '.join(missing)}. Set them in the "
            "environment or a .env file (fixload serve --env-out .env writes one)"
            + ("" if simulated else ", or unset K6_BASE_URL and use fixload run's embedded simulator")
            + "."
        )
    return problems


def _threshold_block(data: Any) -> Mapping[str, Any] | None:
    if isinstance(data, dict) and isinstance(data.get("thresholds"), dict):
        return data["thresholds"]
    return None


def _reported(key: str, profile_problems: list[str]) -> bool:
    """Whether the profile schema already reported this threshold key (so it is not reported twice)."""
    where = threshold_key_path(key)
    return any(p.startswith((where + ":", where + "[", where + ".")) for p in profile_problems)


def format_verdict(verdict: Verdict) -> str:
    """A valid run's plan as people read it before they send load, with its target and warnings."""
    from fixload.profile.plan import format_plan

    assert verdict.config is not None
    lines = [format_plan(verdict.config.plan), "", f"target    {target_description(verdict)}"]
    lines += [f"warning: {w}" for w in verdict.warnings]
    return "\n".join(lines)


def verdict_as_dict(verdict: Verdict) -> dict[str, Any]:
    """`fixload validate --json`: the plan, the target and the warnings."""
    assert verdict.config is not None
    return {**verdict.config.plan.as_dict(), "target": target_description(verdict), "warnings": list(verdict.warnings)}


def target_description(verdict: Verdict) -> str:
    if verdict.simulated:
        return "the embedded simulator (no K6_BASE_URL set: fixload run starts it and uses its identities and tokens)"
    assert verdict.config is not None
    return mask_url(verdict.config.target.base_url)


def load_run_config(
    profile_path: str | Path | None = None,
    multiplier: str | float | None = None,
    env_file: str | Path | None = None,
    check_env: bool = True,
    process_env: Mapping[str, str] | None = None,
    processes: int | None = 1,
    flows: Mapping[str, type] | None = None,
    locustfile: str | None = None,
) -> RunConfig:
    """The config of a valid run, or ConfigError listing every problem (fixload.profile.validation.validate_run).

    check_env=False: the identities come from the embedded simulator (the wrapper's rule). `process_env`
    stands for the process environment (default `os.environ`): `fixload check` adds the embedded
    simulator's identities to it, as `fixload run` gives them to Locust's process. `processes`: how many
    Locust processes share the load (the per-process ceilings of fixload.profile.limits). `flows`/`locustfile`: the
    loaded flows, or the locustfiles to import for them (fixload.profile.binding)."""
    verdict = validate_run(
        profile_path,
        multiplier,
        env_file,
        simulator=not check_env,
        processes=processes,
        process_env=process_env,
        flows=flows,
        locustfile=locustfile,
    )
    verdict.raise_for_problems()
    assert verdict.config is not None
    return verdict.config
