"""The bulk reply of an incident (gateway/incidents/service.py) racing an agent, another bulk
reply and its own lock, on two gateways sharing one Redis: every mention gets exactly one reply.
Mentions are filed as in production (``Gateway.deliver`` of a spike's message)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.incidents import Incidents
from gateway.models import Channel, ContactIdentity, InboundMessage
from tests.conftest import Harness, MakeGateway, wait_for

MENTIONS = 40
STATEMENT = "We know about the outage and are fixing it."


async def _incident(h: Harness, n: int = MENTIONS) -> tuple[str, list[str]]:
    """A spike of ``n`` mentions on one channel: the incident, its mentions in the bulk's order."""
    for i in range(n):
        await h.gw.deliver(
            InboundMessage(
                channel_id="chX", channel_type=Channel.X, external_id=f"p{i}",
                contact=ContactIdentity(external_id=f"u{i}"), thread_key=f"p{i}",
                text="down again", meta={"spike": True},
            )
        )  # fmt: skip
    (incident,) = (await h.call("GET", "/api/v1/incidents"))["incidents"]
    await h.call("PATCH", f"/api/v1/incidents/{incident['id']}", None, {"statement": STATEMENT})
    mentions = await h.gw.redis.zrange(h.gw.keys.incident_mentions(incident["id"]), 0, -1)
    assert len(mentions) == n
    return incident["id"], mentions


async def _replies(h: Harness, conversation_id: str) -> list[str]:
    """What the customer is sent: the replies (no system lines, notes or events)."""
    messages = await h.gw.conversations.messages(conversation_id)
    return [m["text"] for m in messages
            if m["direction"] == "out" and not m["meta"].get("system")]  # fmt: skip


async def _started(h: Harness, first_mention: str) -> None:
    """Until the bulk reply has appended to the first mention (its snapshot is taken)."""
    key = h.gw.keys.conversation(first_mention)

    async def replied() -> bool:
        return int(await h.gw.redis.hget(key, "last_seq") or 0) > 1

    await wait_for(replied, interval=0.001)


def _bulk(h: Harness, incident_id: str) -> asyncio.Task[Any]:
    path = f"/api/v1/incidents/{incident_id}/reply"
    return asyncio.create_task(h.call("POST", path, None, {}, expect=202))


async def test_an_agents_reply_during_the_bulk_reply_is_the_only_one(make_gateway: MakeGateway):
    """An agent on another gateway answers the last mention while the bulk reply runs (at its
    first mention's resolve, so always before it reaches the last): that mention keeps the
    agent's reply only, every other gets the statement once."""
    a, b = await make_gateway(), await make_gateway()
    incident_id, mentions = await _incident(a)
    last = mentions[-1]
    gw = a.gw
    agent_replied: list[str] = []

    async def resolve(conversation_id: str, actor: str) -> None:
        if not agent_replied:
            path = f"/api/v1/conversations/{last}/messages"
            await b.call("POST", path, None, {"text": "Sorry!"}, 201)
            agent_replied.append(conversation_id)
        await gw.resolve(conversation_id, actor_name=actor)

    incidents = Incidents(gw.redis, gw.keys, gw.conversations, open_item=gw.inbox.ingest,
                          resolve=resolve)  # fmt: skip
    outcome = await incidents.bulk_reply(incident_id, author_id="boss", author_name="Boss")
    assert agent_replied
    assert await _replies(a, last) == ["Sorry!"]
    for conversation_id in mentions[:-1]:
        assert await _replies(a, conversation_id) == [STATEMENT]
    assert (outcome.queued, outcome.skipped_answered) == (MENTIONS - 1, 1)


async def test_two_bulk_replies_at_once_answer_each_mention_once(make_gateway: MakeGateway):
    """The first run's lock runs out while it still works (a process stalled past the TTL):
    a second run on another gateway starts, and both go through the same mentions."""
    a, b = await make_gateway(), await make_gateway()
    incident_id, mentions = await _incident(a)
    first = _bulk(a, incident_id)
    await _started(a, mentions[0])
    await a.gw.redis.delete(a.gw.keys.incident_bulk_lock(incident_id))  # expired
    second = _bulk(b, incident_id)
    outcomes = await asyncio.gather(first, second)
    for conversation_id in mentions:
        assert await _replies(a, conversation_id) == [STATEMENT], conversation_id
    assert sum(o["queued"] for o in outcomes) == MENTIONS


async def test_a_bulk_reply_releases_only_its_own_lock(make_gateway: MakeGateway):
    """Its lock ran out and another process took it: finishing, the run leaves that one's."""
    a = await make_gateway()
    incident_id, mentions = await _incident(a)
    lock = a.gw.keys.incident_bulk_lock(incident_id)
    bulk = _bulk(a, incident_id)
    await _started(a, mentions[0])
    await a.gw.redis.delete(lock)
    await a.gw.redis.set(lock, "another-process", px=60_000)
    await bulk
    assert await a.gw.redis.get(lock) == "another-process"


async def test_the_bulk_lock_is_renewed_while_the_run_lasts(make_gateway: MakeGateway):
    """A run longer than the lock's TTL keeps it: a second bulk reply is refused (409)
    throughout, and the lock is gone once the run is done."""
    a, b = await make_gateway(), await make_gateway()
    incident_id, _ = await _incident(a, 10)
    gw = a.gw

    async def slow_resolve(conversation_id: str, actor: str) -> None:
        await asyncio.sleep(0.15)  # each mention takes a while: 10 of them, 1.5 s
        await gw.resolve(conversation_id, actor_name=actor)

    incidents = Incidents(
        gw.redis, gw.keys, gw.conversations, open_item=gw.inbox.ingest, resolve=slow_resolve,
        bulk_lock_ms=600,
    )  # fmt: skip
    run = asyncio.create_task(incidents.bulk_reply(incident_id, author_id="u", author_name="U"))
    lock = gw.keys.incident_bulk_lock(incident_id)
    holder = await wait_for(lambda: gw.redis.get(lock), interval=0.001)
    for _ in range(5):  # 1.25 s: over twice the TTL
        await asyncio.sleep(0.25)
        assert not run.done()
        assert await gw.redis.get(lock) == holder
        refused = await b.call(
            "POST", f"/api/v1/incidents/{incident_id}/reply", None, {}, expect=409
        )
        assert refused["error"]["code"] == "busy"
    assert (await run).queued == 10
    assert await gw.redis.get(lock) is None
