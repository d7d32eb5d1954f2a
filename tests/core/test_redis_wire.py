"""The group commit's own connection answers like redis-py's pipeline, and a batch cut off
(timed out, cancelled, or the server gone) never leaves its replies for the next batch; the
events' own subscription connection reads every message and fails at once when cut."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.batching import CommandBatcher
from gateway.events import subscribe_forever
from gateway.keys import Keys
from gateway.redis_client import RedisClient, connect
from gateway.redis_wire import Subscriber, Wire, usable
from gateway.tasks import cancel_and_wait
from tests.conftest import CLUSTER, wait_for

pytestmark = [
    pytest.mark.skipif(
        CLUSTER,
        reason="a cluster client keeps redis-py's cluster pipeline (tested in test_batching)",
    ),
    pytest.mark.product_timeouts,
]

# Holds Redis itself (not just this connection) for about 1.2 s: longer than the client's
# 0.75 s socket timeout.
BUSY = """
local start = redis.call('TIME')
local t0 = start[1] * 1000000 + start[2]
repeat
  local now = redis.call('TIME')
until now[1] * 1000000 + now[2] - t0 > tonumber(ARGV[1])
return 'done'
"""


def _commands(keys: Keys, sha: str) -> list[tuple[object, ...]]:
    h, s, z = (keys.channel_state("wire", name) for name in "hsz")
    return [
        ("HSET", h, "name", "张三", "n", 3),
        ("HGETALL", h),
        ("HMGET", h, "name", "missing"),
        ("SET", s, "v", "PX", 60000),
        ("GET", s),
        ("STRLEN", s),  # an integer reply (not PTTL: a millisecond may pass between runs)
        ("ZADD", z, 1.5, "a"),
        ("ZRANGEBYSCORE", z, "-inf", "+inf"),
        ("HINCRBY", s, "f", 1),  # wrong type: an error reply in its place
        ("EVALSHA", sha, 1, h, "x"),
        ("EVALSHA", "0" * 40, 0),  # unknown script
        ("PUBLISH", keys.channel_state("wire", "events"), "hello"),
    ]


async def test_replies_are_the_pipelines(redis: RedisClient, keys: Keys) -> None:
    assert usable(redis)
    sha = await redis.script_load("return {KEYS[1], ARGV[1], redis.call('HGET', KEYS[1], 'name')}")
    wire = Wire(redis)
    ours = await wire.send(_commands(keys, sha))
    await redis.delete(*(keys.channel_state("wire", x) for x in "hsz"))
    pipe = redis.pipeline(transaction=False)
    for command in _commands(keys, sha):
        pipe.execute_command(*command)
    theirs = await pipe.execute(raise_on_error=False)
    assert len(ours) == len(theirs) == 12
    for mine, pipeline in zip(ours, theirs, strict=True):
        if isinstance(pipeline, Exception):
            assert type(mine) is type(pipeline) and str(mine) == str(pipeline)
        else:
            assert mine == pipeline
    assert ours[1] == {"name": "张三", "n": "3"}  # the reply callbacks ran (a dict)
    assert isinstance(ours[8], ResponseError) and isinstance(ours[10], NoScriptError)
    await wire.close()


async def test_a_command_that_cannot_be_encoded_fails_alone(redis: RedisClient, keys: Keys) -> None:
    wire = Wire(redis)
    key = keys.channel_state("wire", "enc")
    replies = await wire.send([("SET", key, "1"), ("SET", key, None), ("GET", key)])
    assert replies[0] is True and replies[2] == "1"
    assert isinstance(replies[1], DataError) and "SET" in str(replies[1])
    await wire.close()


async def test_a_timed_out_batch_leaves_no_reply_for_the_next(
    redis: RedisClient, keys: Keys
) -> None:
    busy = await redis.script_load(BUSY)
    wire = Wire(redis)
    key = keys.channel_state("wire", "t")
    with pytest.raises(RedisTimeoutError):
        await wire.send([("EVALSHA", busy, 0, 1_200_000)])
    # The script's late 'done' must not answer this batch.
    assert await wire.send([("SET", key, "after"), ("GET", key)]) == [True, "after"]
    await wire.close()


async def test_a_blocking_command_gets_its_block_time(redis: RedisClient, keys: Keys) -> None:
    wire = Wire(redis)
    # 1 s of block is longer than the 0.75 s socket timeout, and not a failure.
    assert await wire.send([("BLPOP", keys.channel_state("wire", "empty"), 1)]) == [None]
    await wire.close()


async def test_a_cancelled_batch_leaves_no_reply_for_the_next(
    redis: RedisClient, keys: Keys
) -> None:
    busy = await redis.script_load(BUSY)
    wire = Wire(redis)
    task = asyncio.create_task(wire.send([("EVALSHA", busy, 0, 300_000)]))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wire.send([("ECHO", "mine")]) == ["mine"]
    await wire.close()


async def test_a_connection_the_server_closed_is_replaced_before_sending(
    redis: RedisClient, keys: Keys
) -> None:
    wire = Wire(redis)
    [client_id] = await wire.send([("CLIENT", "ID")])
    assert await redis.execute_command("CLIENT", "KILL", "ID", client_id) == 1
    await asyncio.sleep(0.1)  # the loop sees the connection's end
    assert await wire.send([("ECHO", "again")]) == ["again"]
    [new_id] = await wire.send([("CLIENT", "ID")])
    assert new_id != client_id
    await wire.close()


async def test_batcher_uses_it_and_fails_a_batch_when_redis_is_gone(
    redis: RedisClient, keys: Keys
) -> None:
    batcher = CommandBatcher(redis)
    assert batcher._wire is not None  # one server: the lean path, not redis-py's pipeline
    key = keys.channel_state("wire", "b")
    results = await asyncio.gather(*(batcher.command("INCR", key) for _ in range(20)))
    assert sorted(results) == list(range(1, 21)) and batcher.pipelines_sent < 20
    await batcher.close()

    nowhere = connect("redis://127.0.0.1:1")  # nothing listens there
    batcher = CommandBatcher(nowhere)
    results = await asyncio.gather(
        batcher.command("PING"), batcher.command("PING"), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    await batcher.close()
    await nowhere.aclose()


async def test_a_subscriber_reads_the_channels_messages_in_order(
    redis: RedisClient, keys: Keys
) -> None:
    """Messages, non-ASCII ones too, arrive as published, each once; nothing published to
    another channel does. Closed, the subscribed connection is not handed to a command."""
    channel = keys.channel_state("wire", "sub")
    subscriber = Subscriber(redis, channel)
    await subscriber.subscribe()
    try:
        sent = ["first", "第二条 消息", '{"a": [1, 2]}', ""]
        await redis.publish(keys.channel_state("wire", "elsewhere"), "not ours")
        for text in sent:
            assert await redis.publish(channel, text) == 1
        assert [await asyncio.wait_for(subscriber.next(), 2) for _ in sent] == sent
        waiting = asyncio.create_task(subscriber.next())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing more: it waits, it does not invent
        await redis.publish(channel, "last")
        assert await asyncio.wait_for(waiting, 2) == "last"
    finally:
        await subscriber.close()
    assert await redis.publish(channel, "after") == 0  # unsubscribed with its connection
    assert await redis.set(keys.channel_state("wire", "after"), "1")  # the pool still serves


async def test_a_killed_subscription_fails_at_once_and_is_made_again(
    redis: RedisClient, keys: Keys
) -> None:
    """CLIENT KILL TYPE pubsub (a Redis restart, a proxy cutting idle links): the waiting
    read fails with a connection error, never waits for ever; the events' loop subscribes
    again, tells its listeners to look again, and receives what comes after."""
    channel = keys.channel_state("wire", "kill")
    subscriber = Subscriber(redis, channel)
    await subscriber.subscribe()
    waiting = asyncio.create_task(subscriber.next())
    await asyncio.sleep(0.1)
    await redis.execute_command("CLIENT KILL", "TYPE", "pubsub")
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(waiting, 2)
    await subscriber.close()

    received: list[str] = []
    subscribed: list[int] = []
    ready = asyncio.Event()

    async def on_message(text: str) -> None:
        received.append(text)

    loop = asyncio.create_task(
        subscribe_forever(redis, channel, on_message, ready, lambda: subscribed.append(1))
    )
    try:
        await asyncio.wait_for(ready.wait(), 5)
        await redis.publish(channel, "one")
        await redis.execute_command("CLIENT KILL", "TYPE", "pubsub")

        async def again() -> bool:
            return len(subscribed) == 2

        await wait_for(again, timeout=5)
        await redis.publish(channel, "two")

        async def both() -> bool:
            return received == ["one", "two"]

        await wait_for(both, timeout=5)
    finally:
        await cancel_and_wait(loop)
