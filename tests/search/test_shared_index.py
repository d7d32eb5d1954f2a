"""One search index per deployment (issue 21): the process holding the search lease indexes
and answers; the others hand their searches over through Redis. A stopped holder hands the
index over; a holder that lost its lease stops indexing and drops what it built; a search
asked while nobody holds the lease waits for the next holder, and gets a clear 503 when none
answers in time."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from gateway.keys import Keys
from tests.conftest import MakeGateway, wait_for
from tests.search.helpers import (
    assigned_to,
    found,
    holder_and_other,
    ids,
    ready,
    say,
    search,
)


async def test_the_holder_answers_for_the_other_with_its_viewers_rights(
    make_gateway: MakeGateway,
):
    """An agent searching through the process without the index sees what the agent may
    open, not what the holder would show its admin: the viewer travels with the request."""
    _holder, other = await holder_and_other(make_gateway)
    channel = await other.api_channel()
    ann, ann_token = await other.agent_online("ann-v@example.com")
    mine = await say(other, channel, "v-1", "发票 丢失 第一位")
    await assigned_to(other, ann_token, ann, mine)
    # Away: Ann keeps hers (an agent gone offline would give a waiting customer back) and
    # is offered nothing new.
    await other.call("PUT", "/api/v1/agents/me/status", ann_token, {"status": "away"})
    _, bob_token = await other.create_user("bob-v@example.com")
    free = await say(other, channel, "v-2", "发票 丢失 第二位")
    await found(other, free, q="发票 丢失")
    assert set(ids(await search(other, ann_token, q="发票 丢失"))) == {mine, free}
    assert ids(await search(other, bob_token, q="发票 丢失")) == [free]
    contact = (await other.call("GET", f"/api/v1/conversations/{mine}"))["contact"]["id"]
    await found(other, contact, q="v-1", kind="customers")  # read by a poll after the event
    answer = await search(other, bob_token, q="v-1", kind="customers")
    assert [c["latest_conversation_id"] for c in answer["customers"]] == [None]
    assert answer["indexing"] is False
    assert len(other.gw.search.indexer.conversations) == 0  # it indexed nothing itself


async def test_a_stopped_holder_hands_the_index_over(make_gateway: MakeGateway):
    first = await make_gateway()
    await ready(first)
    second = await make_gateway()
    channel = await second.api_channel()
    conv = await say(second, channel, "h-1", "退款 申请 单号 5531")
    await found(second, conv, q="5531")
    assert first.gw.search.holding
    await first.client.close()  # releases the lease on its way out
    started = time.monotonic()
    await ready(second)
    assert second.gw.search.holding
    assert time.monotonic() - started < 5.0  # the next try at the lease (1 s) and a build
    assert ids(await search(second, q="退款 5531")) == [conv]


async def test_a_holder_that_lost_its_lease_stops_and_drops_its_index(
    make_gateway: MakeGateway, redis: Redis, keys: Keys
):
    """The lease taken from under the holder (a freeze longer than its TTL, as another
    process sees it): it stops indexing and answering at its next renewal and frees what it
    built; taking the lease back, it builds the index again from Redis."""
    h = await make_gateway()
    await ready(h)
    channel = await h.api_channel()
    conv = await say(h, channel, "l-1", "地址 修改 8812")
    await found(h, conv, q="8812")
    index = h.gw.search.indexer
    assert await redis.set(keys.lease("search"), "another-process", px=3_000, xx=True)

    async def dropped() -> bool:
        return not h.gw.search.holding

    await wait_for(dropped, timeout=5)
    assert h.gw.search.indexer is not index and len(h.gw.search.indexer.conversations) == 0
    await ready(h)  # the other "process" never renewed: the lease came back, the index too
    assert h.gw.search.holding
    assert ids(await search(h, q="地址 8812")) == [conv]


async def test_a_search_waits_for_the_next_holder(make_gateway: MakeGateway, redis, keys):
    """A process died holding the lease (its key not expired yet): a search asked meanwhile
    waits in Redis and is answered by the next holder once the old lease runs out."""
    await redis.set(keys.lease("search"), "dead-process", px=60_000)
    h = await make_gateway()
    asking = asyncio.create_task(search(h, q="anything"))
    await asyncio.sleep(0.5)
    assert not asking.done() and not h.gw.search.holding  # waiting in Redis
    await redis.pexpire(keys.lease("search"), 300)  # the dead holder's lease runs out
    answer = await asking  # within its 5 s: the lease is tried every second
    assert h.gw.search.holding and answer["conversations"] == []


async def test_no_holder_in_time_is_a_clear_503(make_gateway: MakeGateway, redis, keys):
    await redis.set(keys.lease("search"), "stuck-process", px=60_000)
    h = await make_gateway()
    h.gw.search.desk.ask_seconds = 0.5
    started = time.monotonic()
    resp = await h.client.get("/api/v1/search?q=anything", headers=h.auth(h.admin_token))
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "2"
    body = await resp.json()
    assert body["error"]["code"] == "search_unavailable", body
    assert time.monotonic() - started < 4.0  # its 0.5 s wait, not the default 5 s
    # The asker took its request back when it gave up: the next holder has nothing to answer
    # that nobody would read (no deadline compared between two hosts' clocks decides it).
    assert await redis.llen(keys.search_requests()) == 0
    await redis.delete(keys.lease("search"))

    async def holding() -> bool:
        return h.gw.search.holding

    await wait_for(holding, timeout=5)
    await asyncio.sleep(1.5)  # the holder's BLPOP has come round at least once
    assert [k async for k in redis.scan_iter(keys.search_reply("*"))] == []
    assert (await search(h, q="anything"))["conversations"] == []  # and it answers now


async def test_searches_waiting_for_a_holder_hold_few_connections(own_redis_gateway):
    """With no process answering (the lease stuck with a dead holder), 30 searches at once
    wait on at most 8 Redis connections (ASKING), all answer 503 within the wait, and a
    webhook is accepted meanwhile: the searches do not starve the connection pool. On an
    embedded Redis of its own, so that CLIENT LIST shows this gateway's clients only."""
    h = own_redis_gateway.harness
    redis, keys = h.gw.redis, h.gw.keys
    await ready(h)
    assert await redis.set(keys.lease("search"), "dead-process", px=60_000)

    async def dropped() -> bool:
        return not h.gw.search.holding

    await wait_for(dropped, timeout=5)
    h.gw.search.desk.ask_seconds = 1.5
    started = time.monotonic()
    headers = h.auth(h.admin_token)
    asks = [
        asyncio.create_task(h.client.get(f"/api/v1/search?q=x{i}", headers=headers))
        for i in range(30)
    ]
    blocked: list[int] = []  # BLPOPs seen at each look while the searches wait

    async def look() -> None:
        while not all(task.done() for task in asks):
            clients = await redis.client_list()
            blocked.append(sum(1 for c in clients if c.get("cmd") == "blpop"))
            await asyncio.sleep(0.05)

    looking = asyncio.create_task(look())
    channel = await h.api_channel()
    await say(h, channel, "during", "搜索 等待 期间 的 消息")
    answers = await asyncio.gather(*asks)
    await looking
    assert [r.status for r in answers] == [503] * 30
    assert 1 <= max(blocked) <= 8, blocked
    assert time.monotonic() - started < 6.0  # each waited its 1.5 s at most, not in turn
