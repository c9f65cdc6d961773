"""The engine test users (engine_users.py) on a machine whose wall clock is off by FIXLOAD_TEST_WALL_SKEW seconds.

Test-only: `fixload.common.clock.wall_time` is the one wall-clock reading the schedule makes (converting the
master's common start to this process's monotonic clock), so replacing it stands for a worker on another
machine whose clock is ahead (positive) or behind (negative) the master's.
"""

from __future__ import annotations

import os
import time

from engine_users import *  # noqa: F403  (the ping users and the profile shape)

from fixload.common import clock

SKEW = float(os.environ.get("FIXLOAD_TEST_WALL_SKEW") or 0.0)

if SKEW:
    clock.wall_time = lambda: time.time() + SKEW
