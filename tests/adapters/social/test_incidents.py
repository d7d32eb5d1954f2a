"""A mention spike is one incident (gateway/incidents/), through a running gateway and the fake
Mastodon instance: the incident's item is offered to a senior, the mentions to ordinary agents;
the statement becomes the suggested reply; the bulk reply queues one outbox reply per open
mention, each delivered by the fake platform, skipping those answered or resolved; a later
spike makes a second incident."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.base import SPIKE_EARLIER
from gateway.incidents import Incidents
from gateway.models import Channel, ContactIdentity, InboundMessage
from gateway.services import ActionError
from tests.adapters.social.conftest import Served
from tests.conftest import Harness, wait_for

SPIKE = {"poll_interval_seconds": 1, "spike_min_count": 2, "spike_factor": 1.5}


async def _mastodon(gateway: Harness, api: Served) -> dict[str, Any]:
    return await gateway.create_channel(
        "mastodon", {"base_url": api.url, "access_token": api.fake.token, **SPIKE}
    )


async def _conversations(gateway: Harness, channel_id: str, n: int) -> list[dict[str, Any]]:
    async def all_in():
        got = await gateway.call("GET", f"/api/v1/conversations?channel={channel_id}&limit=200")
        return got["conversations"] if len(got["conversations"]) >= n else None

    return await wait_for(all_in, timeout=60)


async def test_a_spike_is_one_incident_for_a_senior(make_gateway, mastodon_api: Served) -> None:
    gateway = await make_gateway(outbox_backoff_base_seconds=0.05)
    agent_id, agent_token = await gateway.agent_online("agent@example.com", capacity=10)
    boss_id, boss_token = await gateway.agent_online("boss@example.com", role="supervisor")
    ws = await gateway.client.ws_connect("/api/v1/ws", headers=gateway.auth(boss_token))
    fake = mastodon_api.fake
    channel = await _mastodon(gateway, mastodon_api)
    n = 8
    for i in range(n):
        fake.toot(f"user{i}", f"@{fake.our_acct} your product broke again #{i}")

    # n mentions, plus one item for the incident.
    convs = await _conversations(gateway, channel["id"], n + 1)
    items = [c for c in convs if c.get("incident_item") == "1"]
    mentions = [c for c in convs if c.get("incident_item") != "1"]
    assert len(items) == 1 and len(mentions) == n
    (item,) = items
    assert (item["priority"], item["priority_rule"]) == ("incident", "spike-incident")
    # Not n sensitive conversations: every mention is an ordinary one.
    assert {m["priority"] for m in mentions} == {"normal"}
    (incident,) = (await gateway.call("GET", "/api/v1/incidents", agent_token))["incidents"]
    assert incident["conversation_id"] == item["id"] and incident["status"] == "open"
    # Every mention, also the first (delivered before its bucket was known to be a spike:
    # the mention that started the spike brought it along).
    joined = [m for m in mentions if m.get("incident_id") == incident["id"]]
    assert len(joined) == incident["mentions"] == n

    async def event(kind: str) -> dict[str, Any]:
        while True:
            got = await ws.receive_json()
            if got["type"] == kind:
                return got["data"]

    created = await asyncio.wait_for(event("incident.created"), 30)
    assert created["incident"]["id"] == incident["id"]

    async def conversation(conversation_id: str) -> dict[str, Any]:
        return await gateway.call("GET", f"/api/v1/conversations/{conversation_id}", boss_token)

    # The item goes to the senior; mentions go to the ordinary agent too.
    async def offered(conversation_id: str) -> str | None:
        conv = (await conversation(conversation_id))["conversation"]
        return conv.get("offered_to") or conv.get("assignee")

    assert await wait_for(lambda: offered(item["id"])) == boss_id
    holders = [await wait_for(lambda m=m: offered(m["id"])) for m in joined]
    assert agent_id in holders
    # Nobody but the senior may answer the item, and it never posts publicly.
    await gateway.call("POST", f"/api/v1/conversations/{item['id']}/accept", boss_token)
    taken = await gateway.call("GET", f"/api/v1/incidents/{incident['id']}", agent_token)
    assert taken["incident"]["taken_by"] == boss_id
    assert (await conversation(item["id"]))["conversation"]["first_response_at"]
    refused = await gateway.call(
        "POST", f"/api/v1/conversations/{item['id']}/messages", boss_token,
        {"text": "hello"}, expect=409,
    )  # fmt: skip
    assert refused["error"]["code"] == "incident_item"
    # The step that appends refuses it too (for a request that read the conversation before
    # it became an item): nothing is appended. A note still is.
    last_seq = (await conversation(item["id"]))["conversation"]["last_seq"]
    with pytest.raises(ActionError) as refused_inside:
        await gateway.gw.reply(item["id"], boss_id, "Boss", "hello")
    assert (refused_inside.value.status, refused_inside.value.code) == (409, "incident_item")
    assert (await conversation(item["id"]))["conversation"]["last_seq"] == last_seq
    note = await gateway.gw.reply(item["id"], boss_id, "Boss", "checked the logs", note=True)
    assert (note["seq"], note["direction"]) == (last_seq + 1, "note")

    # Agents may read incidents, not change them.
    await gateway.call(
        "PATCH", f"/api/v1/incidents/{incident['id']}", agent_token, {"statement": "x"}, expect=403
    )
    await gateway.call(
        "POST", f"/api/v1/incidents/{incident['id']}/reply", boss_token, {}, expect=400
    )  # fmt: skip  (no statement yet)
    statement = "We know about the outage and are fixing it. Updates at status.example."
    patched = await gateway.call(
        "PATCH", f"/api/v1/incidents/{incident['id']}", boss_token, {"statement": statement}
    )
    assert patched["incident"]["statement"] == statement
    assert (await conversation(joined[0]["id"]))["suggested_reply"] == statement
    assert (await conversation(item["id"]))["suggested_reply"] is None

    # One mention answered by its agent, one resolved: the bulk reply skips both.
    answered, resolved = [m for m in joined if m["id"] != item["id"]][:2]
    for conv_id in (answered["id"], resolved["id"]):
        holder = await offered(conv_id)
        token = agent_token if holder == agent_id else boss_token
        conv = (await conversation(conv_id))["conversation"]
        if conv.get("offered_to"):
            await gateway.call("POST", f"/api/v1/conversations/{conv_id}/accept", token)
        if conv_id == answered["id"]:
            await gateway.call("POST", f"/api/v1/conversations/{conv_id}/messages", token,
                               {"text": "Sorry! Looking into it."}, expect=201)  # fmt: skip
        else:
            await gateway.call("POST", f"/api/v1/conversations/{conv_id}/resolve", token)
    await wait_for(lambda: _value(len(fake.posted) == 1))  # the agent's own reply
    fake.fail_next("/api/v1/statuses", 503)  # one bulk reply is retried by the outbox
    outcome = await gateway.call(
        "POST", f"/api/v1/incidents/{incident['id']}/reply", boss_token, {}, expect=202
    )
    rest = len(joined) - 2
    assert outcome == {
        "queued": rest, "skipped_answered": 1, "skipped_resolved": 1,
        "resolved": outcome["resolved"],
    }  # fmt: skip
    await wait_for(lambda: _value(len(fake.posted) == 1 + rest), timeout=60)
    bulk = [p for p in fake.posted if p["status"].endswith(statement)]
    assert len(bulk) == rest
    replied_to = {p["in_reply_to_id"] for p in bulk}
    assert len(replied_to) == rest  # one per mention, on its own post
    counts = (await gateway.call("GET", f"/api/v1/incidents/{incident['id']}"))["incident"]
    assert counts["counts"]["waiting"] == 0
    # A second bulk reply finds nothing left to answer.
    again = await gateway.call(
        "POST", f"/api/v1/incidents/{incident['id']}/reply", boss_token, {}, expect=202
    )
    assert again["queued"] == 0
    assert again["skipped_answered"] + again["skipped_resolved"] == len(joined)

    # The incident resolved (its item too), a new spike opens a second one.
    done = await gateway.call(
        "PATCH", f"/api/v1/incidents/{incident['id']}", boss_token, {"status": "resolved"}
    )
    assert done["incident"]["status"] == "resolved"
    assert (await conversation(item["id"]))["conversation"]["status"] == "resolved"
    assert (await conversation(joined[-1]["id"]))["suggested_reply"] is None
    await ws.close()


async def test_a_customers_media_threat_stays_sensitive(make_gateway, mastodon_api: Served):
    gateway = await make_gateway()
    fake = mastodon_api.fake
    channel = await _mastodon(gateway, mastodon_api)
    for i in range(4):
        fake.toot(f"user{i}", f"@{fake.our_acct} broken again #{i}")
    fake.toot("angry", f"@{fake.our_acct} I will go to the press with this")
    convs = await _conversations(gateway, channel["id"], 6)
    threat = next(c for c in convs if c.get("incident_item") != "1"
                  and c["priority_rule"] == "media-exposure")  # fmt: skip
    assert threat["priority"] == "sensitive"


async def test_mentions_after_the_join_window_make_a_second_incident(gateway: Harness) -> None:
    """The service itself, on a clock of our own: mentions within an hour of the last one join
    the channel's incident; a spike later opens a second one, with its own item."""
    now = [1_800_000_000_000]
    gw = gateway.gw
    incidents = Incidents(
        gw.redis, gw.keys, gw.conversations, open_item=gw.inbox.ingest,
        resolve=lambda c, a: gw.resolve(c, actor_name=a), clock=lambda: now[0],
    )  # fmt: skip

    async def mention(i: int) -> tuple[str, str]:
        msg = InboundMessage(
            channel_id="chX", channel_type=Channel.X, external_id=f"p{i}",
            contact=ContactIdentity(external_id=f"u{i}"), thread_key=f"p{i}",
            text="down again", meta={"spike": True},
        )  # fmt: skip
        result = await gw.inbox.ingest(msg)  # not gw.deliver: its own incidents would file it
        return await incidents.on_mention(result.conversation_id, msg)

    first = [await mention(i) for i in range(3)]
    assert [o for o, _ in first] == ["created", "joined", "joined"]
    assert len({i for _, i in first}) == 1
    assert (await mention(0))[0] == "already"  # a retried delivery
    now[0] += 2 * 3_600_000
    second = [await mention(i) for i in range(3, 5)]
    assert [o for o, _ in second] == ["created", "joined"]
    assert second[0][1] != first[0][1]
    items = [await incidents.get(i) for i in (first[0][1], second[0][1])]
    assert [i["mentions"] for i in items] == [3, 2]
    assert items[0]["conversation_id"] != items[1]["conversation_id"]


