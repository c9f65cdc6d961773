"""analytics_flow: an admin opens a persona dashboard over the last `windowDays`, then the pipeline status.

GET /api/analytics/dashboards/{persona}?timezone=…&startDate=…&endDate=… → 200, a JSON object (admin token)
GET /api/analytics/pipeline/status                                        → 200            (admin token)
"""

from datetime import UTC, datetime, timedelta

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.flow import FlowUser, StepFailed, clamp, iso
from fixload.profile.schema import AnalyticsSettings


def dashboard_query(analytics: AnalyticsSettings, now: datetime | None = None) -> dict[str, str]:
    """`windowDays` clamped to [1, 30] back from now, as ISO instants, with the profile's timezone."""
    window_days = clamp(analytics.window_days, 1, 30)
    end = now or datetime.now(UTC)
    start = end - timedelta(days=window_days)
    return {"timezone": analytics.timezone or "Europe/London", "startDate": iso(start), "endDate": iso(end)}


class AnalyticsUser(FlowUser):
    scenario = "analytics_flow"

    @task
    def analytics_flow(self) -> None:
        with self.iteration():
            dashboard = self.request(
                "GET",
                "/analytics/dashboards/{persona}",
                persona=self.target.analytics_persona,
                query=dashboard_query(self.block),
                token=self.token("admin"),
                step="Persona dashboard request",
                check="analytics dashboard ok",
                expect=200,
                parse=True,
            )
            if not isinstance(dashboard.data, dict):
                raise StepFailed("Persona dashboard response payload invalid", dashboard.status, dashboard.text)

            self.request(
                "GET",
                "/analytics/pipeline/status",
                token=self.token("admin"),
                step="Pipeline status request",
                check="pipeline status ok",
                expect=200,
            )
