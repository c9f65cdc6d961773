"""The executor registry (fixload.engine.registry): one module per k6 executor, and the profile's scenario
union, the plan and the engine all built from it (issue 24, point 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fixload.common.clock import PlanClock
from fixload.engine.base import ScenarioConfig, ScenarioExecutor, Share
from fixload.engine.engine import Engine
from fixload.engine.registry import CONFIGS, EXECUTORS, NAMES, RUNTIMES
from fixload.profile.limits import check_plan
from fixload.profile.plan import build_plan
from fixload.profile.schema import ProfileError, parse_profile

K6_EXECUTORS = (
    "constant-arrival-rate",
    "ramping-arrival-rate",
    "constant-vus",
    "ramping-vus",
    "per-vu-iterations",
    "shared-iterations",
)

# One scenario per executor, and what the plan says of it with the multiplier 2 (counts worked by hand)
SCENARIOS: dict[str, tuple[dict, dict]] = {
    "constant-arrival-rate": (
        {"rate": 5, "duration": "10s", "preAllocatedVUs": 2, "maxVUs": 3},
        # rate 10/s over 10 s from 0 s, one every 100 ms: 100 starts; the pool doubles
        {"duration": "10s", "expectedIterations": 100, "peakRatePerSecond": 10.0, "preAllocatedVUs": 4, "maxVUs": 6},
    ),
    "ramping-arrival-rate": (
        {"startRate": 1, "stages": [{"duration": "10s", "target": 5}], "preAllocatedVUs": 1},
        # 2/s → 10/s over 10 s: the area is 10 × (2 + 10) / 2 = 60
        {"duration": "10s", "expectedIterations": 60, "peakRatePerSecond": 10.0, "preAllocatedVUs": 2, "maxVUs": 2},
    ),
    "constant-vus": (
        {"vus": 3, "duration": "30s"},
        {"duration": "30s", "expectedIterations": None, "peakRatePerSecond": None, "preAllocatedVUs": 6, "maxVUs": 6},
    ),
    "ramping-vus": (
        {"startVUs": 1, "stages": [{"duration": "10s", "target": 4}, {"duration": "5s", "target": 0}]},
        {"duration": "15s", "expectedIterations": None, "peakRatePerSecond": None, "preAllocatedVUs": 2, "maxVUs": 8},
    ),
    "per-vu-iterations": (
        {"vus": 2, "iterations": 5, "maxDuration": "1m"},
        {"duration": "1m", "expectedIterations": 20, "peakRatePerSecond": None, "preAllocatedVUs": 4, "maxVUs": 4},
    ),
    "shared-iterations": (
        {"vus": 3, "iterations": 4},
        # 6 VUs need at least 6 iterations (k6: iterations >= vus); maxDuration defaults to 10m
        {"duration": "10m", "expectedIterations": 6, "peakRatePerSecond": None, "preAllocatedVUs": 6, "maxVUs": 6},
    ),
}


def _profile() -> dict:
    return {"scenarios": {kind: {"executor": kind, **options} for kind, (options, _) in SCENARIOS.items()}}


def test_the_registry_holds_the_six_k6_executors_by_name() -> None:
    assert NAMES == K6_EXECUTORS
    for config, runtime in EXECUTORS:
        assert issubclass(config, ScenarioConfig) and issubclass(runtime, ScenarioExecutor)
        assert CONFIGS[config.kind()] is config and RUNTIMES[config.kind()] is runtime
        # one module per executor: its options and its runtime side by side, named after it
        module = config.kind().replace("-", "_")
        assert config.__module__ == runtime.__module__ == f"fixload.engine.{module}"


def test_a_plan_for_all_six_executors_comes_from_the_registry() -> None:
    plan = build_plan(parse_profile(_profile()), multiplier=2)
    assert list(plan.scenarios) == list(K6_EXECUTORS)
    for kind, (_, expected) in SCENARIOS.items():
        planned = plan.scenarios[kind]
        assert type(planned.scenario) is CONFIGS[kind]
        assert planned.is_arrival_rate == kind.endswith("arrival-rate")
        shown = planned.as_dict()
        assert {key: shown[key] for key in expected} == expected, kind
    assert check_plan(plan).errors == ()


def test_the_engine_runs_each_scenario_on_its_executors_runtime() -> None:
    plan = build_plan(parse_profile(_profile()))
    engine = Engine(plan, Share(), None, clock=PlanClock(0.0))
    assert {name: type(executor) for name, executor in engine.executors.items()} == {
        kind: RUNTIMES[kind] for kind in K6_EXECUTORS
    }


def test_an_unknown_executor_is_named_against_the_registry() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile({"scenarios": {"s": {"executor": "constant-arrival"}}})
    assert caught.value.problems == [
        "scenarios.s.executor: unknown executor 'constant-arrival', expected one of "
        + ", ".join(K6_EXECUTORS)
        + '; did you mean "constant-arrival-rate"?'
    ]


def test_each_executor_bounds_its_own_fields_once_scaled() -> None:
    profile = _profile()
    profile["scenarios"]["constant-arrival-rate"] |= {"rate": 60_000}
    profile["scenarios"]["per-vu-iterations"] |= {"iterations": 30_000_000}
    errors = check_plan(build_plan(parse_profile(profile), multiplier=2)).errors
    assert errors == (
        "scenarios.constant-arrival-rate.rate: 120000 per timeUnit 1s (with the multiplier 2) is 120000"
        " iterations/s; the bound is 100000/s per scenario",
        "scenarios.per-vu-iterations.iterations: 120000000 iterations (with the multiplier 2)"
        "; the bound is 100000000 per scenario",
    )


def test_the_engine_package_does_not_import_the_profile() -> None:
    """The direction of issue 24: fixload.profile imports fixload.engine, never the other way round."""
    code = (
        "import sys, pkgutil, importlib, fixload.engine as e\n"
        "for m in pkgutil.iter_modules(e.__path__): importlib.import_module('fixload.engine.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('fixload.') and n.split('.')[1] not in"
        " ('engine', 'common', 'metrics')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