async def test_a_spike_takes_the_mentions_before_it_from_its_own_channel_only(
    gateway: Harness,
) -> None:
    """The mention that starts a spike lists the conversations of its bucket delivered before
    (``SPIKE_EARLIER``): they join the incident; another channel's conversation listed there
    does not, and the list is not kept on the message."""
    gw = gateway.gw

    def mention(i: int, channel_id: str = "chX", **meta: Any) -> InboundMessage:
        return InboundMessage(
            channel_id=channel_id, channel_type=Channel.X, external_id=f"p{i}",
            contact=ContactIdentity(external_id=f"u{i}"), thread_key=f"p{i}",
            text="down again", meta=meta,
        )  # fmt: skip

    early = [await gw.deliver(mention(i)) for i in range(2)]
    elsewhere = await gw.deliver(mention(9, channel_id="chY"))
    listed = [r.conversation_id for r in (*early, elsewhere)]
    started = await gw.deliver(mention(2, spike=True, **{SPIKE_EARLIER: listed}))
    (incident,) = (await gateway.call("GET", "/api/v1/incidents"))["incidents"]
    assert incident["mentions"] == 3
    for result, expected in [(started, incident["id"]), *((r, incident["id"]) for r in early),
                             (elsewhere, None)]:  # fmt: skip
        conv = await gw.redis.hget(gw.keys.conversation(result.conversation_id), "incident_id")
        assert conv == expected
    stored = await gateway.call("GET", f"/api/v1/conversations/{started.conversation_id}/messages")
    assert all(SPIKE_EARLIER not in m.get("meta", {}) for m in stored["messages"])
    # A retried delivery of the same mention joins nothing twice.
    await gw.deliver(mention(2, spike=True, **{SPIKE_EARLIER: listed}))
    (again,) = (await gateway.call("GET", "/api/v1/incidents"))["incidents"]
    assert again["mentions"] == 3


async def _value(value):
    return value
