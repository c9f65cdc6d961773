"""The master/worker protocol: every message, what it carries, its handler (`master.py`, `worker.py`), the clocks.

The master (or the local runner) decides everything once: it loads the plan, provisions the fixtures,
picks the instant `t0` at which every scenario's clock starts, and tells each worker its share. Workers
only execute. When the set of workers changes mid-run the master hands out new shares that take over
one second later, so no iteration is started twice and the rest of the schedule is still covered.

Every message between master and workers is named here (Locust's `register_message`/`send_message`, plus
fixload's block in Locust's own periodic worker report):

| message            | from → to       | carries                                     | handler                |
| ------------------ | --------------- | ------------------------------------------- | ---------------------- |
| `fixload_alive`    | worker → master | the flows its locustfiles define (every     | `M.on_alive`           |
|                    |                 | `ALIVE_INTERVAL` s)                         |                        |
| `fixload_refuse`   | master → worker | why: its locustfiles lack scenarios         | `W.on_refused`         |
| `fixload_start`    | master → worker | the plan, this worker's share, the fixtures | `W.on_start`           |
| `fixload_share`    | master → worker | a new share, or `retire` from a plan time   | `W.on_share`           |
| `fixload_vus`      | master → worker | per scenario, the VUs it got: offset, count | `W.on_vus`             |
| `fixload_fixtures` | master → worker | the fixtures (closed model)                 | `W.on_fixtures`        |
| `fixload_halt`     | master → worker | nothing: setup failed, send nothing         | `W.on_halt`            |
| `fixload_flush`    | master → worker | nothing: stop, send your last samples       | `W.on_flush`           |
| `fixload_final`    | worker → master | the last metric delta and engine counts     | `M.on_final`           |
| report `fixload`   | worker → master | metric delta, engine counts, finished       | `M.on_worker_report`   |

Clocks (`fixload.common.clock`): each process runs plan time on its own monotonic clock. `t0` crosses the wire
once, as the master's wall-clock instant in every share, and a worker converts it to its monotonic clock
when `fixload_start` arrives (`Engine` → `PlanClock.from_wall`); reshares keep that clock. A worker whose
wall clock is off the master's by `s` therefore runs its whole share `s` early (ahead) or late (behind),
its own iterations and no others. What such a worker tolerates:

- ahead by less than `RESHARE_DELAY` (0.5 s) minus the message's latency: a new share takes over at
  plan time `since` = the master's now + 0.5 s, and a worker already past `since` in its own plan time has
  started old-share iterations after it, which the new shares start again (twice). At the start the lead
  is `LEAD_SECONDS` (1 s) plus the spawn time, so the first share is safe up to that;
- behind by less than `END_GRACE` (2 s): the master ends the test at plan time duration + 2 s on its own
  clock (flushing every worker), so a worker further behind loses its last iterations' gracefulStop,
  then its last starts;
- the master's own decisions (the end, re-share times, elapsed time, the live sampler, the web UI's
  countdown) all read the master's monotonic plan clock (`TestState.clock`), never the wall clock.

NTP keeps machines within milliseconds, far inside both bounds. tests/test_clock.py runs two workers
0.3 s ahead and 0.3 s behind: their starts shift by exactly that and the target gets k6's count.

M: `fixload.runtime.master.MasterRole`, W: `fixload.runtime.worker.WorkerRole`. Liveness: workers say they
are alive from `WorkerRole.link`; the master's `watch_workers` re-shares when one goes silent; a worker's
`watch_master` stops its load and exits when the master's heartbeat stops.
"""

from __future__ import annotations

from typing import Any

from fixload.engine.base import Share
from fixload.runtime.state import Runtime, TestState

LEAD_SECONDS = 1.0
"""Time between the decision to start and t0 on a master: long enough for every worker to hear about it."""
RESHARE_DELAY = 0.5
"""A new share takes over this long after the master notices a worker joined or was lost (the message
must reach every worker before then)."""
ALIVE_INTERVAL = 0.25
"""Workers tell the master they are alive this often."""
LOST_AFTER = 2.0
"""A worker silent this long is lost. Locust's own heartbeat takes 4-5 s to call a worker missing, too
late to take its share over within 5 s; fixload's own signal makes the takeover ~3 s after a SIGKILL."""
MASTER_LOST_AFTER = 3.0
"""A worker that has heard no heartbeat from its master this long stops its load and exits. The master
answers each worker heartbeat (one a second) at once; Locust itself waits 60 s, sending all the while."""
FLUSH_TIMEOUT = 5.0
"""How long a master waits at the end for every worker's last metric delta."""

MSG_START = "fixload_start"
MSG_SHARE = "fixload_share"
MSG_ALIVE = "fixload_alive"
MSG_FIXTURES = "fixload_fixtures"
MSG_VUS = "fixload_vus"
MSG_HALT = "fixload_halt"
MSG_FLUSH = "fixload_flush"
MSG_FINAL = "fixload_final"
MSG_REFUSE = "fixload_refuse"
REPORT_KEY = "fixload"
"""fixload's block in Locust's periodic worker report."""


def plan_message(state: TestState, share: Share, fixtures: dict[str, str]) -> dict[str, Any]:
    """`fixload_start`: the plan the master runs, this worker's share and the fixtures."""
    plan = state.plan
    return {
        "profile": plan.profile.model_dump(by_alias=True, mode="json", exclude_unset=True),
        "source": plan.source,
        "multiplier": plan.multiplier,
        "multiplierSource": plan.multiplier_source,
        "share": share.__dict__,
        "fixtures": fixtures,
    }


def report_payload(runtime: Runtime, final: bool = False, finished: bool | None = None) -> dict[str, Any]:
    """A worker's block in its report (and its `fixload_final`): the metric delta, failures, engine counts.
    `finished`: this worker's share ran to its end (default: its engine says so now)."""
    engine = runtime.engine
    if finished is None:
        finished = bool(engine is not None and engine.finished.is_set())
    return {
        "metrics": runtime.registry.snapshot(reset=True),
        "failures": runtime.failures.snapshot(reset=True),
        "counts": engine.counts() if engine is not None else {},
        "crash": engine.crash if engine is not None else None,
        "finished": finished,
        "final": final,
    }
