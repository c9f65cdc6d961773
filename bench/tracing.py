"""What issue 29 costs per request, in µs of CPU (one process, no HTTP):

- ids: `fixload.flows.tracing.stamp` (X-Request-Id, traceparent, baggage) on a request's headers;
- record: a request event through the plugin's listeners as a run installs them (the samples marker, the
  recorder's five k6 HTTP samples, the marker's end), with nothing else on, then with `--samples` (JSON
  Lines, then gzip), then with `--otel-endpoint` (the OTLP exporter posting to a loopback receiver every
  second), then with both;
- the iteration samples (three per iteration) are tapped alike and not counted here.

CPU time (`time.process_time`), so a busy shared machine changes the numbers little; the median of 5 rounds.

    python bench/tracing.py [--n 50000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust.env import Environment

from fixload.flows.tracing import Tracing, new_trace_id, stamp
from fixload.metrics.registry import define_run_metrics
from fixload.runtime import recorder
from fixload.runtime.role import role_for
from fixload.runtime.state import Runtime
from fixload.surfaces import otel, samples


class _Response:
    status_code = 200
    _sent_request = b"GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    request = None

    def __init__(self) -> None:
        self.fixload_request = ("0f8c1a52-8d1f-4a53-9d6a-1f0c9e2b7a41", "4bf92f3577b34da6a3ce929d0e0e4736", "Ping")


def ids(n: int) -> float:
    tracing, trace_id = Tracing(), new_trace_id()
    headers: dict[str, str] = {}
    start = time.process_time()
    for i in range(n):
        headers = {"Content-Type": "application/json"}
        stamp(headers, tracing, trace_id, "ping", "Ping", i)
    return (time.process_time() - start) / n * 1e6


def record(n: int, samples_path: str = "", otel_url: str = "") -> float:
    env = Environment()
    env.parsed_options = SimpleNamespace(samples=samples_path, samples_limit=10**12, otel_endpoint=otel_url)
    run = Runtime.standalone(env)
    run.role = role_for(run, None)
    define_run_metrics(run.registry, ())
    samples.install(run)
    otel.install(run)
    recorder.install(run)
    samples.install_end(run)
    otel.install_end(run)
    env.events.test_start.fire(environment=env)
    response, context = _Response(), {"scenario": "ping"}
    fire = env.events.request.fire
    start = time.process_time()
    for _ in range(n):
        fire(request_type="GET", name="/api/ping", response_time=1.0, response_length=20, response=response,
             context=context, exception=None)  # fmt: skip
    spent = time.process_time() - start
    env.events.test_stop.fire(environment=env)
    env.events.quitting.fire(environment=env)
    return spent / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import os

    from otlpkit import OtlpReceiver

    os.environ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as receiver:
        cases = {
            "ids (stamp)": lambda: ids(args.n),
            "record: nothing on": lambda: record(args.n),
            "record: --samples x.jsonl": lambda: record(args.n, f"{tmp}/x.jsonl"),
            "record: --samples x.jsonl.gz": lambda: record(args.n, f"{tmp}/x.jsonl.gz"),
            "record: --otel-endpoint": lambda: record(args.n, "", receiver.url),
            "record: --samples .gz + --otel-endpoint": lambda: record(args.n, f"{tmp}/y.jsonl.gz", receiver.url),
        }
        for _ in range(args.rounds):
            for name, case in cases.items():
                out.setdefault(name, []).append(case())
    base = statistics.median(out["record: nothing on"])
    print(f"CPU µs per request, median of {args.rounds} rounds of {args.n} (all rounds in brackets)")
    for name, runs in out.items():
        median = statistics.median(runs)
        extra = f"  (+{median - base:.2f} µs)" if name.startswith("record") and name != "record: nothing on" else ""
        print(f"  {name:<42} {median:7.2f}{extra}   [{', '.join(f'{r:.2f}' for r in runs)}]")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
