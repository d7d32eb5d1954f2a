"""WebSocket events reach the right users in every process, and a reconnecting client catches
up from the log by seq."""

from __future__ import annotations

import asyncio

from tests.conftest import wait_for


async def _next_event(ws, wanted: str, timeout: float = 15):
    async def loop():
        while True:
            event = await ws.receive_json()
            if event["type"] == wanted:
                return event

    return await asyncio.wait_for(loop(), timeout)


async def test_events_cross_processes_and_reach_only_the_right_agent(make_gateway):
    first = await make_gateway()
    second = await make_gateway()
    channel_id, secret = await first.api_channel()
    _a_id, a_token = await first.agent_online("a@example.com")
    _, b_token = await first.create_user("b@example.com")
    ws_a = await second.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{a_token}")
    )
    ws_b = await second.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{b_token}")
    )
    await _next_event(ws_a, "hello")
    await _next_event(ws_b, "hello")
    _, res = await first.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    offered = await _next_event(ws_a, "conversation.offered")
    assert offered["data"]["conversation_id"] == res["conversation_id"]
    await first.call("POST", f"/api/v1/conversations/{res['conversation_id']}/accept", a_token)
    await first.post_api_message(
        channel_id, secret, {"message_id": "m2", "sender": {"id": "c1"}, "text": "are you there?"}
    )
    created = await _next_event(ws_a, "message.created")
    while created["data"]["message"]["direction"] != "in":  # e.g. the "Assigned to" line
        created = await _next_event(ws_a, "message.created")
    assert created["data"]["message"]["text"] == "are you there?"
    # b is neither assignee nor staff: b saw the first, unassigned message but not this one.
    seen_by_b = []
    while True:
        try:
            event = await asyncio.wait_for(ws_b.receive_json(), 1)
        except TimeoutError:
            break
        seen_by_b.append(event)
    texts = [e["data"]["message"]["text"] for e in seen_by_b if e["type"] == "message.created"]
    assert "are you there?" not in texts
    await ws_a.close()
    await ws_b.close()


async def test_reconnect_catches_up_by_seq(gateway):
    channel_id, secret = await gateway.api_channel()
    a_id, token = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "one"}
    )
    conv = res["conversation_id"]

    async def offered():
        c = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return c["offered_to"] == a_id

    await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    # While the agent is disconnected, two more messages arrive.
    for i, text in enumerate(["two", "three"]):
        await gateway.post_api_message(
            channel_id, secret, {"message_id": f"m{i + 2}", "sender": {"id": "c1"}, "text": text}
        )
    ws = await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    await _next_event(ws, "hello")
    await ws.send_json({"type": "sync", "conversations": {conv: 1}})
    replayed = []
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 15)
        if event["type"] == "synced":
            break
        if event["type"] == "message.created":
            replayed.append(event["data"]["message"])
    inbound = [m["text"] for m in replayed if m["direction"] == "in"]
    assert inbound == ["two", "three"]
    assert all(m["seq"] > 1 for m in replayed)
    await ws.close()


async def test_websocket_needs_a_valid_token(gateway):
    resp = await gateway.client.get("/api/v1/ws", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
