"""Merge and undo on the real inbox and router (no app): one Lua step each, everything moves
consistently, undo gives the source back with conversations that arrived after the merge, and
routing (VIP advisor, sticky agent, repeat-complainer count) then uses the merged contact."""

from __future__ import annotations

import asyncio
import itertools
import random

from gateway.contacts import Contacts, ContactsError
from gateway.redis_client import connect
from tests.contacts.conftest import inbound
from tests.router.conftest import Router

_n = itertools.count(1000)


async def ingest(router: Router, customer: str, channel: str = "webchat", **kw) -> tuple[str, str]:
    """(conversation id, contact id) of a message on a new thread."""
    result = await router.inbox.ingest(inbound(customer, channel=channel, n=next(_n), **kw))
    return result.conversation_id, result.contact_id


async def convs(router: Router, contact_id: str) -> set[str]:
    return set(await router.redis.zrange(router.keys.contact_conversations(contact_id), 0, -1))


async def contact(router: Router, contact_id: str) -> dict[str, str]:
    return await router.redis.hgetall(router.keys.contact(contact_id))


async def test_merge_moves_everything_and_undo_gives_it_back(router: Router, contacts: Contacts):
    a1, a = await ingest(router, "visitor-a", name="Wang")
    a2, _ = await ingest(router, "visitor-a")
    b1, b = await ingest(router, "b@example.com", channel="email", tier="vip", name="Wang Li")
    await router.redis.hset(router.keys.contact(b), mapping={"advisor": "adv"})
    k = router.keys

    merge = await contacts.merge(b, a, "u1", "Ann")
    assert merge["conversations"] == 1 and merge["identities"] == ["ch-email:b@example.com"]
    assert await router.redis.get(k.contact_identity("ch-email", "b@example.com")) == a
    assert await convs(router, a) == {a1, a2, b1} and await convs(router, b) == set()
    assert await router.redis.hget(k.conversation(b1), "contact_id") == a
    merged = await contact(router, a)
    assert merged["tier"] == "vip" and merged["advisor"] == "adv" and merged["name"] == "Wang"
    assert merged["identities"].split("\n") == ["ch-webchat:visitor-a", "ch-email:b@example.com"]
    assert (await contact(router, b))["merged_into"] == a
    # Open conversations of the merged contact wait for its advisor.
    assert await router.redis.hget(k.conversation(b1), "advisor") == "adv"

    # A message for the merged-away identity lands on the target, with the target's facts.
    b2, owner = await ingest(router, "b@example.com", channel="email")
    assert owner == a and b2 in await convs(router, a)
    a3, _ = await ingest(router, "visitor-a")
    conv = await router.conv(a3)
    assert conv["priority"] == "high" and conv["priority_rule"] == "vip-customer"
    assert conv["advisor"] == "adv"
    # The real router: the VIP's new conversation, and the merged one still open, go to the
    # merged contact's advisor although another agent is as free.
    await router.agent("zed", capacity=10)
    await router.agent("adv", capacity=10)
    await router.worker.sweep()
    assert router.offered()[a3] == "adv" and router.offered()[b1] == "adv"

    with_errors = [(b, a), (a, a), (a, "ct_none")]
    for source, target in with_errors:
        try:
            await contacts.merge(source, target, "u1", "Ann")
        except ContactsError as exc:
            assert exc.status in (400, 404, 409)
        else:
            raise AssertionError(f"merge {source} -> {target} was accepted")

    undone = await contacts.undo(merge["id"], "u1", "Ann")
    assert undone["undone_at"] and undone["moved_back"] == 2
    assert await router.redis.get(k.contact_identity("ch-email", "b@example.com")) == b
    assert await convs(router, b) == {b1, b2}  # b2 arrived after the merge
    assert await convs(router, a) == {a1, a2, a3}
    assert {await router.redis.hget(k.conversation(c), "contact_id") for c in (b1, b2)} == {b}
    back = await contact(router, a)
    assert "tier" not in back and "advisor" not in back
    assert back["identities"] == "ch-webchat:visitor-a"
    assert "merged_into" not in await contact(router, b)
    # Both timelines show the merge and its undo.
    for one in (a, b):
        events = [e["type"] for e in (await contacts.get(one, _staff()))["timeline"]]
        assert events == ["undo", "merge"]
    try:
        await contacts.undo(merge["id"], "u1", "Ann")
    except ContactsError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("a second undo was accepted")
    changed = await router.redis.zrange(k.contacts_changed(), 0, -1)
    assert set(changed) == {a, b}


