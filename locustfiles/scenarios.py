"""Runs the profile's scenarios: `locust -f locustfiles/` picks this shape up with the five flows.

The shape reads the profile named by `--profile` (or K6_PROFILE_PATH, else profiles/baseline.json) and
runs every scenario on its k6 executor, all at once, on one clock. Run one flow on its own, closed
model, by pointing Locust at its file instead: `locust -f locustfiles/payments.py -u 5 -t 30s`.
"""

import fixload.plugin  # noqa: F401  (registers fixload's events and options)
from fixload.runtime.shape import ProfileShape  # noqa: F401  (Locust finds the shape by class)
