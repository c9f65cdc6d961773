"""The simulator's in-memory Fixnado: records, their state machines, and the caps that keep memory bounded.

Every rule a flow can trip lives here (booking transitions, conversation membership, escrow on purchase,
fraud signals from anomalous campaign days), so a flow that passes against the simulator has sent what the
real API expects. Handlers in `routes.py` validate payloads and call these methods; errors are `ApiError`s.
Finished records are evicted oldest-first past a cap, so an hour's soak stays flat in RSS.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from .errors import Conflict, Forbidden, Invalid, NotFound

DEMAND_MULTIPLIER: dict[str, float] = {"low": 0.9, "medium": 1.0, "high": 1.25}
FINISHED_BOOKING_STATES = frozenset({"completed", "cancelled"})
# booking state machine: status -> the statuses `PATCH /bookings/{id}/status` may move it to
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"cancelled"}),
    "assigned": frozenset({"cancelled"}),
    "accepted": frozenset({"in_progress", "completed", "cancelled"}),
    "in_progress": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
# a day's click-through or conversion rate this many times the campaign's running mean is a fraud signal
ANOMALY_FACTOR = 1.6
ANOMALY_MIN_HISTORY = 3


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what the store keeps; past them the oldest (finished first) records are evicted."""

    finished_bookings: int = 10_000
    bookings: int = 50_000
    conversations: int = 20_000
    messages_per_conversation: int = 50
    orders: int = 20_000
    signals_per_campaign: int = 500
    campaigns: int = 10_000
    zones: int = 10_000
    services: int = 10_000
    analytics_hours: int = 24 * 400


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the minted tokens speak for; the `.env` file's K6_* ids."""

    company_id: str
    provider_id: str
    customer_id: str
    admin_id: str


