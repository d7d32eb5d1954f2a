"""A conversation's customer history follows the rule of opening a conversation: an agent is
not shown the assignee, subject and status of the customer's conversations they get 403 for."""

from __future__ import annotations

from tests.conftest import Harness


async def _conversation(h: Harness, channel_id: str, secret: str, thread: str) -> str:
    status, body = await h.post_api_message(channel_id, secret, {
        "message_id": f"m-{thread}", "sender": {"id": "cust-1", "name": "Wang Li"},
        "thread_id": thread, "text": f"About order {thread}", "subject": f"Order {thread}",
    })  # fmt: skip
    assert status == 202, body
    return body["conversation_id"]


async def test_history_shows_only_what_the_agent_may_open(gateway: Harness):
    alice, alice_token = await gateway.create_user("alice@example.com")
    bob, bob_token = await gateway.create_user("bob@example.com")
    channel_id, secret = await gateway.api_channel()
    first = await _conversation(gateway, channel_id, secret, "order-1")
    second = await _conversation(gateway, channel_id, secret, "order-2")
    assert first != second
    for token in (alice_token, bob_token):  # signed in, away: a transfer may reach them
        await gateway.call("PUT", "/api/v1/agents/me/status", token, {"status": "away"})
    for conv, agent in ((first, alice), (second, bob)):
        await gateway.call(
            "POST", f"/api/v1/conversations/{conv}/transfer", json_body={"agent_id": agent}
        )

    # Bob may not open Alice's conversation...
    await gateway.call("GET", f"/api/v1/conversations/{first}", bob_token, expect=403)
    # ...so his customer history does not show it, nor whose it is.
    detail = await gateway.call("GET", f"/api/v1/conversations/{second}", bob_token)
    assert [c["id"] for c in detail["history"]] == []
    assert detail["history_hidden"] == 1
    assert alice not in str(detail["history"])
    detail = await gateway.call("GET", f"/api/v1/conversations/{first}", alice_token)
    assert [c["id"] for c in detail["history"]] == []

    # An admin (and a supervisor) sees the whole history.
    detail = await gateway.call("GET", f"/api/v1/conversations/{second}")
    assert [c["id"] for c in detail["history"]] == [first]
    assert detail["history"][0]["assignee"] == alice
    assert detail["history_hidden"] == 0

    # An unassigned conversation of the customer is one Bob may open: shown.
    third = await _conversation(gateway, channel_id, secret, "order-3")
    detail = await gateway.call("GET", f"/api/v1/conversations/{second}", bob_token)
    assert [c["id"] for c in detail["history"]] == [third]
