"""The simulator's in-memory Fixnado: the product's records, their rules, and the caps that keep memory flat.

Records have the product's shapes (FIXNADO-API.md §2-§8) and the rules a flow can trip live here: the
booking state machine (`contract.ALLOWED_STATUS_TRANSITIONS`, checked on PATCH only, as the product does)
and the first acceptance's effect (on-demand → `in_progress`, scheduled → `scheduled`), conversation
membership, fraud signals from the product's thresholds. Handlers in `routes.py` run the product's checks
in the product's order and call these methods.

Memory is bounded for a soak: every record kind has a cap (`Limits`), oldest evicted first (finished bookings
before open ones), per-record children are capped too (messages per conversation, metric rows and signals per
campaign), and lists the product returns unbounded (bookings, fraud signals) are served from what is kept.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fixload.common import contract as product

from . import backend as c
from .errors import ApiError, bad_request, not_found
from .validation import decimal, iso


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what the store keeps; past them the oldest records are evicted (see the module docstring)."""

    bookings: int = 20_000
    finished_bookings: int = 5_000
    booking_list: int = 50  # GET /api/bookings returns every match in the product (B6); here the newest 50
    conversations: int = 5_000
    messages_per_conversation: int = 20
    orders: int = 10_000
    campaigns: int = 200
    metrics_per_campaign: int = 100
    signals_per_campaign: int = 100
    zones: int = 1_000
    services: int = 1_000
    users: int = 5_000
    analytics_hours: int = 24 * 400


@dataclass(frozen=True, slots=True)
class Identity:
    """The accounts a run uses (the `.env` file's K6_* ids): a Company (K6_COMPANY_ID) owned by the harness's
    "admin", a `company` user (this codebase's admin routes are `authorize(['company'])`, and `GET /api/auth/me`
    with its token shows the Company.id); a second `company` user without a Company; a `servicemen` user
    (the provider) and a `user` (the customer)."""

    company_id: str
    company_user_id: str
    admin_id: str
    provider_id: str
    customer_id: str

    def users(self) -> dict[str, tuple[str, str]]:
        """harness name -> (user id, User.type)"""
        return {
            "company": (self.company_user_id, "company"),
            "admin": (self.admin_id, "company"),
            "provider": (self.provider_id, "servicemen"),
            "user": (self.customer_id, "user"),
        }


class _Bounded(OrderedDict[str, Any]):
    """Insertion-ordered records with a cap: adding past it drops the oldest (and tells `on_evict`)."""

    def __init__(self, cap: int, on_evict: Callable[[Any, Any], None] | None = None) -> None:
        super().__init__()
        self.cap = cap
        self.on_evict = on_evict
        self.evicted = 0

    def add(self, key: str, record: Any) -> Any:
        self[key] = record
        while len(self) > self.cap:
            old_key, old = self.popitem(last=False)
            self.evicted += 1
            if self.on_evict is not None:
                self.on_evict(old_key, old)
        return record


@dataclass(slots=True)
class BookingRow:
    public: dict[str, Any]
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)  # providerId -> assignment


@dataclass(slots=True)
class Conversation:
    public: dict[str, Any]  # serialiseConversation's keys but `participants` / `messages`
    participants: list[dict[str, Any]]
    messages: deque[dict[str, Any]]


@dataclass(slots=True)
class CampaignState:
    """A campaign's metric rows (upserted on the exact metricDate) and fraud signals, capped, with running totals."""

    metrics: _Bounded
    signals: _Bounded  # (flightId, metricDate, signalType) -> signal
    totals: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("impressions", "clicks", "conversions", "spend", "revenue"), 0.0)
    )


def now_iso() -> str:
    return iso(datetime.now(UTC))


