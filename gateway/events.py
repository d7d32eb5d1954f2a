"""Realtime fan-out over Redis pub/sub to every gateway process.

Pub/sub may lose a message (a process restarting); that never loses data, because clients
re-sync from the message log by seq. Each event names its audience: user ids and roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.batching import CommandBatcher
from gateway.keys import Keys
from gateway.redis_client import reach
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], Awaitable[None]]


class EventBus:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.channel = keys.events_channel()
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.batcher: CommandBatcher | None = None

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        users: list[str] | None = None,
        roles: list[str] | None = None,
    ) -> None:
        event = {
            "type": event_type,
            "data": data,
            "audience": {"users": [u for u in users or [] if u], "roles": roles or []},
        }
        payload = json.dumps(event, ensure_ascii=False)
        if self.batcher is not None:  # shares pipelines with the inbox under load
            await self.batcher.command("PUBLISH", self.channel, payload)
        else:
            await self.redis.publish(self.channel, payload)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        await subscribe_forever(self.redis, self.channel, self._dispatch, self._ready)

    async def _dispatch(self, data: str) -> None:
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            return
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.get("type"))


async def subscribe_forever(
    redis: Redis, channel: str, on_message: Callable[[str], Awaitable[None]], ready: asyncio.Event
) -> None:
    """Hand every message of a pub/sub channel to ``on_message``; resubscribe after a lost
    connection (what was published meanwhile is lost: clients re-sync by seq). Runs until
    cancelled; ``ready`` is set once subscribed.

    On Redis Cluster the subscription is held on the node serving the channel's hash slot (the
    deployment's): classic PUBLISH reaches every node, and after a failover the loop finds the
    slot's new node."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await reach(redis, channel)
            await pubsub.subscribe(channel)
            ready.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await on_message(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("subscription to %s lost; resubscribing", channel, exc_info=True)
            await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
