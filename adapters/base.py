"""The adapter contract: what every channel implements, and what it is given.

An adapter knows nothing of routing. It gets an ``AdapterContext`` with a ``deliver`` callback
(verify, parse, normalize, ``await ctx.deliver(msg)``, answer) and implements ``send``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel
from redis.asyncio import Redis

from gateway.batching import CommandBatcher
from gateway.keys import Keys
from gateway.models import Channel, InboundMessage, OutboundMessage
from gateway.secretbox import SecretBox

log = logging.getLogger(__name__)

# Meta flags an adapter may put on a delivered message for the core (not stored with it).
# A social mention that starts a spike lists the conversations of the mentions of its bucket
# delivered before the spike was known, which its incident takes too.
SPIKE_EARLIER = "spike_earlier"


class SendError(Exception):
    """A send that failed. ``permanent`` errors are not retried and are shown to the agent."""

    permanent: bool = False

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentSendError(SendError):
    permanent = True


class TransientSendError(SendError):
    permanent = False


async def read_capped_body(request: web.Request, limit: int) -> bytes:
    """A webhook's body, refused with 413 past ``limit`` without reading the rest."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


class VerifyError(Exception):
    """Credentials rejected by the platform when an admin registers or verifies a channel."""


@dataclass(frozen=True)
class IngestResult:
    conversation_id: str
    seq: int
    duplicate: bool
    new_conversation: bool
    contact_id: str


class SendParts:
    """Which parts of one reply the platform accepted, for a reply sent as several platform
    messages (WeChat: the text cut at 2,048 bytes, then each image).

    Each accepted part is written to Redis at once (the process may die before the next), so a
    retry, after a temporary error, a restart or an agent's retry, resumes at the first part not
    accepted: the customer never reads a part twice, and WeChat's 5 replies per customer message
    are not spent on repeats. The adapter numbers its parts 1..total the same way on every
    attempt; the outbox reads the record to tell the agent what arrived, and drops it once the
    reply is sent. A part accepted just before a crash, unrecorded, is still sent again.
    """

    def __init__(self, redis: Redis, key: str, total: int, accepted: dict[int, str]) -> None:
        self.redis = redis
        self.key = key
        self.total = total
        self.accepted = accepted  # part number -> the platform's id for it ("" if none)

    @classmethod
    async def load(cls, redis: Redis, key: str) -> SendParts | None:
        """The record under ``key``; None when no part was ever planned."""
        return cls._decode(redis, key, await redis.hgetall(key))

    @classmethod
    def _decode(cls, redis: Redis, key: str, raw: dict[Any, Any]) -> SendParts | None:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if "total" not in fields:
            return None
        accepted = {int(k): v for k, v in fields.items() if k.isdigit()}
        return cls(redis, key, int(fields["total"]), accepted)

    def is_done(self, n: int) -> bool:
        return n in self.accepted

    async def done(self, n: int, platform_id: str = "") -> None:
        """Part ``n`` was accepted: recorded before the next part is sent."""
        await self.redis.hset(self.key, str(n), platform_id)
        self.accepted[n] = platform_id

    def last_id(self) -> str:
        """The platform's id of the last accepted part ("" when none)."""
        return self.accepted[max(self.accepted)] if self.accepted else ""

    def progress(self) -> str | None:
        """What reached the customer, once some parts did but not all: "parts 1-2 of 4
        delivered; part 3" (the outbox adds the error of part 3). Else None."""
        missing = [n for n in range(1, self.total + 1) if n not in self.accepted]
        done = sorted(n for n in self.accepted if 1 <= n <= self.total)
        if not done or not missing:
            return None
        runs: list[list[int]] = []  # [first, last] of each run of consecutive parts
        for n in done:
            if runs and runs[-1][1] == n - 1:
                runs[-1][1] = n
            else:
                runs.append([n, n])
        listed = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
        noun = "part" if len(done) == 1 else "parts"
        return f"{noun} {listed} of {self.total} delivered; part {missing[0]}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


