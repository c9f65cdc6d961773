"""The wrapper's children: started so that they die with it, told of every signal it gets, never left behind.

`fixload run` is the process a user (or CI) holds: they signal its PID, or kill it. So:
- a child is started with SIGINT/SIGTERM *blocked* (the mask survives exec): a signal forwarded before
  Locust installed its handlers waits in the child until fixload's plugin unblocks them at `init`, instead
  of killing it with no summary (`accept_signals`);
- on Linux a child asks the kernel for a parent-death signal (`PR_SET_PDEATHSIG`), so even a SIGKILL of
  the wrapper ends the simulator and Locust (which then writes its summary, as for a SIGTERM);
- Locust runs in its own process group, so the wrapper can remove whatever is left of it (workers whose
  master died) with one `killpg`, and a terminal's Ctrl-C reaches the wrapper only, which forwards it once;
- no exit code of the wrapper is ever a raw signal number (`exit_code`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when the thread that forked it dies."""
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
"""Loaded in the parent: a preexec_fn must not load libraries (nor run `ldconfig`) between fork and exec."""


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send `signum` to this process when its parent dies; exit now if it already has.

    Runs in a child between fork and exec (a `preexec_fn`; the setting survives exec), or in a process
    Locust forked. Linux sends it when the *thread* that forked the child ends: start children from the
    main thread (or one that lives as long as they should). Elsewhere than Linux it does nothing: the
    wrapper's own cleanup and the workers' master-liveness check still apply.
    """
    if _LIBC is None:
        return
    parent = os.getppid()
    _LIBC.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent or parent == 1:  # the parent died before the request: nobody will signal us
        os._exit(1)


def _setup(hold_signals: bool, then: Callable[[], None] | None) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        if hold_signals:
            signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        os.setpgid(0, 0)
        die_with_parent(signal.SIGTERM)
        if then is not None:
            then()

    return setup


def start(
    command: list[str], *, hold_signals: bool = True, then: Callable[[], None] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start a child the caller owns: its own process group, SIGTERM when the caller dies, and (if
    `hold_signals`) SIGINT/SIGTERM held until it calls `accept_signals`. `then` runs last in the child
    before exec. Its stdin is not the terminal: in a background process group, reading (or setting up)
    the terminal would stop it."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(command, preexec_fn=_setup(hold_signals, then), **popen)


def accept_signals() -> None:
    """In a child: take the SIGINT/SIGTERM the wrapper forwarded (held until now) and any later ones.

    Call it once the process's own handlers are in place; a pending signal is delivered at once."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def remove_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL whatever is left in a finished child's process group (e.g. workers whose master died)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


class SignalRelay:
    """SIGINT/SIGTERM at the wrapper: remembered from the first moment, forwarded to the child as they come.

    Installed before anything slow happens (imports, validation, the simulator's start), so no signal is
    ever lost nor kills the wrapper with a raw code; what to do with one that came before the child exists
    is the caller's decision (`received`)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.child: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def install(self) -> SignalRelay:
        for signum in FORWARDED:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def first(self) -> str | None:
        return self.received[0] if self.received else None

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        """From now on signals go to `child`; one that came before is sent now (the child holds it)."""
        self.child = child
        for name in self.received:
            self._forward(signal.Signals[name])

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self.child is not None:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        child = self.child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)


def exit_code(returncode: int, fallback: int) -> int:
    """A child's code as the wrapper's own: a negative one (killed by a signal) becomes `fallback`, never
    the shell's 128+N or Python's 256-N."""
    return returncode if 0 <= returncode <= 255 else fallback
