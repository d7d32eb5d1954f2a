"""A subscription whose connection goes half open (a NAT or proxy dropped it, a host gone without
a reset: no answer, no close) is found out by its keepalive PING and subscribed again, both on
the lean path (``Subscriber``) and on redis-py's (``_PubSub``, used for Cluster and Sentinel);
a quiet but healthy one is never given up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.events import _PubSub, subscribe_forever
from gateway.keys import Keys
from gateway.redis_client import RedisClient, connect
from gateway.redis_wire import Keepalive, Subscriber
from gateway.tasks import cancel_and_wait
from tests.conftest import CLUSTER, wait_for
from tests.silent_proxy import SilentProxy

pytestmark = pytest.mark.skipif(CLUSTER, reason="the proxy stands in front of one server")

QUICK = Keepalive(idle=0.4, answer=0.6)


@pytest.fixture
async def proxy(redis_server) -> AsyncIterator[SilentProxy]:
    upstream = redis_server.url.removeprefix("unix://")
    async with SilentProxy(upstream) as proxy:
        yield proxy


@pytest.fixture
async def through_proxy(proxy: SilentProxy) -> AsyncIterator[RedisClient]:
    client = connect(f"redis://127.0.0.1:{proxy.port}")
    yield client
    await client.aclose()


@pytest.mark.parametrize("kind", ["lean", "redis-py"])
async def test_a_half_open_subscription_is_given_up(
    kind: str, through_proxy: RedisClient, redis: RedisClient, keys: Keys, proxy: SilentProxy
) -> None:
    channel = keys.channel_state("keepalive", kind)
    maker = Subscriber if kind == "lean" else _PubSub
    subscription = maker(through_proxy, channel, QUICK)
    await subscription.subscribe()
    try:
        await redis.publish(channel, "before")
        assert await asyncio.wait_for(subscription.next(), 5) == "before"
        # Quiet but answering: several keepalive rounds, then a message still arrives.
        waiting = asyncio.create_task(subscription.next())
        await asyncio.sleep(QUICK.idle * 4)
        assert not waiting.done()
        await redis.publish(channel, "after a quiet while")
        assert await asyncio.wait_for(waiting, 5) == "after a quiet while"

        proxy.silence_open()
        started = asyncio.get_running_loop().time()
        with pytest.raises(RedisConnectionError, match="no answer"):
            await asyncio.wait_for(subscription.next(), 10)
        assert asyncio.get_running_loop().time() - started < QUICK.idle + QUICK.answer + 1
    finally:
        await subscription.close()


async def test_the_events_loop_subscribes_again_and_tells_its_listeners(
    through_proxy: RedisClient, redis: RedisClient, keys: Keys, proxy: SilentProxy
) -> None:
    channel = keys.channel_state("keepalive", "loop")
    received: list[str] = []
    subscribed: list[int] = []
    ready = asyncio.Event()

    async def on_message(text: str) -> None:
        received.append(text)

    loop = asyncio.create_task(
        subscribe_forever(
            through_proxy, channel, on_message, ready, lambda: subscribed.append(1), QUICK
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 5)
        await redis.publish(channel, "one")
        await wait_for(lambda: _is(received == ["one"]), timeout=5)
        proxy.silence_open()
        await redis.publish(channel, "lost in the dead connection")
        await wait_for(lambda: _is(len(subscribed) == 2), timeout=10)
        await redis.publish(channel, "two")
        await wait_for(lambda: _is(received == ["one", "two"]), timeout=5)
    finally:
        await cancel_and_wait(loop)


async def _is(value: bool) -> bool:
    return value
