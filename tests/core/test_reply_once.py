"""A reply is sent once even when its request is sent twice: the console names each reply
(client_id), and a second request with that id (the answer to the first was lost, or Send was
pressed twice) appends nothing and answers the reply the first one stored."""

from __future__ import annotations

import asyncio
import json

from gateway.models import Direction
from tests.conftest import CallbackServer, Harness, wait_for


async def _held(gateway: Harness, callback_url: str) -> tuple[str, str]:
    """A conversation accepted by an online agent: (conversation, the agent's token)."""
    channel_id, secret = await gateway.api_channel(callback_url)
    agent_id, token = await gateway.agent_online("a@example.com")
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    assert status == 202, res
    conv = res["conversation_id"]

    async def offered() -> bool:
        return (await gateway.gw.conversations.raw(conv, "offered_to"))[0] == agent_id

    await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    return conv, token


async def _sent_texts(callback: CallbackServer) -> list[str]:
    return [json.loads(body)["text"] for _, body in callback.received]


async def test_a_retried_reply_is_stored_and_sent_once(
    gateway: Harness, callback_server: CallbackServer
):
    conv, token = await _held(gateway, callback_server.url)
    path = f"/api/v1/conversations/{conv}/messages"
    body = {"text": "Your parcel left today", "client_id": "draft-7f3a"}
    first = (await gateway.call("POST", path, token, body, expect=201))["message"]
    again = (await gateway.call("POST", path, token, body, expect=201))["message"]
    assert again["seq"] == first["seq"] and again["replayed"] is True
    assert again["text"] == first["text"] and "replayed" not in first
    # Send pressed twice at once: one of them stores it.
    twice = {"text": "And the invoice is attached", "client_id": "draft-8b1c"}
    answers = await asyncio.gather(
        *(gateway.call("POST", path, token, twice, expect=None) for _ in range(2))
    )
    assert len({a["message"]["seq"] for a in answers}) == 1
    # Another id is another reply, even with the same words.
    await gateway.call("POST", path, token, {**body, "client_id": "draft-9d2e"}, expect=201)

    log = await gateway.gw.conversations.messages(conv)
    replies = [m["text"] for m in log if m["direction"] == Direction.OUT.value]
    assert replies == [body["text"], twice["text"], body["text"]]
    expected = sorted(replies)

    async def all_sent() -> bool:
        return len(callback_server.received) >= 3

    await wait_for(all_sent)
    await asyncio.sleep(0.3)  # a duplicate would follow within the outbox's next turns
    assert sorted(await _sent_texts(callback_server)) == expected


async def test_a_client_id_must_be_a_plain_token(gateway: Harness, callback_server: CallbackServer):
    conv, token = await _held(gateway, callback_server.url)
    path = f"/api/v1/conversations/{conv}/messages"
    for bad in ("", "has space", "x" * 65, "emoji-😀"):
        refused = await gateway.call(
            "POST", path, token, {"text": "hi", "client_id": bad}, expect=400
        )
        assert refused["error"]["field"] == "client_id", refused
