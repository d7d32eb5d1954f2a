"""Through a running gateway: a sensitive conversation is offered to a supervisor, a VIP's
to the least-loaded agent, and the classification is visible on the conversation."""

from __future__ import annotations

from tests.conftest import Harness, wait_for


async def test_sensitive_goes_to_a_supervisor_and_records_its_rule(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    agent_id, _ = await gateway.agent_online("agent@example.com")
    boss_id, _ = await gateway.agent_online("boss@example.com", role="supervisor")

    async def offered_to(conversation_id: str) -> str | None:
        conv = await gateway.call("GET", f"/api/v1/conversations/{conversation_id}")
        return conv["conversation"]["offered_to"]

    status, body = await gateway.post_api_message(
        channel_id,
        secret,
        {"message_id": "m1", "sender": {"id": "c1"}, "text": "My lawyer will sue you"},
    )
    assert status == 202, body
    sensitive = body["conversation_id"]
    assert await wait_for(lambda: offered_to(sensitive)) == boss_id
    conv = (await gateway.call("GET", f"/api/v1/conversations/{sensitive}"))["conversation"]
    assert (conv["priority"], conv["priority_rule"]) == ("sensitive", "media-exposure")

    status, body = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m2", "sender": {"id": "c2"}, "text": "hello"}
    )
    # The supervisor holds one conversation, the agent none: the least loaded gets it.
    assert await wait_for(lambda: offered_to(body["conversation_id"])) == agent_id
