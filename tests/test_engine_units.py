"""Engine pieces without Locust (issue 5): ramping-vus steps as k6 computes them, shares, retire."""

from __future__ import annotations

import pytest

from fixload.engine.base import Share
from fixload.engine.fields import Stage
from fixload.engine.schedules import ramping_vus_at


def k6_steps(start: int, stages: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """k6's `getRawExecutionSteps` (unsegmented), transcribed: (time offset, VUs) whenever the count changes."""
    steps = [(0.0, start)]
    end = 0.0
    current = start
    for duration, target in stages:
        end += duration
        diff = target - current
        if diff == 0:
            continue
        if duration == 0:
            steps.append((end, target))
        elif diff < 0:
            for unscaled in range(current, target, -1):
                steps.append((end - duration * (target - unscaled + 1) / diff, unscaled - 1))
        else:
            for unscaled in range(current + 1, target + 1):
                steps.append((end - duration * (target - unscaled) / diff, unscaled))
        current = target
    return steps


CASES = [
    (0, [(10.0, 10), (10.0, 0)]),
    (2, [(2.0, 2), (1.0, 0)]),
    (5, [(3.0, 1), (4.0, 7), (2.0, 7), (5.0, 0)]),
    (3, [(0.0, 6), (6.0, 2)]),
]


@pytest.mark.parametrize(("start", "stages"), CASES)
def test_ramping_vus_count_matches_k6_steps(start: int, stages: list[tuple[float, int]]) -> None:
    model = [Stage(duration=f"{d}s", target=t) for d, t in stages]
    total = sum(d for d, _ in stages)
    steps = sorted(dict(k6_steps(start, stages)).items())  # a zero-length stage: the later step at one offset wins
    for offset, vus in steps:
        if offset >= total:
            continue
        # just after each step the count is the step's; just before the next, still the same
        later = [o for o, _ in steps if o > offset]
        probe_end = min([*later, total]) - 1e-6
        for at in (offset + 1e-6, (offset + probe_end) / 2, probe_end):
            if at < total:
                assert ramping_vus_at(start, model, at) == vus, (offset, at, vus, steps)
    assert ramping_vus_at(start, model, total + 1) == stages[-1][1]


def test_ramp_down_keeps_the_last_vu_until_the_stage_ends() -> None:
    stages = [Stage(duration="2s", target=2), Stage(duration="1s", target=0)]
    assert [ramping_vus_at(2, stages, t) for t in (2.2, 2.49, 2.5, 2.99, 3.0)] == [2, 2, 1, 1, 0]


def test_share_splits_vus_k6_style() -> None:
    assert [Share(i, 3).split(10) for i in range(3)] == [4, 3, 3]
    assert sum(Share(i, 2).split(7) for i in range(2)) == 7


@pytest.mark.parametrize(("iterations", "counts"), [(10, [0, 3]), (7, [2, 1, 2]), (5, [1, 0, 0, 4]), (9, [4, 4])])
def test_shared_iterations_follow_the_vus_each_runner_got(iterations: int, counts: list[int]) -> None:
    """From what Locust dispatched: a runner with no VU holds no iteration, and the parts sum to the total."""
    from fixload.common.clock import PlanClock
    from fixload.engine.base import VUSlot
    from fixload.engine.shared_iterations import SharedIterationsExecutor
    from fixload.profile.plan import build_plan
    from fixload.profile.schema import Profile

    profile = Profile.model_validate(
        {
            "profile": "p",
            "scenarios": {
                "s": {
                    "executor": "shared-iterations",
                    "exec": "booking_flow",
                    "vus": sum(counts),
                    "iterations": iterations,
                }
            },
        }
    )
    plan = build_plan(profile).scenarios["s"]
    parts = []
    offset = 0
    for index, count in enumerate(counts):
        executor = SharedIterationsExecutor(plan, Share(index, len(counts)), None, PlanClock(0.0))
        executor.assign(VUSlot(offset, count, sum(counts)))
        offset += count
        parts.append(executor.remaining)
    assert sum(parts) == iterations
    assert all(part == 0 for part, count in zip(parts, counts, strict=True) if count == 0), parts