def iso(moment: datetime | float) -> str:
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Bounded(OrderedDict[str, dict[str, Any]]):
    """Insertion-ordered records with a cap: adding past it drops the oldest."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        self[record["id"]] = record
        if len(self) > self.cap:
            self.popitem(last=False)
        return record


class Store:
    """All state of one simulator process. Not thread-safe: the ASGI app runs on one event loop."""

    def __init__(self, seed: int | None = None, limits: Limits | None = None) -> None:
        self.rng = random.Random(seed)
        self.limits = limits or Limits()
        self.identity = Identity(
            company_id=self.new_id(), provider_id=self.new_id(), customer_id=self.new_id(), admin_id=self.new_id()
        )
        self.zones = _Bounded(self.limits.zones)
        self.services = _Bounded(self.limits.services)
        self.campaigns = _Bounded(self.limits.campaigns)
        self.bookings: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.finished: deque[str] = deque()
        self.conversations = _Bounded(self.limits.conversations)
        self.orders = _Bounded(self.limits.orders)
        self.signals: dict[str, dict[str, Any]] = {}  # signal id -> signal (all campaigns)
        self.campaign_signals: dict[str, deque[str]] = {}
        self.campaign_norms: dict[str, dict[str, float]] = {}
        self.campaign_days: dict[str, dict[str, dict[str, float]]] = {}
        self.hourly: dict[int, dict[str, float]] = {}
        self.events_total = 0
        self.evicted = {"bookings": 0}

    # ------------------------------------------------------------------ helpers
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def count(self, metric: str, amount: float = 1.0, at: float | None = None) -> None:
        """Add to the hourly analytics bucket that dashboards aggregate (survives record eviction)."""
        hour = int((time.time() if at is None else at) // 3600)
        bucket = self.hourly.get(hour)
        if bucket is None:
            bucket = self.hourly[hour] = {}
            if len(self.hourly) > self.limits.analytics_hours:
                del self.hourly[min(self.hourly)]
        bucket[metric] = bucket.get(metric, 0.0) + amount
        self.events_total += 1

    # ------------------------------------------------------------------ zones
    def create_zone(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        zone = {"id": self.new_id(), **fields, "status": "active", "createdAt": iso(now), "updatedAt": iso(now)}
        return self.zones.add(zone)

    def list_zones(self, company_id: str | None, limit: int) -> list[dict[str, Any]]:
        out = []
        for zone in reversed(self.zones.values()):
            if company_id and zone["companyId"] != company_id:
                continue
            out.append({"zone": zone, "analytics": {"openBookings": 0, "demandLevel": zone["demandLevel"]}})
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ services and purchases
    def create_service(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = iso(time.time())
        return self.services.add({"id": self.new_id(), **fields, "status": "published", "createdAt": now})

    def list_services(self, provider_id: str | None, company_id: str | None, limit: int) -> list[dict[str, Any]]:
        out = []
        for service in reversed(self.services.values()):
            if provider_id and service["providerId"] != provider_id:
                continue
            if company_id and service["companyId"] != company_id:
                continue
            out.append(service)
            if len(out) >= limit:
                break
        return out

    def purchase(
        self, service_id: str, customer_id: str, amount: float, currency: str, scheduled_for: datetime
    ) -> dict[str, Any]:
        service = self.services.get(service_id)
        if service is None:
            raise NotFound("service", service_id)
        now = time.time()
        booking = self._new_booking(
            {
                "companyId": service["companyId"],
                "customerId": customer_id,
                "zoneId": None,
                "serviceId": service_id,
                "type": "scheduled",
                "demandLevel": "medium",
                "baseAmount": amount,
                "currency": currency,
                "targetCurrency": currency,
                "scheduledStart": iso(scheduled_for),
                "scheduledEnd": iso(scheduled_for + timedelta(hours=2)),
                "metadata": {"source": "marketplace_purchase"},
            },
            now,
        )
        fee = round(amount * 0.075, 2)
        order_id = self.new_id()
        order = {
            "id": order_id,
            "serviceId": service_id,
            "customerId": customer_id,
            "providerId": service["providerId"],
            "bookingId": booking["id"],
            "status": "funded",
            "totalAmount": amount,
            "currency": currency,
            "scheduledFor": iso(scheduled_for),
            "createdAt": iso(now),
        }
        escrow = {
            "id": self.new_id(),
            "orderId": order_id,
            "status": "funded",
            "amount": amount,
            "currency": currency,
            "fundedAt": iso(now),
            "releaseAfter": iso(scheduled_for + timedelta(days=2)),
        }
        totals = {
            "subtotal": amount,
            "platformFee": fee,
            "providerPayout": round(amount - fee, 2),
            "total": amount,
            "currency": currency,
        }
        self.orders.add({**order, "escrowId": escrow["id"]})
        self.count("purchases")
        self.count("purchase_value", amount)
        return {"order": order, "escrow": escrow, "booking": booking, "totals": totals}

    # ------------------------------------------------------------------ bookings
    def _new_booking(self, fields: dict[str, Any], now: float) -> dict[str, Any]:
        multiplier = DEMAND_MULTIPLIER.get(fields.get("demandLevel") or "medium", 1.0)
        booking = {
            "id": self.new_id(),
            **fields,
            "status": "pending",
            "totalAmount": round(fields["baseAmount"] * multiplier * 1.2, 2),
            "assignments": [],
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "slaExpiresAt": iso(now + 4 * 3600),
        }
        self.bookings[booking["id"]] = booking
        if len(self.bookings) > self.limits.bookings:
            _, oldest = self.bookings.popitem(last=False)
            self.evicted["bookings"] += 1
            del oldest
        self.count("bookings_created", at=now)
        self.count("booking_value", booking["totalAmount"], at=now)
        return booking

    def create_booking(self, fields: dict[str, Any]) -> dict[str, Any]:
        if fields.get("zoneId") not in self.zones:
            raise Invalid("zoneId", f"unknown zone {fields.get('zoneId')!r}")
        return self._new_booking(fields, time.time())

    def booking(self, booking_id: str) -> dict[str, Any]:
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise NotFound("booking", booking_id)
        return booking

    def assign(self, booking_id: str, assignments: list[dict[str, Any]], actor_id: str | None) -> dict[str, Any]:
        booking = self.booking(booking_id)
        if booking["status"] not in ("pending", "assigned"):
            raise Conflict(
                f"booking is '{booking['status']}'; assignments need 'pending' or 'assigned'", booking["status"]
            )
        now = iso(time.time())
        booking["assignments"] = [
            {"id": self.new_id(), **a, "status": "pending", "assignedBy": actor_id, "assignedAt": now}
            for a in assignments
        ]
        booking["status"] = "assigned"
        booking["updatedAt"] = now
        return booking

    def respond(self, booking_id: str, provider_id: str, status: str) -> dict[str, Any]:
        booking = self.booking(booking_id)
        if booking["status"] != "assigned":
            raise Conflict(f"booking is '{booking['status']}'; a response needs 'assigned'", booking["status"])
        assignment = next((a for a in booking["assignments"] if a["providerId"] == provider_id), None)
        if assignment is None:
            raise Forbidden(f"provider {provider_id!r} is not assigned to booking {booking_id!r}")
        now = iso(time.time())
        assignment["status"] = status
        assignment["respondedAt"] = now
        if status == "accepted":
            booking["status"] = "accepted"
            booking["providerId"] = provider_id
        elif all(a["status"] == "declined" for a in booking["assignments"]):
            booking["status"] = "pending"
        booking["updatedAt"] = now
        return booking

    def set_status(self, booking_id: str, status: str, reason: str | None) -> dict[str, Any]:
        booking = self.booking(booking_id)
        current = booking["status"]
        if status not in STATUS_TRANSITIONS.get(current, frozenset()):
            raise Conflict(f"booking is '{current}'; cannot move to '{status}'", current)
        now = time.time()
        booking["status"] = status
        booking["updatedAt"] = iso(now)
        booking["statusReason"] = reason
        if status in FINISHED_BOOKING_STATES:
            booking[f"{status}At"] = iso(now)
            self.count(f"bookings_{status}", at=now)
            if status == "completed":
                self.count("completed_value", booking["totalAmount"], at=now)
            self._finish(booking_id)
        return booking

    def _finish(self, booking_id: str) -> None:
        self.finished.append(booking_id)
        while len(self.finished) > self.limits.finished_bookings:
            oldest = self.finished.popleft()
            if self.bookings.pop(oldest, None) is not None:
                self.evicted["bookings"] += 1

    def list_bookings(self, company_id: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        out = []
        for booking in reversed(self.bookings.values()):
            if company_id and booking["companyId"] != company_id:
                continue
            if status and booking["status"] != status:
                continue
            out.append(booking)
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ communications
    def create_conversation(self, fields: dict[str, Any], participants: list[dict[str, Any]]) -> dict[str, Any]:
        now = iso(time.time())
        conversation_id = self.new_id()
        ai_default = bool((fields.get("aiAssist") or {}).get("defaultEnabled", False))
        members = [
            {
                "id": self.new_id(),
                "conversationId": conversation_id,
                **p,
                "aiAssistEnabled": bool(p.get("aiAssistEnabled", ai_default)),
                "joinedAt": now,
            }
            for p in participants
        ]
        conversation = {
            "id": conversation_id,
            **fields,
            "participants": members,
            "messages": deque(maxlen=self.limits.messages_per_conversation),
            "messageCount": 0,
            "videoSessions": deque(maxlen=10),
            "createdAt": now,
            "updatedAt": now,
        }
        self.conversations.add(conversation)
        self.count("conversations")
        return conversation

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound("conversation", conversation_id)
        return conversation

    def participant(
        self, conversation: dict[str, Any], participant_id: str, field: str, caller: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The conversation's participant `participant_id`, checked against the caller's token (403 if not theirs)."""
        member = next((p for p in conversation["participants"] if p["id"] == participant_id), None)
        if member is None:
            raise Forbidden(f"{field} {participant_id!r} is not a participant of conversation {conversation['id']!r}")
        if caller and caller.get("role") != "admin" and caller.get("sub") != member["participantReferenceId"]:
            raise Forbidden(f"the bearer token does not speak for participant {participant_id!r}")
        return member

    def post_message(
        self, conversation_id: str, sender_id: str, fields: dict[str, Any], caller: dict[str, Any] | None
    ) -> dict[str, Any]:
        conversation = self.conversation(conversation_id)
        self.participant(conversation, sender_id, "senderParticipantId", caller)
        now = iso(time.time())
        message = {
            "id": self.new_id(),
            "conversationId": conversation_id,
            "senderParticipantId": sender_id,
            **fields,
            "deliveries": [
                {"participantId": p["id"], "status": "delivered"}
                for p in conversation["participants"]
                if p["id"] != sender_id
            ],
            "createdAt": now,
        }
        conversation["messages"].append(message)
        conversation["messageCount"] += 1
        conversation["updatedAt"] = now
        self.count("messages")
        return message

    def video_session(
        self, conversation_id: str, participant_id: str, channel: str, expiry: int, caller: dict[str, Any] | None
    ) -> dict[str, Any]:
        conversation = self.conversation(conversation_id)
        self.participant(conversation, participant_id, "participantId", caller)
        now = time.time()
        hour = datetime.fromtimestamp(now, UTC).hour
        session = {
            "id": self.new_id(),
            "conversationId": conversation_id,
            "participantId": participant_id,
            "channelName": channel,
            "provider": "agora",
            "token": f"{self.rng.getrandbits(128):032x}",
            "expiresAt": iso(now + expiry),
            "expirySeconds": expiry,
            "quietHours": {"active": hour >= 22 or hour < 7, "window": "22:00-07:00", "policy": "notify_only"},
            "createdAt": iso(now),
        }
        conversation["videoSessions"].append(session["id"])
        self.count("video_sessions")
        return session

    def conversation_view(self, conversation: dict[str, Any], limit: int) -> dict[str, Any]:
        messages = list(conversation["messages"])[-limit:]
        return {
            **{k: v for k, v in conversation.items() if k not in ("messages", "videoSessions")},
            "messages": messages,
            "videoSessionCount": len(conversation["videoSessions"]),
        }

    # ------------------------------------------------------------------ campaigns
    def create_campaign(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = iso(time.time())
        campaign = self.campaigns.add({"id": self.new_id(), **fields, "createdAt": now, "updatedAt": now})
        self.campaign_signals[campaign["id"]] = deque()
        return campaign

    def list_campaigns(self, company_id: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        out = []
        for campaign in reversed(self.campaigns.values()):
            if company_id and campaign["companyId"] != company_id:
                continue
            if status and campaign["status"] != status:
                continue
            out.append(campaign)
            if len(out) >= limit:
                break
        return out

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        return campaign

    def record_metrics(self, campaign_id: str, day: str, figures: dict[str, float]) -> dict[str, Any]:
        """Store one day's figures; raise a fraud signal when CTR or conversion runs far above the campaign's norm."""
        campaign = self.campaign(campaign_id)
        if campaign["status"] in ("archived", "completed"):
            raise Conflict(f"campaign is '{campaign['status']}'; metrics need a live campaign", campaign["status"])
        impressions, clicks, conversions = figures["impressions"], figures["clicks"], figures["conversions"]
        ctr = clicks / impressions if impressions else 0.0
        cvr = conversions / clicks if clicks else 0.0
        norm = self.campaign_norms.setdefault(campaign_id, {"n": 0, "ctr": 0.0, "cvr": 0.0})
        raised = []
        if norm["n"] >= ANOMALY_MIN_HISTORY:
            for kind, observed in (("ctr_spike", ctr), ("conversion_spike", cvr)):
                baseline = norm["ctr" if kind == "ctr_spike" else "cvr"]
                if baseline > 0 and observed > ANOMALY_FACTOR * baseline:
                    raised.append(self._raise_signal(campaign_id, kind, day, observed, baseline))
        norm["n"] += 1
        norm["ctr"] += (ctr - norm["ctr"]) / norm["n"]
        norm["cvr"] += (cvr - norm["cvr"]) / norm["n"]
        days = self.campaign_days.setdefault(campaign_id, {})
        total = days.get(day)
        if total is None:
            total = days[day] = dict.fromkeys(figures, 0.0)
            if len(days) > 400:
                del days[min(days)]
        for key, value in figures.items():
            total[key] = total.get(key, 0.0) + value
        for key in ("impressions", "clicks", "conversions", "spend", "revenue"):
            self.count(f"ads_{key}", figures[key])
        metric = {
            "id": self.new_id(),
            "campaignId": campaign_id,
            "metricDate": day,
            **figures,
            "ctr": round(ctr, 5),
            "conversionRate": round(cvr, 5),
            "roas": round(figures["revenue"] / figures["spend"], 4) if figures["spend"] else None,
            "fraudSignals": raised,
            "createdAt": iso(time.time()),
        }
        return metric

    def _raise_signal(self, campaign_id: str, kind: str, day: str, observed: float, baseline: float) -> dict[str, Any]:
        ratio = observed / baseline
        signal = {
            "id": self.new_id(),
            "campaignId": campaign_id,
            "signalType": kind,
            "severity": "high" if ratio >= 2 * ANOMALY_FACTOR else "medium",
            "metricDate": day,
            "observed": round(observed, 5),
            "baseline": round(baseline, 5),
            "ratio": round(ratio, 3),
            "detectedAt": iso(time.time()),
            "resolvedAt": None,
            "resolutionNote": None,
            "reviewer": None,
        }
        self.signals[signal["id"]] = signal
        ids = self.campaign_signals.setdefault(campaign_id, deque())
        ids.append(signal["id"])
        while len(ids) > self.limits.signals_per_campaign:
            self.signals.pop(ids.popleft(), None)
        self.count("fraud_signals")
        return signal

    def fraud_signals(self, campaign_id: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        self.campaign(campaign_id)
        out = []
        for signal_id in reversed(self.campaign_signals.get(campaign_id, ())):
            signal = self.signals.get(signal_id)
            if signal is None:
                continue
            is_open = signal["resolvedAt"] is None
            if (status == "open" and not is_open) or (status == "resolved" and is_open):
                continue
            out.append(signal)
            if len(out) >= limit:
                break
        return out

    def resolve_signal(self, signal_id: str, note: str, reviewer: Any) -> dict[str, Any]:
        signal = self.signals.get(signal_id)
        if signal is None:
            raise NotFound("fraud signal", signal_id)
        if signal["resolvedAt"] is not None:
            # idempotent: many VUs share one campaign and race to resolve the same open signal; the first
            # resolution stands and the others succeed without changing it (a 409 here would be a harness artefact)
            return {**signal, "alreadyResolved": True}
        signal.update(resolvedAt=iso(time.time()), resolutionNote=note, reviewer=reviewer)
        self.count("fraud_signals_resolved")
        return signal

    def campaign_summary(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaign(campaign_id)
        days = self.campaign_days.get(campaign_id, {})
        totals = dict.fromkeys(("impressions", "clicks", "conversions", "spend", "revenue"), 0.0)
        for figures in days.values():
            for key in totals:
                totals[key] += figures.get(key, 0.0)
        open_signals = sum(
            1
            for sid in self.campaign_signals.get(campaign_id, ())
            if self.signals.get(sid, {}).get("resolvedAt") is None
        )
        return {
            "campaign": campaign,
            "totals": {
                **{k: round(v, 2) for k, v in totals.items()},
                "ctr": round(totals["clicks"] / totals["impressions"], 5) if totals["impressions"] else 0.0,
                "conversionRate": round(totals["conversions"] / totals["clicks"], 5) if totals["clicks"] else 0.0,
                "roas": round(totals["revenue"] / totals["spend"], 4) if totals["spend"] else None,
                "budgetRemaining": round(float(campaign.get("totalBudget") or 0.0) - totals["spend"], 2),
            },
            "days": [
                {"metricDate": d, **{k: round(v, 2) for k, v in f.items()}} for d, f in sorted(days.items())[-30:]
            ],
            "openFraudSignals": open_signals,
            "generatedAt": iso(time.time()),
        }

    # ------------------------------------------------------------------ analytics
    def dashboard(self, persona: str, start: datetime, end: datetime, tz: tzinfo) -> dict[str, Any]:
        """Aggregate the hourly buckets inside [start, end) into totals and a per-local-day timeline in `tz`."""
        first_hour, last_hour = int(start.timestamp() // 3600), int((end.timestamp() - 1) // 3600)
        timeline: dict[str, dict[str, float]] = {}
        day = start.astimezone(tz).date()
        while day <= (end - timedelta(microseconds=1)).astimezone(tz).date():
            timeline[day.isoformat()] = {}
            day += timedelta(days=1)
        totals: dict[str, float] = {}
        for hour, bucket in self.hourly.items():
            if hour < first_hour or hour > last_hour:
                continue
            local_day = datetime.fromtimestamp(hour * 3600, tz).date().isoformat()
            slot = timeline.setdefault(local_day, {})
            for key, value in bucket.items():
                slot[key] = slot.get(key, 0.0) + value
                totals[key] = totals.get(key, 0.0) + value
        sections = PERSONA_SECTIONS[persona]

        def pick(figures: dict[str, float]) -> dict[str, float]:
            return {key: round(figures.get(key, 0.0), 2) for key in sections}

        created = totals.get("bookings_created", 0.0)
        return {
            "persona": persona,
            "timezone": str(tz),
            "window": {"start": start.isoformat(), "end": end.isoformat(), "days": len(timeline)},
            "metrics": pick(totals),
            "kpis": {
                "completionRate": round(totals.get("bookings_completed", 0.0) / created, 4) if created else 0.0,
                "averageBookingValue": round(totals.get("booking_value", 0.0) / created, 2) if created else 0.0,
            },
            "timeline": [{"date": d, **pick(f)} for d, f in sorted(timeline.items())],
            "generatedAt": iso(time.time()),
        }

    def pipeline_status(self) -> dict[str, Any]:
        now = time.time()
        last_run = now - now % 300
        return {
            "status": "healthy",
            "lastRunAt": iso(last_run),
            "nextRunAt": iso(last_run + 300),
            "eventsIngested": self.events_total,
            "pipelines": [
                {"name": name, "status": "healthy", "lastRunAt": iso(last_run)}
                for name in ("bookings_rollup", "communications_rollup", "ads_rollup")
            ],
        }


PERSONA_SECTIONS: dict[str, tuple[str, ...]] = {
    "admin": (
        "bookings_created",
        "bookings_completed",
        "bookings_cancelled",
        "booking_value",
        "purchases",
        "purchase_value",
        "conversations",
        "messages",
        "ads_spend",
        "ads_revenue",
        "fraud_signals",
    ),
    "provider": (
        "bookings_created",
        "bookings_completed",
        "completed_value",
        "purchases",
        "purchase_value",
        "messages",
    ),
    "serviceman": ("bookings_completed", "completed_value", "messages", "video_sessions"),
    "user": ("bookings_created", "purchases", "purchase_value", "messages"),
    "enterprise": ("bookings_created", "booking_value", "purchases", "purchase_value", "ads_spend", "ads_revenue"),
}