def _staff():
    from gateway.conversations import Viewer
    from gateway.models import Role

    return Viewer("admin", Role.ADMIN)


async def test_routing_uses_the_merged_contact(router: Router, contacts: Contacts):
    """Sticky agent and repeat-complainer count of the merged contact, on the real router."""
    await router.agent("ann", capacity=5)
    await router.agent("bob", capacity=5)
    # Two open complaints, one per contact: neither is a repeat complainer on their own.
    _, a = await ingest(router, "wx-openid-a", channel="wechat_oa")
    router.clock.advance(5)
    _, b = await ingest(router, "b@example.com", channel="email")
    await router.redis.hset(router.keys.contact(a), "last_agent", "ann")
    await router.redis.hset(router.keys.contact(b), "last_agent", "bob")  # active last
    await ingest(router, "control-c")
    await ingest(router, "control-d")
    control, _ = await ingest(router, "control-c")  # c: 1 open + this one
    assert (await router.conv(control)).get("priority_rule") != "repeat-complainer"

    await contacts.merge(a, b, "u1", "Ann")
    assert (await contact(router, b))["last_agent"] == "bob"
    repeat, owner = await ingest(router, "wx-openid-a", channel="wechat_oa")
    assert owner == b
    conv = await router.conv(repeat)
    # 2 open (one from each contact) + this one: the rule's count of 3, on the merged contact.
    assert conv["priority_rule"] == "repeat-complainer" and conv["priority"] == "high"
    assert conv["sticky_agent"] == "bob"
    await router.worker.sweep()
    assert router.offered()[repeat] == "bob"


async def test_merges_and_undos_while_messages_arrive(
    router: Router, contacts: Contacts, redis_url
):
    """Ingest for both contacts from one client while another merges and undoes, on the real
    Redis: afterwards every conversation is in exactly one contact's set, names that contact,
    and belongs to the contact its identity names."""
    other = connect(redis_url)
    merger = Contacts(other, router.keys, router.policies, clock=router.clock)
    try:
        first_a, a = await ingest(router, "alpha", channel="api")
        first_b, b = await ingest(router, "beta@example.com", channel="email")
        first = {first_a, first_b}
        stop = asyncio.Event()

        async def messages() -> list[str]:  # until the merges are done, at least 60
            made = []
            while not stop.is_set() or len(made) < 60:
                customer, channel = random.choice([("alpha", "api"), ("beta@example.com", "email")])
                made.append((await ingest(router, customer, channel=channel))[0])
                if len(made) >= 400:
                    break
            return made

        async def merges() -> int:
            done = 0
            for _ in range(15):
                source, target = (a, b) if done % 2 == 0 else (b, a)
                record = await merger.merge(source, target, "u1", "Ann")
                await asyncio.sleep(0)
                await merger.undo(record["id"], "u1", "Ann")
                done += 1
            record = await merger.merge(a, b, "u1", "Ann")  # ends merged
            stop.set()
            return done

        made_a, made_b, _ = await asyncio.gather(messages(), messages(), merges())
    finally:
        await other.aclose()
    k = router.keys
    everything = set(made_a) | set(made_b) | first
    assert await convs(router, a) == set() and await convs(router, b) == everything
    for conversation_id in everything:
        assert await router.redis.hget(k.conversation(conversation_id), "contact_id") == b
    assert await router.redis.get(k.contact_identity("ch-api", "alpha")) == b
    # Undo the last merge: alpha's conversations (all of them, whenever they came) go back.
    await contacts.undo((await contact(router, a))["merge_id"], "u1", "Ann")
    for owner, external in ((a, "alpha"), (b, "beta@example.com")):
        mine = {c for c in everything if (await router.conv(c))["contact_external_id"] == external}
        assert await convs(router, owner) == mine and mine
        for conversation_id in mine:
            assert (await router.conv(conversation_id))["contact_id"] == owner
