"""Realtime fan-out over Redis pub/sub to every gateway process.

Pub/sub may lose a message (a process restarting); that never loses data, because clients
re-sync from the message log by seq. Each event names its audience: user ids and roles.

A running bus hands the events it publishes to its own listeners at once, without a round trip
through Redis; the other processes get them through pub/sub. The events a bus publishes in one
group commit travel as one PUBLISH: ``<origin> [event, ...]``, where ``origin`` names the bus,
so it skips its own without decoding them. A bare JSON event (``{...}``) is accepted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.batching import CommandBatcher
from gateway.failurelog import FailureLog
from gateway.keys import Keys
from gateway.redis_client import reach
from gateway.redis_wire import KEEPALIVE, Keepalive, Silence, Subscriber, usable
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], Awaitable[None]]


class Encoded(dict[str, Any]):
    """A dict whose JSON text its maker already has (the inbox's stored message, encoded once
    for the log): an event holding it as ``data["message"]`` is published with that text
    spliced in instead of encoding the dict again. Any change drops the text."""

    __slots__ = ("json",)

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.json: str | None = text

    def _changed(self) -> None:
        self.json = None

    def __setitem__(self, key: str, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._changed()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Encoded:  # type: ignore[override,misc]
        self._changed()
        return super().__ior__(other)  # type: ignore[return-value]

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._changed()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._changed()
        super().clear()


# Stands for an Encoded message in the event's JSON until its text replaces it (a string no
# event's other fields hold: ids, types and roles only).
_SPLICE = "\x00" + secrets.token_hex(8)
_SPLICED = json.dumps(_SPLICE)


def encode_event(event: dict[str, Any]) -> str:
    """An event's JSON text; an Encoded message's own text is used as it is."""
    data = event.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, Encoded) or message.json is None:
        return json.dumps(event, ensure_ascii=False)
    assert isinstance(data, dict)
    text = json.dumps({**event, "data": {**data, "message": _SPLICE}}, ensure_ascii=False)
    return text.replace(_SPLICED, message.json, 1)


# Events waiting for the listeners of a bus; beyond this its own events are dropped (with a
# warning) rather than held without bound while a listener is stuck: clients re-sync by seq.
MAX_WAITING = 10_000


class EventBus:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.channel = keys.events_channel()
        self.origin = secrets.token_hex(8)  # names this bus in what it publishes
        self._own = self.origin + " "
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._waiting: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_WAITING)
        self._dropped_at = 0.0
        self._ready = asyncio.Event()
        self._subscribed: list[Callable[[], None]] = []
        self.batcher: CommandBatcher | None = None

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_subscribed(self, callback: Callable[[], None]) -> None:
        """``callback()`` at every (re)subscription: other processes' events published while
        the subscription was down never arrive."""
        self._subscribed.append(callback)

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        users: list[str] | None = None,
        roles: list[str] | None = None,
        *,
        local: bool = True,
    ) -> None:
        """To every process's listeners; ``local=False``: not to this bus's own."""
        event = {
            "type": event_type,
            "data": data,
            "audience": {"users": [u for u in users or [] if u], "roles": roles or []},
        }
        text = encode_event(event)
        if local and self._dispatcher is not None:
            self._hand_over(event)
        if self.batcher is not None:  # one PUBLISH per group commit, with the inbox's scripts
            await self.batcher.merged(self.channel, text, self._envelope)
        else:
            await self.redis.publish(self.channel, self._envelope([text])[2])

    def _envelope(self, texts: list[str]) -> tuple[Any, ...]:
        return ("PUBLISH", self.channel, f"{self.origin} [{', '.join(texts)}]")

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch_waiting(), name="events-dispatch")
        self._task = asyncio.create_task(self._run(), name="events")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._dispatcher)
        self._dispatcher = None

    async def _run(self) -> None:
        await subscribe_forever(
            self.redis, self.channel, self._receive, self._ready, self._tell_subscribed
        )

    def _tell_subscribed(self) -> None:
        for callback in self._subscribed:
            callback()

    async def _receive(self, data: str) -> None:
        """A pub/sub message: another bus's events (ours were handed over when published)."""
        if data.startswith(self._own):
            return
        try:
            if data.startswith("{"):
                events = [json.loads(data)]
            else:
                events = json.loads(data.partition(" ")[2])
        except (TypeError, ValueError):
            return
        for event in events if isinstance(events, list) else ():
            if isinstance(event, dict):
                await self._waiting.put(event)  # a stuck listener holds pub/sub reads back

    def _hand_over(self, event: dict[str, Any]) -> None:
        try:
            self._waiting.put_nowait(event)
        except asyncio.QueueFull:
            now = time.monotonic()
            if now - self._dropped_at > 10:
                self._dropped_at = now
                log.warning("event listeners are behind by %d events; dropping", MAX_WAITING)

    async def _dispatch_waiting(self) -> None:
        """The listeners get every event in turn, in the order received."""
        while True:
            event = await self._waiting.get()
            for listener in self._listeners:
                try:
                    await listener(event)
                except Exception:
                    log.exception("event listener failed on %s", event.get("type"))


async def subscribe_forever(
    redis: Redis,
    channel: str,
    on_message: Callable[[str], Awaitable[None]],
    ready: asyncio.Event,
    on_subscribed: Callable[[], None] | None = None,
    keepalive: Keepalive = KEEPALIVE,
) -> None:
    """Hand every message of a pub/sub channel to ``on_message``; resubscribe after a lost
    connection (what was published meanwhile is lost: clients re-sync by seq). Runs until
    cancelled; ``ready`` is set once subscribed, and ``on_subscribed`` called at every
    (re)subscription, for a listener that must look again at what it may have missed. A
    subscription silent for ``keepalive.idle`` seconds is pinged and, unanswered, given up.

    On Redis Cluster the subscription is held on the node serving the channel's hash slot (the
    deployment's): classic PUBLISH reaches every node, and after a failover the loop finds the
    slot's new node."""
    failures = FailureLog(log, f"subscription to {channel}")
    while True:
        subscription = (
            Subscriber(redis, channel, keepalive)
            if usable(redis)
            else _PubSub(redis, channel, keepalive)
        )
        try:
            await reach(redis, channel)
            await subscription.subscribe()
            failures.worked()
            ready.set()
            if on_subscribed is not None:
                on_subscribed()
            while True:
                await on_message(await subscription.next())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # lost: subscribe again (listeners are told to look again)
            failures.failed(exc)
            await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()


class _PubSub:
    """redis-py's subscription, for a cluster or a Sentinel (gateway/redis_wire.py)."""

    def __init__(self, redis: Redis, channel: str, keepalive: Keepalive) -> None:
        self.channel = channel
        self.keepalive = keepalive
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)

    async def subscribe(self) -> None:
        await self.pubsub.subscribe(self.channel)

    async def next(self) -> str:
        silence = Silence(self.keepalive)
        while True:
            if silence.due(f"the node holding {self.channel}"):
                await self.pubsub.ping()
            # None: nothing within the wait, or a reply redis-py keeps to itself.
            message = await self.pubsub.get_message(timeout=silence.wait())
            if message is None:
                continue
            silence.heard()
            if message.get("type") == "message":
                return str(message["data"])

    async def close(self) -> None:
        await self.pubsub.aclose()
