"""Plan time: the schedule's clock, monotonic within a process, wall-clock only on the wire.

Every scenario's clock starts at one common instant, plan time 0. Each process measures plan time on
`time.monotonic()`, so an NTP step (or anyone setting the date) while a test runs shifts nothing: a
schedule keeps its pace and its end. Only the common start crosses the master→worker wire, once, as a
wall-clock instant (`Share.t0`, `time.time()` on the master); the receiving process converts it to its
own monotonic clock once, on receipt (`PlanClock.from_wall`), and never reads the wall clock for the
schedule again. Reshares carry the same `t0` and keep the clock already converted.

So a worker whose wall clock is off the master's by `s` seconds runs its whole share `s` seconds
early (ahead) or late (behind) in real time: its own iterations, no others, none lost or doubled, with
the tolerances the coordinator's docstring lists.

`wall_time` is the one place the conversion reads the wall clock: a test replaces it in a worker
process (its locustfile) to stand for a machine whose clock is off.
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
