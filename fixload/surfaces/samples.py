"""`--samples PATH`: every metric sample of the run as JSON Lines, in k6's `--out json` record shape.

Each metric's first sample is preceded by its declaration, as k6 writes it:

    {"type":"Metric","data":{"name":"http_reqs","type":"counter","contains":"default","thresholds":[],"submetrics":null},"metric":"http_reqs"}
    {"metric":"http_reqs","type":"Point","data":{"time":"2026-12-07T01:49:48.659762Z","value":1,"tags":{...}}}

A request's samples (`http_reqs`, `http_req_duration`, ...) carry its series tags plus `step` and
`request_id`, and its trace id as `data.metadata.trace_id` (where k6's tracing puts it). The registry hands
every sample to a tap (`Registry.add_tap`); while taps listen, the recorder says which request the HTTP
samples it records belong to (`Runtime.recording`). Every process writes its own file (no sample crosses the wire):
the master or local runner `PATH`, a worker `PATH` with `.worker-<n>` before its extension. A name ending
in `.gz` is gzip-compressed (level 1). `--samples-limit` bounds the bytes written (uncompressed, default
1 GB); past it one warning says so and no further sample is written (docs/tracing.md).
"""

from __future__ import annotations

import gzip
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from fixload.common.secrets import redact
from fixload.runtime.state import Runtime

logger = logging.getLogger("fixload.samples")

DEFAULT_LIMIT = 1_000_000_000
_HTTP = frozenset({"http_reqs", "http_req_duration", "http_req_failed", "data_received", "data_sent"})
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_FLUSH_BYTES = 256 * 1024


def size_limit(value: str) -> int:
    """`--samples-limit`: bytes, or a number with kB/MB/GB (decimal, as k6 prints sizes)."""
    import argparse

    match = _SIZE.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size such as 500MB or 2GB (got {value!r})")
    factor = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--samples",
        default="",
        metavar="PATH",
        help="write every metric sample as JSON Lines in k6's --out json shape (gzip when PATH ends in .gz); "
        "a worker writes its own beside it (samples.worker-1.jsonl.gz)",
    )
    parser.add_argument(
        "--samples-limit",
        default=DEFAULT_LIMIT,
        type=size_limit,
        metavar="SIZE",
        help="stop writing --samples past this many bytes, uncompressed (default 1GB)",
    )


def worker_path(path: str, index: str) -> Path:
    """`samples.jsonl.gz` → `samples.worker-<index>.jsonl.gz`: a worker's own file beside the master's."""
    p = Path(path)
    suffixes = "".join(p.suffixes)
    stem = p.name[: len(p.name) - len(suffixes)] if suffixes else p.name
    return p.with_name(f"{stem}.worker-{index}{suffixes}")


