"""The five flows against a real simulator: request for request as FLOWS.md, payloads in range, failures.

Each flow's iteration runs in the test's greenlet (`tests/flowkit.make_user`), so "one iteration" is one
call and the simulator's request log (`/__fixload/requests`) shows exactly what it sent, in order.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import gevent
import pytest
from flowkit import make_config, make_user, registry_of, routes, runtime_of_user
from locust.env import Environment

from fixload.flows.fixtures import provision
from fixload.flows.flow import log_line
from fixload.runtime.state import Runtime
from fixload.simulator.process import SimulatorProcess
from locustfiles.ads import AdsUser, metrics_payload
from locustfiles.analytics import AnalyticsUser, dashboard_query
from locustfiles.booking import BookingUser, booking_payload
from locustfiles.chat import ChatUser, video_session_payload
from locustfiles.payments import PaymentsUser, purchase_payload

FLOW_LOGGER = "fixload.flows"
MINUTE = 60.0


@pytest.fixture(scope="module")
def fixtures(simulator: SimulatorProcess) -> dict[str, str]:
    """The run's zone, service and campaign on the shared simulator, provisioned once for this module."""
    return provision(make_config(simulator))


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    """The shared simulator with an empty request log and no fault rules."""
    simulator.clear_faults()
    simulator.reset_stats()
    yield simulator
    simulator.clear_faults()


def iterate(user: Any, task: str, times: int = 1) -> None:
    for _ in range(times):
        getattr(user, task)()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def minutes_from(moment: datetime, value: str) -> float:
    return (parse_time(value) - moment).total_seconds() / MINUTE


def metric(user: Any, name: str, aggregation: str) -> float | None:
    return registry_of(user).aggregate(name, {"scenario": user.scenario}).compute(aggregation)


def auth_of(record: dict[str, Any]) -> str | None:
    """The role of the token a request carried (None: no Authorization header)."""
    assert record["auth"]["present"] is False or record["auth"]["valid"], record
    return record["auth"]["role"] if record["auth"]["present"] else None


def tokens_of(sim: SimulatorProcess) -> list[str]:
    return [value for key, value in sim.env.items() if key.endswith("_TOKEN")]


# ---------------------------------------------------------------------- one iteration, request for request
@pytest.mark.parametrize(
    ("share", "kind", "statuses"),
    [(0.0, "on_demand", ["completed"]), (1.0, "scheduled", ["in_progress", "completed"])],
)
def test_booking_iteration_follows_the_products_state_machine(
    sim: SimulatorProcess, fixtures: dict[str, str], share: float, kind: str, statuses: list[str]
) -> None:
    """On demand: acceptance made it in_progress, so one PATCH completes it; scheduled: acceptance leaves it
    scheduled, and the product refuses scheduled → completed, so it is started first (FIXNADO-API.md §3)."""
    user = make_user(BookingUser, make_config(sim, {"booking": {"scheduledShare": share}}), fixtures)
    before = datetime.now(UTC)
    iterate(user, "booking_flow")
    records = sim.requests()
    patches = [("PATCH", "/api/bookings/{bookingId}/status")] * len(statuses)
    assert routes(records) == [
        ("POST", "/api/bookings"),
        ("POST", "/api/bookings/{bookingId}/assignments"),
        ("POST", "/api/bookings/{bookingId}/assignments/response"),
        *patches,
        ("GET", "/api/bookings"),
    ]
    assert [r["status"] for r in records] == [201, 201, 200, *[200] * len(statuses), 200]
    assert [auth_of(r) for r in records] == [None] * len(records)  # the original sends no token on bookings
    env = sim.env
    create, assign, respond = (r["body"] for r in records[:3])
    assert create["customerId"] == env["K6_CUSTOMER_ID"] and create["companyId"] == env["K6_COMPANY_ID"]
    assert create["zoneId"] == fixtures["zoneId"] and create["type"] == kind
    assert create["demandLevel"] in ("low", "medium", "high")
    assert 85 <= create["baseAmount"] <= 260 and round(create["baseAmount"], 2) == create["baseAmount"]
    assert create["currency"] == create["targetCurrency"] == "GBP"
    assert create["metadata"]["scenario"] == "load-test"
    assert create["actor"] == {"id": env["K6_PROVIDER_ID"], "type": "user"}  # dispatcher defaults to provider
    if kind == "scheduled":
        assert 120 - 1 <= minutes_from(before, create["scheduledStart"]) <= 720 + 1
        window = minutes_from(parse_time(create["scheduledStart"]), create["scheduledEnd"])
        assert 90 - 0.01 <= window <= 360 + 0.01
    else:
        assert "scheduledStart" not in create and "scheduledEnd" not in create
    booking_id = records[1]["path"].split("/")[3]
    assert assign == {
        "assignments": [{"providerId": env["K6_PROVIDER_ID"], "role": "lead"}],
        "actorId": env["K6_PROVIDER_ID"],
    }
    assert respond == {"bookingId": booking_id, "providerId": env["K6_PROVIDER_ID"], "status": "accepted"}
    sent = [r["body"] for r in records[3:-1]]
    reasons = {"in_progress": "load_test_start", "completed": "load_test_complete"}
    assert sent == [{"status": s, "actorId": env["K6_PROVIDER_ID"], "reason": reasons[s]} for s in statuses]
    assert parse_qs(records[-1]["query"]) == {"companyId": [env["K6_COMPANY_ID"]], "limit": ["5"]}
    status, booking = sim.request("GET", f"/api/bookings/{booking_id}")
    assert status == 200 and booking["status"] == "completed", booking
    assert metric(user, "booking_flow_success_rate", "rate") == 1.0
    assert metric(user, "booking_flow_failures", "count") is None or metric(user, "booking_flow_failures", "count") == 0
    checks = registry_of(user).tag_values("checks", "check")
    expected = ["booking created", "assignment accepted", "assignment response ok", "status update ok"]
    assert checks == sorted(expected + (["booking started"] if kind == "scheduled" else []))


