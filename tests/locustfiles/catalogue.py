"""catalogue_flow: a sixth flow, written as a locustfile and nothing else (no change under fixload/).

    GET /api/zones      → 200, an array
    GET /api/services   → 200, `settings.catalogue.servicePages` times (free-form block, default 1)

It reads no fixture, so a run of it alone provisions nothing. Load it next to the five:
`locust -f locustfiles/,tests/locustfiles/catalogue.py --headless --profile tests/profiles/catalogue.json`.
"""

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.flows.flow import FlowUser, StepFailed


class CatalogueUser(FlowUser):
    scenario = "catalogue_flow"
    settings_block = "catalogue"
    needs_fixtures = False

    @task
    def browse(self) -> None:
        with self.iteration():
            zones = self.request("GET", "/zones", step="Zone listing", expect=200, check="zones listed", parse=True)
            if not isinstance(zones.data, list | dict):
                raise StepFailed("Zone listing did not return JSON", zones.status, zones.text)
            for _ in range(int(self.block.get("servicePages", 1))):
                self.request("GET", "/services", step="Service listing", expect=200, check="services listed")
