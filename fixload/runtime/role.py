"""Which role this process plays, chosen once at init: the one place that asks which Locust runner it is on.

The interface and the parts every role shares are `fixload.runtime.state.Role` (the runtime holds its role,
so the interface sits with it); the roles are `local.LocalRole`, `master.MasterRole` and `worker.WorkerRole`.
"""

from __future__ import annotations

from typing import Any

from locust.runners import MasterRunner, WorkerRunner

from fixload.runtime.local import LocalRole
from fixload.runtime.master import MasterRole
from fixload.runtime.state import Role, Runtime
from fixload.runtime.worker import WorkerRole


def role_for(runtime: Runtime, runner: Any) -> Role:
    """The role of the process `runner` runs (a runner-less environment, the library API, runs as local)."""
    if isinstance(runner, MasterRunner):
        return MasterRole(runtime, runner)
    if isinstance(runner, WorkerRunner):
        return WorkerRole(runtime, runner)
    return LocalRole(runtime, runner)
