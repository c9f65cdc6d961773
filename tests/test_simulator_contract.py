"""`fixload serve` enforces the product's contract: each departure of the original k6 harness (FIXNADO-API.md §9)
sent as the original sends it, answered with the product's status and a body naming the field and its allowed
values; and the product's own values accepted, both booking types completed through its state machine.
(`fixload check` against `--preset fixnado-d191423` is tests/test_check.py's.)

Two real simulator processes for the whole module: the default one and one as a default d191423 deployment
(`--preset fixnado-d191423 --without-agora`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixload.common import contract as product
from fixload.simulator.process import SimulatorProcess

ENUM_500 = "Internal server error"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as process:
        yield process


@pytest.fixture(scope="module")
def deployed() -> Iterator[SimulatorProcess]:
    """As d191423 runs on PostgreSQL with a default configuration: the metrics bugs, no Agora credentials."""
    with SimulatorProcess(preset="fixnado-d191423", extra_args=["--without-agora"]) as process:
        yield process


def iso(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- the original harness's requests
def original_campaign(env: dict[str, str]) -> dict[str, Any]:
    """FLOWS.md "Setup" 3, as the original sends it."""
    return {
        "companyId": env["K6_COMPANY_ID"],
        "name": "Load Test Campaign ab12cd",
        "objective": "awareness",
        "campaignType": "search",
        "status": "active",
        "pacingStrategy": "even",
        "bidStrategy": "cpc",
        "currency": "GBP",
        "totalBudget": 5000,
        "dailySpendCap": 400,
        "startAt": iso(),
        "endAt": iso(7 * 24 * 60),
        "metadata": {"scenario": "load-test", "owner": "analytics-qa"},
    }


def original_zone(company_id: str) -> dict[str, Any]:
    ring = [[-0.12, 51.48], [-0.1, 51.48], [-0.1, 51.5], [-0.12, 51.5], [-0.12, 51.48]]
    return {
        "companyId": company_id,
        "name": "Load test zone 1a2b3c4d",
        "demandLevel": "medium",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "metadata": {"scenario": "load-test", "createdBy": "k6-harness"},
    }


def original_booking(env: dict[str, str], zone_id: str, scheduled: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": env["K6_CUSTOMER_ID"],
        "companyId": env["K6_COMPANY_ID"],
        "zoneId": zone_id,
        "type": "scheduled" if scheduled else "on_demand",
        "demandLevel": "high",
        "baseAmount": 120.5,
        "currency": "GBP",
        "targetCurrency": "GBP",
        "metadata": {"scenario": "load-test", "runId": 1, "note": "Automated booking load test"},
        "actor": {"id": env["K6_PROVIDER_ID"], "type": "user"},
    }
    if scheduled:
        body["scheduledStart"], body["scheduledEnd"] = iso(180), iso(300)
    return body


def original_conversation(env: dict[str, str]) -> dict[str, Any]:
    """FLOWS.md chat_flow: `createdBy.type` and the second participant's `participantType` are "provider"."""
    return {
        "subject": "Load test conversation 1a2b3c4d",
        "createdBy": {"id": env["K6_PROVIDER_ID"], "type": "provider"},
        "participants": [
            {
                "participantType": "user",
                "participantReferenceId": env["K6_CUSTOMER_ID"],
                "displayName": "Load Test Customer",
                "role": "customer",
            },
            {
                "participantType": "provider",
                "participantReferenceId": env["K6_PROVIDER_ID"],
                "displayName": "Load Test Provider",
                "role": "provider",
            },
        ],
        "metadata": {"scenario": "load-test", "seed": 1},
        "aiAssist": {"defaultEnabled": False},
    }


def product_conversation(env: dict[str, str]) -> dict[str, Any]:
    body = original_conversation(env)
    body["createdBy"]["type"] = product.PROVIDER_PARTICIPANT_TYPE
    body["participants"][1]["participantType"] = product.PROVIDER_PARTICIPANT_TYPE
    return body


