"""The inbox's single ingest script: the verdict it picks among the ones Python classified for
every stored tier and complaint count equals classifying with the facts (gateway/classify.py
Variants), including a stored tier Lua cannot lowercase; and events of one group commit travel
as one PUBLISH, reach their own process without Redis and every other process once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.batching import CommandBatcher
from gateway.classify import parse_rules
from gateway.events import EventBus
from gateway.inbox import Inbox
from gateway.keys import Keys
from gateway.models import Channel, ContactIdentity, InboundMessage
from gateway.settings import config_dir
from router.sla import load_sla
from tests.conftest import wait_for

CLASSES = ["urgent", "sensitive", "high", "normal", "low"]
RULES = {
    "default_class": "normal",
    "rules": [
        {"name": "fire", "class": "urgent", "keywords": ["fire"]},
        {"name": "vip", "class": "high", "tiers": ["vip", "gold"], "team": "vip-desk"},
        {"name": "umlaut", "class": "sensitive", "tiers": ["vïp"]},
        {"name": "repeat", "class": "high", "repeat": {"count": 2, "window_hours": 72}},
        {"name": "repeat-more", "class": "urgent", "repeat": {"count": 4, "window_hours": 72}},
        {"name": "hint", "keywords": ["refund"], "skills": ["billing"], "language": "en"},
        {"name": "spike", "class": "sensitive", "meta_flags": ["spike"]},
    ],
}
CLASSIFIER = parse_rules(RULES, CLASSES)


@given(
    text=st.sampled_from(["hello", "fire!", "refund please", "fire and refund"]),
    named=st.sampled_from([None, "VIP", "bronze"]),
    stored=st.sampled_from([None, "", "vip", "Gold", "VÏP", "vïp", "other"]),
    complaints=st.integers(0, 6),
    spike=st.booleans(),
)
def test_the_variants_pick_what_classify_answers(
    text: str, named: str | None, stored: str | None, complaints: int, spike: bool
) -> None:
    meta = {"spike": True} if spike else {}
    variants = CLASSIFIER.variants(text, named, meta, "api")
    tier = named or stored or None
    assert variants.pick(stored, complaints) == CLASSIFIER.classify(
        text, tier, meta, "api", complaints
    )


async def _ingest(inbox: Inbox, external_id: str, sender: str, thread: str, text: str = "hi"):
    msg = InboundMessage(
        channel_id="ch1",
        channel_type=Channel.API,
        external_id=external_id,
        contact=ContactIdentity(external_id=sender, name="Ann"),
        thread_key=thread,
        text=text,
    )
    return await inbox.ingest(msg)


async def test_stored_tier_and_complaints_choose_the_verdict_in_the_script(redis, keys: Keys):
    sla = load_sla(config_dir() / "sla.toml")
    inbox = Inbox(redis, keys, CLASSIFIER, sla, reopen_window_seconds=3600, dedupe_ttl_seconds=60)

    async def rule_of(result: Any) -> tuple[str, str]:
        conv = await redis.hgetall(keys.conversation(result.conversation_id))
        return conv["priority"], conv["priority_rule"]

    first = await _ingest(inbox, "m1", "alice", "t1")
    assert await rule_of(first) == ("normal", "")
    # A stored tier (any case) that a rule names: the script reads it and picks that verdict.
    await redis.hset(keys.contact(first.contact_id), "tier", "GOLD")
    second = await _ingest(inbox, "m2", "alice", "t2")
    assert await rule_of(second) == ("high", "vip")
    assert await redis.hget(keys.conversation(second.conversation_id), "team") == "vip-desk"
    # Not ASCII: Lua cannot lowercase it, Python classifies with what the script read.
    await redis.hset(keys.contact(first.contact_id), "tier", "VÏP")
    third = await _ingest(inbox, "m3", "alice", "t3")
    assert await rule_of(third) == ("sensitive", "umlaut")
    # Complaints: three open conversations and this new one -> 4 -> repeat-more.
    await redis.hset(keys.contact(first.contact_id), "tier", "plain")
    fourth = await _ingest(inbox, "m4", "alice", "t4")
    assert await rule_of(fourth) == ("urgent", "repeat-more")
    # A message already urgent by its text keeps the text's rule (the first of equal rank).
    fifth = await _ingest(inbox, "m5", "alice", "t5", text="fire")
    assert await rule_of(fifth) == ("urgent", "fire")
    # The log holds the author's id inside the JSON the script completed.
    logged = json.loads(await redis.hget(keys.messages(fifth.conversation_id), "1"))
    assert logged["author_id"] == first.contact_id and logged["text"] == "fire"
    duplicate = await _ingest(inbox, "m5", "alice", "t5", text="fire")
    assert duplicate.duplicate and duplicate.contact_id == first.contact_id
    await inbox.batch.close()


async def test_events_of_one_commit_are_one_publish_local_at_once_and_remote_once(
    redis, keys: Keys
):
    here, there = EventBus(redis, keys), EventBus(redis, keys)
    here.batcher = CommandBatcher(redis)
    got_here: list[str] = []
    got_there: list[str] = []

    async def on_here(event: dict[str, Any]) -> None:
        got_here.append(event["type"])

    async def on_there(event: dict[str, Any]) -> None:
        got_there.append(event["type"])

    here.listen(on_here)
    there.listen(on_there)
    await here.start()
    await there.start()
    raw: list[str] = []
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.events_channel())
    try:
        await asyncio.gather(*(here.publish(f"e{i}", {"i": i}, ["u1"]) for i in range(5)))
        await here.publish("remote-only", {}, local=False)
        await wait_for(lambda: _done(len(got_there) == 6))
        # What reached Redis: one PUBLISH for the five, one more for the last.
        while len(raw) < 2:
            message = await pubsub.get_message(timeout=5)
            if message is not None:
                raw.append(message["data"])
        await asyncio.sleep(0.3)  # anything handled twice would show by now
        assert got_here == [f"e{i}" for i in range(5)]
        assert got_there == [*got_here, "remote-only"]
        assert raw[0].startswith(here.origin + " [")
        assert [e["type"] for e in json.loads(raw[0].partition(" ")[2])] == got_here
        # A bare JSON event, as published by anything else, still reaches both.
        await redis.publish(keys.events_channel(), json.dumps({"type": "bare", "data": {}}))
        await wait_for(lambda: _done("bare" in got_here and "bare" in got_there))
    finally:
        await pubsub.aclose()
        await here.stop()
        await there.stop()
        await here.batcher.close()


async def _done(value: bool) -> bool:
    return value