class Store:
    """All state of one simulator process. Not thread-safe: the ASGI app runs on one event loop."""

    def __init__(self, seed: int | None = None, limits: Limits | None = None) -> None:
        self.rng = random.Random(seed)
        self.limits = lim = limits or Limits()
        self.identity = Identity(*(self.new_id() for _ in range(5)))
        self.fixed_users: dict[str, dict[str, Any]] = {}
        self.emails: dict[str, str] = {}
        self.users = _Bounded(lim.users, lambda _, user: self.emails.pop(user["email"], None))
        self.companies: dict[str, dict[str, Any]] = {}
        self.registered_companies = _Bounded(lim.users, lambda key, _: self.companies.pop(key, None))
        self.zones = _Bounded(lim.zones)
        self.services = _Bounded(lim.services)
        self.orders = _Bounded(lim.orders)
        self.campaigns = _Bounded(lim.campaigns, self._drop_campaign)
        self.campaign_state: dict[str, CampaignState] = {}
        self.signal_index: dict[str, tuple[str, tuple[str | None, str, str]]] = {}  # id -> (campaign, key)
        self.bookings = _Bounded(lim.bookings)
        self.finished: deque[str] = deque()
        self.conversations = _Bounded(lim.conversations)
        self.hourly: dict[int, dict[str, float]] = {}
        self.events_pending = 0
        self.oldest_event_at: str | None = None
        self._names = {ident: name for name, (ident, _) in self.identity.users().items()}
        self._seed_identity()

    # ------------------------------------------------------------------ helpers
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def evicted(self) -> dict[str, int]:
        kinds = ("bookings", "conversations", "orders", "campaigns", "zones", "services", "users")
        return {kind: getattr(self, kind).evicted for kind in kinds}

    def event(self, metric: str | None = None, amount: float = 1.0) -> None:
        """One AnalyticsEvent row (pending ingestion, as no ingest endpoint is configured), and the hourly
        bucket the dashboards total (it outlives evicted records)."""
        self.events_pending += 1
        if self.oldest_event_at is None:
            self.oldest_event_at = now_iso()
        if metric is None:
            return
        hour = int(time.time() // 3600)
        bucket = self.hourly.get(hour)
        if bucket is None:
            bucket = self.hourly[hour] = {}
            if len(self.hourly) > self.limits.analytics_hours:
                del self.hourly[min(self.hourly)]
        bucket[metric] = bucket.get(metric, 0.0) + amount

    # ------------------------------------------------------------------ users and companies
    def _seed_identity(self) -> None:
        stamp = now_iso()
        for name, (user_id, user_type) in self.identity.users().items():
            user = self._user_row(user_id, f"{name}@fixload.test", name.title(), "Simulated", user_type, "", stamp)
            self.fixed_users[user_id] = user
            self.emails[user["email"]] = user_id
        self.companies[self.identity.company_id] = self._company_row(
            self.identity.company_id, self.identity.admin_id, f"{c.PRODUCT} simulated company", stamp
        )

    def _user_row(
        self, user_id: str, email: str, first: str, last: str, user_type: str, password: str, stamp: str
    ) -> dict[str, Any]:
        return {
            "id": user_id,
            "firstName": first,
            "lastName": last,
            "email": email,
            "passwordHash": "$sha256$" + hashlib.sha256(password.encode()).hexdigest(),
            "address": None,
            "age": None,
            "type": user_type,
            "twoFactorEmail": False,
            "twoFactorApp": False,
            "createdAt": stamp,
            "updatedAt": stamp,
        }

    def _company_row(self, company_id: str, user_id: str, name: str, stamp: str) -> dict[str, Any]:
        return {
            "id": company_id,
            "userId": user_id,
            "legalStructure": "company",
            "contactName": name,
            "contactEmail": None,
            "serviceRegions": None,
            "marketplaceIntent": None,
            "verified": False,
            "createdAt": stamp,
            "updatedAt": stamp,
        }

    def user(self, user_id: Any) -> dict[str, Any] | None:
        if not isinstance(user_id, str):
            return None
        return self.fixed_users.get(user_id) or self.users.get(user_id)

    def harness_name(self, user_id: Any) -> str | None:
        """Which of the run's tokens a user id belongs to ("admin", "provider", …), for the request log."""
        name = self._names.get(user_id)
        return name or ("registered" if self.user(user_id) else None)

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        email = str(body["email"]).lower()
        if email in self.emails:
            raise ApiError(409, "Email already in use", field="email")
        stamp = now_iso()
        user = self._user_row(
            self.new_id(), email, body["firstName"], body["lastName"], body["type"], str(body["password"]), stamp
        )
        self.users.add(user["id"], user)
        self.emails[email] = user["id"]
        company = body.get("company")
        if user["type"] == "company" and isinstance(company, dict):
            row = self._company_row(self.new_id(), user["id"], company.get("contactName") or email, stamp)
            row["legalStructure"] = company.get("legalStructure") or "company"
            row["contactEmail"] = company.get("contactEmail") or email
            self.companies[row["id"]] = row
            self.registered_companies.add(row["id"], row)
        return {k: user[k] for k in ("id", "email", "firstName", "lastName", "type")}

    def login(self, email: str, password: str) -> dict[str, Any] | None:
        user = self.user(self.emails.get(email.lower()))
        if user is None or user["passwordHash"] != "$sha256$" + hashlib.sha256(password.encode()).hexdigest():
            return None
        return user

    def me(self, user_id: str) -> dict[str, Any]:
        user = self.user(user_id) or {}
        company = next((co for co in self.companies.values() if co["userId"] == user_id), None)
        return {**user, "Company": company}

    # ------------------------------------------------------------------ zones and services
    def create_zone(self, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        zone = {"id": self.new_id(), **fields, "createdAt": stamp, "updatedAt": stamp}
        self.event()
        return self.zones.add(zone["id"], zone)

    def list_zones(self, company_id: str | None, include_analytics: bool) -> list[dict[str, Any]]:
        out = [z for z in reversed(self.zones.values()) if not company_id or z["companyId"] == company_id]
        return [{"zone": z, "analytics": None} for z in out] if include_analytics else out

    def create_service(self, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        service = {"id": self.new_id(), "companyId": None, **fields, "createdAt": stamp, "updatedAt": stamp}
        return self.services.add(service["id"], service)

    def list_services(self) -> list[dict[str, Any]]:
        out = []
        for service in reversed(self.services.values()):
            out.append(service)
            if len(out) >= 50:  # serviceController.js:6
                break
        return out

    def purchase(
        self, service: dict[str, Any], buyer_id: str, amount: str, currency: str, when: str | None
    ) -> dict[str, Any]:
        stamp = now_iso()
        order = {
            "id": self.new_id(),
            "buyerId": buyer_id,
            "serviceId": service["id"],
            "totalAmount": amount,
            "currency": currency,
            "status": "funded",
            "scheduledFor": when,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        escrow = {
            "id": self.new_id(),
            "orderId": order["id"],
            "status": "funded",
            "fundedAt": stamp,
            "releasedAt": None,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        result = {"order": order, "escrow": escrow}
        self.orders.add(order["id"], result)
        return result

    # ------------------------------------------------------------------ bookings
    def create_booking(self, fields: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        stamp = iso(now)
        kind = fields["type"]
        booking = {
            "id": self.new_id(),
            "customerId": fields["customerId"],
            "companyId": fields["companyId"],
            "zoneId": fields["zoneId"],
            "status": product.INITIAL_BOOKING_STATUS[kind],
            "type": kind,
            "scheduledStart": fields["scheduledStart"],
            "scheduledEnd": fields["scheduledEnd"],
            "slaExpiresAt": iso(now + timedelta(minutes=c.SLA_MINUTES[kind])),
            "baseAmount": decimal(totals["baseAmount"]),
            "currency": totals["currency"],
            "totalAmount": decimal(totals["totalAmount"]),
            "commissionAmount": decimal(totals["commissionAmount"]),
            "taxAmount": decimal(totals["taxAmount"]),
            "meta": {
                **fields["metadata"],
                "quotedAmount": fields["baseAmount"],
                "quotedCurrency": fields["currency"],
                "commissionRate": c.COMMISSION_RATE,
                "taxRate": c.TAX_RATE,
                "demandLevel": fields["demandLevel"],
            },
            "lastStatusTransitionAt": stamp,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.bookings.add(booking["id"], BookingRow(booking))
        self.event("bookings")
        self.event("revenue", totals["totalAmount"])
        return booking

    def booking_row(self, booking_id: str) -> BookingRow:
        row = self.bookings.get(booking_id)
        if row is None:
            raise not_found("Booking not found", "bookingId")
        return row

    def assign(self, booking_id: str, items: list[dict[str, Any]], actor_id: Any) -> list[dict[str, Any]]:
        row = self.booking_row(booking_id)
        stamp = now_iso()
        results = []
        for item in items:
            existing = row.assignments.get(item["providerId"])
            if existing is not None:  # returned unchanged, role not updated (bookingService.js:219-227)
                results.append(existing)
                continue
            assignment = {
                "id": self.new_id(),
                "bookingId": booking_id,
                "providerId": item["providerId"],
                "role": item["role"],
                "status": "pending",
                "assignedAt": stamp,
                "acknowledgedAt": None,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            row.assignments[item["providerId"]] = assignment
            results.append(assignment)
            self.event()
        row.public["meta"] = {**row.public["meta"], "lastAssignmentAt": stamp, "assignedBy": actor_id or None}
        row.public["updatedAt"] = stamp
        return results

    def respond(self, booking_id: str, provider_id: str, status: str) -> dict[str, Any]:
        row = self.bookings.get(booking_id)
        assignment = row.assignments.get(provider_id) if row else None
        if row is None or assignment is None:
            raise not_found("Assignment not found", "providerId")
        stamp = now_iso()
        assignment["status"] = status
        assignment["updatedAt"] = stamp
        if status == "accepted":
            assignment["acknowledgedAt"] = stamp
            self._after_acceptance(row.public, stamp)
        return {"assignment": assignment, "booking": row.public}

    def _after_acceptance(self, booking: dict[str, Any], stamp: str) -> None:
        """refreshBookingAfterAcceptance (bookingService.js:277-320): on the first acceptance an on-demand
        booking moves to in_progress and a scheduled one is set to scheduled, bypassing the state machine (B5)."""
        first = booking["meta"].get("assignmentAcceptedAt")
        previous = booking["status"]
        if not first:
            booking["status"] = product.STATUS_AFTER_ACCEPTANCE[booking["type"]]
        booking["meta"] = {**booking["meta"], "assignmentAcceptedAt": first or stamp}
        booking["lastStatusTransitionAt"] = booking["updatedAt"] = stamp
        if booking["status"] != previous:
            self.event()

    def set_status(self, booking_id: str, target: Any, actor_id: Any, reason: Any) -> dict[str, Any]:
        row = self.booking_row(booking_id)
        booking = row.public
        current = booking["status"]
        if current == target:
            return booking
        allowed = product.BOOKING_TRANSITIONS.get(current, ())
        if target not in allowed:
            shown = "undefined" if target is None else target
            raise bad_request(
                f"Booking status transition {current} -> {shown} is not permitted", field="status", allowed=allowed
            )
        stamp = now_iso()
        booking["status"] = target
        booking["lastStatusTransitionAt"] = booking["updatedAt"] = stamp
        booking["meta"] = {
            **booking["meta"],
            "lastStatusContext": {"actorId": actor_id or None, "reason": reason or None, "updatedAt": stamp},
        }
        self.event(f"bookings_{target}")
        if target in c.TERMINAL_BOOKING_STATUSES:
            self._finish(booking_id)
        return booking

    def _finish(self, booking_id: str) -> None:
        """Finished bookings go first: past `finished_bookings` the oldest finished one is evicted."""
        self.finished.append(booking_id)
        while len(self.finished) > self.limits.finished_bookings:
            if self.bookings.pop(self.finished.popleft(), None) is not None:
                self.bookings.evicted += 1

    def list_bookings(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for row in reversed(self.bookings.values()):
            booking = row.public
            if any(booking[key] != value for key, value in filters.items()):
                continue
            out.append(booking)
            if len(out) >= self.limits.booking_list:
                break
        return out

    # ------------------------------------------------------------------ communications
    def create_conversation(self, fields: dict[str, Any], participants: list[dict[str, Any]]) -> dict[str, Any]:
        conversation_id = self.new_id()
        public = {"id": conversation_id, **fields}
        members = [{"id": self.new_id(), "conversationId": conversation_id, **p} for p in participants]
        conversation = Conversation(public, members, deque(maxlen=self.limits.messages_per_conversation))
        self.conversations.add(conversation_id, conversation)
        self.event("conversations")
        return {**public, "participants": members}

    def conversation(self, conversation_id: str) -> Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise not_found("Conversation not found", "conversationId")
        return conversation

    def post_message(self, conversation: Conversation, sender: dict[str, Any], fields: dict[str, Any]) -> list[Any]:
        stamp = now_iso()
        message_id = self.new_id()
        now = datetime.now(UTC)
        deliveries = []
        for member in conversation.participants:
            if member["id"] == sender["id"]:
                continue
            status, reason = "delivered", None
            if not member["notificationsEnabled"]:
                status, reason = "suppressed", "notifications_disabled"
            elif _quiet(member, conversation.public, now):
                status, reason = "suppressed", "quiet_hours"
            deliveries.append(
                {
                    "id": self.new_id(),
                    "messageId": message_id,
                    "participantId": member["id"],
                    "status": status,
                    "suppressedReason": reason,
                    "deliveredAt": stamp if status == "delivered" else None,
                    "readAt": None,
                    "metadata": {},
                }
            )
        message = {
            "id": message_id,
            "conversationId": conversation.public["id"],
            "senderParticipantId": sender["id"],
            "messageType": fields["messageType"],
            "body": fields["body"],
            "aiAssistUsed": False,
            "aiConfidenceScore": None,
            "attachments": fields["attachments"],
            "metadata": fields["metadata"],
            "createdAt": stamp,
            "updatedAt": stamp,
            "deliveries": deliveries,
        }
        conversation.messages.append(message)
        sender["lastReadAt"] = stamp
        self.event("messages")
        return [message]

    def video_session(self, conversation: Conversation, member: dict[str, Any], channel: Any, ttl: float) -> Any:
        uid = member["agoraUid"] or str(self.rng.randint(1, 2**31 - 2))
        member["agoraUid"] = uid
        final_channel = channel or f"conversation_{conversation.public['id'].replace('-', '')}"
        expires = int(time.time()) + int(ttl)
        self.event()
        return {
            "appId": "fixload-simulated-agora-app",
            "channelName": final_channel,
            "token": f"006{self.rng.getrandbits(128):032x}",
            "uid": uid,
            "expiresAt": iso(datetime.fromtimestamp(expires, UTC)),
        }

    def conversation_view(self, conversation: Conversation, limit: int) -> dict[str, Any]:
        messages = list(conversation.messages)[-limit:]
        return {**conversation.public, "participants": conversation.participants, "messages": messages}

    # ------------------------------------------------------------------ campaigns
    def company(self, company_id: Any) -> dict[str, Any] | None:
        return self.companies.get(company_id) if isinstance(company_id, str) else None

    def create_campaign(self, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        campaign = {"id": self.new_id(), **fields, "createdAt": stamp, "updatedAt": stamp}
        self.campaigns.add(campaign["id"], campaign)
        self.campaign_state[campaign["id"]] = CampaignState(
            _Bounded(self.limits.metrics_per_campaign),
            _Bounded(self.limits.signals_per_campaign, lambda _, signal: self.signal_index.pop(signal["id"], None)),
        )
        return campaign

    def _drop_campaign(self, campaign_id: str, _: Any) -> None:
        state = self.campaign_state.pop(campaign_id, None)
        for signal in state.signals.values() if state else ():
            self.signal_index.pop(signal["id"], None)

    def _relations(self, campaign: dict[str, Any]) -> dict[str, Any]:
        company = self.companies.get(campaign["companyId"]) or {}
        return {
            **campaign,
            "flights": [],
            "targetingRules": [],
            "invoices": [],
            "Company": {k: company.get(k) for k in ("id", "legalStructure", "verified")},
        }

    def list_campaigns(self, company_id: str | None, status: str | None, limit: int, offset: int) -> list[Any]:
        matches = [
            cp
            for cp in sorted(self.campaigns.values(), key=lambda cp: cp["updatedAt"], reverse=True)
            if (not company_id or cp["companyId"] == company_id) and (not status or cp["status"] == status)
        ]
        return [self._relations(cp) for cp in matches[offset : offset + limit]]

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise not_found("Campaign not found", "campaignId")
        return campaign

    def record_metrics(self, campaign: dict[str, Any], when: datetime, figures: dict[str, Any]) -> dict[str, Any]:
        """recordCampaignDailyMetrics (campaignService.js:547-683) as intended: upsert on the exact metricDate,
        the spend target, the product's anomaly rules, signals opened / re-opened / resolved."""
        state = self.campaign_state[campaign["id"]]
        key = iso(when)
        stamp = now_iso()
        metric = state.metrics.get(key)
        if metric is not None:
            for name in state.totals:
                state.totals[name] -= metric[name]
            metric.update(figures, metadata={**metric["metadata"], **figures["metadata"]}, updatedAt=stamp)
        else:
            metric = {
                "id": self.new_id(),
                "campaignId": campaign["id"],
                "flightId": None,
                "metricDate": key,
                **figures,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            state.metrics.add(key, metric)
        for name in state.totals:
            state.totals[name] += metric[name]
        target = _spend_target(campaign, when)
        signals, resolved = _anomalies(metric, target, campaign, when)
        metric.update(
            spendTarget=target,
            ctr=round(_ratio(metric["clicks"], metric["impressions"]), 6),
            cvr=round(_ratio(metric["conversions"], metric["clicks"]), 6),
            anomalyScore=round(min(len(signals) / 5, 1), 4) if signals else 0,
        )
        self.event("ads_spend", metric["spend"])
        self.event()  # the analytics export row
        for kind in resolved:
            signal = state.signals.get((None, key, kind))
            if signal is not None and signal["resolvedAt"] is None:
                signal.update(resolvedAt=stamp, resolutionNote="Condition returned within configured thresholds.")
        for kind, severity, meta in signals:
            self._open_signal(campaign["id"], state, key, kind, severity, meta, stamp)
        return metric

    def _open_signal(
        self, campaign_id: str, state: CampaignState, day: str, kind: str, severity: str, meta: Any, stamp: str
    ) -> None:
        key = (None, day, kind)
        signal = state.signals.get(key)
        if signal is None:
            signal = {
                "id": self.new_id(),
                "campaignId": campaign_id,
                "flightId": None,
                "metricDate": day,
                "signalType": kind,
                "severity": severity,
                "detectedAt": stamp,
                "resolvedAt": None,
                "resolutionNote": None,
                "metadata": meta,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self.signal_index[signal["id"]] = (campaign_id, key)
            state.signals.add(key, signal)
        else:  # re-opened (campaignService.js:505-516)
            signal.update(severity=severity, metadata=meta, detectedAt=stamp, resolvedAt=None, resolutionNote=None)
            signal["updatedAt"] = stamp
        self.event()

    def signal(self, signal_id: str) -> dict[str, Any]:
        where = self.signal_index.get(signal_id)
        state = self.campaign_state.get(where[0]) if where else None
        signal = state.signals.get(where[1]) if state and where else None
        if signal is None:
            raise not_found("Fraud signal not found", "signalId")
        return signal

    def fraud_signals(self, campaign_id: str, include_resolved: bool) -> list[dict[str, Any]]:
        state = self.campaign_state.get(campaign_id)
        if state is None:
            return []  # an unknown campaign gets 200 [] (campaignService.js:685-695)
        kept = [s for s in state.signals.values() if include_resolved or s["resolvedAt"] is None]
        return sorted(kept, key=lambda s: s["detectedAt"], reverse=True)

    def resolve_signal(self, signal_id: str, note: Any) -> dict[str, Any]:
        signal = self.signal(signal_id)
        if signal["resolvedAt"] is None:  # an already-resolved signal comes back unchanged
            stamp = now_iso()
            signal.update(resolvedAt=stamp, resolutionNote=note or "Manually resolved via API.", updatedAt=stamp)
        return signal

    def campaign_summary(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaign(campaign_id)
        state = self.campaign_state[campaign_id]
        totals = dict(state.totals)
        totals["impressions"], totals["clicks"] = int(totals["impressions"]), int(totals["clicks"])
        totals["conversions"] = int(totals["conversions"])
        spend = totals["spend"]
        signals = list(state.signals.values())
        return {
            "campaign": {
                **self._relations(campaign),
                "dailyMetrics": list(state.metrics.values()),
                "fraudSignals": signals,
            },
            "totals": {
                **totals,
                "ctr": round(_ratio(totals["clicks"], totals["impressions"]), 4),
                "cvr": round(_ratio(totals["conversions"], totals["clicks"]), 4),
                "roi": round((totals["revenue"] - spend) / spend, 4) if spend > 0 else 0,
            },
            "openFraudSignals": sum(1 for s in signals if s["resolvedAt"] is None),
        }

    # ------------------------------------------------------------------ analytics
    def dashboard_totals(self, start: datetime, end: datetime) -> dict[str, float]:
        first, last = int(start.timestamp() // 3600), int((end.timestamp() - 1) // 3600)
        totals: dict[str, float] = {}
        for hour, bucket in self.hourly.items():
            if first <= hour <= last:
                for key, value in bucket.items():
                    totals[key] = totals.get(key, 0.0) + value
        return totals

    def pipeline_status(self) -> dict[str, Any]:
        return {
            "pipeline": {
                "enabled": True,
                "source": "default",
                "reason": None,
                "toggleState": "enabled",
                "rollout": 100,
                "owner": "analytics",
                "evaluatedAt": now_iso(),
            },
            "backlog": {
                "pendingEvents": self.events_pending,
                "oldestPendingAt": self.oldest_event_at,
                "nextRetryAt": None,
            },
            "runs": [],
            "failureStreak": 0,
            "lastSuccessAt": None,
            "lastError": None,
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def _spend_target(campaign: dict[str, Any], when: datetime) -> float:
    """calculateSpendTarget (campaignService.js:79-101): the daily cap, else budget ÷ days."""
    cap = float(campaign["dailySpendCap"] or 0)
    if cap:
        return cap
    start, end = datetime.fromisoformat(campaign["startAt"]), datetime.fromisoformat(campaign["endAt"])
    days = max(-(-max((end - start).total_seconds(), 0) // 86_400), 1)
    return float(campaign["totalBudget"]) / days


def _anomalies(
    metric: dict[str, Any], target: float, campaign: dict[str, Any], when: datetime
) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """evaluateAnomalies (campaignService.js:141-250): (signals to open, signal types to resolve)."""
    spend, impressions = metric["spend"], metric["impressions"]
    clicks, conversions = metric["clicks"], metric["conversions"]
    opened: list[tuple[str, str, dict[str, Any]]] = []
    resolved: list[str] = []
    if target:
        over = target * (1 + c.OVERSPEND)
        if spend > over:
            opened.append(
                ("overspend", "critical" if spend > over * 1.15 else "warning", {"spend": spend, "spendTarget": target})
            )
        else:
            resolved.append("overspend")
        if target > 0 and spend < target * (1 - c.UNDERSPEND):
            opened.append(("underspend", "warning", {"spend": spend, "spendTarget": target}))
        else:
            resolved.append("underspend")
    ctr, cvr = _ratio(clicks, impressions), _ratio(conversions, clicks)
    for kind, value, limit in (("suspicious_ctr", ctr, c.SUSPICIOUS_CTR), ("suspicious_cvr", cvr, c.SUSPICIOUS_CVR)):
        if value > limit:
            opened.append(
                (kind, "critical" if value > limit * 1.5 else "warning", {kind[11:]: value, "threshold": limit})
            )
        else:
            resolved.append(kind)
    if spend > 0 and impressions < c.DELIVERY_GAP_IMPRESSIONS:
        opened.append(("delivery_gap", "warning", {"spend": spend, "impressions": impressions}))
    else:
        resolved.append("delivery_gap")
    days_active = max(int((when - datetime.fromisoformat(campaign["startAt"])).total_seconds() // 86_400), 0)
    if days_active > c.NO_SPEND_GRACE_DAYS and spend == 0:
        opened.append(("no_spend", "warning", {"daysActive": days_active}))
    else:
        resolved.append("no_spend")
    return opened, resolved


def _quiet(member: dict[str, Any], conversation: dict[str, Any], now: datetime) -> bool:
    """isQuietHoursActive (communicationsService.js:53-79) in the participant's (else the conversation's) zone."""
    start = member["quietHoursStart"] or conversation["quietHoursStart"]
    end = member["quietHoursEnd"] or conversation["quietHoursEnd"]
    if not start or not end:
        return False
    try:
        local = now.astimezone(ZoneInfo(member["timezone"] or conversation["defaultTimezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        local = now
    minutes = local.hour * 60 + local.minute
    lo, hi = int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])
    return lo <= minutes < hi if lo < hi else (minutes >= lo or minutes < hi)
