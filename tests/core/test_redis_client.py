"""The gateway's Redis client takes bursts: more commands in flight than its pool has
connections wait for a free one instead of failing; a fresh client runs each of its first
concurrent commands once. A hung Redis (its process stopped with SIGSTOP) makes commands fail
as "unavailable" within about a second instead of hanging, without opening a connection per
caller; blocking commands and pub/sub still wait as long as they must."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.keys import Keys
from gateway.redis_client import (
    POOL_CONNECTIONS,
    SOCKET_TIMEOUT_SECONDS,
    RedisClient,
    block_seconds,
    connect,
    reach,
    unavailable,
)
from gateway.redis_server import EmbeddedRedis
from tests.conftest import CLUSTER, embedded_only, with_options

pytestmark = pytest.mark.product_timeouts

# What a caller may wait while Redis hangs: a bound on hanging, not a performance figure.
HUNG_BOUND_SECONDS = 2.0


@pytest.mark.skipif(
    CLUSTER, reason="redis-py's cluster client cannot wait for a connection: it gets 1000 a node"
)
async def test_a_burst_beyond_the_pool_waits_instead_of_failing(redis_url: str, keys: Keys):
    # A generous wait for a connection: this is about waiting, not about how long (the default
    # wait is short so that a hung Redis answers 503 soon: see the tests below).
    client = connect(with_options(redis_url, "max_connections=20&timeout=10"))
    try:
        # Each BLPOP holds its connection until it times out: 60 at once need 3 rounds of 20.
        names = [keys.channel_state("burst", str(i)) for i in range(60)]
        results = await asyncio.gather(*(client.blpop([name], timeout=0.2) for name in names))
        assert results == [None] * 60
    finally:
        await client.aclose()


async def test_concurrent_first_commands_of_a_fresh_client_each_run_once(
    redis_url: str, keys: Keys
):
    """Several processes taking one lease at start: exactly one SET NX succeeds, and it is the
    one whose value is stored. (redis-py's cluster client, used before it has learnt the slot
    map, could run a command twice and answer None to the caller that set the key: seen about
    once in 50 fresh clients, hence the 100 rounds.)"""
    for round_ in range(100):
        client = connect(redis_url)
        try:
            key = keys.lease(f"first-use:{round_}")
            results = await asyncio.gather(
                *(client.set(key, str(i), nx=True, px=60_000) for i in range(6))
            )
            winners = [i for i, ok in enumerate(results) if ok]
            assert len(winners) == 1, f"round {round_}: SET NX answers {results}"
            assert await client.get(key) == str(winners[0])
        finally:
            await client.aclose()


@contextlib.contextmanager
def frozen(server: EmbeddedRedis) -> Iterator[None]:
    """Redis hangs: its process is stopped (connections stay open, nothing is answered)."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "frozen")
    server.start()
    yield server
    server.stop()


async def refusal(call: Any) -> tuple[BaseException | None, float]:
    """(the error ``call`` raised, or None, and how long it took); never waits more than 15 s."""
    start = time.monotonic()
    try:
        await asyncio.wait_for(call, 15)
    except Exception as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


@embedded_only
async def test_a_hung_redis_fails_commands_as_unavailable_within_the_bound(
    own_redis: EmbeddedRedis,
):
    """A command on a pooled connection, a pipeline (the group commit's) and a fresh client's
    first command (a new connection) each fail as "unavailable" (503) instead of waiting for
    Redis to come back; afterwards the same client works again."""
    client, fresh = connect(own_redis.url), connect(own_redis.url)
    try:
        await client.set("k", "v")
        with frozen(own_redis):
            pipe = client.pipeline(transaction=False)
            pipe.set("k", "w").get("k")
            for what, call in [
                ("command", client.get("k")),
                ("pipeline", pipe.execute()),
                ("new connection", fresh.get("k")),
            ]:
                exc, took = await refusal(call)
                assert exc is not None and unavailable(exc), f"{what}: {exc!r}"
                assert took < HUNG_BOUND_SECONDS, f"{what}: failed after {took:.1f}s"
        assert await client.get("k") in ("v", "w")  # the pipeline may have run after all
        assert await fresh.ping()
    finally:
        await client.aclose()
        await fresh.aclose()


