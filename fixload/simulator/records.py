"""The simulator's record types and caps: what `store.py` and `campaigns.py` keep, and how much of it.

`Limits` bounds every record kind for a soak (oldest evicted first); `_Bounded` is the capped mapping they
live in; the dataclasses are the product's records as the store holds them.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .validation import iso


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
