"""Plan time: the schedule's clock, monotonic within a process, wall-clock only on the wire.

Every scenario's clock starts at one common instant, plan time 0, measured on `time.monotonic()` in each
process, so a step of the wall clock while a test runs shifts nothing. Only the common start crosses the
master→worker wire, once, as a wall-clock instant (`Share.t0`); the receiver converts it to its own
monotonic clock on receipt (`PlanClock.from_wall`). `wall_time` is the one place that reads the wall
clock, so a test can stand in for a machine whose clock is off.

What a skewed worker does: docs/design-notes.md#common-clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def wall_time() -> float:
    """This machine's wall clock (seconds since the epoch), read only to convert the common start instant."""
    return time.time()


@dataclass(frozen=True)
class PlanClock:
    """Plan time in this process: seconds since the common start instant, on the monotonic clock."""

    origin: float
    """`time.monotonic()` reading at plan time 0 in this process."""

    @classmethod
    def from_wall(cls, t0: float) -> PlanClock:
        """The clock for a common start given as a wall-clock instant (read the wall clock once, now)."""
        return cls(time.monotonic() + (t0 - wall_time()))

    @classmethod
    def starting_in(cls, lead: float) -> tuple[PlanClock, float]:
        """A clock whose plan time 0 is `lead` seconds from now, and that instant as wall-clock for the wire."""
        wall, mono = wall_time(), time.monotonic()
        return cls(mono + lead), wall + lead

    def now(self) -> float:
        """Plan time now (negative before the start)."""
        return time.monotonic() - self.origin
