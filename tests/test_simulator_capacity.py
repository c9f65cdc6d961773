"""The simulator's capacity model: at most N requests in service, each holding a slot for service_ms, FIFO.

Measured from a loopback client: closed-loop clients (each sends its next request when the last one is
answered) below the knee get one answer per service time each; above it the throughput stays at
concurrency / service_ms and the time in the queue grows.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fixload.simulator.faults import FaultError, parse_rule
from fixload.simulator.process import SimulatorProcess
from tests.support import wait_for


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimulatorProcess(seed=5) as process:
        yield process


@pytest.fixture(autouse=True)
def _clean(sim: SimulatorProcess) -> None:
    sim.clear_faults()
    sim.reset_stats()


def closed_loop(sim: SimulatorProcess, path: str, clients: int, seconds: float) -> tuple[float, list[int]]:
    """`clients` keep-alive connections sending back to back for `seconds`: (answers per second, statuses)."""
    stop = time.monotonic() + seconds

    def client(_: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        statuses = []
        while time.monotonic() < stop:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        statuses = [s for chunk in pool.map(client, range(clients)) for s in chunk]
    return len(statuses) / (time.monotonic() - started), statuses


def test_knee_at_concurrency_over_service_time(sim: SimulatorProcess) -> None:
    """concurrency 4 × 40 ms = 100 requests/s: 2 clients get ~50/s (below the knee, no queue), 12 clients get
    ~100/s and no more (past it), the excess waiting in the queue."""
    sim.add_fault({"route": "*", "capacity": {"concurrency": 4, "service_ms": 40}})
    below, statuses = closed_loop(sim, "/api/zones", clients=2, seconds=1.5)
    assert set(statuses) == {200}
    queue_below = sim.stats()["capacity"][0]["queueMs"]["p95"]
    sim.reset_stats()
    above, _ = closed_loop(sim, "/api/zones", clients=12, seconds=2.0)
    stats = sim.stats()["capacity"][0]
    assert stats["concurrency"] == 4 and stats["maxPerSecond"] == 100.0
    assert 35 <= below <= 52, below  # 2 / 0.040 s = 50 a second, less the client's own time on a busy machine
    assert 80 <= above <= 102, above  # the knee: 100 a second, however many clients
    assert queue_below < 10, queue_below
    # 12 clients, 4 slots: each request waits for two others' service ahead of it (2 × 40 ms)
    assert stats["queueMs"]["p50"] >= 60, stats
    assert stats["maxQueued"] >= 6, stats


def arrived(sim: SimulatorProcess) -> int:
    queue = sim.stats()["capacity"][0]
    return int(queue["served"] + queue["inService"] + queue["queued"])


def test_queue_is_first_come_first_served(sim: SimulatorProcess) -> None:
    """One slot of 60 ms and eight requests, each sent once the previous one reached the server: answered
    in the order they arrived, 60 ms apart (the server's own clock: client threads may wake in any order)."""
    sim.add_fault({"route": "/api/zones", "capacity": {"concurrency": 1, "service_ms": 60}})
    finished: list[int] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        conn.request("GET", f"/api/zones?i={index}")
        conn.getresponse().read()
        with lock:
            finished.append(index)
        conn.close()

    threads = []
    for index in range(8):
        thread = threading.Thread(target=one, args=(index,))
        thread.start()
        threads.append(thread)
        wait_for(lambda n=index: arrived(sim) > n, 5.0, f"request {index} at the server")
    for thread in threads:
        thread.join(10)
    assert sorted(finished) == list(range(8))
    records = sim.requests(8)
    assert [r["query"] for r in records] == [f"i={i}" for i in range(8)]  # arrival order
    answered = sorted(records, key=lambda r: r["at"] + r["durationMs"] / 1000.0)
    assert [r["query"] for r in answered] == [f"i={i}" for i in range(8)]  # answered in that order
    ends = [r["at"] + r["durationMs"] / 1000.0 for r in answered]
    # one at a time, 60 ms each (two at a time would end pairs ~0 ms apart); an end is stamped when the server's
    # thread wakes, up to a few ms late on a loaded machine (54.8 ms between two ends in a CI shard)
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(ends)), ends


def test_stats_show_the_queue_and_time_in_it(sim: SimulatorProcess) -> None:
    sim.add_fault({"route": "/api/zones", "method": "GET", "capacity": {"concurrency": 1, "service_ms": 300}})
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(sim.request, "GET", "/api/zones") for _ in range(4)]
        seen = wait_for(lambda: (s := sim.stats()["capacity"][0])["queued"] == 3 and s, 5.0, "three queued")
        assert seen["inService"] == 1 and seen["route"] == "/api/zones" and seen["method"] == "GET"
        assert [f.result()[0] for f in futures] == [200] * 4
    after = sim.stats()["capacity"][0]
    assert after["queued"] == 0 and after["inService"] == 0 and after["served"] == 4 and after["maxQueued"] == 3
    assert after["queueMs"]["max"] >= 850, after  # the last waited for three services of 300 ms
    assert sim.stats()["routes"]["GET /api/zones"]["latencyMs"]["max"] >= 1150


def test_capacity_limits_only_its_routes_and_combines_with_other_faults(sim: SimulatorProcess) -> None:
    """A capacity on /api/zones with a 30 ms latency on top and a 50 % error rate: /ping stays unlimited; the
    limited route still queues, is slower by the latency, and errors come after the service."""
    sim.add_fault({"route": "/api/zones", "capacity": {"concurrency": 2, "service_ms": 50}})
    sim.add_fault({"route": "/api/zones", "latency": {"fixed_ms": 30}, "error_rate": 0.5, "status": 503})
    limited, statuses = closed_loop(sim, "/api/zones", clients=8, seconds=1.5)
    free, _ = closed_loop(sim, "/ping", clients=8, seconds=0.5)
    assert 30 <= limited <= 41, limited  # 2 / 0.050 s = 40 a second
    assert free > 3 * limited, (free, limited)
    assert 0.3 <= statuses.count(503) / len(statuses) <= 0.7
    stats = sim.stats()
    assert stats["capacity"][0]["served"] == len(statuses)  # errors too went through the server first
    assert stats["routes"]["GET /api/zones"]["latencyMs"]["p50"] >= 80  # 30 ms latency + 50 ms service at least


@pytest.mark.parametrize(
    ("capacity", "field"),
    [
        ({"concurrency": 0, "service_ms": 12}, "capacity.concurrency"),
        ({"concurrency": 2.5, "service_ms": 12}, "capacity.concurrency"),
        ({"concurrency": 4}, "capacity.service_ms"),
        ({"concurrency": 4, "service_ms": -1}, "capacity.service_ms"),
        ({"concurrency": 4, "service_ms": 12, "queue": 9}, "capacity.queue"),
        ([4, 12], "capacity"),
    ],
)
def test_a_bad_capacity_is_refused_naming_the_field(capacity: Any, field: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_rule({"route": "*", "capacity": capacity}, 1)
    assert str(caught.value).startswith(field + ":"), caught.value


def test_a_bad_capacity_over_http_is_a_422_naming_it(sim: SimulatorProcess) -> None:
    status, body = sim.request("POST", "/__fixload/faults", {"capacity": {"concurrency": 4, "service_ms": 0}})
    assert status == 422 and body["field"] == "capacity.service_ms", body
    assert sim.stats()["capacity"] == []
