"""Every k6 metric keeps its value when the hot path changes: one seeded workload, recorded the way a run records
it (Locust `request` events through the recorder, iterations through an executor's begin/finish on a plan
clock the test drives, the flows' own metrics, drops), summarised with `build_summary`, and compared with
`tests/data/seeded_metrics.json`, which the recording code of 76c835d (before issue 30's rewrite of the hot
path) produced from the same workload.

Counts, rates, min and max must be equal; trend averages within 1e-9 (a float sum may be added in another
order); percentiles within the sketch's stated relative accuracy (`RELATIVE_ACCURACY`). Regenerate the file
only for a deliberate change of what is recorded: `python tests/test_metrics_seeded.py --write`.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from locust.env import Environment

from fixload.common.clock import PlanClock
from fixload.engine import base
from fixload.engine.base import ScenarioExecutor, Share
from fixload.flows.transport import BodyCut
from fixload.metrics.sinks import RELATIVE_ACCURACY
from fixload.metrics.thresholds import ThresholdSet
from fixload.profile.plan import build_plan
from fixload.profile.schema import parse_profile
from fixload.report.summary import RunInfo, build_summary
from fixload.runtime import recorder
from fixload.runtime.state import Runtime

GOLDEN = Path(__file__).parent / "data" / "seeded_metrics.json"
SEED = 20261207
SCENARIOS = {"booking_flow": "booking_flow", "chat_flow": "chat_flow", "ping": "ping"}
THRESHOLDS = {
    "http_req_duration": ["p(95)<1400", "p(99)<3000", "avg<600", "med<500"],
    "http_req_duration{scenario:booking_flow}": ["p(90)<900"],
    "http_req_failed": ["rate<0.05"],
    "iteration_duration{scenario:chat_flow}": ["p(95)<2000", "max<9000"],
    "iteration_start_lag": ["p(99)<50"],
    "booking_flow_duration": ["p(95)<1400", "min>0"],
    "booking_flow_success_rate": ["rate>0.9"],
    "chat_flow_failures": ["count<100"],
    "dropped_iterations": ["count<10", "rate<1"],
    "data_received": ["count>0"],
    "data_sent": ["rate>0"],
}


class _Response:
    """What the recorder reads of Locust's FastResponse: the status, and the request head and body sent."""

    def __init__(self, status: int, head: bytes, body: bytes | None) -> None:
        self.status_code = status
        self._sent_request = head
        self.request = type("Request", (), {"payload": body})()


class _Clock:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _profile() -> dict[str, Any]:
    scenarios = {
        name: {"executor": "constant-arrival-rate", "rate": 10, "duration": "60s", "preAllocatedVUs": 5, "maxVUs": 20}
        for name in SCENARIOS
    }
    return {"scenarios": scenarios, "thresholds": THRESHOLDS}


