"""Locust `LoadTestShape`s that run k6 scenarios.

Locust allows one shape per run, so a profile's scenarios all run under one composite shape,
`ProfileShape`: it asks Locust for every scenario's users at once (`fixed_count` per user class) and
leaves *when* each user iterates to the engine; it ends the run when the engine is done. The standalone
shapes (`ConstantArrivalRate`, `RampingArrivalRate`, `ConstantVUs`, `RampingVUs`) give any locustfile one
k6 executor for its own `ScenarioUser` classes (docs/design-notes.md#runtime-shape has an example).
Here too: which plan the profile options name now (`profile_plan`) and which user class runs each scenario.
Locust constructs the shape, so it finds the run's runtime with `runtime_of` (its one other caller: users).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from locust import LoadTestShape

from fixload.common.secrets import redact
from fixload.engine.engine import users_needed
from fixload.engine.fields import k6_name
from fixload.flows.user import runtime_of
from fixload.profile.binding import loaded_flows
from fixload.profile.config import ConfigError
from fixload.profile.limits import SPAWN_RATE_PER_PROCESS
from fixload.profile.plan import Plan, build_plan
from fixload.profile.schema import Profile
from fixload.profile.validation import load_run_config
from fixload.runtime.lifecycle import HaltReason
from fixload.runtime.state import END_GRACE, Runtime, TestState

logger = logging.getLogger("fixload")

SPAWN_RATE_PER_RUNNER = SPAWN_RATE_PER_PROCESS


def runtime_for_shape(environment: Any) -> Runtime:
    """The runtime `fixload.plugin` attached to the environment this shape runs in (`runtime_of`, typed)."""
    runtime = runtime_of(environment)
    if not isinstance(runtime, Runtime):
        raise TypeError(f"fixload: the environment's runtime is a {type(runtime).__name__}, not fixload's Runtime")
    return runtime


def profile_plan(runtime: Runtime) -> Plan:
    """The plan for the profile the options name now (the web UI may have changed them since start-up)."""
    environment = runtime.environment
    options = environment.parsed_options
    wanted = (getattr(options, "profile", None), getattr(options, "multiplier", None))
    if runtime.config is None or runtime.config_key != wanted:
        config = load_run_config(
            wanted[0] or None,
            wanted[1],
            getattr(options, "env_file", None),
            processes=max(1, runtime.role.worker_count()),
            flows=flow_classes(environment),
        )
        runtime.configure(config, wanted, runtime.thresholds)
    assert runtime.config is not None
    return runtime.config.plan


def flow_classes(environment: Any) -> dict[str, type]:
    """The loaded flow user classes by the scenario they were written for (fixload.profile.binding)."""
    return loaded_flows(environment.user_classes)


def scenario_user_classes(environment: Any, plan: Plan) -> dict[str, type]:
    """A user class per scenario: the flow's own, or a subclass named after a scenario that reuses a flow."""
    flows = flow_classes(environment)
    by_name = {cls.__name__: cls for cls in environment.user_classes}
    out: dict[str, type] = {}
    for name, scenario in plan.scenarios.items():
        base = flows.get(scenario.flow)
        if base is None:
            raise ConfigError(
                f"scenarios.{name}: no user class runs flow {scenario.flow!r}; "
                "load its locustfile (e.g. locust -f locustfiles/)"
            )
        if name == scenario.flow:
            out[name] = base
            continue
        derived = by_name.get(name)
        if derived is None:
            derived = type(name, (base,), {"scenario": name, "abstract": False, "_fixload_derived": True})
            environment.user_classes.append(derived)
        out[name] = derived
    return out


