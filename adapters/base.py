"""The adapter contract: what every channel implements, and what it is given.

An adapter knows nothing of routing. It gets an ``AdapterContext`` with a ``deliver`` callback
(verify, parse, normalize, ``await ctx.deliver(msg)``, answer) and implements ``send``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.models import Channel, InboundMessage, OutboundMessage
from gateway.secretbox import SecretBox


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


class VerifyError(Exception):
    """Credentials rejected by the platform when an admin registers or verifies a channel."""


@dataclass(frozen=True)
class IngestResult:
    conversation_id: str
    seq: int
    duplicate: bool
    new_conversation: bool
    contact_id: str


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
    extra: dict[str, Any] = field(default_factory=dict)

    def report_health(self, name: str, value: float) -> None:
        if self.health is not None:
            self.health(name, value)

    def state_key(self, name: str) -> str:
        return self.keys.channel_state(self.channel_id, name)

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
