"""End to end over HTTP and WebSocket: API channel message in -> offered -> accept -> reply ->
signed callback received; delivery state `sent`."""

from __future__ import annotations

import json

from adapters.api.signing import verify
from tests.conftest import CallbackServer, Harness, wait_for


async def test_message_to_reply_round_trip(gateway: Harness, callback_server: CallbackServer):
    channel_id, secret = await gateway.api_channel(callback_server.url)
    _agent_id, token = await gateway.agent_online("alice@example.com", name="Alice")
    ws = await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    hello = await ws.receive_json(timeout=10)
    assert hello["type"] == "hello"

    status, body = await gateway.post_api_message(
        channel_id,
        secret,
        {"message_id": "m-1", "sender": {"id": "cust-1", "name": "Wang"}, "text": "Hello?"},
    )
    assert status == 202, body
    conversation_id = body["conversation_id"]

    offered = None
    while offered is None:
        event = await ws.receive_json(timeout=10)
        if event["type"] == "conversation.offered":
            offered = event
    assert offered["data"]["conversation_id"] == conversation_id

    await gateway.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    reply = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        token,
        {"text": "Hi Wang, how can I help?"},
        expect=201,
    )
    seq = reply["message"]["seq"]

    await wait_for(lambda: _async(len(callback_server.received) == 1))
    headers, raw = callback_server.received[0]
    assert verify(secret, raw, headers["X-Gateway-Signature"])
    sent = json.loads(raw)
    assert sent["recipient_id"] == "cust-1"
    assert sent["text"] == "Hi Wang, how can I help?"
    assert sent["author_name"] == "Alice"
    assert sent["in_reply_to"] == "m-1"

    async def delivered():
        msgs = await gateway.call("GET", f"/api/v1/conversations/{conversation_id}/messages", token)
        return [m for m in msgs["messages"] if m["seq"] == seq and m["delivery"] == "sent"]

    await wait_for(delivered)
    await ws.close()


async def _async(value):
    return value
