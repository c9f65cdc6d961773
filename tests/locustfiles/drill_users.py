"""Drill users: one authenticated GET per iteration, so the resilience drills count exactly.

`booking_flow` GETs /ping and `chat_flow` GETs /api/ping (the simulator counts each route on its own;
faults target one route). Every request carries `Authorization: Bearer $K6_USER_TOKEN` like the real
flows, so the drills can check that no token leaks into any output. Drill profiles name their scenarios
freely and point at these with `exec`. The composite ProfileShape runs whatever `--profile` names.
"""

from __future__ import annotations

import os

from locust import FastHttpUser, task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.user import ScenarioUser
from fixload.runtime.shape import ProfileShape


class _Drill(ScenarioUser, FastHttpUser):
    needs_fixtures = True  # the drills stand for the real flows: setup runs (and can fail) first
    abstract = True
    route = "/ping"
    network_timeout = 30.0
    connection_timeout = 5.0

    @task
    def iteration(self) -> None:
        headers = {"Authorization": "Bearer " + os.environ.get("K6_USER_TOKEN", "")}
        self.client.get(self.route, headers=headers, context={"scenario": self.scenario})


class DrillBooking(_Drill):
    scenario = "booking_flow"


class DrillChat(_Drill):
    scenario = "chat_flow"
    route = "/api/ping"


__all__ = ["DrillBooking", "DrillChat", "ProfileShape"]
