"""Helpers for the reports tests: conversations driven through the real gateway (API channel,
an agent who accepts, replies and resolves)."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Harness, wait_for

LINK = re.compile(r"/survey/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def messages(h: Harness, conversation_id: str) -> list[dict[str, Any]]:
    body = await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages?limit=200")
    return body["messages"]


async def offered_to(h: Harness, conversation_id: str, agent_id: str) -> bool:
    conv = await h.gw.conversations.get(conversation_id)
    return conv.get("offered_to") == agent_id


async def customer_writes(
    h: Harness, channel_id: str, secret: str, customer: str, message_id: str, text: str
) -> str:
    status, body = await h.post_api_message(
        channel_id,
        secret,
        {"message_id": message_id, "sender": {"id": customer, "name": customer}, "text": text},
    )
    assert status == 202, body
    return body["conversation_id"]


async def answered(h: Harness, agent: tuple[str, str], conversation_id: str, text: str) -> None:
    """Wait for the offer to this agent, accept it and reply."""
    agent_id, token = agent
    await wait_for(lambda: offered_to(h, conversation_id, agent_id))
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    await h.call(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        token,
        {"text": text},
        expect=201,
    )


async def resolve(h: Harness, token: str, conversation_id: str) -> None:
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/resolve", token)


async def system_texts(h: Harness, conversation_id: str) -> list[str]:
    return [
        m["text"]
        for m in await messages(h, conversation_id)
        if m["direction"] == "out" and (m.get("meta") or {}).get("system")
    ]
