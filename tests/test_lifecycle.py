"""The run lifecycle's transition table, the paths a master, a local runner and a worker take through it,
and the layering contract (import-linter) that keeps the modules around it acyclic."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from fixload.runtime.lifecycle import TRANSITIONS, HaltReason, LifecycleError, RunLifecycle, State

REPO = Path(__file__).resolve().parents[1]

MASTER_PATH = [State.CONFIGURED, State.PROVISIONING, State.WAITING, State.RUNNING, State.FINALIZING, State.DONE]
WORKER_PATH = [State.CONFIGURED, State.WAITING, State.RUNNING, State.CONFIGURED]


def _at(state: State) -> RunLifecycle:
    lifecycle = RunLifecycle()
    lifecycle.state = state
    return lifecycle


def test_every_state_has_a_row_and_only_done_returns_to_configured_from_the_end():
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.FINALIZING] == {State.DONE}
    assert TRANSITIONS[State.DONE] == {State.CONFIGURED}
    assert all(State.NEW not in allowed for allowed in TRANSITIONS.values())


@pytest.mark.parametrize(("old", "new"), list(itertools.product(State, State)))
def test_transition_table_is_enforced(old: State, new: State):
    lifecycle = _at(old)
    if new in TRANSITIONS[old]:
        lifecycle.to(new)
        assert lifecycle.state is new
        assert lifecycle.history[-1] is old
    else:
        with pytest.raises(LifecycleError, match=f"{old} → {new}"):
            lifecycle.to(new)
        assert lifecycle.state is old


def test_master_path_and_a_second_test_from_the_web_ui():
    lifecycle = RunLifecycle()
    assert not lifecycle.driven
    for state in MASTER_PATH:
        lifecycle.to(state)
    assert lifecycle.ending and lifecycle.driven
    lifecycle.summary = {"state": "first"}
    lifecycle.stop_sending(HaltReason.ABORTED, "threshold crossed")
    lifecycle.interrupted_by = "SIGINT"
    lifecycle.new_test()
    assert lifecycle.state is State.CONFIGURED
    assert lifecycle.halt is None and lifecycle.summary is None and not lifecycle.interrupted_by
    assert not lifecycle.ready.is_set() and not lifecycle.test_started


def test_worker_path_users_wait_until_running():
    lifecycle = RunLifecycle()
    lifecycle.to(WORKER_PATH[0])
    lifecycle.to(State.WAITING)
    assert not lifecycle.ready.is_set()
    lifecycle.to(State.RUNNING)
    assert lifecycle.ready.is_set()
    lifecycle.to(State.CONFIGURED)  # the worker's test stopped; it waits for the next share
    lifecycle.to(State.FINALIZING)  # quitting: its last report goes to the master
    lifecycle.to(State.DONE)


def test_halt_wakes_waiting_users_and_the_first_reason_stands():
    lifecycle = _at(State.PROVISIONING)
    assert not lifecycle.ready.is_set()
    lifecycle.stop_sending(HaltReason.SETUP_FAILED, "create zone — status 500")
    lifecycle.stop_sending(HaltReason.ABORTED, "later")
    assert lifecycle.halted and lifecycle.ready.is_set()
    assert lifecycle.halt is not None
    assert (lifecycle.halt.reason, lifecycle.halt.detail) == (HaltReason.SETUP_FAILED, "create zone — status 500")


def test_ensure_is_idempotent():
    lifecycle = _at(State.RUNNING)
    lifecycle.ensure(State.RUNNING)
    assert lifecycle.history == []
    lifecycle.ensure(State.FINALIZING)
    assert lifecycle.state is State.FINALIZING


def test_no_string_flags_left_in_the_package():
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in (REPO / "fixload").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "extra[" in line
    ]
    assert offenders == []


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (test extra)")
def test_import_layering_contract_is_kept():
    done = subprocess.run(
        ["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
