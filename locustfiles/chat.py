"""chat_flow: a provider opens a conversation with a customer, both write, the provider starts a video call.

POST /api/communications                    → 201  (admin token; its participants[] carry their ids)
POST /api/communications/{id}/messages      → 201  customer's message (user token)
POST /api/communications/{id}/messages      → 201  provider's reply (provider token)
POST /api/communications/{id}/video-session → 201  expirySeconds = sessionTtlSeconds clamped to [300, 3600]
GET  /api/communications/{id}?limit=5         (not checked)

The product's values (fixload.common.contract): the provider is a `serviceman` as conversation creator and
participant (its role stays `provider`), and both messages are `user` messages; the original sends
`"provider"` for all three, which the product's enums refuse.
"""

import random
import uuid
from typing import Any

from locust import task

import fixload.plugin  # noqa: F401  (registers fixload's Locust hooks)
from fixload.common.contract import HUMAN_MESSAGE_TYPE, PROVIDER_PARTICIPANT_TYPE
from fixload.flows.flow import FlowUser, Reply, StepFailed, clamp, js_number
from fixload.profile.environment import Target

PROVIDER_REPLY = "Provider acknowledgement: schedule confirmed."


def conversation_payload(target: Target, run_id: int) -> dict[str, Any]:
    return {
        "subject": f"Load test conversation {uuid.uuid4().hex[:8]}",
        "createdBy": {"id": target.provider_id, "type": PROVIDER_PARTICIPANT_TYPE},
        "participants": [
            {
                "participantType": "user",
                "participantReferenceId": target.customer_id,
                "displayName": "Load Test Customer",
                "role": "customer",
            },
            {
                "participantType": PROVIDER_PARTICIPANT_TYPE,
                "participantReferenceId": target.provider_id,
                "displayName": "Load Test Provider",
                "role": "provider",
            },
        ],
        "metadata": {"scenario": "load-test", "seed": run_id},
        "aiAssist": {"defaultEnabled": False},
    }


def message_payload(sender_id: str, body: str, message_type: str) -> dict[str, Any]:
    return {
        "senderParticipantId": sender_id,
        "body": body,
        "messageType": message_type,
        "attachments": [],
        "metadata": {"scenario": "load-test"},
    }


def video_session_payload(participant_id: str, session_ttl_seconds: float) -> dict[str, Any]:
    return {
        "participantId": participant_id,
        "channelName": f"load-test-{uuid.uuid4().hex[:6]}",
        "expirySeconds": js_number(clamp(session_ttl_seconds, 300, 3600)),
    }


def participant(created: Reply, reference_id: str) -> dict[str, Any]:
    """The conversation's participant standing for `reference_id` (its `id` is what messages are sent as)."""
    data = created.data if isinstance(created.data, dict) else {}
    participants = data.get("participants") or []
    found = next(
        (p for p in participants if isinstance(p, dict) and p.get("participantReferenceId") == reference_id), None
    )
    if found is None or not found.get("id"):
        raise StepFailed("Conversation participants missing expected references", created.status, created.text)
    return found


class ChatUser(FlowUser):
    scenario = "chat_flow"

    @task
    def chat_flow(self) -> None:
        target, settings = self.target, self.block
        with self.iteration() as run_id:
            created = self.request(
                "POST",
                "/communications",
                json=conversation_payload(target, run_id),
                token=self.token("admin", "provider"),
                step="Conversation creation",
                check="conversation created",
                expect=201,
                parse=True,
            )
            conversation_id = created.require("id", "Conversation creation response")
            customer = participant(created, target.customer_id)
            provider = participant(created, target.provider_id)

            seed = random.choice(settings.message_seeds)
            self.request(
                "POST",
                "/communications/{id}/messages",
                id=conversation_id,
                json=message_payload(customer["id"], f"{seed} (run {run_id})", HUMAN_MESSAGE_TYPE),
                token=self.token("user", "admin"),
                step="Customer message",
                check="customer message sent",
                expect=201,
            )

            self.request(
                "POST",
                "/communications/{id}/messages",
                id=conversation_id,
                json=message_payload(provider["id"], PROVIDER_REPLY, HUMAN_MESSAGE_TYPE),
                token=self.token("provider", "admin"),
                step="Provider reply",
                check="provider reply sent",
                expect=201,
            )

            self.request(
                "POST",
                "/communications/{id}/video-session",
                id=conversation_id,
                json=video_session_payload(provider["id"], settings.session_ttl_seconds),
                token=self.token("provider", "admin"),
                step="Video session creation",
                check="video session issued",
                expect=201,
            )

            self.request(
                "GET",
                "/communications/{id}",
                id=conversation_id,
                query={"limit": 5},
                token=self.token("admin", "provider"),
                step="Conversation read",
            )
