"""Writing a file so that no reader ever sees half of it: one writer for the summary, the reports and the
simulator's 0600 token file (`--env-out`, whose appearance is the signal its starter waits on)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, payload: bytes, mode: int | None = None) -> None:
    """Write `payload` to `path` so readers never see half a file: a temp file beside it, fsync, rename, and
    the directory fsynced. Parent directories are created. `mode` (e.g. 0o644 for reports) replaces the temp
    file's 0600, which the summary keeps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
