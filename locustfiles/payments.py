"""payments_flow: a customer buys the run's service, which funds an escrow.

POST /api/services/{serviceId}/purchase → 201 with a JSON body (order + escrow)   (user token)
"""

import random
from typing import Any

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.flow import FlowUser, iso, minutes_from_now, money

AMOUNT_MIN, AMOUNT_MAX = 120, 320
SCHEDULED_IN_MINUTES = (90, 480)


def purchase_payload(rng: Any = random) -> dict[str, Any]:
    return {
        "totalAmount": money(rng.uniform(AMOUNT_MIN, AMOUNT_MAX)),
        "currency": "GBP",
        "scheduledFor": iso(minutes_from_now(rng.uniform(*SCHEDULED_IN_MINUTES))),
    }


class PaymentsUser(FlowUser):
    scenario = "payments_flow"

    @task
    def payments_flow(self) -> None:
        with self.iteration():
            self.request(
                "POST",
                "/services/{id}/purchase",
                id=self.fixture("serviceId"),
                json=purchase_payload(),
                token=self.token("user"),
                step="Service purchase",
                check="service purchase ok",
                expect=201,
                parse=True,
            )