def message(sender: str, message_type: str) -> dict[str, Any]:
    return {
        "senderParticipantId": sender,
        "body": "Provider acknowledgement: schedule confirmed.",
        "messageType": message_type,
        "attachments": [],
        "metadata": {"scenario": "load-test"},
    }


# ---------------------------------------------------------------------- helpers
def created(sim: SimulatorProcess, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
    status, reply = sim.request("POST", path, body, token=token)
    assert status == 201, reply
    return reply


def zone(sim: SimulatorProcess) -> str:
    return created(sim, "/api/zones", original_zone(sim.env["K6_COMPANY_ID"]))["id"]


def campaign(sim: SimulatorProcess) -> dict[str, Any]:
    body = {**original_campaign(sim.env), "campaignType": product.DEFAULT_CAMPAIGN_TYPE}
    return created(sim, "/api/campaigns", body)


def accepted_booking(sim: SimulatorProcess, scheduled: bool) -> dict[str, Any]:
    """A booking through the original's first three steps: created, assigned, accepted (the booking after)."""
    env = sim.env
    booking = created(sim, "/api/bookings", original_booking(env, zone(sim), scheduled))
    assignment = {
        "assignments": [{"providerId": env["K6_PROVIDER_ID"], "role": "lead"}],
        "actorId": env["K6_PROVIDER_ID"],
    }
    created(sim, f"/api/bookings/{booking['id']}/assignments", assignment)
    answer = {"bookingId": booking["id"], "providerId": env["K6_PROVIDER_ID"], "status": "accepted"}
    status, reply = sim.request("POST", f"/api/bookings/{booking['id']}/assignments/response", answer)
    assert status == 200, reply
    return reply["booking"]


def patch_status(sim: SimulatorProcess, booking_id: str, status: str | None) -> tuple[int, Any]:
    body = {"actorId": sim.env["K6_PROVIDER_ID"], "reason": "load_test_complete"}
    if status is not None:
        body["status"] = status
    return sim.request("PATCH", f"/api/bookings/{booking_id}/status", body)


def conversation(sim: SimulatorProcess) -> dict[str, Any]:
    return created(sim, "/api/communications", product_conversation(sim.env), token="admin")


def assert_enum_500(reply: tuple[int, Any], field: str, allowed: tuple[str, ...], value: str) -> None:
    """The product's 500 (PostgreSQL refused the enum value), naming the field, the value and the allowed ones."""
    status, body = reply
    assert status == 500, body
    assert body["message"] == ENUM_500 and body["field"] == field and body["allowed"] == list(allowed)
    assert f'"{value}"' in body["cause"] and field in body["cause"]


# ---------------------------------------------------------------------- D1-D17: the original's departures
def test_d1_campaign_type_search_is_refused(sim: SimulatorProcess) -> None:
    reply = sim.request("POST", "/api/campaigns", original_campaign(sim.env), token="admin")
    assert_enum_500(reply, "campaignType", product.CAMPAIGN_TYPES, "search")
    assert "enum_AdCampaign_campaign_type" in reply[1]["cause"]


def test_d2_archived_is_not_a_campaign_status(sim: SimulatorProcess) -> None:
    listed = sim.request("GET", f"/api/campaigns?companyId={sim.env['K6_COMPANY_ID']}&status=archived")
    assert_enum_500(listed, "status", product.CAMPAIGN_STATUSES, "archived")
    body = {**original_campaign(sim.env), "campaignType": "ppc", "status": "archived"}
    assert_enum_500(sim.request("POST", "/api/campaigns", body), "status", product.CAMPAIGN_STATUSES, "archived")


def test_d3_company_id_must_be_a_company_not_a_user(sim: SimulatorProcess) -> None:
    user_id = sim.request("GET", "/api/auth/me", token="admin")[1]["id"]
    status, body = sim.request("POST", "/api/zones", original_zone(user_id))
    assert (status, body["field"]) == (500, "companyId") and "Company.id" in body["cause"]
    status, body = sim.request("POST", "/api/campaigns", {**original_campaign(sim.env), "companyId": user_id})
    assert (status, body) == (404, {"message": "Company not found", "field": "companyId"})
    env = {**sim.env, "K6_COMPANY_ID": user_id}
    status, body = sim.request("POST", "/api/bookings", original_booking(env, zone(sim), scheduled=False))
    assert (status, body["field"]) == (500, "companyId") and "Company.id" in body["cause"]
    me = sim.request("GET", "/api/auth/me", token="admin")[1]
    assert me["Company"]["id"] == sim.env["K6_COMPANY_ID"]  # the only place the product shows a Company.id


def test_d4_no_provider_or_admin_user_types_and_roles_per_route(sim: SimulatorProcess) -> None:
    for wanted in ("provider", "admin"):
        account = {"firstName": "Lt", "lastName": "Lt", "email": f"{wanted}@lt.test", "password": "long-enough"}
        status, body = sim.request("POST", "/api/auth/register", {**account, "type": wanted})
        assert status == 422, body
        [error] = body["errors"]
        assert (error["path"], error["value"], error["allowed"]) == ("type", wanted, list(product.USER_TYPES))
    service = created(sim, "/api/services", {"title": "t", "price": 80, "currency": "GBP"}, token="provider")
    order = {"totalAmount": 150, "currency": "GBP", "scheduledFor": iso(120)}
    status, body = sim.request("POST", f"/api/services/{service['id']}/purchase", order, token="provider")
    assert (status, body["message"], body["field"]) == (403, "Forbidden", "user.type")
    assert body["allowed"] == ["user", "company"] and body["userType"] == "servicemen"
    status, body = sim.request("POST", "/api/services", {"title": "t", "price": 80}, token="user")
    assert (status, body["allowed"], body["userType"]) == (403, ["servicemen", "company"], "user")
    assert sim.request("POST", "/api/services", {"title": "t", "price": 80})[1] == {
        "message": "Missing authorization header",
        "field": "Authorization",
    }
    # the untokened booking requests pass: no harness booking route checks a token
    assert sim.request("POST", "/api/bookings", original_booking(sim.env, zone(sim), False))[0] == 201


def test_d5_scheduled_booking_cannot_complete_straight_after_acceptance(sim: SimulatorProcess) -> None:
    booking = accepted_booking(sim, scheduled=True)
    assert booking["status"] == "scheduled"  # acceptance leaves a scheduled booking scheduled
    status, body = patch_status(sim, booking["id"], "completed")
    assert status == 400
    assert body == {
        "message": "Booking status transition scheduled -> completed is not permitted",
        "field": "status",
        "allowed": ["in_progress", "cancelled"],
    }


def test_d6_assignments_are_always_201_even_when_existing(sim: SimulatorProcess) -> None:
    env = sim.env
    booking = created(sim, "/api/bookings", original_booking(env, zone(sim), False))
    body = {"assignments": [{"providerId": env["K6_PROVIDER_ID"], "role": "lead"}], "actorId": env["K6_PROVIDER_ID"]}
    first = created(sim, f"/api/bookings/{booking['id']}/assignments", body)
    again = created(
        sim,
        f"/api/bookings/{booking['id']}/assignments",
        {**body, "assignments": [{**body["assignments"][0], "role": "support"}]},
    )
    assert again == first and first[0]["role"] == "lead" and first[0]["status"] == "pending"
    status, reply = sim.request(
        "POST",
        f"/api/bookings/{booking['id']}/assignments",
        {"assignments": [{"providerId": env["K6_CUSTOMER_ID"], "role": "owner"}]},
    )
    assert_enum_500((status, reply), "assignments[0].role", product.ASSIGNMENT_ROLES, "owner")


def test_d7_the_response_uses_the_path_booking_not_the_body(sim: SimulatorProcess) -> None:
    env = sim.env
    other = created(sim, "/api/bookings", original_booking(env, zone(sim), False))
    booking = created(sim, "/api/bookings", original_booking(env, zone(sim), False))
    created(sim, f"/api/bookings/{booking['id']}/assignments", {"assignments": [{"providerId": env["K6_PROVIDER_ID"]}]})
    answer = {"bookingId": other["id"], "providerId": env["K6_PROVIDER_ID"], "status": "accepted"}
    status, reply = sim.request("POST", f"/api/bookings/{booking['id']}/assignments/response", answer)
    assert status == 200 and reply["booking"]["id"] == booking["id"] and reply["booking"]["status"] == "in_progress"
    assert reply["assignment"]["status"] == "accepted" and reply["assignment"]["acknowledgedAt"]
    status, body = sim.request(
        "POST", f"/api/bookings/{booking['id']}/assignments/response", {**answer, "status": "ok"}
    )
    assert (status, body) == (
        400,
        {"message": "Unsupported assignment status", "field": "status", "allowed": list(product.ASSIGNMENT_RESPONSES)},
    )
    status, body = sim.request("POST", f"/api/bookings/{other['id']}/assignments/response", answer)
    assert (status, body["message"]) == (404, "Assignment not found")


def test_d8_the_booking_list_ignores_limit(sim: SimulatorProcess) -> None:
    zone_id = zone(sim)
    for _ in range(7):
        created(sim, "/api/bookings", original_booking(sim.env, zone_id, False))
    status, listed = sim.request("GET", f"/api/bookings?companyId={sim.env['K6_COMPANY_ID']}&limit=5")
    assert status == 200 and len(listed) >= 7
    created_at = [b["createdAt"] for b in listed]
    assert created_at == sorted(created_at, reverse=True)  # newest first


def test_d9_provider_is_not_a_conversation_creator_or_participant_type(sim: SimulatorProcess) -> None:
    body = original_conversation(sim.env)
    reply = sim.request("POST", "/api/communications", body, token="admin")
    assert_enum_500(reply, "createdBy.type", product.CONVERSATION_CREATOR_TYPES, "provider")
    body["createdBy"]["type"] = "serviceman"
    reply = sim.request("POST", "/api/communications", body, token="admin")
    assert_enum_500(reply, "participants[1].participantType", product.PARTICIPANT_TYPES, "provider")
    body["participants"][1]["role"] = "dispatcher"  # role "provider" is fine; this is not a role
    body["participants"][1]["participantType"] = "serviceman"
    reply = sim.request("POST", "/api/communications", body, token="admin")
    assert_enum_500(reply, "participants[1].role", product.PARTICIPANT_ROLES, "dispatcher")


def test_d10_provider_is_not_a_message_type(sim: SimulatorProcess) -> None:
    chat = conversation(sim)
    provider = chat["participants"][1]["id"]
    reply = sim.request(
        "POST", f"/api/communications/{chat['id']}/messages", message(provider, "provider"), token="provider"
    )
    callers = tuple(t for t in product.MESSAGE_TYPES if t != "assistant")  # assistant is the platform's own
    assert_enum_500(reply, "messageType", callers, "provider")
    status, body = sim.request("POST", f"/api/communications/{chat['id']}/messages", message(provider, "assistant"))
    assert (status, body["message"], body["field"]) == (
        400,
        "Assistant messages must be generated by the platform",
        "messageType",
    )
    assert body["allowed"] == list(callers)


def test_d11_any_caller_may_post_as_any_participant_but_only_a_participant(sim: SimulatorProcess) -> None:
    chat = conversation(sim)
    customer, provider = (p["id"] for p in chat["participants"])
    path = f"/api/communications/{chat['id']}/messages"
    status, sent = sim.request("POST", path, message(customer, "user"), token="provider")  # the "wrong" token
    assert status == 201 and isinstance(sent, list) and sent[0]["senderParticipantId"] == customer
    assert [d["participantId"] for d in sent[0]["deliveries"]] == [provider]
    outsider = conversation(sim)["participants"][0]["id"]
    status, body = sim.request("POST", path, message(outsider, "user"))
    assert (status, body["message"], body["field"]) == (
        403,
        "Sender is not part of this conversation",
        "senderParticipantId",
    )
    assert body["allowed"] == [customer, provider]


def test_d12_video_sessions_need_agora_credentials(sim: SimulatorProcess, deployed: SimulatorProcess) -> None:
    session = {"participantId": None, "channelName": "load-test-1a2b3c", "expirySeconds": 900}
    chat = conversation(sim)
    session["participantId"] = chat["participants"][1]["id"]
    status, body = sim.request("POST", f"/api/communications/{chat['id']}/video-session", session, token="provider")
    assert status == 201 and set(body) == {"appId", "channelName", "token", "uid", "expiresAt"}
    chat = conversation(deployed)
    session["participantId"] = chat["participants"][1]["id"]
    status, body = deployed.request("POST", f"/api/communications/{chat['id']}/video-session", session)
    assert (status, body["message"]) == (503, "Agora credentials are not configured")


def test_d13_purchase_as_the_original_sends_it(sim: SimulatorProcess) -> None:
    service = created(sim, "/api/services", {"title": "t", "price": 80, "currency": "GBP"}, token="provider")
    order = {"totalAmount": 150.25, "currency": "GBP", "scheduledFor": iso(120)}
    body = created(sim, f"/api/services/{service['id']}/purchase", order, token="user")
    assert set(body) == {"order", "escrow"} and body["order"]["status"] == body["escrow"]["status"] == "funded"
    assert body["order"]["totalAmount"] == "150.25" and body["escrow"]["orderId"] == body["order"]["id"]


def test_d14_the_admin_dashboard_without_company_is_the_oldest_company(sim: SimulatorProcess) -> None:
    window = f"timezone=Europe/London&startDate={iso(-7 * 1440)}&endDate={iso()}"
    status, body = sim.request("GET", f"/api/analytics/dashboards/admin?{window}", token="admin")
    assert status == 200 and body["metadata"]["companyId"] == sim.env["K6_COMPANY_ID"]
    assert [n["id"] for n in body["navigation"]] == ["overview", "operations", "compliance", "assets"]
    status, body = sim.request("GET", "/api/analytics/dashboards/company")
    assert (status, body["message"], body["allowed"]) == (
        404,
        "persona_not_supported",
        list(("admin", "provider", "serviceman", "enterprise", "user")),
    )
    status, body = sim.request("GET", "/api/analytics/dashboards/admin?timezone=Mars/Olympus")
    assert (status, body["field"]) == (500, "timezone")


def test_d15_metrics_without_a_flight_fail_on_d191423(sim: SimulatorProcess, deployed: SimulatorProcess) -> None:
    day = {"metricDate": iso(-60), "impressions": 1200, "clicks": 60, "conversions": 9, "spend": 300, "revenue": 450}
    assert created(sim, f"/api/campaigns/{campaign(sim)['id']}/metrics", day)["flightId"] is None  # as intended
    status, body = deployed.request("POST", f"/api/campaigns/{campaign(deployed)['id']}/metrics", day, token="admin")
    assert (status, body) == (500, {"message": ENUM_500})  # B2/B3, the product's own body
    status, body = deployed.request("POST", "/api/campaigns/not-a-campaign/metrics", day)
    assert (status, body) == (500, {"message": ENUM_500})  # B2 strikes before the 404


def test_d16_resolve_reads_note_only_and_keeps_a_resolved_signal(sim: SimulatorProcess) -> None:
    cp = campaign(sim)
    day = {"metricDate": iso(-30), "impressions": 1200, "clicks": 60, "conversions": 9, "spend": 700, "revenue": 900}
    created(sim, f"/api/campaigns/{cp['id']}/metrics", day)  # 700 > 400 x 1.15: overspend
    [signal] = sim.request("GET", f"/api/campaigns/{cp['id']}/fraud-signals")[1]
    assert signal["signalType"] == "overspend" and signal["resolvedAt"] is None
    original = {"resolutionNote": "Automated load-test resolution", "reviewer": "k6-harness"}
    status, resolved = sim.request("POST", f"/api/campaigns/fraud-signals/{signal['id']}/resolve", original)
    assert status == 200 and resolved["resolutionNote"] == "Manually resolved via API." and resolved["resolvedAt"]
    status, again = sim.request("POST", f"/api/campaigns/fraud-signals/{signal['id']}/resolve", {"note": "later"})
    assert (status, again) == (200, resolved)
    assert sim.request("GET", f"/api/campaigns/{cp['id']}/fraud-signals")[1] == []  # unresolved only


def test_d17_there_is_no_api_v1_and_no_header_is_needed(sim: SimulatorProcess) -> None:
    assert sim.request("GET", "/api/v1/zones")[0:2] == (404, {"message": "Route not found"})
    assert sim.request("POST", "/api/v1/bookings", {})[1] == {"message": "Route not found"}
    assert sim.request("GET", "/")[1] == {"status": "ok", "service": "Fixnado API"}
    assert sim.request("GET", "/api/zones")[0] == 200  # no Origin, persona or role header


# ---------------------------------------------------------------------- the product's values are accepted
def test_product_values_are_accepted(sim: SimulatorProcess) -> None:
    for kind in product.CAMPAIGN_TYPES:
        body = {**original_campaign(sim.env), "campaignType": kind}
        assert created(sim, "/api/campaigns", body)["campaignType"] == kind
    assert (
        created(sim, "/api/campaigns", {k: v for k, v in original_campaign(sim.env).items() if k != "campaignType"})[
            "campaignType"
        ]
        == "ppc"
    )
    chat = conversation(sim)
    assert chat["createdByType"] == "serviceman" and [p["participantType"] for p in chat["participants"]] == [
        "user",
        "serviceman",
    ]
    for kind in ("user", "system", "automation", "notification"):
        status, sent = sim.request(
            "POST", f"/api/communications/{chat['id']}/messages", message(chat["participants"][1]["id"], kind)
        )
        assert status == 201 and sent[0]["messageType"] == kind
    status, view = sim.request("GET", f"/api/communications/{chat['id']}?limit=2")
    assert status == 200 and [m["messageType"] for m in view["messages"]] == ["automation", "notification"]


@pytest.mark.parametrize("scheduled", [False, True], ids=["on_demand", "scheduled"])
def test_both_booking_types_complete_through_the_state_machine(sim: SimulatorProcess, scheduled: bool) -> None:
    booking = accepted_booking(sim, scheduled)
    kind = "scheduled" if scheduled else "on_demand"
    assert booking["status"] == product.STATUS_AFTER_ACCEPTANCE[kind]
    for step in product.completion_path(kind):
        status, booking = patch_status(sim, booking["id"], step)
        assert status == 200 and booking["status"] == step, booking
    assert booking["status"] == "completed" and booking["meta"]["lastStatusContext"]["reason"] == "load_test_complete"


def test_every_transition_is_the_product_table(sim: SimulatorProcess) -> None:
    """From each status the API can reach, every target: 200 exactly for ALLOWED_STATUS_TRANSITIONS (and the
    same status, a no-op), 400 naming the allowed ones otherwise; a missing status reads "-> undefined"."""
    targets = (
        "pending",
        "awaiting_assignment",
        "scheduled",
        "in_progress",
        "completed",
        "cancelled",
        "disputed",
        "draft",
    )
    paths = {"awaiting_assignment": (), "scheduled": ("scheduled",), "in_progress": ("in_progress",)}
    paths |= {"completed": ("in_progress", "completed"), "cancelled": ("cancelled",)}
    zone_id = zone(sim)
    for start, steps in paths.items():
        for target in targets:
            booking = created(sim, "/api/bookings", original_booking(sim.env, zone_id, False))
            for step in steps:
                assert patch_status(sim, booking["id"], step)[0] == 200
            status, body = patch_status(sim, booking["id"], target)
            allowed = product.BOOKING_TRANSITIONS[start]
            if target == start or target in allowed:
                assert (status, body["status"]) == (200, target), (start, target, body)
            else:
                assert status == 400, (start, target, body)
                assert body == {
                    "message": f"Booking status transition {start} -> {target} is not permitted",
                    "field": "status",
                    "allowed": list(allowed),
                }
    booking = created(sim, "/api/bookings", original_booking(sim.env, zone_id, False))
    assert patch_status(sim, booking["id"], None)[1]["message"].endswith(
        "awaiting_assignment -> undefined is not permitted"
    )


def test_first_acceptance_bypasses_the_state_machine(sim: SimulatorProcess) -> None:
    """B5: a cancelled on-demand booking becomes in_progress on its first acceptance; later ones change nothing."""
    env = sim.env
    booking = created(sim, "/api/bookings", original_booking(env, zone(sim), False))
    assert patch_status(sim, booking["id"], "cancelled")[0] == 200
    for provider in (env["K6_PROVIDER_ID"], env["K6_CUSTOMER_ID"]):
        created(sim, f"/api/bookings/{booking['id']}/assignments", {"assignments": [{"providerId": provider}]})
    path = f"/api/bookings/{booking['id']}/assignments/response"
    status, reply = sim.request("POST", path, {"providerId": env["K6_PROVIDER_ID"], "status": "accepted"})
    assert status == 200 and reply["booking"]["status"] == "in_progress"
    assert patch_status(sim, booking["id"], "completed")[0] == 200
    status, reply = sim.request("POST", path, {"providerId": env["K6_CUSTOMER_ID"], "status": "accepted"})
    assert status == 200 and reply["booking"]["status"] == "completed"


def test_required_fields_name_themselves(sim: SimulatorProcess) -> None:
    env = sim.env
    status, body = sim.request("POST", "/api/bookings", {**original_booking(env, zone(sim), False), "zoneId": ""})
    assert (status, body) == (400, {"message": "customerId, companyId, and zoneId are required", "field": "zoneId"})
    campaign_body = {**original_campaign(env), "campaignType": "ppc", "totalBudget": 0}
    status, body = sim.request("POST", "/api/campaigns", campaign_body)
    assert (status, body["field"]) == (400, "totalBudget") and "are required fields" in body["message"]
    status, body = sim.request(
        "POST", "/api/bookings", {**original_booking(env, zone(sim), True), "scheduledEnd": None}
    )
    assert (status, body["message"]) == (400, "Scheduled bookings require a valid start and end window")
    status, body = sim.request("POST", "/api/bookings", {**original_booking(env, zone(sim), False), "baseAmount": None})
    assert (status, body["message"], body["field"]) == (500, ENUM_500, "baseAmount")  # B7
    chat = original_conversation(env)
    status, body = sim.request("POST", "/api/communications", {**chat, "participants": chat["participants"][:1]})
    assert (status, body["field"]) == (400, "participants")
    status, body = sim.request(
        "POST", "/api/bookings/not-a-uuid/assignments", {"assignments": [{"providerId": env["K6_PROVIDER_ID"]}]}
    )
    assert (status, body["field"]) == (500, "bookingId") and "uuid" in body["cause"]  # B8
    status, body = sim.request("POST", "/api/zones", {**original_zone(env["K6_COMPANY_ID"]), "name": None})
    assert (status, body["field"], body["errors"][0]["type"]) == (500, "name", "notNull Violation")
    status, body = sim.request("POST", "/api/campaigns", b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in body["message"]
