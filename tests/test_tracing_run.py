"""Issue 29, for real: a `fixload run` against the simulator with the product's ads bug (`--preset fixnado-d191423`,
its request log at debug level), exporting to a loopback OTLP/HTTP receiver and writing `--samples`. From the
summary's request ids to the simulator's log lines; every request's ids unique and W3C-valid; the samples
reproduce the summary's counts; the OTLP payload holds the k6 metrics and the run's lifecycle; no secret in
any of it. `fixload check` prints the failed request's id, and the log has it."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.proto")

from fixload.flows.tracing import parse_traceparent
from fixload.simulator.process import SimulatorProcess
from tests.otlpkit import OtlpReceiver

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^\S+ \S+ (ERROR|WARNING|DEBUG) (request failed|request) (\{.*\})$")
PROFILE = {
    "profile": "trace drill",
    "settings": {"defaultSleepSeconds": 0, "ads": {"sleepSeconds": 0}, "payments": {"sleepSeconds": 0}},
    "scenarios": {
        "ads_flow": {
            "executor": "constant-arrival-rate",
            "rate": 10,
            "timeUnit": "1s",
            "duration": "2s",
            "preAllocatedVUs": 4,
            "maxVUs": 8,
        },
        "payments_flow": {"executor": "shared-iterations", "vus": 2, "iterations": 20},
    },
    "thresholds": {"ads_flow_success_rate": ["rate>0.97"]},
}


def log_lines(text: str) -> list[dict[str, Any]]:
    """The simulator's request log, one dict per line (with its level)."""
    out = []
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            out.append({**json.loads(match.group(3)), "level": match.group(1)})
    return out


