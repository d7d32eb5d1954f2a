"""Fixtures for the QQ adapter tests: the fake QQ platform, and an adapter mounted in a small
aiohttp app with a recording context. Redis (`redis`, `keys`) comes from tests/conftest.py; the
gateway's own wiring is tested end to end in test_qq_e2e.py."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fake_qq import FakeQQ
from qq_payloads import APP_ID, APP_SECRET, BOT_USER_ID
from redis.asyncio import Redis

from adapters.base import AdapterContext, IngestResult
from adapters.qq import QQAdapter
from gateway.keys import Keys
from gateway.models import InboundMessage


@pytest.fixture
async def fake() -> AsyncIterator[FakeQQ]:
    # The READY's user.id is the bot whose <@!id> guild_message() puts first.
    fake = FakeQQ(app_id=APP_ID, app_secret=APP_SECRET, heartbeat_ms=200, bot_user_id=BOT_USER_ID)
    async with fake as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Recorder:
    """The context callbacks, recording what the adapter hands to the gateway (the inbox's
    dedupe by external id included)."""

    delivered: list[InboundMessage] = field(default_factory=list)
    closed: list[tuple[str, str]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str, str | None]] = field(default_factory=dict)
    fail_deliver: bool = False

    @property
    def filed(self) -> list[InboundMessage]:
        seen: set[str] = set()
        out = []
        for m in self.delivered:
            if m.external_id not in seen:
                seen.add(m.external_id)
                out.append(m)
        return out

    async def deliver(self, msg: InboundMessage) -> IngestResult:
        if self.fail_deliver:
            raise ConnectionError("redis is down")
        duplicate = any(m.external_id == msg.external_id for m in self.delivered)
        self.delivered.append(msg)
        return IngestResult("conv-1", len(self.delivered), duplicate, not duplicate, "contact-1")

    async def store_media(self, data: bytes, name: str, ctype: str | None) -> str:
        url = f"/media/{len(self.media) + 1}/{name}"
        self.media[url] = (data, name, ctype)
        return url

    async def load_media(self, url: str) -> bytes | None:
        found = self.media.get(url)
        return found[0] if found else None

    async def close_thread(self, thread_key: str, reason: str) -> None:
        self.closed.append((thread_key, reason))


@dataclass
class Mounted:
    adapter: QQAdapter
    recorder: Recorder
    client: Any  # aiohttp TestClient
    channel_id: str

    @property
    def webhook(self) -> str:
        return f"/channels/{self.channel_id}/qq"


def qq_config(fake: FakeQQ, **overrides: Any) -> dict[str, Any]:
    return {
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "api_base": fake.url,
        "token_url": fake.token_url,
        "receive": "webhook",
        **overrides,
    }


MountFn = Callable[..., Awaitable[Mounted]]


@pytest.fixture
async def mount(
    aiohttp_client: Any,
    redis: Redis,
    keys: Keys,
    fake: FakeQQ,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> AsyncIterator[MountFn]:
    """mount(channel_id=None, recorder=None, **config) -> a started adapter serving its routes;
    two mounts with one channel_id are two gateway processes of one channel."""
    started: list[QQAdapter] = []

    async def make(
        channel_id: str | None = None, recorder: Recorder | None = None, **overrides: Any
    ) -> Mounted:
        config = QQAdapter.Config(**qq_config(fake, **overrides))
        channel_id = channel_id or f"ch{secrets.token_hex(3)}"
        recorder = recorder or Recorder()
        app = web.Application()

        async def serve_media(request: web.Request) -> web.Response:
            found = recorder.media.get(request.path)
            if found is None:
                raise web.HTTPNotFound()
            return web.Response(body=found[0], content_type=found[2] or "application/octet-stream")

        app.router.add_get("/media/{n}/{name}", serve_media)
        holder: dict[str, QQAdapter] = {}

        async def dispatch(request: web.Request) -> web.StreamResponse:
            for route in holder["adapter"].routes():
                if (
                    route.path == "/" + request.match_info["tail"]
                    and route.method == request.method
                ):
                    return await route.handler(request)
            raise web.HTTPNotFound()

        app.router.add_route("*", "/channels/{channel_id}/{tail:.*}", dispatch)
        client = await aiohttp_client(app)
        ctx = AdapterContext(
            channel_id=channel_id,
            config=config,
            deliver=recorder.deliver,
            redis=redis,
            keys=keys,
            http=http,
            public_url=str(client.make_url("/")).rstrip("/"),
            data_dir=str(tmp_path),
            store_media=recorder.store_media,
            load_media=recorder.load_media,
            close_thread=recorder.close_thread,
        )
        adapter = QQAdapter(ctx)
        holder["adapter"] = adapter
        await adapter.start()
        started.append(adapter)
        return Mounted(adapter, recorder, client, channel_id)

    yield make
    for adapter in started:
        await adapter.stop()
