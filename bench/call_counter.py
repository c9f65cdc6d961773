"""A Locust plugin for `bench/calls.py`: counts the Python function calls (and the C functions they call)
per request, over a window of the run, and writes them to the file FIXLOAD_BENCH_CALLS names.

Load it beside a locustfile (`locust -f bench/ping_users.py,bench/call_counter.py`). It defines no user.
Counting goes through `sys.setprofile`, which sees every greenlet of the process (they share one thread).
With FIXLOAD_BENCH_COUNT=ops it counts the bytecodes each Python function executes instead (`sys.settrace`
with opcode events; C functions are not seen): the interpreter's work, which a call count weighs equally
whether a call runs three instructions or three hundred.
The window is FIXLOAD_BENCH_CALLS_WINDOW = "after,length" seconds from test_start; a request counts when
its `request` event fires inside the window. Profiling slows the process several times over, so the
bench runs it at a rate far below capacity; a count of calls does not depend on how fast the machine is.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust import events

_calls: Counter[tuple[str, str]] = Counter()
_requests = 0
_counting = False


def _where(filename: str) -> str:
    """A frame's file, from the package down (site-packages/ or the repository's root cut off)."""
    for marker in ("site-packages/", "/bench/", "/fixload/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail if marker == "site-packages/" else marker.strip("/") + "/" + tail
    return filename


def _opcodes(frame: Any, event: str, arg: Any) -> Any:
    if event == "opcode":
        code = frame.f_code
        _calls[(_where(code.co_filename), code.co_name)] += 1
    return _opcodes


def _trace(frame: Any, event: str, arg: Any) -> Any:
    if event == "call":
        frame.f_trace_opcodes = True
        return _opcodes
    return None


def _profile(frame: Any, event: str, arg: Any) -> None:
    if event == "call":
        code = frame.f_code
        _calls[(_where(code.co_filename), code.co_name)] += 1
    elif event == "c_call":
        _calls[("C", getattr(arg, "__qualname__", repr(arg)))] += 1


@events.request.add_listener
def _on_request(**_: Any) -> None:
    global _requests
    if _counting:
        _requests += 1


@events.test_start.add_listener
def _on_test_start(**_: Any) -> None:
    out = os.environ.get("FIXLOAD_BENCH_CALLS")
    if not out:
        return
    after, length = (float(x) for x in os.environ.get("FIXLOAD_BENCH_CALLS_WINDOW", "4,4").split(","))

    def count() -> None:
        global _counting
        gevent.sleep(after)
        ops = os.environ.get("FIXLOAD_BENCH_COUNT") == "ops"
        _counting = True
        if ops:
            sys.settrace(_trace)
        else:
            sys.setprofile(_profile)
        try:
            gevent.sleep(length)
        finally:
            sys.settrace(None)
            sys.setprofile(None)
            _counting = False
        rows = [[where, name, n] for (where, name), n in _calls.most_common()]
        Path(out).write_bytes(orjson.dumps({"requests": _requests, "calls": rows}))

    gevent.spawn(count)
