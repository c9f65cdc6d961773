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
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fixload.common import contract as product

from . import backend as c
from .campaigns import CampaignRecords
from .errors import ApiError, bad_request, not_found
from .records import BookingRow, CampaignState, Conversation, Identity, Limits, _Bounded, now_iso
from .validation import decimal, iso


class Store(CampaignRecords):
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
