"""Bench users: one request per iteration, no think time; each scenario on its own route so the simulator
counts each scenario separately. `booking_flow` GETs /ping and `chat_flow` GETs /api/ping; bench profiles
name their scenarios freely and point at these with `exec`. The composite ProfileShape runs `--profile`.
"""

from __future__ import annotations

from locust import FastHttpUser, task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.user import ScenarioUser
from fixload.runtime.shape import ProfileShape


class _Ping(ScenarioUser, FastHttpUser):
    abstract = True
    route = "/ping"

    @task
    def iteration(self) -> None:
        self.client.get(self.route, context={"scenario": self.scenario})


class PingBooking(_Ping):
    scenario = "booking_flow"


class PingChat(_Ping):
    scenario = "chat_flow"
    route = "/api/ping"


__all__ = ["PingBooking", "PingChat", "ProfileShape"]
