"""booking_flow: a dispatcher books a job, assigns a provider, the provider accepts, the job completes.

    POST  /api/bookings                          → 201  (scheduled with probability scheduledShare)
    POST  /api/bookings/{id}/assignments         → 201 or 200
    POST  /api/bookings/{id}/assignments/response → 200
    PATCH /api/bookings/{id}/status              → 200  {status: "in_progress"}  scheduled bookings only
    PATCH /api/bookings/{id}/status              → 200  {status: "completed"}
    GET   /api/bookings?companyId=…&limit=5        (not checked)

The product's state machine (fixload.common.contract): acceptance moves an on-demand booking to `in_progress` and
leaves a scheduled one `scheduled`, and `scheduled → completed` is refused, so a scheduled booking is
started before it is completed. The original sends `completed` straight away for both, and fails on every
scheduled booking. No token on any request, as in the original harness (FIXLOAD_AUTH=strict adds one).
"""

import random
from datetime import timedelta
from typing import Any

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.common.contract import completion_path
from fixload.flows.flow import FlowUser, clamp, iso, minutes_from_now, money
from fixload.profile.environment import Target
from fixload.profile.schema import BookingSettings

DEMAND_LEVELS = ("low", "medium", "high")
STATUS_STEPS: dict[str, tuple[str, str, str]] = {
    "in_progress": ("Booking start", "booking started", "load_test_start"),
    "completed": ("Booking status update", "status update ok", "load_test_complete"),
}
"""Each `PATCH …/status` the flow may send: its step name, its k6 check name and the `reason` it gives."""


def booking_payload(
    booking: BookingSettings, target: Target, zone_id: str, run_id: int, rng: Any = random
) -> dict[str, Any]:
    """The original's booking: scheduled with probability `scheduledShare`, else on demand."""
    is_scheduled = rng.random() < clamp(booking.scheduled_share, 0, 1)
    payload: dict[str, Any] = {
        "customerId": target.customer_id,
        "companyId": target.company_id,
        "zoneId": zone_id,
        "type": "scheduled" if is_scheduled else "on_demand",
        "demandLevel": rng.choice(DEMAND_LEVELS),
        "baseAmount": money(rng.uniform(booking.base_amount_min, booking.base_amount_max)),
        "currency": "GBP",
        "targetCurrency": "GBP",
        "metadata": {"scenario": "load-test", "runId": run_id, "note": "Automated booking load test"},
        "actor": {"id": target.dispatcher_id, "type": "user"} if target.dispatcher_id else None,
    }
    if is_scheduled:
        window_minutes = rng.uniform(booking.window_minutes_min, booking.window_minutes_max)
        start = minutes_from_now(rng.uniform(booking.lead_minutes_min, booking.lead_minutes_max))
        payload["scheduledStart"] = iso(start)
        payload["scheduledEnd"] = iso(start + timedelta(minutes=window_minutes))
    return payload


class BookingUser(FlowUser):
    scenario = "booking_flow"

    @task
    def booking_flow(self) -> None:
        target = self.target
        with self.iteration() as run_id:
            payload = booking_payload(self.block, target, self.fixture("zoneId"), run_id)
            created = self.request(
                "POST",
                "/bookings",
                json=payload,
                token=self.strict_token("admin"),
                step="Booking creation",
                check="booking created",
                expect=201,
                parse=True,
            )
            booking_id = created.require("id", "Booking creation response")

            self.request(
                "POST",
                "/bookings/{id}/assignments",
                id=booking_id,
                token=self.strict_token("admin"),
                json={
                    "assignments": [{"providerId": target.provider_id, "role": "lead"}],
                    "actorId": target.dispatcher_id,
                },
                step="Assignment creation",
                check="assignment accepted",
                expect=(201, 200),
            )

            self.request(
                "POST",
                "/bookings/{id}/assignments/response",
                id=booking_id,
                token=self.strict_token("provider"),
                json={"bookingId": booking_id, "providerId": target.provider_id, "status": "accepted"},
                step="Assignment response",
                check="assignment response ok",
                expect=200,
            )

            for status in completion_path(payload["type"]):
                step, check, reason = STATUS_STEPS[status]
                self.request(
                    "PATCH",
                    "/bookings/{id}/status",
                    id=booking_id,
                    token=self.strict_token("admin"),
                    json={"status": status, "actorId": target.dispatcher_id, "reason": reason},
                    step=step,
                    check=check,
                    expect=200,
                )

            self.request(
                "GET",
                "/bookings",
                query={"companyId": target.company_id, "limit": 5},
                token=self.strict_token("admin"),
                step="Booking list",
            )
