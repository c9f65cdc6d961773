"""The six k6 executors by their k6 names: each one's options model and runtime class, from its module.

fixload.profile builds the profile's scenario union (discriminated on `executor`) from `ScenarioOptions`
and the plan from the models' methods; fixload.engine.engine starts each scenario's `RUNTIMES` class.
Adding an executor is one module and one line here.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from fixload.engine.base import ScenarioConfig, ScenarioExecutor
from fixload.engine.constant_arrival_rate import ConstantArrivalRate, ConstantArrivalRateExecutor
from fixload.engine.constant_vus import ConstantVUs, ConstantVUsExecutor
from fixload.engine.per_vu_iterations import PerVUIterations, PerVUIterationsExecutor
from fixload.engine.ramping_arrival_rate import RampingArrivalRate, RampingArrivalRateExecutor
from fixload.engine.ramping_vus import RampingVUs, RampingVUsExecutor
from fixload.engine.shared_iterations import SharedIterations, SharedIterationsExecutor

EXECUTORS: tuple[tuple[type[ScenarioConfig], type[ScenarioExecutor]], ...] = (
    (ConstantArrivalRate, ConstantArrivalRateExecutor),
    (RampingArrivalRate, RampingArrivalRateExecutor),
    (ConstantVUs, ConstantVUsExecutor),
    (RampingVUs, RampingVUsExecutor),
    (PerVUIterations, PerVUIterationsExecutor),
    (SharedIterations, SharedIterationsExecutor),
)
"""(options model, runtime class) of each executor, in the order messages list them."""
CONFIGS: dict[str, type[ScenarioConfig]] = {config.kind(): config for config, _ in EXECUTORS}
RUNTIMES: dict[str, type[ScenarioExecutor]] = {config.kind(): runtime for config, runtime in EXECUTORS}
NAMES: tuple[str, ...] = tuple(CONFIGS)
ScenarioOptions = Annotated[Union[tuple(CONFIGS.values())], Field(discriminator="executor")]  # noqa: UP007
"""One scenario of a profile: the model its `executor` names."""