async def connections_received(client: RedisClient) -> int:
    return int((await client.info("stats"))["total_connections_received"])


@embedded_only
async def test_a_hung_redis_does_not_grow_the_pool(own_redis: EmbeddedRedis):
    """More callers than the pool has connections while Redis hangs: the pool opens no more
    than its limit, the callers beyond it wait a bounded time for a connection and fail as
    unavailable ("No connection available."), nobody waits past the bound."""
    client, probe = connect(own_redis.url), connect(own_redis.url)
    try:
        await client.ping()
        before = await connections_received(probe)
        callers = POOL_CONNECTIONS + 50
        with frozen(own_redis):
            results = await asyncio.gather(*(refusal(client.get("k")) for _ in range(callers)))
        errors = [exc for exc, _took in results]
        assert all(exc is not None and unavailable(exc) for exc in errors), {
            repr(e) for e in errors if e is None or not unavailable(e)
        }
        slowest = max(took for _exc, took in results)
        assert slowest < HUNG_BOUND_SECONDS, f"a caller waited {slowest:.1f}s"
        assert any("No connection available" in str(e) for e in errors)
        # Connections opened while Redis hung reach it once it runs again; the probe's own
        # connection is still open, so the client's are all that is counted.
        opened = await connections_received(probe) - before
        assert opened <= POOL_CONNECTIONS, f"{opened} connections for {callers} callers"
    finally:
        await client.aclose()
        await probe.aclose()


async def test_blocking_commands_wait_longer_than_the_socket_timeout(
    redis: RedisClient, keys: Keys
):
    """The outbox's XREADGROUP BLOCK and a BLPOP may block for longer than the socket timeout:
    they answer "nothing" when their block time ends, not a timeout error."""
    block = SOCKET_TIMEOUT_SECONDS + 0.5
    stream = keys.channel_state("blocking", "stream")
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    start = time.monotonic()
    assert not await redis.xreadgroup("g", "c", {stream: ">"}, count=1, block=int(block * 1000))
    assert await redis.blpop([keys.channel_state("blocking", "list")], timeout=block) is None
    assert time.monotonic() - start >= 2 * block - 0.2


def test_block_seconds_reads_the_block_time_of_blocking_commands():
    assert block_seconds(("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "BLOCK", 1500,
                          "STREAMS", "s", ">")) == 1.5  # fmt: skip
    assert block_seconds(("XREAD", "STREAMS", "BLOCK", "0")) == 0.0  # a stream named BLOCK
    assert block_seconds((b"BLPOP", b"a", b"b", b"0.25")) == 0.25
    assert block_seconds(("BZMPOP", "0", 1, "z", "MIN")) == float("inf")
    assert block_seconds(("GET", "k")) == block_seconds(()) == 0.0


@pytest.fixture
async def subscriber(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url, health_check_interval=30)  # as the app's
    yield client
    await client.aclose()


async def test_a_subscription_idles_longer_than_the_socket_timeout(
    subscriber: RedisClient, redis: RedisClient, keys: Keys
):
    """A pub/sub connection waits for messages as long as none comes (gateway/events.py reads
    it with ``listen()``): a quiet minute is not a timeout."""
    channel = keys.channel_state("quiet", "fanout")
    await reach(subscriber, channel)
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)

    async def first_message() -> str:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                return str(message["data"])
        raise AssertionError("the subscription ended")

    try:
        listening = asyncio.create_task(first_message())
        await asyncio.sleep(SOCKET_TIMEOUT_SECONDS + 1.0)
        assert not listening.done(), listening
        await redis.publish(channel, "after the quiet")
        assert await asyncio.wait_for(listening, 5) == "after the quiet"
    finally:
        await pubsub.aclose()
