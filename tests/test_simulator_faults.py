"""Fault injection end to end: error rates, latency distributions, hang, reset, windows, clearing, presets."""

from __future__ import annotations

import http.client
import math
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fixload.simulator.faults import FLOW_REQUESTS, STAGING_P95_MS, FaultError, parse_rule, preset
from fixload.simulator.process import SimulatorProcess

WAKE_SLACK_MS = 10.0
"""How late a loaded machine wakes the simulator's sleeping request (an injected latency ends no earlier)."""


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimulatorProcess(seed=3) as process:
        yield process


@pytest.fixture(autouse=True)
def _clean(sim: SimulatorProcess) -> None:
    sim.clear_faults()
    sim.reset_stats()


def burst(sim: SimulatorProcess, path: str, total: int, workers: int = 1) -> list[int]:
    """`total` GETs over keep-alive connections (one per worker); the statuses in order of completion."""
    per_worker = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]

    def run(count: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        statuses = []
        for _ in range(count):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(workers) as pool:
        return [s for chunk in pool.map(run, per_worker) for s in chunk]


def test_error_rate_lands_within_three_points(sim: SimulatorProcess) -> None:
    sim.add_fault({"route": "/ping", "method": "GET", "error_rate": 0.2, "status": 503})
    statuses = burst(sim, "/ping", 2000, workers=4)
    failed = statuses.count(503) / len(statuses)
    assert set(statuses) == {200, 503}
    assert abs(failed - 0.2) <= 0.03, failed
    assert sim.stats()["routes"]["GET /ping"]["statuses"]["503"] == statuses.count(503)


@pytest.mark.parametrize(
    ("latency", "expected_p95_ms"),
    [
        ({"p50_ms": 40, "p95_ms": 100}, 100.0),
        ({"uniform_ms": [20, 100]}, 96.0),
        ({"fixed_ms": 60}, 60.0),
    ],
)
def test_latency_p95_within_ten_percent(sim: SimulatorProcess, latency: dict[str, Any], expected_p95_ms: float) -> None:
    burst(sim, "/api/zones", 500, workers=50)
    own_p95 = sim.stats()["routes"]["GET /api/zones"]["latencyMs"]["p95"]  # the server's own time, no fault
    sim.reset_stats()
    sim.add_fault({"route": "/api/zones", "method": "GET", "latency": latency})
    burst(sim, "/api/zones", 1500, workers=50)
    p95 = sim.stats()["routes"]["GET /api/zones"]["latencyMs"]["p95"]
    # injected latency adds to the server's own time (well under a millisecond unless the machine is saturated);
    # above it, the server's sleep may also wake late on a machine shared by two CI shards (68.1 ms for a fixed
    # 60 in one): never early, so the lower side stays exact
    assert p95 >= 0.9 * expected_p95_ms, (p95, own_p95)
    assert p95 <= 1.1 * expected_p95_ms + own_p95 + WAKE_SLACK_MS, (p95, own_p95)


def test_hang_does_not_block_other_routes(sim: SimulatorProcess) -> None:
    sim.add_fault({"route": "/api/bookings", "method": "GET", "hang": True})
    hung = threading.Event()

    def hanging_call() -> None:
        try:
            sim.request("GET", "/api/bookings", timeout=1)
        except TimeoutError:
            hung.set()

    thread = threading.Thread(target=hanging_call)
    thread.start()
    try:
        assert burst(sim, "/api/zones", 50) == [200] * 50  # answered while the other request hangs
    finally:
        thread.join(5)
    assert hung.is_set()
    log = sim.requests(limit=100)
    assert any(r["route"] == "/api/bookings" and r["fault"] == "hang" and r["status"] is None for r in log)


def test_reset_drops_the_connection(sim: SimulatorProcess) -> None:
    sim.add_fault({"route": "/api/zones", "reset": True})
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(b"GET /api/zones HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            data = conn.recv(1024)
            assert data == b"", data  # a FIN instead of a RST would also fail the test here
            raise AssertionError("connection closed without a reset")
    assert sim.request("GET", "/api/services")[0] == 200


def test_clearing_restores_normal_service(sim: SimulatorProcess) -> None:
    sim.add_fault({"route": "re:/api(/v1)?/zones", "error_rate": 1.0, "status": 500})
    assert sim.request("GET", "/api/zones")[0] == 500
    assert len(sim.request("GET", "/__fixload/faults")[1]) == 1
    assert sim.request("DELETE", "/__fixload/faults") == (200, {"cleared": 1})
    assert burst(sim, "/api/zones", 200) == [200] * 200
    assert sim.request("GET", "/__fixload/faults") == (200, [])


def test_time_window_and_method_filter(sim: SimulatorProcess) -> None:
    later = sim.add_fault({"route": "/api/zones", "error_rate": 1.0, "window": {"start_s": 3600, "duration_s": 60}})
    assert later[0]["activeNow"] is False
    sim.add_fault({"route": "/api/zones", "method": "POST", "error_rate": 1.0, "status": 418})
    assert sim.request("GET", "/api/zones")[0] == 200
    assert sim.request("POST", "/api/zones", {})[0] == 418
    now = sim.add_fault({"route": "/api/services", "error_rate": 1.0, "status": 502, "window": {"duration_s": 600}})
    assert now[0]["activeNow"] is True and sim.request("GET", "/api/services")[0] == 502


def test_bad_rules_are_rejected_naming_the_field(sim: SimulatorProcess) -> None:
    status, body = sim.request("POST", "/__fixload/faults", {"route": "/x", "error_rate": 2})
    assert status == 422 and body["field"] == "error_rate"
    status, body = sim.request("POST", "/__fixload/faults", {"route": "/x", "latency": {"p50_ms": 10}})
    assert status == 422 and body["field"] == "latency"
    status, body = sim.request("POST", "/__fixload/faults", {"route": "/x", "errorrate": 0.1})
    assert status == 422 and body["field"] == "errorrate"
    with pytest.raises(FaultError, match="preset"):
        preset("production")


def test_cli_fault_flag_and_preset(make_simulator: Any) -> None:
    rule = {"route": "/ping", "error_rate": 1.0, "status": 599}
    sim = make_simulator(faults=[rule], preset="staging")
    assert sim.request("GET", "/ping")[0] == 599
    rules = sim.request("GET", "/__fixload/faults")[1]
    assert len(rules) == 1 + sum(len(dict.fromkeys(r)) for r in FLOW_REQUESTS.values())
    status, body = sim.request("POST", "/__fixload/faults", {"preset": "staging"})
    assert status == 201 and {r["flow"] for r in body} == set(STAGING_P95_MS)


def test_staging_preset_reproduces_each_flows_p95() -> None:
    """Draw each flow's requests from the preset's rules and sum them: the p95 of the sums is the drill's."""
    rng = random.Random(5)
    rules = [parse_rule(spec, index) for index, spec in enumerate(preset("staging"))]
    for flow, target in STAGING_P95_MS.items():
        flow_rules = [r for r in rules if r.spec["flow"] == flow]
        by_request = []
        for method, template in FLOW_REQUESTS[flow]:
            by_request.append(next(r for r in flow_rules if r.matches(method, "/api" + template, "")))
        sums = sorted(sum(r.draw_latency(rng) for r in by_request) * 1000 for _ in range(20_000))
        p95 = sums[int(0.95 * len(sums))]
        assert math.isclose(p95, target, rel_tol=0.05), (flow, p95, target)


def test_the_staging_preset_scales_one_flows_latencies() -> None:
    """`{"preset": "staging", "scale": {"booking_flow": 1.3}}`: booking's requests 30 % slower at every quantile
    (the compare drill's known regression), the other flows untouched; a bad scale names the field."""
    plain = {(r["flow"], r["regex"], r["method"]): r["latency"] for r in preset("staging")}
    scaled = {(r["flow"], r["regex"], r["method"]): r["latency"] for r in preset("staging", {"booking_flow": 1.3})}
    assert plain.keys() == scaled.keys()
    for key, latency in scaled.items():
        factor = 1.3 if key[0] == "booking_flow" else 1.0
        assert latency["p50_ms"] == pytest.approx(plain[key]["p50_ms"] * factor, rel=1e-3)
        assert latency["p95_ms"] == pytest.approx(plain[key]["p95_ms"] * factor, rel=1e-3)
    for scale, field in (
        ({"bookings": 1.3}, "scale.bookings"),
        ({"booking_flow": 0}, "scale.booking_flow"),
        (2, "scale"),
    ):
        with pytest.raises(FaultError, match=field.replace(".", r"\.")):
            preset("staging", scale)
    with pytest.raises(FaultError, match="only the staging preset"):
        preset("fixnado-d191423", {"booking_flow": 2})


def test_fixnado_d191423_preset_fails_metrics_ingestion_with_the_products_body(make_simulator: Any) -> None:
    """FIXNADO-API.md B2/B3: every POST /api/campaigns/{id}/metrics is a 500 {"message":"Internal server error"}
    on d191423 (even for an unknown campaign); every other route is untouched."""
    sim = make_simulator(preset="fixnado-d191423")
    day = {"metricDate": "2026-01-01T00:00:00Z", "impressions": 1000, "clicks": 50, "spend": 200, "revenue": 300}
    for campaign in ("0b6f9c1e-8d1a-4a55-9b3e-2f7d6c1a0e11", "not-a-campaign"):
        assert sim.request("POST", f"/api/campaigns/{campaign}/metrics", day) == (
            500,
            {"message": "Internal server error"},
        )
    assert sim.request("GET", "/api/zones")[0] == 200
    assert sim.request("GET", "/api/campaigns/x/metrics")[0] != 500  # POST only
    [rule] = sim.request("GET", "/__fixload/faults")[1]
    assert rule["name"].startswith("fixnado-d191423") and rule["status"] == 500
