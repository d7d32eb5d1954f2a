"""The gateway's Redis client takes bursts: more commands in flight than its pool has
connections wait for a free one instead of failing."""

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