def fixload_run(sim: SimulatorProcess, tmp: Path, *args: str, profile: dict[str, Any] = PROFILE) -> dict[str, Any]:
    path = tmp / "profile.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_", "OTEL_"))}
    env |= {**sim.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}
    summary = tmp / "summary.json"
    argv = [sys.executable, "-m", "fixload", "run", "-f", str(ROOT / "locustfiles"), "--profile", str(path)]
    done = subprocess.run(
        [*argv, "--summary", str(summary), *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )
    return {"done": done, "summary": json.loads(summary.read_text(encoding="utf-8")), "tmp": tmp}


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("trace")
    with (
        SimulatorProcess(preset="fixnado-d191423", extra_args=["--log-level", "debug"]) as sim,
        OtlpReceiver() as otlp,
    ):
        ran = fixload_run(
            sim,
            tmp,
            "--otel-endpoint",
            otlp.url,
            "--samples",
            str(tmp / "samples.jsonl.gz"),
            "--trace-url",
            "http://127.0.0.1:16686/trace/{trace_id}",
        )
        yield {**ran, "sim": sim, "otlp": otlp, "log": log_lines(sim.log())}


def test_the_run_fails_as_the_product_does_and_says_so(drill: dict[str, Any]) -> None:
    """The exporter and the samples change nothing: the ads flow fails every iteration, the run's verdict is k6's."""
    done, summary = drill["done"], drill["summary"]
    assert done.returncode == 99, done.stderr[-3000:]
    scenarios = summary["fixload"]["scenarios"]
    assert scenarios["ads_flow"]["successRate"] == 0 and scenarios["payments_flow"]["successRate"] == 1
    assert "REQUESTS (grep the backend's log for these ids)" in done.stderr
    assert "trace: http://127.0.0.1:16686/trace/" in done.stderr


def test_every_request_id_of_the_summary_is_in_the_simulators_log_next_to_its_error(drill: dict[str, Any]) -> None:
    [failure] = drill["summary"]["fixload"]["scenarios"]["ads_flow"]["failures"]
    assert failure["step"] == "Campaign metric ingestion failed" and failure["status"] == 500
    kept = [*failure["requests"]["first"], *failure["requests"]["last"]]
    assert len(kept) == 6 and failure["count"] == 20
    failed = {line["traceId"]: line for line in drill["log"] if line["level"] == "ERROR"}
    for ids in kept:
        line = failed[ids["requestId"]]  # the simulator logged it as an error, with the product's message
        assert line["status"] == 500 and line["message"] == "Internal server error"
        assert line["method"] == "POST" and line["path"].endswith("/metrics")
        assert parse_traceparent(line["traceparent"])[1] == ids["traceId"]
    # the ERROR line the flow logged names the first one too
    assert f"X-Request-Id: {kept[0]['requestId']}, trace {kept[0]['traceId']}" in drill["done"].stderr


def test_every_request_of_the_run_has_unique_w3c_valid_ids(drill: dict[str, Any]) -> None:
    lines = drill["log"]
    requests = drill["summary"]["metrics"]["http_reqs"]["count"]
    assert len(lines) == requests  # the debug log has every request the run counted
    request_ids = [line["traceId"] for line in lines]
    parents = [line["traceparent"] for line in lines]
    assert len(set(request_ids)) == len(set(parents)) == requests
    assert all(uuid.UUID(r).version == 4 for r in request_ids)
    assert all(parse_traceparent(p) is not None and p.endswith("-01") for p in parents)
    slowest = drill["summary"]["fixload"]["scenarios"]["payments_flow"]["slowest"]
    assert len(slowest) == 5 and {s["requestId"] for s in slowest} <= set(request_ids)


def _samples(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path) as read:
        return [json.loads(line) for line in read]


def test_the_samples_hold_exactly_the_counted_requests_and_reproduce_the_summary(drill: dict[str, Any]) -> None:
    records = [r for path in sorted(drill["tmp"].glob("samples*.jsonl.gz")) for r in _samples(path)]
    points = [r for r in records if r["type"] == "Point"]
    metrics = drill["summary"]["metrics"]
    by_metric = Counter(r["metric"] for r in points)
    assert by_metric["http_reqs"] == metrics["http_reqs"]["count"]
    assert by_metric["iterations"] == metrics["iterations"]["count"]
    failed = [r for r in points if r["metric"] == "http_req_failed"]
    assert sum(r["data"]["value"] for r in failed) == metrics["http_req_failed"]["passes"]
    checks = [r for r in points if r["metric"] == "checks"]
    assert sum(r["data"]["value"] for r in checks) == metrics["checks"]["passes"]
    assert len(checks) == metrics["checks"]["passes"] + metrics["checks"]["fails"]
    per_scenario = Counter(r["data"]["tags"].get("scenario") for r in points if r["metric"] == "iterations")
    for name, rollup in drill["summary"]["fixload"]["scenarios"].items():
        assert per_scenario[name] == rollup["completed"], name
    flow_requests = [r for r in points if r["metric"] == "http_reqs" and "scenario" in r["data"]["tags"]]
    assert all(r["data"]["tags"]["request_id"] and r["data"]["tags"]["step"] for r in flow_requests)
    assert all(len(r["data"]["metadata"]["trace_id"]) == 32 for r in flow_requests)
    declared = [r["metric"] for r in records if r["type"] == "Metric"]
    assert "http_reqs" in declared


def test_the_otlp_receiver_gets_the_k6_metrics_and_the_runs_lifecycle(drill: dict[str, Any]) -> None:
    otlp: OtlpReceiver = drill["otlp"]
    points = otlp.metric_points()
    units = otlp.units()
    assert units["http.client.request.duration"] == "s"
    for name in ("k6_http_reqs", "k6_iterations", "k6_checks.total", "k6_ads_flow_duration"):
        assert name in points, sorted(points)
    durations = points["http.client.request.duration"]
    for attributes, point in durations:  # cumulative: the last export of each series holds its total
        assert attributes["http.request.method"] in {"GET", "POST"} and attributes["url.template"].startswith("/api")
        assert point.sum < point.count * 5  # seconds, not milliseconds
    last: dict[tuple, int] = {tuple(sorted(a.items())): p.count for a, p in durations}
    count = sum(last.values())
    assert count == drill["summary"]["metrics"]["http_reqs"]["count"]
    errors = [a for a, _ in durations if a.get("http.response.status_code") == 500]
    assert errors and all(a["error.type"] == "500" for a in errors)
    resources = otlp.resources()
    assert all(r["service.name"] == "fixload" and r["fixload.profile"] == "trace drill" for r in resources)
    [run] = [s for s in otlp.spans() if s.name == "fixload run"]
    events = [e.name for e in run.events]
    assert events[0] == "setup" and events.count("scenario start") == events.count("scenario end") == 2
    assert "threshold" in events


def test_no_secret_in_ids_samples_otlp_or_the_summary(drill: dict[str, Any]) -> None:
    tokens = [v for k, v in drill["sim"].env.items() if k.endswith("_TOKEN")]
    blobs = [b"".join(drill["otlp"].raw)]
    for path in drill["tmp"].glob("samples*.jsonl.gz"):
        with gzip.open(path) as read:
            blobs.append(read.read())
    blobs += [json.dumps(drill["summary"]).encode(), drill["done"].stderr.encode()]
    for token in tokens:
        for blob in blobs:
            assert token.encode() not in blob
            assert token.split(".")[-1].encode() not in blob  # a JWT's signature alone


def _rate_profile(rate: int, seconds: int) -> dict[str, Any]:
    scenario = {"executor": "constant-arrival-rate", "rate": rate, "timeUnit": "1s", "duration": f"{seconds}s"}
    scenario |= {"preAllocatedVUs": 40, "maxVUs": 150}
    return {
        "profile": "trace soak",
        "settings": {"defaultSleepSeconds": 0, "payments": {"sleepSeconds": 0}},
        "scenarios": {"payments_flow": scenario},
    }


@pytest.mark.slow
def test_the_samples_of_a_60s_run_hold_exactly_its_requests(tmp_path: Path) -> None:
    """The issue's own figure: a 60 s run's samples (its fast twin above runs 2 s)."""
    with SimulatorProcess() as sim:
        ran = fixload_run(sim, tmp_path, "--samples", str(tmp_path / "s.jsonl.gz"), profile=_rate_profile(20, 60))
    assert ran["done"].returncode == 0, ran["done"].stderr[-3000:]
    points = [r for p in tmp_path.glob("s*.jsonl.gz") for r in _samples(p) if r["type"] == "Point"]
    metrics = ran["summary"]["metrics"]
    assert Counter(r["metric"] for r in points)["http_reqs"] == metrics["http_reqs"]["count"] > 1000
    assert sum(r["data"]["value"] for r in points if r["metric"] == "iterations") == metrics["iterations"]["count"]


@pytest.mark.slow
def test_ten_thousand_requests_of_a_run_have_unique_w3c_valid_ids(tmp_path: Path) -> None:
    """Every request of a >10,000-request run, as the simulator logged it (its fast twin: tests/test_tracing.py)."""
    with SimulatorProcess(extra_args=["--log-level", "debug"]) as sim:
        ran = fixload_run(sim, tmp_path, profile=_rate_profile(600, 25))
        lines = log_lines(sim.log())
    assert ran["done"].returncode == 0, ran["done"].stderr[-3000:]
    requests = ran["summary"]["metrics"]["http_reqs"]["count"]
    assert requests >= 10_000 and len(lines) == requests
    assert len({line["traceId"] for line in lines}) == len({line["traceparent"] for line in lines}) == requests
    assert all(parse_traceparent(line["traceparent"]) for line in lines)