class SampleWriter:
    """One process's samples file: buffered, bounded, k6's record shape."""

    def __init__(self, path: Path, limit: int, registry: Any, recording: Callable[[], Any] = lambda: None) -> None:
        self.path = path
        self.recording = recording
        """The response whose HTTP samples are being recorded now (the recorder says: `Runtime.recording`)."""
        self.limit = limit
        self.registry = registry
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = path.open("wb")
        self._file: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) if path.suffix == ".gz" else raw
        self._raw = raw
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.written = 0
        """Bytes written, uncompressed."""
        self.samples = 0
        self.full = False
        self._declared: set[str] = set()
        self._current: tuple[Any, dict[str, str], str, str] = (None, {}, "", "")
        """The request the last HTTP samples belonged to: (its response, its extra tags, trace id, time)."""
        self._second = -1
        self._prefix = ""
        self._tags: dict[int, tuple[Any, dict[str, str]]] = {}
        """Each series' tags, redacted once (a series' tag dict lives as long as the series)."""

    def now(self) -> str:
        """RFC 3339 UTC with microseconds, as k6 writes `time` (the second's text is cached)."""
        moment = time.time()
        second = int(moment)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((moment - second) * 1_000_000):06d}Z"

    def sample(self, name: str, value: float, tags: Any) -> None:
        """The registry's tap: one Point (and the metric's declaration before its first)."""
        if self.full:
            return
        if name not in self._declared:
            self._declared.add(name)
            self._declare(name)
        cached = self._tags.get(id(tags))
        if cached is None or cached[0] is not tags:
            cached = self._tags[id(tags)] = (tags, {str(k): redact(str(v)) for k, v in tags.items()})
        tags = cached[1]
        current = self.current() if name in _HTTP else None
        data: dict[str, Any]
        if current is not None:
            extra, trace_id, when = current
            data = {"time": when, "value": value, "tags": {**tags, **extra}}
            if trace_id:
                data["metadata"] = {"trace_id": trace_id}
        else:
            data = {"time": self.now(), "value": value, "tags": tags}
        self._write(orjson.dumps({"metric": name, "type": "Point", "data": data}) + b"\n")
        self.samples += 1

    def current(self) -> tuple[dict[str, str], str, str] | None:
        """The request being recorded: its extra tags (`step`, `request_id`), trace id and time, worked out
        once for its five samples; None outside a request."""
        response = self.recording()
        if response is None:
            return None
        if self._current[0] is not response:
            found = getattr(response, "fixload_request", None)
            if found is None:
                self._current = (response, {}, "", self.now())
            else:
                request_id, trace_id, step = found
                tags = {"step": redact(step), **({"request_id": request_id} if request_id else {})}
                self._current = (response, tags, trace_id, self.now())
        return self._current[1:]

    def _declare(self, name: str) -> None:
        metric = self.registry.get(name)
        kind, contains = (str(metric.type), str(metric.contains)) if metric is not None else ("counter", "default")
        data = {"name": name, "type": kind, "contains": contains, "thresholds": [], "submetrics": None}
        self._write(orjson.dumps({"type": "Metric", "data": data, "metric": name}) + b"\n")

    def _write(self, line: bytes) -> None:
        if self.written + len(line) > self.limit:
            self.full = True
            logger.warning(
                "fixload: --samples %s reached its size limit (%d bytes, --samples-limit) after %d samples; "
                "later samples are not written",
                self.path,
                self.limit,
                self.samples,
            )
            return
        self._buffer.append(line)
        self._buffered += len(line)
        self.written += len(line)
        if self._buffered >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> None:
        self.flush()
        self._file.close()
        if self._file is not self._raw:
            self._raw.close()


def _requested(runtime: Runtime) -> tuple[str, int]:
    options = runtime.environment.parsed_options
    path = (getattr(options, "samples", "") if options is not None else "") or ""
    limit = getattr(options, "samples_limit", DEFAULT_LIMIT) if options is not None else DEFAULT_LIMIT
    return str(path), int(limit or DEFAULT_LIMIT)


def install(run: Runtime) -> None:
    """Open the file at each test's start: a tap on the registry (the recorder then says which request its
    HTTP samples belong to, `Runtime.recording`). `install_end` closes it."""
    environment = run.environment
    state = run.samples_state = {"writer": None}

    def on_test_start(**_: Any) -> None:
        _close(run, state)
        path, limit = _requested(run)
        if not path:
            return
        target = Path(path)
        if run.role.name == "worker":
            runner = environment.runner
            target = worker_path(path, str(getattr(runner, "worker_index", "") or runner.client_id))
        try:
            writer = SampleWriter(target, limit, run.registry, lambda: run.recording)
        except OSError as exc:
            logger.error("fixload: --samples %s cannot be written (%s); the run goes on without it", path, exc)
            return
        state["writer"] = writer
        run.registry.add_tap(writer.sample)

    environment.events.test_start.add_listener(on_test_start)


def install_end(run: Runtime) -> None:
    """After the driver's summary (fixload.plugin): the file is closed when the test stops or Locust quits,
    with the samples the end of the test recorded in it."""
    environment, state = run.environment, run.samples_state

    def on_stop(**_: Any) -> None:
        _close(run, state)

    environment.events.test_stop.add_listener(on_stop)
    environment.events.quitting.add_listener(on_stop)


def _close(run: Runtime, state: dict[str, Any]) -> None:
    writer, state["writer"] = state["writer"], None
    if writer is None:
        return
    run.registry.remove_tap(writer.sample)
    writer.close()
    logger.info("fixload: %d samples written to %s", writer.samples, writer.path)
