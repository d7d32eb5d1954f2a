"""An agent who goes offline does not keep customers waiting: each conversation of theirs whose
customer waits for a reply goes back to the queue (their place kept by the routing deadline,
the agent as its sticky agent), and one nobody waits on stays theirs until its customer writes.
Away is still signed in. On the real store and worker, then through a running gateway."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Harness, wait_for
from tests.router.conftest import Router


async def _held(router: Router, agent: str, *, customer: str, answered: bool = False) -> str:
    conv = await router.message("hello", customer=customer, thread=customer)
    await router.worker.sweep()
    assert router.offered()[conv] == agent and await router.store.accept(conv, agent) == "ok"
    if answered:
        await router.reply(conv)
    return conv


async def _last_line(router: Router, conv: str) -> dict[str, Any]:
    log = await router.redis.hgetall(router.keys.messages(conv))
    return json.loads(log[max(log, key=int)])


async def test_going_offline_gives_back_the_customers_who_wait(router: Router):
    await router.agent("a", capacity=3)
    waiting = await _held(router, "a", customer="c1")
    answered = await _held(router, "a", customer="c2", answered=True)
    await router.store.set_status("a", "offline")
    assert await router.worker.release_held("a") == 1

    conv = await router.conv(waiting)
    assert "assignee" not in conv and conv["sticky_agent"] == "a"
    queued = await router.redis.zscore(router.keys.queue(), waiting)
    assert queued == float(conv["queue_due"])  # its place by its routing deadline
    assert (await router.conv(answered))["assignee"] == "a"
    agent = await router.redis.hgetall(router.keys.agent("a"))
    assert (float(agent["load"]), int(agent["open"])) == (1, 1)
    assert await router.store.held("a") == [answered]
    line = await _last_line(router, waiting)
    assert (line["direction"], line["meta"]["event"]) == ("event", "agent_went_offline")

    await router.agent("b")
    await router.worker.sweep()
    assert router.offered()[waiting] == "b"


async def test_a_customer_writing_to_an_offline_agent_goes_back_to_the_queue(router: Router):
    await router.agent("a")
    conv = await _held(router, "a", customer="c1", answered=True)
    await router.store.set_status("a", "away")
    await router.message("still there?", customer="c1", thread="c1")
    assert not await router.worker.release_if_gone(conv, "a")  # away is signed in
    await router.store.set_status("a", "offline")
    assert await router.worker.release_held("a") == 1  # the customer waits now
    assert "assignee" not in await router.conv(conv)
    assert not await router.worker.release_if_gone(conv, "a")  # not theirs any more


async def test_a_console_gone_silent_counts_as_offline(router: Router):
    """No heartbeat within the TTL: gone, even before the sweep marks the agent offline; the
    sweep's own step gives the waiting customers back too."""
    await router.agent("a")
    first = await _held(router, "a", customer="c1")
    second = await _held(router, "a", customer="c2")
    router.clock.advance(86_400 + 1)  # the fixture's heartbeat TTL is a day
    assert await router.worker.release_if_gone(first, "a")
    await router.worker.offline_stale_agents(router.clock.now, ["a"])
    assert "assignee" not in await router.conv(second)
    assert (await router.redis.hget(router.keys.agent("a"), "status")) == "offline"


async def test_through_the_gateway(make_gateway) -> None:
    gateway: Harness = await make_gateway()
    channel_id, secret = await gateway.api_channel()
    a_id, a_token = await gateway.agent_online("a@example.com")

    async def conversation(conv: str) -> dict[str, Any]:
        return (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]

    async def customer_writes(message_id: str, sender: str) -> str:
        _, res = await gateway.post_api_message(
            channel_id, secret, {"message_id": message_id, "sender": {"id": sender}, "text": "hi"}
        )
        return res["conversation_id"]

    async def held_by(conv: str, agent_id: str) -> None:
        async def offered() -> bool:
            return (await conversation(conv)).get("offered_to") == agent_id

        await wait_for(offered)
        await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", gateway.tokens[agent_id])

    waiting = await customer_writes("m1", "c1")
    await held_by(waiting, a_id)
    answered = await customer_writes("m2", "c2")
    await held_by(answered, a_id)
    await gateway.call(
        "POST", f"/api/v1/conversations/{answered}/messages", a_token, {"text": "Done!"},
        expect=201,
    )  # fmt: skip
    await gateway.call("PUT", "/api/v1/agents/me/status", a_token, {"status": "offline"})
    assert not (await conversation(waiting)).get("assignee")
    assert (await conversation(answered))["assignee"] == a_id

    b_id, _ = await gateway.agent_online("b@example.com")
    await held_by(waiting, b_id)
    # The answered customer writes again: back to the queue, and to the agent who is there.
    assert await customer_writes("m3", "c2") == answered
    await held_by(answered, b_id)

    # An agent deleted by an admin leaves no customer waiting either.
    await gateway.agent_online("c@example.com")
    await customer_writes("m4", "c1")
    await customer_writes("m5", "c2")
    await gateway.call("DELETE", f"/api/v1/users/{b_id}")
    for conv in (waiting, answered):
        assert not (await conversation(conv)).get("assignee")


async def test_an_agent_going_offline_gives_back_before_the_status_changes(router: Router):
    """Taking an agent offline releases first and sets the status after, so that a crash
    between the two leaves an agent online (the console sends the status again), never an
    offline agent holding customers who wait: the release does not wait for the status."""
    await router.agent("a")
    conv = await _held(router, "a", customer="c1")
    assert await router.worker.release_held("a") == 0  # online: nothing is released
    assert await router.worker.release_held("a", going=True) == 1
    assert (await router.redis.hget(router.keys.agent("a"), "status")) == "online"
    assert "assignee" not in await router.conv(conv)
