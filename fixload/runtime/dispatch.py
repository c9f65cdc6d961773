"""The master's user dispatch: each scenario's VUs spread evenly over the workers, as k6 splits a scenario's
VUs over its execution segments.

Locust's `UsersDispatcher` interleaves the user classes (a Kullback-Leibler order of their counts) and deals
the users to the workers in turn, so one class's users need not be spread: a scenario of 4 VUs over 2
workers could get 4 and 0. An arrival-rate scenario's starts are split evenly (runner k of n takes the
global iterations ≡ k mod n), so the worker with no VU of it dropped every start of its share while the
other's VUs sat idle (`fixload capacity --workers 2` at ×0.1: 2 of ads_flow's 4 starts dropped, "the runner
fell behind"). This dispatcher keeps Locust's order of classes and its spawn rate, and gives each user to
the worker with the fewest users of its class (then the fewest users, then Locust's worker order): every
worker holds ⌊n/w⌋ or ⌈n/w⌉ of each scenario's VUs. Set as Locust's public `Environment.dispatcher_class`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from locust.dispatch import UsersDispatcher
from locust.runners import WorkerNode


class ScenarioDispatcher(UsersDispatcher):
    """Locust's dispatcher, dealing each class's users evenly over the workers."""

    def _pick(self, user: str, users_on_workers: dict[str, dict[str, int]]) -> WorkerNode:
        """The worker with the fewest users of `user`'s class, then the fewest users, then Locust's order."""
        return min(
            self._worker_nodes,
            key=lambda node: (users_on_workers[node.id].get(user, 0), sum(users_on_workers[node.id].values())),
        )

    def _deal(
        self, user: str, users_on_workers: dict[str, dict[str, int]], active_users: list[tuple[WorkerNode, str]]
    ) -> None:
        """Give one user of `user`'s class to the worker `_pick` chooses, in the placement being built."""
        node = self._pick(user, users_on_workers)
        users_on_workers[node.id][user] += 1
        active_users.append((node, user))

    def _add_users_on_workers(self) -> dict[str, dict[str, int]]:
        target = min(self._current_user_count + self._user_count_per_dispatch_iteration, self._target_user_count)
        for user in self._user_generator:
            if not user:
                self._no_user_to_spawn = True
                break
            self._deal(user, self._users_on_workers, self._active_users)
            self._current_user_count += 1
            if self._current_user_count >= target:
                break
        return self._users_on_workers

    def _distribute_users(
        self, target_user_count: int
    ) -> tuple[dict[str, dict[str, int]], Iterator[str | None], itertools.cycle, list[tuple[WorkerNode, str]]]:
        """A rebalance (a worker joined or left): the users dealt again from none, as `_add_users_on_workers`
        deals them."""
        user_gen = self._user_gen()
        users_on_workers = {
            node.id: {cls.__name__: 0 for cls in self._original_user_classes} for node in self._worker_nodes
        }
        active_users: list[tuple[WorkerNode, str]] = []
        while len(active_users) < target_user_count:
            user = next(user_gen)
            if not user:
                break
            self._deal(user, users_on_workers, active_users)
        return users_on_workers, user_gen, itertools.cycle(self._worker_nodes), active_users


__all__ = ["ScenarioDispatcher"]
