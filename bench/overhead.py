"""The arrival-rate engine's own cost per iteration, in µs of CPU, by part (no HTTP, one process):

- claim: a free VU taking the earliest unclaimed start of its share's schedule (`ArrivalRateExecutor._next`);
- wake-up: that VU sleeping on its own timer until the start is due, and waking (`arrival_rate._sleep`);
- hand-off: the allocator giving a due start to a parked VU through its AsyncResult, and the VU coming
  back to wait. Since VUs schedule themselves this happens only when no allocated VU was free (a new VU is
  allocated); before, every start took this path, plus a scheduler wake-up;
- metrics: what an iteration records (`iteration_start_lag`, `iterations`, `iteration_duration`) and what
  a request records (`http_reqs`, `http_req_duration`, `http_req_failed`, `data_received`, `data_sent`);
- total: a real `Engine` running constant-arrival-rate with no-op iterations, CPU per started iteration,
  asked a rate it can sustain and one far above it (where most due starts are dropped).

CPU time (`time.process_time`), not wall time, so a busy shared machine changes the numbers little.

    python bench/overhead.py [--n 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.event import AsyncResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import engine_profile  # (puts the repository on the path too)

from fixload.common.clock import PlanClock
from fixload.engine.arrival_rate import ArrivalRateExecutor, _sleep
from fixload.engine.base import Share
from fixload.engine.engine import Engine
from fixload.engine.vu import VU
from fixload.profile.plan import build_plan
from fixload.profile.schema import Profile
from fixload.runtime.recorder import install as install_recorder
from fixload.runtime.state import Runtime


def _cpu_us(fn: Any, n: int) -> float:
    start = time.process_time()
    fn(n)
    return (time.process_time() - start) / n * 1e6


def wake_up(n: int) -> float:
    """One VU wake-up: sleep on the VU's own timer until a due time just ahead, as a VU does per start."""
    vu = VU(None, 0)  # type: ignore[arg-type]  (only its alarm slot is used)

    def body(count: int) -> None:
        for _ in range(count):
            _sleep(vu, 1e-6)

    return _cpu_us(body, n)


def _plan(rate: int, seconds: float, vus: int) -> Any:
    """The benches' one arrival-rate scenario, named "ping", stopping at once at its end."""
    return build_plan(Profile.model_validate(engine_profile(rate, seconds, vus, graceful_stop="0s", name="ping")))


def claim(n: int) -> float:
    """One claim: the earliest unclaimed start taken from a constant-arrival-rate schedule."""
    plan = _plan(1_000_000, 3600.0, 1)
    executor = ArrivalRateExecutor(plan.scenarios["ping"], Share(), None, PlanClock(time.monotonic()))

    def body(count: int) -> None:
        take = executor._next
        for _ in range(count):
            take(True)

    return _cpu_us(body, n)


def hand_off(n: int) -> float:
    """One iteration handed to a waiting VU greenlet through its AsyncResult, and the VU waiting again."""
    box: list[AsyncResult] = []
    ready = gevent.event.Event()

    def vu() -> None:
        while True:
            waiting = AsyncResult()
            box.append(waiting)
            ready.set()
            if waiting.get() is None:
                return

    def body(count: int) -> None:
        g = gevent.spawn(vu)
        for _ in range(count):
            while not box:
                ready.clear()
                ready.wait()
            box.pop().set(1.0)
        while not box:
            ready.clear()
            ready.wait()
        box.pop().set(None)
        g.join()

    return _cpu_us(body, n)


class _Events:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)


class _Env:
    def __init__(self) -> None:
        self.events = type("E", (), {"request": _Events()})()


class _Response:
    status_code = 200
    _sent_request = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    request = None


def metrics(n: int) -> tuple[float, float]:
    """(per iteration, per request): the samples one no-op iteration and one GET /ping record."""
    env = _Env()
    run = Runtime(env)  # type: ignore[arg-type]
    from fixload.metrics.registry import define_run_metrics

    define_run_metrics(run.registry, ())
    tags = {"scenario": "ping"}
    record_lag, record_iteration, record_duration = (
        run.registry.recorder(name, tags) for name in ("iteration_start_lag", "iterations", "iteration_duration")
    )

    def iteration(count: int) -> None:
        for _ in range(count):
            record_lag(0.5)
            record_iteration(1.0)
            record_duration(1.0)

    install_recorder(run)
    on_request = env.events.request.listeners[0]
    context = {"scenario": "ping"}
    response = _Response()

    def request(count: int) -> None:
        for _ in range(count):
            on_request("GET", "/ping", 1.0, 20, response=response, context=context)

    return _cpu_us(iteration, n), _cpu_us(request, n)


def engine(rate: int, seconds: float, vus: int) -> dict[str, float]:
    """A real Engine, constant-arrival-rate, no-op iterations: CPU per started iteration, and counts."""
    plan = _plan(rate, seconds, vus)
    run = Runtime(None)  # type: ignore[arg-type]
    from fixload.metrics.registry import define_run_metrics

    define_run_metrics(run.registry, ())
    eng = Engine(plan, Share(0, 1, time.time() + 0.05, 0.0), run.registry)

    def vu_loop() -> None:
        vu = eng.join("ping")
        while vu.next_iteration():
            gevent.sleep(0)  # a no-op iteration that yields once, as a request would

    users = [gevent.spawn(vu_loop) for _ in range(vus)]
    start = time.process_time()
    eng.start()
    eng.finished.wait(seconds + 5)
    cpu = time.process_time() - start
    gevent.killall(users)
    c = eng.counts()["ping"]
    return {
        "rate": rate,
        "scheduled": c["scheduled"],
        "started": c["started"],
        "dropped": c["dropped"],
        "cpu_s": round(cpu, 3),
        "us_per_started": round(cpu / max(1, c["started"]) * 1e6, 2),
        "started_per_cpu_s": round(c["started"] / cpu, 0) if cpu else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    per_iteration, per_request = metrics(args.n)
    result: dict[str, Any] = {
        "claim_us": round(claim(args.n), 2),
        "wake_up_us": round(wake_up(args.n), 2),
        "hand_off_us": round(hand_off(args.n), 2),
        "metrics_iteration_us": round(per_iteration, 2),
        "metrics_request_us": round(per_request, 2),
        "engine_sustainable": engine(5_000, args.seconds, 50),
        "engine_saturated": engine(200_000, args.seconds, 50),
    }
    print("per-iteration engine overhead, µs of CPU (one process, no HTTP)")
    print(f"  claim (the next start, from the schedule)  : {result['claim_us']:6.2f}")
    print(f"  wake-up (the VU's own timer per start)     : {result['wake_up_us']:6.2f}")
    print(f"  hand-off (allocator to a parked VU; only when no allocated VU is free): {result['hand_off_us']:6.2f}")
    print(f"  metrics per iteration (lag, iterations, duration): {result['metrics_iteration_us']:6.2f}")
    print(f"  metrics per request (http_reqs ... data_sent)    : {result['metrics_request_us']:6.2f}")
    for key in ("engine_sustainable", "engine_saturated"):
        e = result[key]
        print(
            f"  {key}: asked {e['rate']}/s, started {e['started']} dropped {e['dropped']} in {e['cpu_s']} s CPU:"
            f" {e['us_per_started']} µs per started iteration ({e['started_per_cpu_s']:.0f} per CPU second)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
