"""The backend's settings the simulator reproduces, beyond the enums the flows share (`fixload.common.contract`).

Column types and lengths, the configuration defaults (rates, SLAs, quiet hours, fraud thresholds) and the
PostgreSQL enum type behind each enum field (for the 500's `cause`, as the product's log shows it), from
orbas1/Nodejs-Fixnado `backend-nodejs/src/` at d191423 (FIXNADO-API.md), each with its file.
"""

from __future__ import annotations

from fixload.common.contract import BOOKING_TRANSITIONS

PRODUCT = "Fixnado backend d191423"

BOOKING_STATUSES = (  # models/booking.js:26-35
    "draft",
    "pending",
    "awaiting_assignment",
    "scheduled",
    "in_progress",
    "completed",
    "cancelled",
    "disputed",
)
TERMINAL_BOOKING_STATUSES = frozenset(s for s, following in BOOKING_TRANSITIONS.items() if not following)
DEMAND_LEVELS = ("low", "medium", "high")  # models/serviceZone.js (zones; a booking keeps any value in meta)
OBJECTIVE_MAX = 64  # models/adCampaign.js: objective STRING(64)
SUBJECT_MAX = 160  # models/conversation.js: subject len [3, 160]
PERSONAS = ("admin", "provider", "serviceman", "enterprise", "user")  # dashboardAnalyticsService.js, any case

# config/index.js:73-82, 156-174
EXCHANGE_RATES = {"GBP": 1.0, "EUR": 1.17, "USD": 1.27}
COMMISSION_RATE = 0.12
TAX_RATE = 0.2  # GBP, and the fallback for every currency (the default currency is a candidate key)
SLA_MINUTES = {"on_demand": 90, "scheduled": 240}
DEFAULT_CURRENCY = "GBP"
QUIET_HOURS = ("22:00", "07:00", "Europe/London")
RETENTION_DAYS = 90
AGORA_TTL_S = 3600
OVERSPEND, UNDERSPEND = 0.15, 0.25
SUSPICIOUS_CTR, SUSPICIOUS_CVR = 0.18, 0.45
DELIVERY_GAP_IMPRESSIONS, NO_SPEND_GRACE_DAYS = 100, 2
TOKEN_LIFETIME_S = 12 * 3600

# the PostgreSQL enum type behind each enum-typed field, for the 500's cause (as the product's log shows it)
PG_ENUM: dict[str, str] = {
    "campaignType": "enum_AdCampaign_campaign_type",
    "status@campaign": "enum_AdCampaign_status",
    "pacingStrategy": "enum_AdCampaign_pacing_strategy",
    "bidStrategy": "enum_AdCampaign_bid_strategy",
    "createdBy.type": "enum_Conversation_created_by_type",
    "participantType": "enum_ConversationParticipant_participant_type",
    "role@participant": "enum_ConversationParticipant_role",
    "messageType": "enum_ConversationMessage_message_type",
    "demandLevel": "enum_ServiceZone_demand_level",
    "role@assignment": "enum_BookingAssignment_role",
    "status@booking": "enum_Booking_status",
}
