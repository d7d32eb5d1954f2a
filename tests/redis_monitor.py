"""Counting what a deployment's Redis is asked, with MONITOR on the real server: each command
a client sends (not those a script runs inside) is named by the test's ``kind`` and counted,
from the moment the watcher is listening until it is stopped. Used where a test must show
that some work sends Redis nothing (the idle router, the event-fed search index)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.tasks import cancel_and_wait

# (the command's verb, upper case; the rest of its text) -> what it counts as, or None.
Kind = Callable[[str, str], str | None]


def monitor_client(redis: Any, key: str) -> Redis:
    """A plain client of the server holding ``key`` (every key of a deployment: one slot)."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(key)
        return Redis(host=node.host, port=node.port, decode_responses=True)
    pool = redis.connection_pool
    return Redis(
        connection_pool=type(pool)(connection_class=pool.connection_class, **pool.connection_kwargs)
    )


class CommandCounter:
    """``counts`` of the commands ``kind`` names, sent to the server holding ``key`` between
    ``start`` and ``stop`` (or inside ``async with``)."""

    def __init__(self, redis: Any, key: str, kind: Kind) -> None:
        self.client = monitor_client(redis, key)
        self.kind = kind
        self.counts: Counter[str] = Counter()
        # Echoed by stop(): when MONITOR shows it, every command sent before it was seen.
        self._marker = "command-counter-" + secrets.token_hex(4)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listening = asyncio.Event()
        self._task = asyncio.create_task(self._watch(listening))
        await asyncio.wait_for(listening.wait(), 5)

    async def _watch(self, listening: asyncio.Event) -> None:
        async with self.client.monitor() as monitor:
            listening.set()
            async for command in monitor.listen():
                text: str = command["command"]
                if self._marker in text:
                    return
                if command.get("client_type") == "lua":
                    continue
                verb, _, rest = text.partition(" ")
                name = self.kind(verb.upper(), rest)
                if name is not None:
                    self.counts[name] += 1

    async def stop(self) -> Counter[str]:
        await self.client.echo(self._marker)
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        finally:
            await cancel_and_wait(self._task)
            await self.client.aclose()
        return self.counts

    async def __aenter__(self) -> CommandCounter:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
