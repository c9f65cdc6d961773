"""The product's values: the enums and the booking state machine of the Fixnado backend the flows drive.

The original k6 harness sends values the product rejects (`campaignType: "search"`, `"provider"` where the
conversation enums say `serviceman`, a `scheduled → completed` move the state machine refuses), and a
simulator that accepted them hid it. Both the flows and the simulator read the product's lists from here,
so a flow can only send what the product accepts and the simulator can only accept what the product does.

Read from `orbas1/Nodejs-Fixnado` at d191423, `backend-nodejs/src/` (`REVISION`); each constant names
its file and line (../shared/reference/FIXNADO-API.md has the whole contract).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal

REVISION: Final = "d1914237ef22f1733ba2ff3ba449bd8505543860"

USER_TYPES: Final = ("user", "company", "servicemen")
"""`User.type` (models/user.js:34): there is no `admin` or `provider` user; a company user is the admin."""

CAMPAIGN_TYPES: Final = ("ppc", "ppc_conversion", "ppi", "awareness")
"""`AdCampaign.campaignType` (models/adCampaign.js:28), default `ppc`; the original sends `search`."""
CampaignType = Literal["ppc", "ppc_conversion", "ppi", "awareness"]
DEFAULT_CAMPAIGN_TYPE: Final[CampaignType] = "ppc"
CAMPAIGN_STATUSES: Final = ("draft", "scheduled", "active", "paused", "completed", "cancelled")
"""`AdCampaign.status` (models/adCampaign.js:33): there is no `archived` (the original's setup skips it)."""
CAMPAIGN_ENDED: Final = frozenset({"completed", "cancelled"})
"""Campaign statuses that take no more delivery: setup does not reuse such a campaign."""
PACING_STRATEGIES: Final = ("even", "asap", "lifetime")
"""`AdCampaign.pacingStrategy` (models/adCampaign.js:39)."""
BID_STRATEGIES: Final = ("cpc", "cpm", "cpa")
"""`AdCampaign.bidStrategy` (models/adCampaign.js:45)."""

CONVERSATION_CREATOR_TYPES: Final = ("user", "company", "serviceman", "admin", "enterprise")
"""`Conversation.createdByType` (models/conversation.js:24). `serviceman`, singular, unlike the user type."""
PARTICIPANT_TYPES: Final = ("user", "company", "serviceman", "admin", "enterprise", "support_bot")
"""`ConversationParticipant.participantType` (models/conversationParticipant.js:20)."""
PARTICIPANT_ROLES: Final = (
    "customer",
    "provider",
    "support",
    "finance",
    "compliance",
    "operations",
    "guest",
    "ai_assistant",
)
"""`ConversationParticipant.role` (models/conversationParticipant.js:34), default `customer`."""
MESSAGE_TYPES: Final = ("user", "assistant", "system", "automation", "notification")
"""`ConversationMessage.messageType` (models/conversationMessage.js:25), default `user`; `assistant` is the
platform's own (communicationsService refuses it from a caller with 400)."""
PROVIDER_PARTICIPANT_TYPE: Final = "serviceman"
"""What the original calls a "provider" participant (and conversation creator) is a `serviceman` here."""
HUMAN_MESSAGE_TYPE: Final = "user"
"""A message a person writes, customer or provider alike (the original sends `"provider"` for the reply)."""

BOOKING_TYPES: Final = ("scheduled", "on_demand")
"""`Booking.type`: `scheduled`, and anything else becomes `on_demand` (services/bookingService.js:63)."""
ASSIGNMENT_ROLES: Final = ("lead", "support")
"""`BookingAssignment.role` (models/bookingAssignment.js:22), default `support`."""
ASSIGNMENT_RESPONSES: Final = ("accepted", "declined", "withdrawn")
"""What `POST /bookings/{id}/assignments/response` accepts as `status` (services/bookingService.js:322-362)."""

BOOKING_TRANSITIONS: Final = MappingProxyType(
    {
        "pending": ("awaiting_assignment", "cancelled"),
        "awaiting_assignment": ("scheduled", "in_progress", "cancelled"),
        "scheduled": ("in_progress", "cancelled"),
        "in_progress": ("completed", "disputed", "cancelled"),
        "completed": (),
        "cancelled": (),
        "disputed": ("in_progress",),
    }
)
"""`ALLOWED_STATUS_TRANSITIONS` (services/bookingService.js:5-13), enforced by `PATCH /bookings/{id}/status`."""
INITIAL_BOOKING_STATUS: Final = MappingProxyType({"on_demand": "awaiting_assignment", "scheduled": "scheduled"})
"""A new booking's status by type (services/bookingService.js:92)."""
STATUS_AFTER_ACCEPTANCE: Final = MappingProxyType({"on_demand": "in_progress", "scheduled": "scheduled"})
"""The first accepted assignment moves an on-demand booking to `in_progress` and leaves a scheduled one
`scheduled` (services/bookingService.js:287), without the state machine's check."""


def path_to(start: str, goal: str) -> tuple[str, ...]:
    """The shortest run of `PATCH` statuses that takes a booking from `start` to `goal` through the product's
    state machine (`()` when it is already there); ValueError when no such path exists."""
    frontier: list[tuple[str, tuple[str, ...]]] = [(start, ())]
    seen = {start}
    while frontier:
        status, steps = frontier.pop(0)
        if status == goal:
            return steps
        for following in BOOKING_TRANSITIONS.get(status, ()):
            if following not in seen:
                seen.add(following)
                frontier.append((following, (*steps, following)))
    raise ValueError(f"no booking status path from {start!r} to {goal!r}")


def completion_path(booking_type: str) -> tuple[str, ...]:
    """The statuses a flow `PATCH`es, in order, to complete an accepted booking of `booking_type`:
    `("completed",)` on demand (acceptance made it `in_progress`), `("in_progress", "completed")` scheduled."""
    kind = "scheduled" if booking_type == "scheduled" else "on_demand"
    return path_to(STATUS_AFTER_ACCEPTANCE[kind], "completed")