Deliver = Callable[[InboundMessage], Awaitable[IngestResult]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class AdapterRoute:
    method: str  # "GET", "POST", "*"
    path: str  # relative to /channels/{channel_id}, e.g. "/messages"
    handler: Handler


@dataclass
class AdapterContext:
    channel_id: str
    config: BaseModel  # the adapter's validated Config, secrets decrypted
    deliver: Deliver
    redis: Redis
    keys: Keys
    http: aiohttp.ClientSession
    public_url: str  # where platforms reach this gateway, e.g. https://cs.example.com
    data_dir: str
    # Posts a system reply (greeting, offline notice) through the outbox.
    # Arguments: conversation id, text.
    send_system: Callable[[str, str], Awaitable[None]] | None = None
    # Marks one outbound message failed (e.g. an email bounce): message id, reason.
    mark_failed: Callable[[str, str], Awaitable[None]] | None = None
    # Stores downloaded media (bytes, file name, content type) and returns the URL agents use.
    store_media: Callable[[bytes, str, str | None], Awaitable[str]] | None = None
    # The bytes behind a URL store_media returned (an agent's upload); None when not stored here.
    load_media: Callable[[str], Awaitable[bytes | None]] | None = None
    # Resolves the open conversation of a thread (e.g. WeChat unsubscribe): thread key, reason.
    close_thread: Callable[[str, str], Awaitable[None]] | None = None
    # Raises a mention-spike alert (social): supervisors' WebSocket, console banner, webhook.
    on_spike: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    # Reports adapter health to /metrics: figure name ("poll_lag" seconds behind the platform,
    # "poll_ok" epoch seconds of the last good poll, "token_error" count), value.
    health: Callable[[str, float], None] | None = None
    # Seals state an adapter keeps in Redis that is as secret as its credentials (a rotating
    # OAuth 2.0 refresh token), with the key that seals the channel's config.
    box: SecretBox | None = None
    # The gateway's group commit (gateway/batching.py), used by ``commands``.
    batch: CommandBatcher | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def commands(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one round trip, their answers in order (the first error is
        raised): with the others of this loop turn when the gateway gave its group commit, so
        a burst of replies shares pipelines instead of taking a pooled connection each."""
        if self.batch is not None:
            return await self.batch.commands(*commands)
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()

    def report_health(self, name: str, value: float) -> None:
        if self.health is not None:
            self.health(name, value)

    def state_key(self, name: str) -> str:
        return self.keys.channel_state(self.channel_id, name)

    async def parts(self, message_id: str, total: int) -> SendParts:
        """The part record of one outbound message (``OutboundMessage.message_id``), for an
        adapter that sends it as ``total`` platform messages: skip the parts ``is_done``, call
        ``done`` as each is accepted."""
        conversation_id, _, seq = message_id.rpartition(":")
        key = self.keys.send_parts(conversation_id, seq)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.hset(key, "total", total)
        raw, _ = await pipe.execute()
        found = SendParts._decode(self.redis, key, raw)
        if found is None:
            return SendParts(self.redis, key, total, {})
        if found.total != total:  # the text was cut differently (e.g. public_url changed)
            log.warning("%s: now %d parts, %d before", message_id, total, found.total)
        found.total = total
        return found

    def public_link(self, url: str) -> str:
        """A link a customer can open: the gateway's own paths (``/media/...``) made absolute."""
        return self.public_url.rstrip("/") + url if url.startswith("/") else url

    @property
    def webhook_base(self) -> str:
        return f"{self.public_url.rstrip('/')}/channels/{self.channel_id}"


class Adapter:
    """Base class of every channel adapter. Limits are class attributes."""

    channel_type: ClassVar[Channel]
    Config: ClassVar[type[BaseModel]]
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    max_text_length: ClassVar[int | None] = None
    supports_attachments: ClassVar[bool] = False
    reply_window_seconds: ClassVar[int | None] = None  # e.g. WeChat: 48 h after the last message
    public_replies: ClassVar[bool] = False  # social: the reply is visible to everyone

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[AdapterRoute]:
        return []

    async def start(self) -> None:
        """Start pollers, token refreshers. Must return quickly; run loops as tasks."""

    async def stop(self) -> None:
        """Stop what start() started."""

    async def verify(self) -> None:
        """Check the credentials with the platform; raise VerifyError with a reason."""

    async def send(self, message: OutboundMessage) -> str:
        """Send a reply; return the platform's message id. Raise SendError on failure."""
        raise NotImplementedError

    def text_length(self, text: str) -> int:
        """Length of a reply as the platform counts it (checked against max_text_length)."""
        return len(text)

    def describe(self) -> dict[str, Any]:
        """Public facts for the console (webhook URLs, limits); never secrets."""
        return {
            "max_text_length": self.max_text_length,
            "supports_attachments": self.supports_attachments,
            "reply_window_seconds": self.reply_window_seconds,
            "public_replies": self.public_replies,
        }
