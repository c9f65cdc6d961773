"""Files in and out. In: one reader for every input a user names (profiles, env files, summaries for
`compare`/`report`/`history`): regular files only, and bounded, so a FIFO, a device (`/dev/zero`) or a
process substitution (`<(cat p.json)`, a pipe) is refused at once, never read forever nor into memory
without end. `fixload validate` and `fixload run` both refuse a `<(...)`: the Locust process `run` starts
could not open the parent's pipe, so the two commands say the same thing (write it to a file first).
Out: one writer so that no reader ever sees half a file (the summary, the reports and the simulator's
0600 token file, `--env-out`, whose appearance is the signal its starter waits on)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

MiB = 1024 * 1024
MAX_PROFILE_BYTES = 16 * MiB
"""A profile larger than this is refused (the largest real one is a few KiB)."""
MAX_ENV_FILE_BYTES = 1 * MiB
"""An env file larger than this is refused."""
MAX_SUMMARY_BYTES = 256 * MiB
"""A summary (or a k6 export) larger than this is refused by `compare`, `report` and `--history` (a
summary's time series and stored failure bodies are bounded far below this)."""


class InputFileError(ValueError):
    """An input file that cannot be used: the message names the path and what was expected."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe or FIFO (a named pipe, or a process substitution such as <(...))"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_input(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file `path` (`what` it should be: "a profile file"), at most `limit`.
    InputFileError, at once, for a missing file, anything but a regular file (opened without blocking,
    so a FIFO with no writer does not hang), or one larger than `limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found (expected {what})") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open it: {exc.strerror or exc} (expected {what})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            hint = "" if stat.S_ISDIR(mode) else " (write it to a file first)"
            raise InputFileError(f"{path}: is {_kind(mode)}; expected {what}, a regular file{hint}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise InputFileError(f"{path}: larger than {limit // MiB} MiB, the bound for {what}")
        return b"".join(chunks)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


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
