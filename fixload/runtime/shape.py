"""Locust `LoadTestShape`s that run k6 scenarios.

Locust allows one shape per run, so a profile's scenarios all run under one composite shape,
`ProfileShape`: it asks Locust for every scenario's users at once (`fixed_count` per user class) and
leaves *when* each user iterates to the engine; it ends the run when the engine is done. The standalone
shapes (`ConstantArrivalRate`, `RampingArrivalRate`, `ConstantVUs`, `RampingVUs`) give any locustfile one
k6 executor for its own `ScenarioUser` classes (docs/design-notes.md#runtime-shape has an example).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from locust import LoadTestShape

from fixload.profile.plan import Plan, build_plan
from fixload.profile.schema import Profile


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
        from fixload.runtime import coordinator

        try:
            return coordinator.tick(self)
        except Exception as exc:  # a shape that raises would leave Locust's run without an end: abort it
            from fixload.common.secrets import redact
            from fixload.runtime.state import run_for

            what = redact(f"shape {type(self).__name__}: {type(exc).__name__}: {exc}")
            logging.getLogger("fixload").error("fixload: engine error in %s; the run is aborted", what)
            coordinator.record_crash(run_for(self.runner.environment), what)
            return None


class ProfileShape(ScenarioShape):
    """All scenarios of the profile given by `--profile` (or K6_PROFILE_PATH), on one clock."""

    def plan(self, environment: Any) -> Plan:
        from fixload.runtime import coordinator

        return coordinator.profile_plan(environment)

    def user_classes(self, environment: Any, plan: Plan) -> dict[str, type]:
        from fixload.runtime import coordinator

        return coordinator.scenario_user_classes(environment, plan)


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
        from fixload.engine.fields import k6_name

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
