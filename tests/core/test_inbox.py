"""The inbox through the real API channel and real Redis: idempotence, contacts, threads,
reopening and priority classification."""

from __future__ import annotations

import asyncio

from tests.conftest import Harness


def _msg(message_id: str, sender: str = "cust-1", text: str = "hello", **extra):
    return {"message_id": message_id, "sender": {"id": sender, "name": "Li"}, "text": text, **extra}


async def test_same_message_posted_five_times_concurrently_is_one_message(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    results = await asyncio.gather(
        *[gateway.post_api_message(channel_id, secret, _msg("dup-1")) for _ in range(5)]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 200, 200, 202]
    conversation_ids = {body["conversation_id"] for _, body in results}
    assert len(conversation_ids) == 1
    conv_id = conversation_ids.pop()
    messages = await gateway.call("GET", f"/api/v1/conversations/{conv_id}/messages")
    assert [m["external_id"] for m in messages["messages"]] == ["dup-1"]


async def test_one_contact_and_one_conversation_per_thread(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    _, a = await gateway.post_api_message(channel_id, secret, _msg("a1"))
    _, b = await gateway.post_api_message(channel_id, secret, _msg("a2", text="more"))
    _, c = await gateway.post_api_message(channel_id, secret, _msg("a3", thread_id="order-77"))
    _, d = await gateway.post_api_message(channel_id, secret, _msg("b1", sender="cust-2"))
    assert a["conversation_id"] == b["conversation_id"]
    assert (a["seq"], b["seq"]) == (1, 2)
    assert c["conversation_id"] != a["conversation_id"]
    assert d["conversation_id"] not in (a["conversation_id"], c["conversation_id"])
    conv_a = await gateway.call("GET", f"/api/v1/conversations/{a['conversation_id']}")
    conv_c = await gateway.call("GET", f"/api/v1/conversations/{c['conversation_id']}")
    conv_d = await gateway.call("GET", f"/api/v1/conversations/{d['conversation_id']}")
    assert conv_a["conversation"]["contact_id"] == conv_c["conversation"]["contact_id"]
    assert conv_a["conversation"]["contact_id"] != conv_d["conversation"]["contact_id"]
    # The contact's other conversation shows as history.
    assert [h["id"] for h in conv_a["history"]] == [c["conversation_id"]]


async def test_resolved_conversation_reopens_within_window_else_new(make_gateway):
    gateway = await make_gateway(reopen_window_seconds=3600)
    channel_id, secret = await gateway.api_channel()
    _, first = await gateway.post_api_message(channel_id, secret, _msg("r1"))
    conv = first["conversation_id"]
    await gateway.call("POST", f"/api/v1/conversations/{conv}/resolve", json_body={})
    _, again = await gateway.post_api_message(channel_id, secret, _msg("r2"))
    assert again["conversation_id"] == conv
    detail = await gateway.call("GET", f"/api/v1/conversations/{conv}")
    assert detail["conversation"]["status"] == "open"

    # Resolved long ago (outside the window): a new conversation.
    await gateway.call("POST", f"/api/v1/conversations/{conv}/resolve", json_body={})
    await gateway.gw.redis.hset(gateway.gw.keys.conversation(conv), "resolved_at", 1)
    _, later = await gateway.post_api_message(channel_id, secret, _msg("r3"))
    assert later["conversation_id"] != conv


async def test_priority_classified_by_rules(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    cases = [
        ("p1", "c1", "你好，我想问一下价格", None, "normal", None),
        ("p2", "c2", "充电器冒烟了，有安全隐患！", None, "urgent", "safety-hazard"),
        ("p3", "c3", "I will contact a journalist about this", None, "sensitive", "media-exposure"),
        ("p4", "c4", "Where is my order?", "vip", "high", "vip-customer"),
    ]
    for message_id, sender, text, tier, expected, rule in cases:
        body = {"message_id": message_id, "sender": {"id": sender, "tier": tier}, "text": text}
        _, result = await gateway.post_api_message(channel_id, secret, body)
        conv = await gateway.call("GET", f"/api/v1/conversations/{result['conversation_id']}")
        assert conv["conversation"]["priority"] == expected, text
        assert conv["conversation"]["priority_rule"] == rule


async def test_urgent_message_moves_a_waiting_conversation_forward(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    _, first = await gateway.post_api_message(channel_id, secret, _msg("u1", text="hi", sender="x"))
    _, other = await gateway.post_api_message(
        channel_id, secret, _msg("u2", text="hello", sender="y")
    )
    queue = (await gateway.call("GET", "/api/v1/queue"))["waiting"]
    assert [w["conversation_id"] for w in queue] == [
        first["conversation_id"],
        other["conversation_id"],
    ]
    due_before = queue[1]["due"]
    await gateway.post_api_message(
        channel_id, secret, _msg("u3", sender="y", text="it is on fire, safety hazard")
    )
    conv = await gateway.call("GET", f"/api/v1/conversations/{other['conversation_id']}")
    assert conv["conversation"]["priority"] == "urgent"
    # A follow-up never pushes a waiting conversation's deadline later.
    queue = (await gateway.call("GET", "/api/v1/queue"))["waiting"]
    due_after = next(w["due"] for w in queue if w["conversation_id"] == other["conversation_id"])
    assert due_after <= due_before
