"""Test-only users for the engine tests: one trivial user per flow name, each hitting its own ping route.

The simulator answers `/ping`, `/api/ping` and `/api/v1/ping` to GET and HEAD and counts each
(method, path) separately, so every scenario is counted on the server side on its own:

    booking_flow GET /ping   chat_flow GET /api/ping   payments_flow GET /api/v1/ping
    analytics_flow HEAD /ping   ads_flow HEAD /api/ping

One iteration = one request, then `FIXLOAD_TEST_SLEEP[scenario]` seconds of sleep (JSON object in the
environment). With `FIXLOAD_TEST_EVENTS=<path>` every iteration's end is appended to that file as
`<scenario> <completed|interrupted> <time.time()>` (interrupted: gracefulStop/gracefulRampDown ran out).
The composite `ProfileShape` runs whatever `--profile` names.
"""

from __future__ import annotations

import os
import time

import gevent
import orjson
from locust import FastHttpUser, task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.engine.vu import InterruptIteration
from fixload.flows.user import ScenarioUser
from fixload.runtime.shape import ProfileShape

ROUTES: dict[str, tuple[str, str]] = {
    "booking_flow": ("GET", "/ping"),
    "chat_flow": ("GET", "/api/ping"),
    "payments_flow": ("GET", "/api/v1/ping"),
    "analytics_flow": ("HEAD", "/ping"),
    "ads_flow": ("HEAD", "/api/ping"),
}
SLEEP: dict[str, float] = orjson.loads(os.environ.get("FIXLOAD_TEST_SLEEP") or "{}")
EVENTS = os.environ.get("FIXLOAD_TEST_EVENTS", "")


def _log(scenario: str, outcome: str) -> None:
    if EVENTS:
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(f"{scenario} {outcome} {time.time():.6f}\n")


class _PingUser(ScenarioUser, FastHttpUser):
    abstract = True

    @task
    def iteration(self) -> None:
        method, path = ROUTES[self.scenario]
        outcome = "interrupted"
        try:
            self.client.request(method, path, context={"scenario": self.scenario})
            pause = SLEEP.get(self.scenario, 0.0)
            if pause:
                gevent.sleep(pause)
            outcome = "completed"
        except InterruptIteration:
            raise
        finally:
            _log(self.scenario, outcome)


class BookingPing(_PingUser):
    scenario = "booking_flow"


class ChatPing(_PingUser):
    scenario = "chat_flow"


class PaymentsPing(_PingUser):
    scenario = "payments_flow"


class AnalyticsPing(_PingUser):
    scenario = "analytics_flow"


class AdsPing(_PingUser):
    scenario = "ads_flow"


class Shape(ProfileShape):
    pass
