"""The rebuild at start, on the real Redis: searches answer while it runs, from what is
indexed so far and saying so (``ready`` false: the API's ``indexing: true``), then whole;
afterwards the fold cache holds none of the rebuild's texts."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from gateway.conversations import Viewer
from gateway.keys import Keys
from gateway.models import Role
from gateway.search import Filters, Search
from gateway.textsearch import fold

CONVERSATIONS = 1_500


async def _seed(redis: aioredis.Redis, keys: Keys) -> None:
    pipe = redis.pipeline(transaction=False)
    for n in range(CONVERSATIONS):
        conv, at = f"cv{n:05d}", 1_700_000_000_000 + n
        texts = [f"我的發票 {n} 号还没开", "已经为您登记，invoice on its way"]
        pipe.hset(keys.messages(conv), mapping={
            str(seq): json.dumps({"direction": "in" if seq == 1 else "out", "text": text})
            for seq, text in enumerate(texts, 1)
        })  # fmt: skip
        pipe.hset(keys.conversation(conv), mapping={
            "id": conv, "last_seq": 2, "channel_id": "ch-api", "channel_type": "api",
            "status": "open",
        })  # fmt: skip
        pipe.zadd(keys.conversations_index(), {conv: at})
    await pipe.execute()


async def test_searches_answer_during_the_rebuild(redis: aioredis.Redis, keys: Keys):
    await _seed(redis, keys)
    search = Search(redis, keys)
    admin = Viewer("u-admin", Role.ADMIN)
    seen: list[tuple[bool, int]] = []  # (ready, matches) as a search saw them

    async def searching() -> None:
        while not seen or not seen[-1][0]:
            ready = search.ready  # read before: the answer holds at least what it says
            page = await search.conversations(admin, "发票", Filters(), limit=50, offset=0)
            matched = len(search.indexer.conversations.match(search.terms("发票")))
            assert len(page.items) == min(50, matched)
            seen.append((ready, matched))
            await asyncio.sleep(0)

    await search.start()  # takes the search lease; its first poll is the rebuild
    try:
        while not search.holding:  # noqa: ASYNC110 (the searches must start with the rebuild)
            await asyncio.sleep(0)
        await searching()
    finally:
        await search.stop()
    partial = [n for ready, n in seen if not ready and 0 < n < CONVERSATIONS]
    assert partial, seen[:5]  # answered part way, flagged as indexing
    assert [n for _, n in seen] == sorted(n for _, n in seen)  # only ever grew
    assert seen[-1] == (True, CONVERSATIONS)


async def test_the_fold_cache_keeps_none_of_the_rebuilds_texts(redis: aioredis.Redis, keys: Keys):
    """Its last entries would be message texts scattered over the allocator's arenas."""
    await _seed(redis, keys)
    search = Search(redis, keys)
    try:
        await search.indexer.poll()
    finally:
        search.indexer.close()
    assert fold.cache_info().currsize == 0
