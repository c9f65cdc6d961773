"""Small helpers every integration test needs: a free loopback port and a bounded wait on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fixload.cli.run import free_port

__all__ = ["free_port", "wait_for"]


def wait_for(condition: Callable[[], Any], timeout: float, what: str = "condition", interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy (and return that); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # the polling interval of a bounded wait, not a synchronisation sleep
