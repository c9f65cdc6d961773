"""Each route's shapes and the simulator's own surfaces (auth modes, tokens, request log, memory caps), through a
real `fixload serve` process on loopback. The product's checks per departure are in test_simulator_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixload.simulator.process import SimulatorProcess
from fixload.simulator.records import Limits
from fixload.simulator.store import Store


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
        "campaignType": "ppc",
        "status": "active",
        "currency": "gbp",
        "totalBudget": 5000,
        "startAt": iso(),
        "endAt": iso(7 * 24 * 60),
    }


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimulatorProcess(seed=11) as process:
        yield process


def test_fixture_discovery_lists_empty_then_create_then_lists(make_simulator: Any) -> None:
    sim = make_simulator()
    company = sim.env["K6_COMPANY_ID"]
    assert sim.request("GET", f"/api/zones?companyId={company}") == (200, [])
    assert sim.request("GET", "/api/services") == (200, [])
    assert sim.request("GET", f"/api/campaigns?companyId={company}") == (200, [])

    status, zone = sim.request("POST", "/api/zones", zone_payload(sim))
    assert status == 201 and zone["companyId"] == company and zone["boundary"]["type"] == "MultiPolygon"
    assert zone["boundingBox"] == {"west": -0.13, "south": 51.5, "east": -0.12, "north": 51.51}
    assert sim.request("GET", f"/api/zones?companyId={company}")[1] == [zone]  # a bare array
    assert sim.request("GET", "/api/zones?includeAnalytics=true")[1] == [{"zone": zone, "analytics": None}]
    assert sim.request("GET", f"/api/zones?companyId={sim.env['K6_CUSTOMER_ID']}")[1] == []

    body = {"title": "Fix", "description": "x", "category": "load-test", "price": "80.5"}
    status, service = sim.request("POST", "/api/services", body, token="provider")
    assert status == 201 and service["providerId"] == sim.env["K6_PROVIDER_ID"] and service["companyId"] is None
    assert (service["price"], service["currency"]) == ("80.50", "USD")  # the product's default currency here
    assert sim.request("GET", "/api/services")[1] == [service]

    status, campaign = sim.request("POST", "/api/campaigns", campaign_payload(sim))
    assert status == 201 and (campaign["status"], campaign["currency"], campaign["totalBudget"]) == (
        "active",
        "GBP",
        "5000.00",
    )
    assert (campaign["pacingStrategy"], campaign["bidStrategy"], campaign["timezone"]) == (
        "even",
        "cpc",
        "Europe/London",
    )
    [listed] = sim.request("GET", f"/api/campaigns?companyId={company}")[1]
    assert listed["id"] == campaign["id"] and listed["flights"] == [] and listed["Company"]["id"] == company


def test_zone_geometry_is_checked_as_turf_does(sim: SimulatorProcess) -> None:
    bad = zone_payload(sim)
    bad["geometry"]["coordinates"][0].pop()  # no longer closed
    assert sim.request("POST", "/api/zones", bad)[1]["message"] == "Zone polygon is invalid or self-intersects"
    bow_tie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    body = {**zone_payload(sim), "geometry": {"type": "Polygon", "coordinates": [bow_tie]}}
    assert sim.request("POST", "/api/zones", body)[1]["message"] == "Zone polygon is invalid or self-intersects"
    tiny = [[0, 0], [0.00001, 0], [0.00001, 0.00001], [0, 0]]
    body = {**zone_payload(sim), "geometry": {"type": "Polygon", "coordinates": [tiny]}}
    assert sim.request("POST", "/api/zones", body) == (
        400,
        {"message": "Zone polygon area is too small to be actionable", "field": "geometry.coordinates"},
    )
    point = {**zone_payload(sim), "geometry": {"type": "Point", "coordinates": [0, 0]}}
    status, reply = sim.request("POST", "/api/zones", point)
    assert (status, reply["allowed"]) == (400, ["Polygon", "MultiPolygon"])
    assert (
        sim.request("POST", "/api/zones", {**zone_payload(sim), "geometry": None})[1]["message"]
        == "Zone geometry is required"
    )
    status, reply = sim.request("POST", "/api/zones", {**zone_payload(sim), "demandLevel": "extreme"})
    assert (status, reply["field"], reply["allowed"]) == (500, "demandLevel", ["low", "medium", "high"])


def test_booking_shape_and_totals(sim: SimulatorProcess) -> None:
    zone = sim.request("POST", "/api/zones", zone_payload(sim))[1]
    env = sim.env
    body = {
        "customerId": env["K6_CUSTOMER_ID"],
        "companyId": env["K6_COMPANY_ID"],
        "zoneId": zone["id"],
        "type": "express",  # anything but "scheduled" is on demand
        "baseAmount": "100",
        "currency": "GBP",
        "targetCurrency": "EUR",
        "demandLevel": "surge",  # not validated, kept in meta
        "metadata": {"runId": 3},
    }
    status, booking = sim.request("POST", "/api/bookings", body)
    assert status == 201 and (booking["type"], booking["status"]) == ("on_demand", "awaiting_assignment")
    # 100 GBP = 117.00 EUR; commission 12 % = 14.04; tax 20 % of 131.04 = 26.21; total 157.25
    assert (booking["baseAmount"], booking["commissionAmount"], booking["taxAmount"]) == ("117.00", "14.04", "26.21")
    assert (booking["totalAmount"], booking["currency"]) == ("157.25", "EUR")
    assert booking["meta"] == {
        "runId": 3,
        "quotedAmount": "100",
        "quotedCurrency": "GBP",
        "commissionRate": 0.12,
        "taxRate": 0.2,
        "demandLevel": "surge",
    }
    sla = datetime.fromisoformat(booking["slaExpiresAt"]) - datetime.fromisoformat(booking["createdAt"])
    assert abs(sla.total_seconds() - 90 * 60) < 2
    assert sim.request("GET", f"/api/bookings/{booking['id']}")[1] == booking
    status, reply = sim.request("POST", "/api/bookings", {**body, "scheduledStart": iso(60)})
    assert (status, reply["message"]) == (400, "On-demand bookings cannot provide schedule windows")
    status, reply = sim.request("POST", "/api/bookings", {**body, "customerId": env["K6_COMPANY_ID"]})
    assert (status, reply["field"]) == (500, "customerId") and "User.id" in reply["cause"]
    status, reply = sim.request("POST", "/api/bookings", None)
    assert (status, reply["message"], reply["field"]) == (500, "Internal server error", "body")


def test_conversation_shapes_ai_participant_and_quiet_hours(sim: SimulatorProcess) -> None:
    env = sim.env
    body = {
        "subject": "  Boiler  ",
        "createdBy": {"id": env["K6_CUSTOMER_ID"], "type": "user"},
        "participants": [
            {"participantType": "user", "participantReferenceId": env["K6_CUSTOMER_ID"], "displayName": "C"},
            {
                "participantType": "serviceman",
                "participantReferenceId": env["K6_PROVIDER_ID"],
                "displayName": "P",
                "role": "provider",
                "quietHoursStart": "00:00",
                "quietHoursEnd": "23:59",
            },
        ],
    }
    status, chat = sim.request("POST", "/api/communications", body)
    assert status == 201 and chat["subject"] == "Boiler" and "messages" not in chat
    assert [p["displayName"] for p in chat["participants"]] == ["C", "P", "Fixnado Assist"]
    assert chat["participants"][0]["role"] == "customer" and chat["participants"][2]["role"] == "ai_assistant"
    assert (chat["quietHoursStart"], chat["quietHoursEnd"], chat["defaultTimezone"]) == (
        "22:00",
        "07:00",
        "Europe/London",
    )
    customer = chat["participants"][0]["id"]
    status, sent = sim.request(
        "POST", f"/api/communications/{chat['id']}/messages", {"senderParticipantId": customer, "body": " hi "}
    )
    assert status == 201 and sent[0]["messageType"] == "user" and sent[0]["body"] == "hi"
    reasons = [(d["status"], d["suppressedReason"]) for d in sent[0]["deliveries"]]
    assert reasons == [("suppressed", "quiet_hours"), ("suppressed", "notifications_disabled")]  # still 201
    status, reply = sim.request(
        "POST", f"/api/communications/{chat['id']}/messages", {"senderParticipantId": customer, "body": " "}
    )
    assert (status, reply["message"]) == (400, "Message body is required")
    status, reply = sim.request("POST", "/api/communications", {**body, "quietHours": {"start": "25:00"}})
    assert (status, reply["message"]) == (400, 'Quiet hour value "25:00" must follow HH:mm format')
    status, reply = sim.request("POST", "/api/communications", {**body, "subject": "hi"})
    assert (status, reply["field"]) == (400, "subject")
    session = {"participantId": chat["participants"][2]["id"]}
    status, reply = sim.request("POST", f"/api/communications/{chat['id']}/video-session", session)
    assert (status, reply["message"]) == (403, "Video has been disabled for this participant")
    status, view = sim.request("GET", f"/api/communications/{chat['id']}")
    assert status == 200 and [m["id"] for m in view["messages"]] == [sent[0]["id"]]
    assert sim.request("GET", f"/api/communications/{env['K6_COMPANY_ID']}")[0:2] == (
        404,
        {"message": "Conversation not found", "field": "conversationId"},
    )


def test_campaign_summary_totals_and_pipeline(sim: SimulatorProcess) -> None:
    campaign = sim.request("POST", "/api/campaigns", campaign_payload(sim))[1]
    day = {"impressions": "1000", "clicks": 50.7, "conversions": -3, "spend": "714.2", "revenue": "abc"}
    for hours in (1, 2):
        status, metric = sim.request(
            "POST", f"/api/campaigns/{campaign['id']}/metrics", {**day, "metricDate": iso(-60 * hours)}
        )
        assert status == 201 and (metric["impressions"], metric["clicks"], metric["conversions"]) == (1000, 50, 0)
        assert (metric["spend"], metric["revenue"], metric["ctr"]) == (714.2, 0.0, 0.05)
    status, summary = sim.request("GET", f"/api/campaigns/{campaign['id']}/summary")
    assert status == 200 and summary["totals"]["impressions"] == 2000 and summary["totals"]["roi"] == -1.0
    assert len(summary["campaign"]["dailyMetrics"]) == 2 and summary["openFraudSignals"] == 0  # 714 ~ 5000/7
    status, reply = sim.request(
        "POST", f"/api/campaigns/{campaign['id']}/metrics", {"flightId": campaign["id"], "metricDate": iso()}
    )
    assert (status, reply["message"]) == (400, "Flight does not belong to campaign")
    assert sim.request("POST", f"/api/campaigns/{campaign['id']}/metrics", {})[1]["message"] == "metricDate is required"
    assert sim.request("GET", f"/api/campaigns/{sim.env['K6_CUSTOMER_ID']}/fraud-signals") == (200, [])
    status, pipeline = sim.request("GET", "/api/analytics/pipeline/status")
    assert status == 200 and pipeline["backlog"]["pendingEvents"] > 0 and pipeline["pipeline"]["enabled"] is True


def test_register_login_and_me(sim: SimulatorProcess) -> None:
    account = {
        "firstName": "Ada",
        "lastName": "L",
        "email": "ada@lt.test",
        "password": "long-enough",
        "type": "company",
    }
    status, user = sim.request("POST", "/api/auth/register", {**account, "company": {"legalStructure": "ltd"}})
    assert status == 201 and set(user) == {"id", "email", "firstName", "lastName", "type"}
    assert sim.request("POST", "/api/auth/register", account)[0:2] == (
        409,
        {"message": "Email already in use", "field": "email"},
    )
    assert sim.request("POST", "/api/auth/login", {"email": "ada@lt.test", "password": "wrong-one"})[0] == 401
    status, login = sim.request("POST", "/api/auth/login", {"email": "ada@lt.test", "password": "long-enough"})
    assert status == 200 and login["user"] == {"id": user["id"], "email": "ada@lt.test", "type": "company"}
    status, me = sim.request("GET", "/api/auth/me", token=login["token"])
    assert status == 200 and me["Company"]["legalStructure"] == "ltd" and "passwordHash" in me  # B9
    bare = {"Authorization": login["token"]}  # the product strips "Bearer " only, so a bare token works
    assert sim.request("GET", "/api/auth/me", headers=bare)[0] == 200
    assert (
        sim.request("GET", "/api/auth/me", headers={"Authorization": "Bearer forged"})[1]["message"] == "Invalid token"
    )


def test_strict_auth_demands_a_token_everywhere(make_simulator: Any) -> None:
    sim = make_simulator(auth="strict")
    assert sim.request("GET", "/api/zones")[0:2] == (
        401,
        {"message": "Missing authorization header", "field": "Authorization"},
    )
    assert sim.request("GET", "/api/zones", token="admin")[0] == 200
    assert sim.request("POST", "/api/bookings", {})[0] == 401
    assert sim.request("GET", "/ping")[0] == 200
    assert sim.request("GET", "/api/zones", token="eyJhbGciOiJIUzI1NiJ9.e30.forged")[0] == 401


def test_product_auth_ignores_tokens_where_the_product_does(sim: SimulatorProcess) -> None:
    forged = "eyJhbGciOiJIUzI1NiJ9.e30.forged"
    for path in ("/api/zones", "/api/services", "/api/bookings", "/api/campaigns", "/api/analytics/pipeline/status"):
        assert sim.request("GET", path, token=forged)[0] == 200, path
    assert sim.request("GET", "/api/auth/me", token=forged)[0] == 401


def test_stats_and_request_log_are_the_server_side_truth(make_simulator: Any) -> None:
    sim = make_simulator()
    headers = {"Origin": "https://app.fixnado.test", "x-fixnado-persona": "admin", "x-fixnado-role": "ops"}
    for _ in range(3):
        sim.request("GET", "/api/zones?includeAnalytics=true", headers=headers)
    sim.request("POST", "/api/zones", zone_payload(sim), token="admin", headers=headers)
    stats = sim.stats()
    assert stats["routes"]["GET /api/zones"]["count"] == 3
    assert stats["routes"]["GET /api/zones"]["statuses"] == {"200": 3}
    assert stats["routes"]["POST /api/zones"]["statuses"] == {"201": 1}
    assert stats["total"]["count"] == 4 and stats["routes"]["GET /api/zones"]["latencyMs"]["p95"] > 0
    log = sim.requests(limit=2)
    assert [(r["method"], r["route"]) for r in log] == [("GET", "/api/zones"), ("POST", "/api/zones")]
    last = log[-1]
    assert last["status"] == 201 and last["body"]["demandLevel"] == "medium"
    assert last["auth"] == {"present": True, "valid": True, "role": "admin"}
    assert (last["origin"], last["persona"], last["roleHeader"]) == ("https://app.fixnado.test", "admin", "ops")
    assert log[0]["auth"]["present"] is False and log[0]["query"] == "includeAnalytics=true"
    dump = str(sim.requests()) + str(stats)
    assert all(sim.env[key] not in dump for key in ("K6_ADMIN_TOKEN", "K6_USER_TOKEN", "K6_PROVIDER_TOKEN"))
    sim.reset_stats()
    assert sim.stats()["total"]["count"] == 0 and sim.requests() == []


def test_caps_evict_oldest_and_finished_first() -> None:
    """The store's caps, in process: bookings past the cap go oldest first, finished ones before open ones,
    and a campaign's metric rows and signals stay capped however many days are posted."""
    store = Store(
        seed=1, limits=Limits(bookings=50, finished_bookings=5, metrics_per_campaign=10, signals_per_campaign=4)
    )
    totals = {"currency": "GBP", "baseAmount": 1.0, "commissionAmount": 0.0, "taxAmount": 0.0, "totalAmount": 1.0}
    fields = {
        "customerId": "c",
        "companyId": "co",
        "zoneId": "z",
        "type": "on_demand",
        "scheduledStart": None,
        "scheduledEnd": None,
        "baseAmount": 1,
        "currency": "GBP",
        "demandLevel": "medium",
        "metadata": {},
    }
    first_open = store.create_booking(fields, totals)["id"]
    for _ in range(20):
        booking = store.create_booking(fields, totals)
        store.set_status(booking["id"], "cancelled", None, None)
    assert len(store.bookings) == 6 and first_open in store.bookings  # 5 finished kept + the open one
    for _ in range(100):
        store.create_booking(fields, totals)
    assert len(store.bookings) == 50 and first_open not in store.bookings
    campaign = store.create_campaign(
        {"companyId": "co", "dailySpendCap": "10.00", "totalBudget": "100.00", "startAt": iso(), "endAt": iso(60)}
    )
    day = {"impressions": 1000, "clicks": 10, "conversions": 1, "spend": 100.0, "revenue": 1.0, "metadata": {}}
    for minute in range(30):
        store.record_metrics(campaign, datetime.now(UTC) - timedelta(minutes=minute), dict(day))
    state = store.campaign_state[campaign["id"]]
    assert len(state.metrics) == 10 and len(state.signals) == 4 and len(store.signal_index) == 4
    assert state.totals["impressions"] == 30_000  # the summary's totals cover every day posted