def test_chat_iteration_looks_up_participants_and_uses_their_tokens(
    sim: SimulatorProcess, fixtures: dict[str, str]
) -> None:
    user = make_user(ChatUser, make_config(sim, {"communications": {"sessionTtlSeconds": 1200}}), fixtures)
    iterate(user, "chat_flow")
    records = sim.requests()
    env = sim.env
    create = records[0]["body"]
    assert routes(records[:1]) == [("POST", "/api/communications")] and auth_of(records[0]) == "admin"
    # the product's enums: the provider is a `serviceman` (the original sends "provider"); its role stays
    assert create["createdBy"] == {"id": env["K6_PROVIDER_ID"], "type": "serviceman"}
    assert [(p["participantType"], p["participantReferenceId"], p["role"]) for p in create["participants"]] == [
        ("user", env["K6_CUSTOMER_ID"], "customer"),
        ("serviceman", env["K6_PROVIDER_ID"], "provider"),
    ]
    assert create["aiAssist"] == {"defaultEnabled": False}
    message = records[1]["body"]
    assert records[1]["route"] == "/api/communications/{conversationId}/messages" and auth_of(records[1]) == "user"
    assert message["senderParticipantId"] and message["body"].split(" (run ")[0] in user.block.message_seeds
    assert routes(records) == [
        ("POST", "/api/communications"),
        ("POST", "/api/communications/{conversationId}/messages"),
        ("POST", "/api/communications/{conversationId}/messages"),
        ("POST", "/api/communications/{conversationId}/video-session"),
        ("GET", "/api/communications/{conversationId}"),
    ]
    assert [r["status"] for r in records] == [201, 201, 201, 201, 200]
    assert [auth_of(r) for r in records] == ["admin", "user", "provider", "provider", "admin"]
    reply, video = records[2]["body"], records[3]["body"]
    assert reply["senderParticipantId"] != message["senderParticipantId"]
    assert message["messageType"] == reply["messageType"] == "user"  # the original's reply says "provider"
    assert video["participantId"] == reply["senderParticipantId"] and video["expirySeconds"] == 1200
    assert video["channelName"].startswith("load-test-")
    assert parse_qs(records[4]["query"]) == {"limit": ["5"]}
    assert metric(user, "chat_flow_success_rate", "rate") == 1.0


