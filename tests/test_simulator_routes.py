"""Each route's happy path and its errors, through a real `fixload serve` process on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixload.simulator.process import SimulatorProcess

PREFIXES = ("/api", "/api/v1")


def iso(delta_minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=delta_minutes)).isoformat().replace("+00:00", "Z")


def zone_payload(sim: SimulatorProcess) -> dict[str, Any]:
    ring = [[-0.13, 51.50], [-0.12, 51.50], [-0.12, 51.51], [-0.13, 51.51], [-0.13, 51.50]]
    return {
        "companyId": sim.env["K6_COMPANY_ID"],
        "name": "load-test zone",
        "demandLevel": "medium",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "metadata": {"source": "fixload"},
    }


def campaign_payload(sim: SimulatorProcess) -> dict[str, Any]:
    return {
        "companyId": sim.env["K6_COMPANY_ID"],
        "name": "load-test campaign",
        "objective": "awareness",
        "campaignType": "search",
        "status": "active",
        "pacingStrategy": "even",
        "bidStrategy": "cpc",
        "currency": "GBP",
        "totalBudget": 5000,
        "dailySpendCap": 800,
        "startAt": iso(),
        "endAt": iso(7 * 24 * 60),
        "metadata": {},
    }


def booking_payload(sim: SimulatorProcess, zone_id: str, scheduled: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": sim.env["K6_CUSTOMER_ID"],
        "companyId": sim.env["K6_COMPANY_ID"],
        "zoneId": zone_id,
        "type": "scheduled" if scheduled else "on_demand",
        "demandLevel": "high",
        "baseAmount": 120.5,
        "currency": "GBP",
        "targetCurrency": "GBP",
        "metadata": {"source": "fixload"},
        "actor": {"id": sim.env["K6_PROVIDER_ID"], "type": "user"},
    }
    if scheduled:
        body["scheduledStart"] = iso(120)
        body["scheduledEnd"] = iso(240)
    return body


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimulatorProcess(seed=11) as process:
        yield process


@pytest.fixture(scope="module")
def fixtures(sim: SimulatorProcess) -> dict[str, str]:
    """A zone, a service and a campaign, created the way the setup step does."""
    zone = sim.request("POST", "/api/zones", zone_payload(sim))[1]
    service = sim.request(
        "POST",
        "/api/services",
        {"title": "Boiler check", "description": "d", "category": "load-test", "price": 99, "currency": "GBP"},
        token="provider",
    )[1]
    campaign = sim.request("POST", "/api/campaigns", campaign_payload(sim), token="admin")[1]
    return {"zone": zone["id"], "service": service["id"], "campaign": campaign["id"]}


def test_fixture_discovery_lists_empty_then_create_then_lists(make_simulator: Any) -> None:
    sim = make_simulator()
    company = sim.env["K6_COMPANY_ID"]
    assert sim.request("GET", f"/api/zones?companyId={company}") == (200, [])
    assert sim.request("GET", "/api/services") == (200, [])
    assert sim.request("GET", f"/api/campaigns?companyId={company}", token="admin") == (200, [])

    status, zone = sim.request("POST", "/api/zones", zone_payload(sim))
    assert status == 201 and zone["id"] and zone["companyId"] == company
    status, listed = sim.request("GET", f"/api/v1/zones?companyId={company}")
    assert status == 200 and listed[0]["zone"]["id"] == zone["id"]
    assert sim.request("GET", "/api/zones?companyId=someone-else")[1] == []

    service_body = {"title": "Fix", "description": "x", "category": "load-test", "price": 80, "currency": "GBP"}
    status, service = sim.request("POST", "/api/v1/services", service_body, token="provider")
    assert status == 201 and service["providerId"] == sim.env["K6_PROVIDER_ID"]
    assert sim.request("GET", "/api/services")[1][0]["id"] == service["id"]

    status, campaign = sim.request("POST", "/api/campaigns", campaign_payload(sim), token="admin")
    assert status == 201 and campaign["status"] == "active"
    status, campaigns = sim.request("GET", f"/api/campaigns?companyId={company}", token="admin")
    assert [c["id"] for c in campaigns] == [campaign["id"]]


def test_setup_routes_validate_and_authorize(sim: SimulatorProcess) -> None:
    bad_zone = zone_payload(sim)
    bad_zone["geometry"]["coordinates"][0].pop()  # no longer closed
    status, body = sim.request("POST", "/api/zones", bad_zone)
    assert status == 422 and body["field"] == "geometry.coordinates"
    status, body = sim.request("POST", "/api/zones", {**zone_payload(sim), "demandLevel": "extreme"})
    assert status == 422 and body["field"] == "demandLevel"
    service = {"title": "t", "category": "c", "price": "cheap", "currency": "GBP"}
    status, body = sim.request("POST", "/api/services", service, token="provider")
    assert status == 422 and body["field"] == "price"
    assert sim.request("POST", "/api/services", {**service, "price": 5})[0] == 401
    assert sim.request("POST", "/api/services", {**service, "price": 5}, token="user")[0] == 403
    assert sim.request("GET", "/api/campaigns")[0] == 401
    status, body = sim.request("POST", "/api/campaigns", campaign_payload(sim), token="user")
    assert status == 403 and "create campaigns" in body["message"]
    status, body = sim.request("POST", "/api/campaigns", {**campaign_payload(sim), "totalBudget": None}, token="admin")
    assert status == 422 and body["field"] == "totalBudget"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_booking_flow_happy_path(sim: SimulatorProcess, fixtures: dict[str, str], prefix: str) -> None:
    provider = sim.env["K6_PROVIDER_ID"]
    status, booking = sim.request("POST", f"{prefix}/bookings", booking_payload(sim, fixtures["zone"]))
    assert status == 201 and booking["status"] == "pending" and booking["scheduledStart"]
    bid = booking["id"]
    body = {"assignments": [{"providerId": provider, "role": "lead"}], "actorId": provider}
    status, booking = sim.request("POST", f"{prefix}/bookings/{bid}/assignments", body)
    assert status in (200, 201) and booking["status"] == "assigned"
    answer = {"bookingId": bid, "providerId": provider, "status": "accepted"}
    status, booking = sim.request("POST", f"{prefix}/bookings/{bid}/assignments/response", answer)
    assert status == 200 and booking["status"] == "accepted"
    done = {"status": "completed", "actorId": provider, "reason": "load test"}
    status, booking = sim.request("PATCH", f"{prefix}/bookings/{bid}/status", done)
    assert status == 200 and booking["status"] == "completed" and booking["completedAt"]
    status, listed = sim.request("GET", f"{prefix}/bookings?companyId={sim.env['K6_COMPANY_ID']}&limit=5")
    assert status == 200 and 1 <= len(listed) <= 5 and listed[0]["id"] == bid


def test_booking_errors(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    provider = sim.env["K6_PROVIDER_ID"]
    booking = sim.request("POST", "/api/bookings", booking_payload(sim, fixtures["zone"], scheduled=False))[1]
    bid = booking["id"]
    status, body = sim.request("PATCH", f"/api/bookings/{bid}/status", {"status": "completed"})
    assert status == 409 and body["currentState"] == "pending" and "'pending'" in body["message"]
    answer = {"bookingId": bid, "providerId": provider, "status": "accepted"}
    status, body = sim.request("POST", f"/api/bookings/{bid}/assignments/response", answer)
    assert status == 409 and body["currentState"] == "pending"
    sim.request("POST", f"/api/bookings/{bid}/assignments", {"assignments": [{"providerId": provider}]})
    stranger = {**answer, "providerId": "not-assigned"}
    assert sim.request("POST", f"/api/bookings/{bid}/assignments/response", stranger)[0] == 403
    assert sim.request("POST", f"/api/bookings/{bid}/assignments/response", answer)[0] == 200
    assert (
        sim.request("POST", f"/api/bookings/{bid}/assignments", {"assignments": [{"providerId": provider}]})[0] == 409
    )
    assert sim.request("PATCH", "/api/bookings/nope/status", {"status": "completed"})[0] == 404
    assert sim.request("POST", "/api/bookings/nope/assignments", {"assignments": [{"providerId": provider}]})[0] == 404
    for field, value in (("baseAmount", None), ("baseAmount", "12"), ("type", "someday"), ("zoneId", "unknown")):
        status, body = sim.request("POST", "/api/bookings", {**booking_payload(sim, fixtures["zone"]), field: value})
        assert status == 422 and body["field"] == field, (field, body)
    scheduled = booking_payload(sim, fixtures["zone"])
    del scheduled["scheduledStart"]
    assert sim.request("POST", "/api/bookings", scheduled)[1]["field"] == "scheduledStart"
    status, body = sim.request("POST", f"/api/bookings/{bid}/assignments", {"assignments": [{}]})
    assert status == 409 or body["field"] == "assignments[0].providerId"
    assert sim.request("PUT", "/api/bookings")[0] == 405
    assert sim.request("GET", "/api/unknown")[0] == 404


def conversation_payload(sim: SimulatorProcess) -> dict[str, Any]:
    return {
        "subject": "Load test",
        "createdBy": {"id": sim.env["K6_PROVIDER_ID"], "type": "provider"},
        "participants": [
            {"participantType": "user", "participantReferenceId": sim.env["K6_CUSTOMER_ID"], "displayName": "C"},
            {"participantType": "provider", "participantReferenceId": sim.env["K6_PROVIDER_ID"], "displayName": "P"},
        ],
        "metadata": {"source": "fixload"},
        "aiAssist": {"defaultEnabled": False},
    }


@pytest.mark.parametrize("prefix", PREFIXES)
def test_chat_flow_happy_path(sim: SimulatorProcess, prefix: str) -> None:
    status, conversation = sim.request("POST", f"{prefix}/communications", conversation_payload(sim), token="admin")
    assert status == 201
    by_ref = {p["participantReferenceId"]: p["id"] for p in conversation["participants"]}
    customer, provider = by_ref[sim.env["K6_CUSTOMER_ID"]], by_ref[sim.env["K6_PROVIDER_ID"]]
    cid = conversation["id"]
    message = {"senderParticipantId": customer, "body": "Please confirm the window."}
    assert sim.request("POST", f"{prefix}/communications/{cid}/messages", message, token="user")[0] == 201
    reply = {"senderParticipantId": provider, "body": "Confirmed."}
    status, sent = sim.request("POST", f"{prefix}/communications/{cid}/messages", reply, token="provider")
    assert status == 201 and sent["deliveries"][0]["participantId"] == customer
    video = {"participantId": provider, "channelName": f"conv-{cid}", "expirySeconds": 1200}
    status, session = sim.request("POST", f"{prefix}/communications/{cid}/video-session", video, token="provider")
    assert status == 201 and session["channelName"] == f"conv-{cid}" and "quietHours" in session
    status, view = sim.request("GET", f"{prefix}/communications/{cid}?limit=1", token="admin")
    assert status == 200 and view["messageCount"] == 2 and [m["body"] for m in view["messages"]] == ["Confirmed."]


def test_chat_errors(sim: SimulatorProcess) -> None:
    assert sim.request("POST", "/api/communications", conversation_payload(sim))[0] == 401
    conversation = sim.request("POST", "/api/communications", conversation_payload(sim), token="admin")[1]
    cid = conversation["id"]
    provider = next(p["id"] for p in conversation["participants"] if p["participantType"] == "provider")
    outsider = {"senderParticipantId": "not-a-participant", "body": "hi"}
    status, body = sim.request("POST", f"/api/communications/{cid}/messages", outsider, token="user")
    assert status == 403 and "not a participant" in body["message"]
    impersonation = {"senderParticipantId": provider, "body": "hi"}
    assert sim.request("POST", f"/api/communications/{cid}/messages", impersonation, token="user")[0] == 403
    status, body = sim.request(
        "POST", f"/api/communications/{cid}/messages", {"senderParticipantId": provider}, token="provider"
    )
    assert status == 422 and body["field"] == "body"
    assert sim.request("POST", "/api/communications/nope/messages", impersonation, token="provider")[0] == 404
    video = {"participantId": provider, "channelName": "c", "expirySeconds": 100}
    status, body = sim.request("POST", f"/api/communications/{cid}/video-session", video, token="provider")
    assert status == 422 and body["field"] == "expirySeconds"
    bad = conversation_payload(sim)
    bad["participants"][1].pop("participantReferenceId")
    status, body = sim.request("POST", "/api/communications", bad, token="admin")
    assert status == 422 and body["field"] == "participants[1].participantReferenceId"


def test_purchase(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    body = {"totalAmount": 180.25, "currency": "GBP", "scheduledFor": iso(200)}
    for prefix in PREFIXES:
        status, result = sim.request("POST", f"{prefix}/services/{fixtures['service']}/purchase", body, token="user")
        assert status == 201 and set(result) == {"order", "escrow", "booking", "totals"}
        assert result["escrow"]["status"] == "funded" and result["escrow"]["orderId"] == result["order"]["id"]
        assert result["order"]["customerId"] == sim.env["K6_CUSTOMER_ID"] and result["totals"]["total"] == 180.25
    path = f"/api/services/{fixtures['service']}/purchase"
    assert sim.request("POST", path, body)[0] == 401
    status, err = sim.request("POST", path, body, token="provider")
    assert status == 403 and "purchase" in err["message"]
    assert sim.request("POST", "/api/services/nope/purchase", body, token="user")[0] == 404
    status, err = sim.request("POST", path, {**body, "totalAmount": None}, token="user")
    assert status == 422 and err["field"] == "totalAmount"
    status, err = sim.request("POST", path, {**body, "scheduledFor": "tomorrow"}, token="user")
    assert status == 422 and err["field"] == "scheduledFor"
    assert sim.request("POST", path, token="user")[0] == 422


def test_analytics(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    sim.request("POST", "/api/bookings", booking_payload(sim, fixtures["zone"]))
    today = datetime.now(UTC).date()
    window = f"startDate={(today - timedelta(days=6)).isoformat()}&endDate={today.isoformat()}"
    for prefix in PREFIXES:
        status, dash = sim.request(
            "GET", f"{prefix}/analytics/dashboards/admin?timezone=Europe/London&{window}", token="admin"
        )
        assert status == 200 and dash["timezone"] == "Europe/London" and len(dash["timeline"]) == 7
        assert dash["metrics"]["bookings_created"] >= 1 and sum(d["bookings_created"] for d in dash["timeline"]) >= 1
        status, pipeline = sim.request("GET", f"{prefix}/analytics/pipeline/status", token="admin")
        assert status == 200 and pipeline["status"] == "healthy"
    assert sim.request("GET", "/api/analytics/dashboards/admin")[0] == 401
    assert sim.request("GET", "/api/analytics/pipeline/status")[0] == 401
    assert sim.request("GET", "/api/analytics/dashboards/admin", token="user")[0] == 403
    assert sim.request("GET", "/api/analytics/dashboards/user", token="user")[0] == 200
    assert sim.request("GET", "/api/analytics/dashboards/martian", token="admin")[0] == 404
    status, err = sim.request("GET", "/api/analytics/dashboards/admin?timezone=Mars/Base", token="admin")
    assert status == 422 and err["field"] == "timezone"
    status, err = sim.request(
        "GET", "/api/analytics/dashboards/admin?startDate=2025-02-01&endDate=2025-01-01", token="admin"
    )
    assert status == 422 and err["field"] == "endDate"


def test_ads_fraud_signals_created_and_resolved(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    cid = fixtures["campaign"]
    normal = {
        "metricDate": iso(-60),
        "impressions": 2000,
        "clicks": 100,
        "conversions": 20,
        "spend": 300,
        "revenue": 600,
    }
    for _ in range(4):
        status, metric = sim.request("POST", f"/api/campaigns/{cid}/metrics", normal, token="admin")
        assert status == 201 and metric["fraudSignals"] == []
    assert sim.request("GET", f"/api/campaigns/{cid}/fraud-signals", token="admin") == (200, [])
    spike = {**normal, "clicks": 400, "conversions": 40}  # CTR 4x the norm
    status, metric = sim.request("POST", f"/api/v1/campaigns/{cid}/metrics", spike, token="admin")
    assert status == 201 and [s["signalType"] for s in metric["fraudSignals"]] == ["ctr_spike"]
    status, signals = sim.request("GET", f"/api/campaigns/{cid}/fraud-signals", token="admin")
    assert status == 200 and isinstance(signals, list) and signals[0]["resolvedAt"] is None
    sid = signals[0]["id"]
    resolution = {"resolutionNote": "reviewed by load test", "reviewer": "fixload"}
    status, resolved = sim.request("POST", f"/api/campaigns/fraud-signals/{sid}/resolve", resolution, token="admin")
    assert status == 200 and resolved["resolvedAt"] and resolved["reviewer"] == "fixload"
    again = {"resolutionNote": "second reviewer", "reviewer": "other"}
    status, second = sim.request("POST", f"/api/campaigns/fraud-signals/{sid}/resolve", again, token="admin")
    assert status == 200 and second["alreadyResolved"] and second["reviewer"] == "fixload"  # first resolution stands
    assert sim.request("POST", "/api/campaigns/fraud-signals/nope/resolve", resolution, token="admin")[0] == 404
    assert sim.request("GET", f"/api/campaigns/{cid}/fraud-signals", token="admin")[1][0]["resolvedAt"]
    status, summary = sim.request("GET", f"/api/campaigns/{cid}/summary", token="admin")
    assert status == 200 and summary["totals"]["impressions"] == 10_000 and summary["openFraudSignals"] == 0
    assert sim.request("GET", f"/api/campaigns/{cid}/summary")[0] == 401
    assert sim.request("GET", f"/api/campaigns/{cid}/summary", token="user")[0] == 403
    assert sim.request("GET", "/api/campaigns/nope/summary", token="admin")[0] == 404
    status, err = sim.request("POST", f"/api/campaigns/{cid}/metrics", {**normal, "clicks": 1.5}, token="admin")
    assert status == 422 and err["field"] == "clicks"
    status, err = sim.request("POST", f"/api/campaigns/{cid}/metrics", {**normal, "clicks": 5000}, token="admin")
    assert status == 422 and err["field"] == "clicks"


def test_strict_auth_demands_a_token_everywhere(make_simulator: Any) -> None:
    sim = make_simulator(auth="strict")
    for prefix in PREFIXES:
        assert sim.request("GET", f"{prefix}/zones")[0] == 401
        assert sim.request("GET", f"{prefix}/zones", token="admin")[0] == 200
        assert sim.request("POST", f"{prefix}/bookings", {})[0] == 401
    assert sim.request("GET", "/ping")[0] == 200
    assert sim.request("GET", "/api/zones", token="eyJhbGciOiJIUzI1NiJ9.e30.forged")[0] == 401


def test_legacy_auth_takes_the_original_token_usage(sim: SimulatorProcess) -> None:
    assert sim.request("GET", "/api/zones")[0] == 200
    assert sim.request("GET", "/api/services")[0] == 200
    assert sim.request("GET", "/api/bookings")[0] == 200
    assert sim.request("GET", "/api/zones", token="eyJhbGciOiJIUzI1NiJ9.e30.forged")[0] == 401


def test_stats_and_request_log_are_the_server_side_truth(make_simulator: Any) -> None:
    sim = make_simulator()
    headers = {"Origin": "https://app.fixnado.test", "x-fixnado-persona": "admin", "x-fixnado-role": "ops"}
    for _ in range(3):
        sim.request("GET", "/api/zones?companyId=x", headers=headers)
    sim.request("POST", "/api/v1/zones", zone_payload(sim), token="admin", headers=headers)
    stats = sim.stats()
    assert stats["routes"]["GET /api/zones"]["count"] == 3
    assert stats["routes"]["GET /api/zones"]["statuses"] == {"200": 3}
    assert stats["routes"]["POST /api/v1/zones"]["statuses"] == {"201": 1}
    assert stats["total"]["count"] == 4 and stats["routes"]["GET /api/zones"]["latencyMs"]["p95"] > 0
    log = sim.requests(limit=2)
    assert [(r["method"], r["route"]) for r in log] == [("GET", "/api/zones"), ("POST", "/api/v1/zones")]
    last = log[-1]
    assert last["method"] == "POST" and last["route"] == "/api/v1/zones" and last["status"] == 201
    assert last["body"]["demandLevel"] == "medium" and last["auth"] == {"present": True, "valid": True, "role": "admin"}
    assert (last["origin"], last["persona"], last["roleHeader"]) == ("https://app.fixnado.test", "admin", "ops")
    assert log[0]["auth"]["present"] is False and log[0]["query"] == "companyId=x"
    dump = str(sim.requests()) + str(stats)
    assert all(sim.env[key] not in dump for key in ("K6_ADMIN_TOKEN", "K6_USER_TOKEN", "K6_PROVIDER_TOKEN"))
    sim.reset_stats()
    assert sim.stats()["total"]["count"] == 0 and sim.requests() == []