def seeded_summary(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The workload: 3,000 iterations over three scenarios, 1-4 requests each, seeded statuses, sizes, times."""
    rng = random.Random(SEED)
    clock = _Clock()
    if hasattr(base, "monotonic"):
        monkeypatch.setattr(base, "monotonic", clock.monotonic)
    else:  # the recording code before issue 30 read time.monotonic through the module
        monkeypatch.setattr(base, "time", type("Time", (), {"monotonic": staticmethod(clock.monotonic)})())
    environment = Environment()
    run = Runtime(environment)  # type: ignore[arg-type]
    recorder.define_flow_metrics(run, ["booking_flow", "chat_flow"])
    recorder.install(run)
    plan = build_plan(parse_profile(_profile(), "seeded"))
    executors = {}
    for name in SCENARIOS:
        executor = ScenarioExecutor(plan.scenarios[name], Share(), _recording(run), PlanClock(clock.now))
        executors[name] = (executor, executor.join())
    fire = environment.events.request.fire
    for _ in range(3000):
        name = rng.choice(list(SCENARIOS))
        executor, vu = executors[name]
        due = executor.now()
        clock.now += rng.choice((0.0, 0.0, 0.0002, 0.003, 0.04))  # the start lag
        executor.begin(vu, due)
        ok = True
        for r in range(rng.randint(1, 4)):
            status = rng.choices((200, 201, 204, 404, 409, 500, 0), (60, 10, 5, 5, 3, 4, 2))[0]
            took = rng.lognormvariate(4.5, 0.9)
            clock.now += took / 1000.0
            body = None if rng.random() < 0.5 else b"x" * rng.randint(2, 900)
            failure = BodyCut("cut") if status == 0 else None
            fire(
                request_type=rng.choice(("GET", "POST", "PATCH")),
                name=f"/api/{name}/step{r}",
                response_time=took,
                response_length=0 if status in (0, 204) else rng.randint(10, 40_000),
                response=_Response(status, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", body),
                context={"scenario": name},
                exception=failure,
            )
            ok = ok and 200 <= status < 400
        flow = SCENARIOS[name]
        if flow != "ping":
            tags = {"scenario": name}
            run.registry.add(f"{flow}_duration", (clock.now - due) * 1000.0, tags)
            run.registry.add(f"{flow}_success_rate", 1.0 if ok else 0.0, tags)
            if not ok:
                run.registry.add(f"{flow}_failures", 1.0, tags)
        executor.iteration_finished(vu, interrupted=rng.random() < 0.02)
        if rng.random() < 0.01:
            executor.drop(executor.now(), rng.randint(1, 3))
    for executor, _ in executors.values():
        executor.record_drops()
    thresholds = ThresholdSet.parse(THRESHOLDS, run.registry)
    started = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    info = RunInfo("seeded", 1.0, started, started.replace(minute=1), "passed")
    summary = build_summary(run.registry, thresholds, info)
    return {
        "metrics": summary["metrics"],
        "thresholds": summary["fixload"]["thresholds"],
        "routes": summary["fixload"]["routes"],
    }


def _recording(run: Runtime) -> Any:
    """How an executor records into the run's registry (what the runtime gives it)."""
    return run.registry


def _compare(path: str, before: Any, after: Any, problems: list[str], trend: bool) -> None:
    if isinstance(before, dict):
        assert isinstance(after, dict), path
        if set(before) != set(after):
            problems.append(f"{path}: keys {sorted(set(before) ^ set(after))} differ")
        is_trend = trend or any(k.startswith("p(") for k in before)
        for key in before.keys() & after.keys():
            _compare(f"{path}.{key}", before[key], after[key], problems, is_trend)
    elif isinstance(before, list):
        if len(before) != len(after):
            problems.append(f"{path}: {len(before)} items, now {len(after)}")
        for i, (b, a) in enumerate(zip(before, after, strict=False)):
            _compare(f"{path}[{i}]", b, a, problems, trend)
    elif isinstance(before, float) and isinstance(after, int | float) and not isinstance(before, bool):
        key = path.rsplit(".", 1)[-1]
        if trend and (key.startswith("p(") or key in ("med", "observed")):
            tolerance = 2 * RELATIVE_ACCURACY * abs(before)
        elif trend and key == "avg":
            tolerance = 1e-9 * abs(before)
        else:
            tolerance = 1e-9 * abs(before) if key in ("rate", "value", "observed") else 0.0
        if abs(after - before) > tolerance:
            problems.append(f"{path}: {before!r} before, {after!r} now")
    elif before != after:
        problems.append(f"{path}: {before!r} before, {after!r} now")


def test_every_summary_metric_is_what_the_recording_code_before_issue_30_gave(monkeypatch: pytest.MonkeyPatch) -> None:
    before = json.loads(GOLDEN.read_text())
    after = seeded_summary(monkeypatch)
    assert after["metrics"]["http_reqs"]["count"] == before["metrics"]["http_reqs"]["count"] > 6000
    problems: list[str] = []
    _compare("summary", before, after, problems, trend=False)
    assert not problems, "\n".join(problems[:40])


def test_the_comparison_catches_a_changed_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison itself fails on one iteration more, and on a percentile off by more than the sketch's error."""
    before = json.loads(GOLDEN.read_text())
    changed = json.loads(GOLDEN.read_text())
    changed["metrics"]["iterations"]["count"] += 1
    changed["metrics"]["http_req_duration"]["p(95)"] *= 1 + 3 * RELATIVE_ACCURACY
    problems: list[str] = []
    _compare("summary", before, changed, problems, trend=False)
    assert len(problems) == 2, problems


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with pytest.MonkeyPatch.context() as patch:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(seeded_summary(patch), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