def test_payments_iteration_is_one_purchase_with_the_user_token(
    sim: SimulatorProcess, fixtures: dict[str, str]
) -> None:
    user = make_user(PaymentsUser, make_config(sim), fixtures)
    before = datetime.now(UTC)
    iterate(user, "payments_flow")
    records = sim.requests()
    assert routes(records) == [("POST", "/api/services/{serviceId}/purchase")]
    assert records[0]["path"] == f"/api/services/{fixtures['serviceId']}/purchase"
    assert records[0]["status"] == 201 and auth_of(records[0]) == "user"
    body = records[0]["body"]
    assert 120 <= body["totalAmount"] <= 320 and body["currency"] == "GBP"
    assert 90 - 1 <= minutes_from(before, body["scheduledFor"]) <= 480 + 1
    assert metric(user, "payments_flow_success_rate", "rate") == 1.0


def test_analytics_iteration_sends_the_window_and_timezone(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    user = make_user(AnalyticsUser, make_config(sim, {"analytics": {"windowDays": 7}}), fixtures)
    iterate(user, "analytics_flow")
    records = sim.requests()
    assert routes(records) == [
        ("GET", "/api/analytics/dashboards/{persona}"),
        ("GET", "/api/analytics/pipeline/status"),
    ]
    assert records[0]["path"] == "/api/analytics/dashboards/admin"
    assert [r["status"] for r in records] == [200, 200] and [auth_of(r) for r in records] == ["admin", "admin"]
    query = {k: v[0] for k, v in parse_qs(records[0]["query"]).items()}
    assert query["timezone"] == "Europe/London"
    assert parse_time(query["endDate"]) - parse_time(query["startDate"]) == timedelta(days=7)
    assert abs((datetime.now(UTC) - parse_time(query["endDate"])).total_seconds()) < 60
    assert metric(user, "analytics_flow_success_rate", "rate") == 1.0


def new_campaign(sim: SimulatorProcess, daily_spend_cap: float) -> str:
    now = datetime.now(UTC)
    status, body = sim.request(
        "POST",
        "/api/campaigns",
        {
            "companyId": sim.env["K6_COMPANY_ID"],
            "name": "flow test campaign",
            "objective": "awareness",
            "campaignType": "ppc",
            "status": "active",
            "currency": "GBP",
            "totalBudget": 5000,
            "dailySpendCap": daily_spend_cap,
            "startAt": now.isoformat(),
            "endAt": (now + timedelta(days=7)).isoformat(),
        },
        token="admin",
    )
    assert status == 201, body
    return body["id"]


ADS_ROUTES = [
    ("POST", "/api/campaigns/{campaignId}/metrics"),
    ("GET", "/api/campaigns/{campaignId}/summary"),
    ("GET", "/api/campaigns/{campaignId}/fraud-signals"),
]
RESOLVE_ROUTE = ("POST", "/api/campaigns/fraud-signals/{signalId}/resolve")


def signals_of(sim: SimulatorProcess, campaign_id: str) -> list[dict[str, Any]]:
    return sim.request("GET", f"/api/campaigns/{campaign_id}/fraud-signals?includeResolved=true")[1]


def test_ads_iteration_resolves_only_when_its_day_opened_a_signal(
    sim: SimulatorProcess, fixtures: dict[str, str]
) -> None:
    """The product opens a signal when the day's spend leaves [0.75, 1.15] x the daily cap (campaignService.js
    :141-250); with a cap of 520 the flow's spend (120-750) lands inside a third of the time. Each iteration on a
    fresh campaign: three requests when the day opened none, the resolve as a fourth when it did."""
    seen = set()
    for _ in range(40):
        campaign_id = new_campaign(sim, daily_spend_cap=520)
        sim.reset_stats()
        user = make_user(AdsUser, make_config(sim), {**fixtures, "campaignId": campaign_id})
        iterate(user, "ads_flow")
        records = sim.requests()
        opened = bool(signals_of(sim, campaign_id))
        assert routes(records) == ([*ADS_ROUTES, RESOLVE_ROUTE] if opened else ADS_ROUTES)
        assert [r["status"] for r in records] == [201, 200, 200] + [200] * opened
        assert {auth_of(r) for r in records} == {"admin"}
        day = records[0]["body"]
        assert 500 <= day["impressions"] <= 4000 and 120 <= day["spend"] <= 750
        assert day["clicks"] <= day["impressions"] and day["conversions"] <= day["clicks"]
        assert 0 <= (datetime.now(UTC) - parse_time(day["metricDate"])).total_seconds() <= 72 * 3600
        assert metric(user, "ads_flow_success_rate", "rate") == 1.0
        seen.add(opened)
        if seen == {True, False}:
            break
    assert seen == {True, False}, "40 days never took both branches"


def test_ads_iteration_resolves_an_open_fraud_signal(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    campaign_id = new_campaign(sim, daily_spend_cap=100)  # every flow day (spend >= 120) overspends
    sim.reset_stats()
    user = make_user(AdsUser, make_config(sim), {**fixtures, "campaignId": campaign_id})
    iterate(user, "ads_flow")
    records = sim.requests()
    assert routes(records) == [*ADS_ROUTES, RESOLVE_ROUTE]
    resolved = records[3]
    assert resolved["status"] == 200 and auth_of(resolved) == "admin"
    note = "Automated load-test resolution"  # `note` is what the product reads; the original's keys stay
    assert resolved["body"] == {"note": note, "resolutionNote": note, "reviewer": "k6-harness"}
    signal_id = resolved["path"].split("/")[4]
    listed = signals_of(sim, campaign_id)
    assert {s["id"]: s["resolutionNote"] for s in listed}[signal_id] == note
    assert "overspend" in {s["signalType"] for s in listed}
    assert metric(user, "ads_flow_success_rate", "rate") == 1.0


# ---------------------------------------------------------------------- payloads: ranges and shares
def test_scheduled_share_over_1000_bookings(simulator: SimulatorProcess) -> None:
    config = make_config(simulator)
    rng = random.Random(20251106)
    payloads = [
        booking_payload(config.plan.profile.settings.booking, config.target, "zone", i, rng) for i in range(1000)
    ]
    share = sum(p["type"] == "scheduled" for p in payloads) / len(payloads)
    assert abs(share - 0.4) <= 0.05, share
    amounts = [p["baseAmount"] for p in payloads]
    assert min(amounts) >= 85 and max(amounts) <= 260
    now = datetime.now(UTC)
    for p in payloads:
        if p["type"] == "scheduled":
            assert 120 - 1 <= minutes_from(now, p["scheduledStart"]) <= 720 + 1
            assert 90 - 0.01 <= minutes_from(parse_time(p["scheduledStart"]), p["scheduledEnd"]) <= 360 + 0.01
    assert {p["demandLevel"] for p in payloads} == {"low", "medium", "high"}


def test_scheduled_share_follows_the_profile(simulator: SimulatorProcess) -> None:
    target = make_config(simulator).target
    for share in (0.0, 1.0, 0.75):
        booking = make_config(simulator, {"booking": {"scheduledShare": share}}).plan.profile.settings.booking
        rng = random.Random(7)
        payloads = [booking_payload(booking, target, "z", 0, rng) for _ in range(1000)]
        assert abs(sum(p["type"] == "scheduled" for p in payloads) / 1000 - share) <= 0.05


def test_1000_bookings_as_the_simulator_received_them(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    user = make_user(BookingUser, make_config(sim), fixtures)
    started = datetime.now(UTC)
    iterate(user, "booking_flow", times=1000)
    created = [r for r in sim.requests() if (r["method"], r["route"]) == ("POST", "/api/bookings")]
    assert len(created) == 1000 and {r["status"] for r in created} == {201}
    bodies = [r["body"] for r in created]
    share = sum(b["type"] == "scheduled" for b in bodies) / len(bodies)
    assert abs(share - 0.4) <= 0.05, share
    assert all(85 <= b["baseAmount"] <= 260 for b in bodies)
    for body in bodies:
        if body["type"] == "scheduled":
            assert 120 - 1 <= minutes_from(started, body["scheduledStart"]) <= 720 + 2
    assert metric(user, "booking_flow_success_rate", "rate") == 1.0
    assert registry_of(user).aggregate("booking_flow_duration", {"scenario": "booking_flow"}).count == 1000
    print(f"scheduled share over 1000 bookings (server-side): {share:.3f}")


def test_ads_figures_over_1000_days() -> None:
    rng = random.Random(11)
    days = [metrics_payload(rng) for _ in range(1000)]
    ratios = []
    for day in days:
        impressions, clicks, conversions = day["impressions"], day["clicks"], day["conversions"]
        assert 500 <= impressions <= 4000
        assert 0.02 - 0.5 / impressions <= clicks / impressions <= 0.18 + 0.5 / impressions
        if clicks:
            assert 0.05 - 0.5 / clicks <= conversions / clicks <= 0.35 + 0.5 / clicks
        assert 120 <= day["spend"] <= 750
        assert day["spend"] * 0.9 - 0.005 <= day["revenue"] <= day["spend"] * 2.8 + 0.005
        ratios.append(clicks / impressions)
    assert 0.09 <= sum(ratios) / len(ratios) <= 0.11  # uniform 2-18 %: mean 10 %
    assert min(ratios) < 0.03 and max(ratios) > 0.17


def test_purchase_payloads_in_range() -> None:
    rng = random.Random(3)
    now = datetime.now(UTC)
    for _ in range(1000):
        body = purchase_payload(rng)
        assert 120 <= body["totalAmount"] <= 320 and body["currency"] == "GBP"
        assert 90 - 1 <= minutes_from(now, body["scheduledFor"]) <= 480 + 1


@pytest.mark.parametrize(("ttl", "sent"), [(100, 300), (300, 300), (1200, 1200), (5000, 3600)])
def test_video_session_ttl_is_clamped(ttl: float, sent: int) -> None:
    assert video_session_payload("p", ttl)["expirySeconds"] == sent


@pytest.mark.parametrize(("days", "window"), [(0, 1), (0.5, 1), (7, 7), (30, 30), (90, 30)])
def test_analytics_window_is_clamped(simulator: SimulatorProcess, days: float, window: float) -> None:
    analytics = make_config(simulator, {"analytics": {"windowDays": days, "timezone": "Asia/Tokyo"}})
    now = datetime(2025, 11, 6, 12, 0, tzinfo=UTC)
    query = dashboard_query(analytics.plan.profile.settings.analytics, now)
    assert query == {
        "timezone": "Asia/Tokyo",
        "startDate": (now - timedelta(days=window)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "endDate": "2025-11-06T12:00:00.000Z",
    }


# ---------------------------------------------------------------------- API generations: prefix, headers, tokens
def test_prefix_and_extra_headers_reach_every_request(make_simulator: Any) -> None:
    sim = make_simulator(extra_args=["--api-prefix", "/api/v1"])  # d191423 serves /api only; today's is /api/v1
    env = {
        "FIXLOAD_API_PREFIX": "/api/v1",
        "FIXLOAD_HEADERS": "Origin: https://app.fixnado.com,x-fixnado-persona: admin",
    }
    config = make_config(sim, {"booking": {"scheduledShare": 0}}, env=env)
    fixtures = provision(config)
    sim.reset_stats()
    user = make_user(BookingUser, config, fixtures)
    names: list[str] = []
    user.environment.events.request.add_listener(lambda name, **_: names.append(name))
    iterate(user, "booking_flow")
    records = sim.requests()
    assert records[0]["route"] == "/api/v1/bookings" and len(records) == 5
    assert all(r["path"].startswith("/api/v1/") for r in records)
    assert {(r["origin"], r["persona"]) for r in records} == {("https://app.fixnado.com", "admin")}
    assert names == [
        "/api/v1/bookings",
        "/api/v1/bookings/{id}/assignments",
        "/api/v1/bookings/{id}/assignments/response",
        "/api/v1/bookings/{id}/status",
        "/api/v1/bookings",
    ]


def test_strict_auth_sends_a_token_everywhere(make_simulator: Any) -> None:
    strict = make_simulator(auth="strict")
    config = make_config(strict, env={"FIXLOAD_AUTH": "strict"})
    fixtures = provision(config)
    for user_class, task in (
        (BookingUser, "booking_flow"),
        (PaymentsUser, "payments_flow"),
        (AnalyticsUser, "analytics_flow"),
        (AdsUser, "ads_flow"),
    ):
        user = make_user(user_class, config, fixtures)
        iterate(user, task)
        assert metric(user, f"{user.flow}_success_rate", "rate") == 1.0, user.flow
    records = strict.requests()
    assert records and all(r["auth"]["present"] and r["auth"]["valid"] for r in records)
    assert {r["status"] for r in records} <= {200, 201}


# ---------------------------------------------------------------------- failures: one per iteration, one log line
FAULTS = (
    {"route": "/api/services/*/purchase", "method": "POST", "error_rate": 1.0, "status": 503},
    {"route": "/api/bookings/*/status", "method": "PATCH", "error_rate": 1.0, "status": 409},
    {"route": "/api/analytics/dashboards/*", "hang": True},
)


def test_faults_move_the_right_flows_and_logs_name_step_and_status(
    sim: SimulatorProcess,
    fixtures: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for rule in FAULTS:
        sim.add_fault(rule)
    # on demand only: a scheduled booking's first PATCH is "Booking start", which the 409 would fail instead
    config = make_config(sim, {"booking": {"scheduledShare": 0}}, env={"FIXLOAD_HTTP_TIMEOUT": "0.5"})
    users = {
        "booking_flow": make_user(BookingUser, config, fixtures),
        "payments_flow": make_user(PaymentsUser, config, fixtures),
        "analytics_flow": make_user(AnalyticsUser, config, fixtures),
        "ads_flow": make_user(AdsUser, config, fixtures),
    }
    caplog.set_level(logging.ERROR, logger=FLOW_LOGGER)
    for flow, user in users.items():
        iterate(user, flow, times=3)
    for flow in ("booking_flow", "payments_flow", "analytics_flow"):
        user = users[flow]
        assert metric(user, f"{flow}_failures", "count") == 3, flow  # one per iteration, not one per step
        assert metric(user, f"{flow}_success_rate", "rate") == 0.0, flow
        assert registry_of(user).aggregate("checks", {"scenario": flow}).fails == 3  # type: ignore[attr-defined]
    assert metric(users["ads_flow"], "ads_flow_success_rate", "rate") == 1.0
    assert metric(users["ads_flow"], "ads_flow_failures", "count") is None or (
        metric(users["ads_flow"], "ads_flow_failures", "count") == 0
    )
    # the first failure of each (step, status) is logged with its body; the repeats are counted
    lines = [r.getMessage() for r in caplog.records if r.name == FLOW_LOGGER and r.levelno >= logging.ERROR]
    assert len(lines) == 3
    assert sum(line.startswith("[booking_flow] Booking status update failed — status 409: {") for line in lines) == 1
    assert sum(line.startswith("[payments_flow] Service purchase failed — status 503: {") for line in lines) == 1
    assert sum(line.startswith("[analytics_flow] Persona dashboard request failed — status 0: ") for line in lines) == 1
    assert all(len(line) < 500 and "\n" not in line for line in lines)
    counted = {flow: runtime_of_user(user).failures.by_scenario().get(flow) for flow, user in users.items()}
    [booking] = counted["booking_flow"]
    assert {k: booking[k] for k in ("step", "status", "count")} == {
        "step": "Booking status update failed",
        "status": 409,
        "count": 3,
    }
    # issue 29: the three failed requests' ids, each once (their requests were distinct)
    kept = booking["requests"]["first"] + booking["requests"]["last"]
    assert len(kept) == 3 and len({k["requestId"] for k in kept}) == len({k["traceId"] for k in kept}) == 3
    assert "injected_fault" in counted["booking_flow"][0]["body"]
    assert [(f["step"], f["status"], f["count"]) for f in counted["payments_flow"]] == [
        ("Service purchase failed", 503, 3)
    ]
    assert counted["ads_flow"] is None
    # the failed step ended the iteration: no booking list after a failed status update, no pipeline call
    served = sim.stats()["routes"]
    assert "GET /api/bookings" not in served and "GET /api/analytics/pipeline/status" not in served
    # a hung request costs the timeout, and the duration says so
    assert 0.4 * 1000 <= metric(users["analytics_flow"], "analytics_flow_duration", "min") <= 3 * 1000
    output = caplog.text + "".join(capsys.readouterr())
    for user in users.values():
        output += "".join(str(e) for e in user.environment.stats.errors.values())
    for token in tokens_of(sim):
        assert token not in output
    assert "Bearer" not in output


def test_log_line_masks_tokens_before_truncating(simulator: SimulatorProcess) -> None:
    token = simulator.env["K6_ADMIN_TOKEN"]
    make_config(simulator)  # registers the tokens as secrets, as loading the environment does
    body = "x" * 290 + f'{{"echo": "{token}", "auth": "Bearer {token}"}}'
    line = log_line("ads_flow", "Campaign summary failed", 500, body)
    assert token not in line and token[:20] not in line
    assert line.startswith("[ads_flow] Campaign summary failed — status 500: ") and line.endswith("…")


# ---------------------------------------------------------------------- under a Locust runner (closed model)
FLOWS_UNDER_RUNNER = ("booking_flow", "ads_flow", "payments_flow", "analytics_flow")


def iterations_done(registry: Any, flow: str) -> int:
    if f"{flow}_success_rate" not in registry:  # defined when the flow's first user starts
        return 0
    return registry.aggregate(f"{flow}_success_rate", {"scenario": flow}).total


def test_locust_runner_keeps_request_names_templated(sim: SimulatorProcess, fixtures: dict[str, str]) -> None:
    environment = Environment(user_classes=[BookingUser, AdsUser, PaymentsUser, AnalyticsUser])
    run = Runtime.standalone(environment, make_config(sim), fixtures)
    registry = run.registry
    runner = environment.create_local_runner()
    runner.start(8, spawn_rate=100)
    try:
        deadline = time.monotonic() + 20
        while min(iterations_done(registry, f) for f in FLOWS_UNDER_RUNNER) < 20 and time.monotonic() < deadline:
            gevent.sleep(0.05)  # yields to the users; the loop ends on the condition or the deadline
        hosts = {greenlet.args[0].client.base_url for greenlet in runner.user_greenlets}
    finally:
        runner.quit()
    assert hosts == {sim.base_url}
    assert min(iterations_done(registry, f) for f in FLOWS_UNDER_RUNNER) >= 20
    for flow in FLOWS_UNDER_RUNNER:
        assert registry.aggregate(f"{flow}_success_rate", {"scenario": flow}).compute("rate") == 1.0
    names = {name for (name, _method) in environment.stats.entries}
    assert names <= {
        "/api/bookings",
        "/api/bookings/{id}/assignments",
        "/api/bookings/{id}/assignments/response",
        "/api/bookings/{id}/status",
        "/api/services/{id}/purchase",
        "/api/analytics/dashboards/{persona}",
        "/api/analytics/pipeline/status",
        "/api/campaigns/{id}/metrics",
        "/api/campaigns/{id}/summary",
        "/api/campaigns/{id}/fraud-signals",
        "/api/campaigns/fraud-signals/{id}/resolve",
    }
    assert environment.stats.total.num_failures == 0


def test_a_created_booking_without_an_id_fails_its_step(
    sim: SimulatorProcess, fixtures: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_fault({"route": "/api/bookings", "method": "POST", "error_rate": 1.0, "status": 201})
    user = make_user(BookingUser, make_config(sim), fixtures)
    caplog.set_level(logging.ERROR, logger=FLOW_LOGGER)
    iterate(user, "booking_flow")
    assert routes(sim.requests()) == [("POST", "/api/bookings")]
    [line] = [r.getMessage() for r in caplog.records if r.name == FLOW_LOGGER]
    assert line.startswith("[booking_flow] Booking creation response did not include 'id' — status 201: {")
    assert metric(user, "booking_flow_failures", "count") == 1


def test_discard_response_bodies_keeps_only_what_the_flow_needs(
    sim: SimulatorProcess, fixtures: dict[str, str]
) -> None:
    kept = make_user(AnalyticsUser, make_config(sim), fixtures)
    discarding = make_user(AnalyticsUser, make_config(sim, {"discardResponseBodies": True}), fixtures)
    admin = kept.token("admin")
    assert kept.request("GET", "/analytics/pipeline/status", token=admin, step="status").text.startswith("{")
    assert discarding.request("GET", "/analytics/pipeline/status", token=admin, step="status").text == ""
    needed = discarding.request("GET", "/analytics/pipeline/status", token=admin, step="status", parse=True)
    assert needed.data["pipeline"]["enabled"] is True
    for flow, user_class in (("booking_flow", BookingUser), ("analytics_flow", AnalyticsUser), ("ads_flow", AdsUser)):
        user = make_user(user_class, make_config(sim, {"discardResponseBodies": True}), fixtures)
        iterate(user, flow)
        assert metric(user, f"{flow}_success_rate", "rate") == 1.0
