"""The gateway's Redis client takes bursts: more commands in flight than its pool has
connections wait for a free one instead of failing; and a fresh client runs each of its first
concurrent commands once."""

from __future__ import annotations

import asyncio

import pytest

from gateway.keys import Keys
from gateway.redis_client import connect
from tests.conftest import CLUSTER


@pytest.mark.skipif(
    CLUSTER, reason="redis-py's cluster client cannot wait for a connection: it gets 1000 a node"
)
async def test_a_burst_beyond_the_pool_waits_instead_of_failing(redis_url: str, keys: Keys):
    client = connect(redis_url + ("&" if "?" in redis_url else "?") + "max_connections=20")
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
