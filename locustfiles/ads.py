"""ads_flow: a day of campaign figures is ingested, the summary read, and an open fraud signal resolved.

    POST /api/campaigns/{id}/metrics               → 201  (a day in the last 72 h; clicks 2–18 % of impressions)
    GET  /api/campaigns/{id}/summary               → 200
    GET  /api/campaigns/{id}/fraud-signals         → 200, an array
    POST /api/campaigns/fraud-signals/{id}/resolve   only if a signal has no resolvedAt (not checked)

Every request carries the admin token.
"""

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.flow import FlowUser, iso, money
from fixload.profile.plan import js_round


def metrics_payload(rng: Any = random) -> dict[str, Any]:
    """The original's synthetic day: figures in proportion, so the simulator's fraud detector sees spikes."""
    metric_date = datetime.now(UTC) - timedelta(hours=math.floor(rng.random() * 72))
    impressions = js_round(rng.uniform(500, 4000))
    clicks = js_round(impressions * rng.uniform(0.02, 0.18))
    conversions = js_round(clicks * rng.uniform(0.05, 0.35))
    spend = money(rng.uniform(120, 750))
    revenue = money(rng.uniform(spend * 0.9, spend * 2.8))
    return {
        "metricDate": iso(metric_date),
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "spend": spend,
        "revenue": revenue,
    }


RESOLUTION_NOTE = "Automated load-test resolution"
RESOLUTION = {"note": RESOLUTION_NOTE, "resolutionNote": RESOLUTION_NOTE, "reviewer": "k6-harness"}
"""The product reads only `note` (services/campaignService.js:697); the original's `resolutionNote` and
`reviewer` stay for a Fixnado that reads them."""


class AdsUser(FlowUser):
    scenario = "ads_flow"

    @task
    def ads_flow(self) -> None:
        admin = self.token("admin")
        with self.iteration():
            campaign_id = self.fixture("campaignId")
            self.request(
                "POST",
                "/campaigns/{id}/metrics",
                id=campaign_id,
                json=metrics_payload(),
                token=admin,
                step="Campaign metric ingestion",
                check="campaign metric ingested",
                expect=201,
            )

            self.request(
                "GET",
                "/campaigns/{id}/summary",
                id=campaign_id,
                token=admin,
                step="Campaign summary",
                check="campaign summary ok",
                expect=200,
            )

            signals = self.request(
                "GET",
                "/campaigns/{id}/fraud-signals",
                id=campaign_id,
                token=admin,
                step="Fraud signal fetch",
                check="fraud signals ok",
                expect=200,
                parse=True,
            ).data
            signals = signals if isinstance(signals, list) else []
            unresolved = next((s for s in signals if isinstance(s, dict) and not s.get("resolvedAt")), None)
            if unresolved is not None:
                self.request(
                    "POST",
                    "/campaigns/fraud-signals/{id}/resolve",
                    id=unresolved["id"],
                    json=RESOLUTION,
                    token=admin,
                    step="Fraud signal resolution",
                )
