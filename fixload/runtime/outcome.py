"""How a test ended → the summary's status, its reason, and k6's exit code (docs/exit-codes.md).

The first rule that matches wins, in this order: setup failed (107) or timed out (setup_failed, 100), an
engine error (aborted, 109: an executor, the engine, the shape or a watcher crashed), abortOnFail (aborted,
99), a refused worker or a plan that did not complete (error, 1), stopped before the scenarios ended (a
signal: 105; the web UI's STOP: 103; every worker lost: error, 1), every request unanswered (target
unreachable, 1), a threshold crossed (99), else passed (0).
"""

from __future__ import annotations

from fixload.common.exitcodes import ExitCode
from fixload.metrics.thresholds import ThresholdResult
from fixload.report.summary import EXIT_CODES, Status
from fixload.runtime.lifecycle import HaltReason
from fixload.runtime.state import Runtime


def _count(run: Runtime, metric: str, selector: dict[str, str] | None = None) -> int:
    if metric not in run.registry or not run.registry.has_samples(metric, selector):
        return 0
    return int(run.registry.aggregate(metric, selector).compute("count") or 0)


def status_of(run: Runtime, early: bool, results: list[ThresholdResult]) -> tuple[Status, str]:
    """The status and its reason. `early`: the scenarios had not ended when the test stopped."""
    lifecycle = run.lifecycle
    halt = lifecycle.halt
    if halt is not None and halt.reason is HaltReason.SETUP_FAILED:
        return Status.SETUP_FAILED, f"setup failed: {halt.detail}"
    if halt is not None and halt.reason is HaltReason.SETUP_TIMEOUT:
        return Status.SETUP_FAILED, f"setup timed out: {halt.detail}"
    if halt is not None and halt.reason is HaltReason.ENGINE_ERROR:
        return Status.ABORTED, f"engine error in {halt.detail}"
    if halt is not None and halt.reason is HaltReason.ABORTED:
        return Status.ABORTED, f"abortOnFail: {halt.detail}"
    if halt is not None and halt.reason in (HaltReason.WORKER_REFUSED, HaltReason.INCOMPLETE):
        return Status.ERROR, halt.detail
    if early:
        if lifecycle.interrupted_by:
            return Status.INTERRUPTED, f"stopped by {lifecycle.interrupted_by} before the scenarios ended"
        if run.role.every_worker_gone():
            return Status.ERROR, "every worker quit or was lost before the scenarios ended"
        return Status.INTERRUPTED, "stopped before the scenarios ended (stop requested)"
    total = _count(run, "http_reqs")
    no_response = _count(run, "http_reqs", {"status": "0"})
    if total and no_response >= total:
        return (
            Status.TARGET_UNREACHABLE,
            f"target unreachable: none of the {total} requests got a response (connection refused, reset or timed out)",
        )
    failed = [r for r in results if not r.ok]
    if failed:
        shown = ", ".join(f"{r.key}: {r.expression}" for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
        reason = f"{len(failed)} threshold(s) crossed ({shown})"
        if no_response:
            reason += f"; {no_response} of {total} requests got no response (connection failures)"
        return Status.THRESHOLDS_FAILED, reason
    return Status.PASSED, ""


def exit_code(status: Status, run: Runtime | None = None) -> int:
    """k6's exit code for a status. Where one status has two of k6's codes, the run says which: an engine
    error is `aborted` with k6's GoPanic, 109; a setup timeout is `setup_failed` with k6's SetupTimeout, 100;
    a stop from the web UI (no signal) is `interrupted` with k6's ScriptStoppedFromRESTAPI, 103."""
    lifecycle = run.lifecycle if run is not None else None
    halt = lifecycle.halt if lifecycle is not None else None
    if status is Status.ABORTED and halt is not None and halt.reason is HaltReason.ENGINE_ERROR:
        return int(ExitCode.INTERNAL_ERROR)
    if status is Status.SETUP_FAILED and halt is not None and halt.reason is HaltReason.SETUP_TIMEOUT:
        return int(ExitCode.SETUP_TIMEOUT)
    if status is Status.INTERRUPTED and lifecycle is not None and not lifecycle.interrupted_by:
        return int(ExitCode.STOPPED_FROM_UI)
    return int(EXIT_CODES[status])
