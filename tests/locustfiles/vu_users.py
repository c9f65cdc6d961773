"""Test-only users for the VU-loop tests: each VU writes its life to FIXLOAD_TEST_VU_EVENTS.

One line per event, `<scenario> <on_start|on_stop|completed|interrupted> <vu id> <time.time()>`, where the
VU id is unique in the process. One iteration = GET /ping, then FIXLOAD_TEST_SLEEP[scenario] seconds.
"""

from __future__ import annotations

import itertools
import os
import time

import gevent
import orjson
from locust import FastHttpUser, task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.engine.vu import InterruptIteration
from fixload.flows.user import ScenarioUser
from fixload.runtime.shape import ProfileShape

SLEEP: dict[str, float] = orjson.loads(os.environ.get("FIXLOAD_TEST_SLEEP") or "{}")
EVENTS = os.environ.get("FIXLOAD_TEST_VU_EVENTS", "")
_ids = itertools.count()


class _Logged(ScenarioUser, FastHttpUser):
    abstract = True

    def _log(self, what: str) -> None:
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(f"{self.scenario} {what} {self.vu_id} {time.time():.6f}\n")

    def on_start(self) -> None:
        self.vu_id = next(_ids)
        self._log("on_start")

    def on_stop(self) -> None:
        self._log("on_stop")

    @task
    def iteration(self) -> None:
        outcome = "interrupted"
        try:
            self.client.get("/ping", context={"scenario": self.scenario})
            pause = SLEEP.get(self.scenario, 0.0)
            if pause:
                gevent.sleep(pause)
            outcome = "completed"
        except InterruptIteration:
            raise
        finally:
            self._log(outcome)


class Booking(_Logged):
    scenario = "booking_flow"


class Analytics(_Logged):
    scenario = "analytics_flow"


class Chat(_Logged):
    scenario = "chat_flow"


class Shape(ProfileShape):
    pass