class ScenarioShape(LoadTestShape):
    """Spawns every scenario's VUs up front; stops when the engine says the scenarios are over."""

    abstract = True

    def plan(self, environment: Any) -> Plan:
        """The plan this shape runs; the plugin calls it when a test starts."""
        raise NotImplementedError

    def user_classes(self, environment: Any, plan: Plan) -> dict[str, type]:
        """The user class providing each scenario's VUs."""
        raise NotImplementedError

    def tick(self) -> tuple[int, float, list[type]] | None:
        runtime = runtime_for_shape(self.runner.environment)
        try:
            return self._tick(runtime)
        except Exception as exc:  # a shape that raises would leave Locust's run without an end: abort it
            what = redact(f"shape {type(self).__name__}: {type(exc).__name__}: {exc}")
            logger.error("fixload: engine error in %s; the run is aborted", what)
            runtime.record_crash(what)
            return None

    def _tick(self, runtime: Runtime) -> tuple[int, float, list[type]] | None:
        """Every scenario's users, until the scenarios are over."""
        environment = runtime.environment
        state = runtime.test
        if state is None:
            runtime.lifecycle.new_test()
            try:
                plan = self.plan(environment)
                classes = self.user_classes(environment, plan)
            except ConfigError as exc:
                logger.error("fixload: %s", exc)
                runtime.lifecycle.stop_sending(HaltReason.INVALID, str(exc))
                return None
            runners = max(1, runtime.role.worker_count())
            users = 0
            for name, cls in classes.items():
                cls.fixed_count = users_needed(plan.scenarios[name])
                users += cls.fixed_count
            state = TestState(plan, classes, users, spawn_rate=SPAWN_RATE_PER_RUNNER * runners)
            runtime.test = state
            return users, state.spawn_rate, list(classes.values())
        if state.finished or runtime.halted:
            return None
        if state.started and self._scenarios_over(runtime, state):
            state.finished = True
            return None
        return state.users, state.spawn_rate, list(state.classes.values())

    @staticmethod
    def _scenarios_over(runtime: Runtime, state: TestState) -> bool:
        if state.plan_time() >= state.plan.duration + END_GRACE:
            return True
        return runtime.role.scenarios_over(state)


class ProfileShape(ScenarioShape):
    """All scenarios of the profile given by `--profile` (or K6_PROFILE_PATH), on one clock."""

    def plan(self, environment: Any) -> Plan:
        return profile_plan(runtime_for_shape(environment))

    def user_classes(self, environment: Any, plan: Plan) -> dict[str, type]:
        return scenario_user_classes(environment, plan)


class _SingleScenario(ScenarioShape):
    """One k6 scenario from class attributes named like k6's options (snake_case)."""

    abstract = True
    executor: ClassVar[str] = ""
    user_class: ClassVar[type | None] = None
    start_time: ClassVar[str] = "0s"
    graceful_stop: ClassVar[str] = "30s"
    _options: ClassVar[tuple[str, ...]] = ()

    def scenario_name(self) -> str:
        assert self.user_class is not None, f"{type(self).__name__}.user_class must name a ScenarioUser class"
        return getattr(self.user_class, "scenario", "") or self.user_class.__name__

    def plan(self, environment: Any) -> Plan:
        options: dict[str, Any] = {"executor": self.executor, "startTime": self.start_time}
        options["gracefulStop"] = self.graceful_stop
        for name in self._options:
            value = getattr(self, name, None)
            if value is not None:
                options[k6_name(name)] = value
        profile = Profile.model_validate({"profile": type(self).__name__, "scenarios": {self.scenario_name(): options}})
        return build_plan(profile, source=f"{type(self).__module__}.{type(self).__name__}")

    def user_classes(self, environment: Any, plan: Plan) -> dict[str, type]:
        assert self.user_class is not None
        if not getattr(self.user_class, "scenario", ""):
            self.user_class.scenario = self.scenario_name()
        return {self.scenario_name(): self.user_class}


class ConstantArrivalRate(_SingleScenario):
    abstract = True
    executor = "constant-arrival-rate"
    rate: ClassVar[float] = 1
    time_unit: ClassVar[str] = "1s"
    duration: ClassVar[str] = "1m"
    pre_allocated_vus: ClassVar[int] = 1
    max_vus: ClassVar[int | None] = None
    _options = ("rate", "time_unit", "duration", "pre_allocated_vus", "max_vus")


class RampingArrivalRate(_SingleScenario):
    abstract = True
    executor = "ramping-arrival-rate"
    start_rate: ClassVar[float] = 0
    time_unit: ClassVar[str] = "1s"
    stages: ClassVar[list[dict[str, Any]]] = []
    pre_allocated_vus: ClassVar[int] = 1
    max_vus: ClassVar[int | None] = None
    _options = ("start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus")


class ConstantVUs(_SingleScenario):
    abstract = True
    executor = "constant-vus"
    vus: ClassVar[int] = 1
    duration: ClassVar[str] = "1m"
    _options = ("vus", "duration")


class RampingVUs(_SingleScenario):
    abstract = True
    executor = "ramping-vus"
    start_vus: ClassVar[int] = 1
    stages: ClassVar[list[dict[str, Any]]] = []
    graceful_ramp_down: ClassVar[str] = "30s"
    _options = ("start_vus", "stages", "graceful_ramp_down")


__all__ = [
    "ConstantArrivalRate",
    "ConstantVUs",
    "ProfileShape",
    "RampingArrivalRate",
    "RampingVUs",
    "ScenarioShape",
]
