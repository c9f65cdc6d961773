"""The master deals each scenario's VUs evenly over the workers (fixload.runtime.dispatch), so an arrival-rate
scenario's even share of starts has its share of VUs on every worker: k6 splits both by execution segment.

Locust's own dispatcher gave the short baseline at ×0.1 over 2 workers ads_flow's 4 VUs as 4 and 0, and the
worker with none dropped its 2 starts (the distributed capacity twin, tests/test_capacity_workers.py)."""

from __future__ import annotations

import itertools

import pytest
from locust import User
from locust.dispatch import UsersDispatcher
from locust.runners import WorkerNode

from fixload.runtime.dispatch import ScenarioDispatcher

# ×0.1 of the short baseline's VUs per scenario: ads 4, analytics 5, booking 9, chat 7, payments 3
COUNTS = {"ads_flow": 4, "analytics_flow": 5, "booking_flow": 9, "chat_flow": 7, "payments_flow": 3}


def _classes(counts: dict[str, int]) -> list[type[User]]:
    return [type(name, (User,), {"fixed_count": count, "abstract": False}) for name, count in counts.items()]


def _dispatch(kind: type[UsersDispatcher], workers: int, counts: dict[str, int]) -> dict[str, dict[str, int]]:
    nodes = [WorkerNode(f"host_{i}") for i in range(workers)]
    dispatcher = kind(worker_nodes=nodes, user_classes=_classes(counts))
    dispatcher.new_dispatch(target_user_count=sum(counts.values()), spawn_rate=1000)
    dispatched: dict[str, dict[str, int]] = {}
    for dispatched in dispatcher:  # noqa: B007 - the last dispatch iteration is the placement
        pass
    return dispatched


def _spread(placement: dict[str, dict[str, int]], name: str) -> list[int]:
    return sorted(users.get(name, 0) for users in placement.values())


def test_locusts_dispatcher_may_leave_a_worker_without_a_scenarios_vus() -> None:
    """The defect this dispatcher mends, shown on Locust's own: some class is not spread floor/ceil."""
    placement = _dispatch(UsersDispatcher, 2, COUNTS)
    assert any(max(_spread(placement, n)) - min(_spread(placement, n)) > 1 for n in COUNTS), placement


@pytest.mark.parametrize("workers", [2, 3, 4, 7])
@pytest.mark.parametrize("counts", [COUNTS, {"a": 1, "b": 40, "c": 2}, {"a": 13, "b": 13}, {"a": 600, "b": 7}])
def test_every_worker_holds_floor_or_ceil_of_each_scenarios_vus(workers: int, counts: dict[str, int]) -> None:
    placement = _dispatch(ScenarioDispatcher, workers, counts)
    for name, total in counts.items():
        spread = _spread(placement, name)
        assert sum(spread) == total
        assert spread[-1] - spread[0] <= 1, (name, spread)
    loads = sorted(sum(users.values()) for users in placement.values())
    assert loads[-1] - loads[0] <= len(counts), loads  # and the workers' loads stay even


def test_a_rebalance_after_a_worker_joins_deals_them_evenly_again() -> None:
    nodes = [WorkerNode("host_0"), WorkerNode("host_1")]
    dispatcher = ScenarioDispatcher(worker_nodes=nodes, user_classes=_classes(COUNTS))
    dispatcher.new_dispatch(target_user_count=sum(COUNTS.values()), spawn_rate=1000)
    list(itertools.islice(dispatcher, 100))
    dispatcher.add_worker(WorkerNode("host_2"))
    dispatcher.new_dispatch(target_user_count=sum(COUNTS.values()), spawn_rate=1000)
    placement = next(dispatcher)
    assert len(placement) == 3
    for name, total in COUNTS.items():
        spread = _spread(placement, name)
        assert sum(spread) == total and spread[-1] - spread[0] <= 1, (name, spread)
