"""The search index's polls run in slices: the rest of the process (requests, replies, offers)
gets the event loop between items instead of waiting behind a poll of hundreds of new
contacts and conversations (gateway/turns.py). With a slice of 0 s every item is a slice: a
task that looks between its turns sees at most one more document each time; polled in one
step, it saw all the new contacts appear at once."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from gateway.keys import Keys
from gateway.search.feed import Indexer
from gateway.textsearch.terms import required_terms
from gateway.turns import Turns

ITEMS = 200
AT = 1_700_000_000_000


async def _largest_step(indexer: Indexer, work: asyncio.Task[None]) -> int:
    """The most documents the indexer made between two turns of another task."""

    def made() -> int:
        return len(indexer.conversations.activity) + len(indexer.contacts.activity)

    largest, seen = 0, made()
    while not work.done():
        await asyncio.sleep(0)
        largest, seen = max(largest, made() - seen), made()
    await work
    return largest


async def _seed(redis: aioredis.Redis, keys: Keys, first: int) -> None:
    pipe = redis.pipeline(transaction=False)
    for n in range(first, first + ITEMS):
        conv, contact = f"cv{n:05d}", f"ct{n:05d}"
        pipe.hset(keys.messages(conv), "1", json.dumps({"direction": "in", "text": f"发票 {n}"}))
        pipe.hset(keys.conversation(conv), mapping={
            "id": conv, "last_seq": 1, "channel_id": "ch-api", "channel_type": "api",
            "contact_id": contact,
        })  # fmt: skip
        pipe.zadd(keys.conversations_index(), {conv: AT + n})
        pipe.hset(keys.contact(contact), mapping={"id": contact, "name": f"Kunde {n}"})
        pipe.zadd(keys.contacts_changed(), {contact: AT + n})
    await pipe.execute()


async def test_a_poll_gives_the_loop_a_turn_between_items(redis: aioredis.Redis, keys: Keys):
    await _seed(redis, keys, 0)
    indexer = Indexer(redis, keys, grace_seconds=0, turn_seconds=0)
    try:
        await indexer.poll()  # the rebuild (large batches go to the worker thread)
        await _seed(redis, keys, ITEMS)  # new conversations and contacts since
        largest = await _largest_step(indexer, asyncio.create_task(indexer.poll()))
        assert largest <= 2, largest  # one conversation, or one contact, a slice (was 200)

        def terms(query: str) -> list[str]:
            return required_terms(indexer.analyzer.tokens(query))

        assert len(indexer.contacts.match(terms("Kunde"))) == 2 * ITEMS
        assert len(indexer.conversations.match(terms("发票"))) == 2 * ITEMS
        assert indexer.conversations.get(f"cv{2 * ITEMS - 1:05d}") is not None
    finally:
        indexer.close()


async def test_a_slice_keeps_the_loop_until_its_budget_is_spent():
    kept = Turns(budget=60.0)
    shared = Turns(budget=0.0)
    other = asyncio.create_task(asyncio.sleep(0))
    await kept.share()
    assert not other.done()  # no turn given: the budget is not spent
    await shared.share()
    await asyncio.sleep(0)
    assert other.done()
