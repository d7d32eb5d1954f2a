"""Fixtures for the WeChat adapter tests: the fake WeChat API, and an adapter mounted in a small
aiohttp app with a recording context. Redis (`redis`, `keys`) comes from tests/conftest.py; the
gateway's own wiring is tested end to end in test_wechat_e2e.py."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fake_wechat import FakeWeChat
from redis.asyncio import Redis
from wechat_payloads import AES_KEY, APP_ID, APP_SECRET, CORP_ID, KF_SECRET, TOKEN

from adapters.base import Adapter, AdapterContext, IngestResult
from gateway.keys import Keys
from gateway.models import InboundMessage


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat(
        app_id=APP_ID, app_secret=APP_SECRET, corp_id=CORP_ID, kf_secret=KF_SECRET
    ) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Recorder:
    """The context callbacks, recording what the adapter hands to the gateway."""

    delivered: list[InboundMessage] = field(default_factory=list)
    closed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str, str | None]] = field(default_factory=dict)
    health: list[tuple[str, float]] = field(default_factory=list)  # report_health calls
    fail_deliver: bool = False
    fail_on: set[str] = field(default_factory=set)  # external ids whose delivery fails
    # Awaited before each delivery: something that happens while a pull is under way.
    on_deliver: Callable[[InboundMessage], Awaitable[None]] | None = None

    async def deliver(self, msg: InboundMessage) -> IngestResult:
        if self.on_deliver is not None:
            await self.on_deliver(msg)
        if self.fail_deliver or msg.external_id in self.fail_on:
            raise ConnectionError("redis is down")
        duplicate = any(m.external_id == msg.external_id for m in self.delivered)
        self.delivered.append(msg)
        return IngestResult("conv-1", len(self.delivered), duplicate, not duplicate, "contact-1")

    def report_health(self, name: str, value: float) -> None:
        self.health.append((name, value))

    async def store_media(self, data: bytes, name: str, ctype: str | None) -> str:
        url = f"/media/{len(self.media) + 1}/{name}"
        self.media[url] = (data, name, ctype)
        return url

    async def load_media(self, url: str) -> bytes | None:
        found = self.media.get(url)
        return found[0] if found else None

    async def close_thread(self, thread_key: str, reason: str) -> None:
        self.closed.append((thread_key, reason))

    async def mark_failed(self, message_id: str, reason: str) -> None:
        self.failed.append((message_id, reason))


@dataclass
class Mounted:
    adapter: Any
    recorder: Recorder
    client: Any  # aiohttp TestClient
    channel_id: str

    def path(self, route: str) -> str:
        return f"/channels/{self.channel_id}{route}"


OA_CONFIG = {
    "app_id": APP_ID,
    "app_secret": APP_SECRET,
    "token": TOKEN,
    "encoding_aes_key": AES_KEY,
}
KF_CONFIG = {"corp_id": CORP_ID, "secret": KF_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}


@pytest.fixture
async def mount(
    aiohttp_client: Any,
    redis: Redis,
    keys: Keys,
    fake: FakeWeChat,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Mounted]]]:
    """mount(AdapterClass, **config) -> the adapter serving its routes on a test server."""
    started: list[Adapter] = []

    async def make(cls: type[Adapter], channel_id: str | None = None, **overrides: Any) -> Mounted:
        base = OA_CONFIG if cls.channel_type.value == "wechat_oa" else KF_CONFIG
        config = cls.Config(**{**base, "api_base": fake.url, **overrides})
        channel_id = channel_id or f"ch{secrets.token_hex(3)}"
        recorder = Recorder()
        app = web.Application()

        async def serve_media(request: web.Request) -> web.Response:
            found = recorder.media.get(request.path)
            if found is None:
                raise web.HTTPNotFound()
            return web.Response(body=found[0], content_type=found[2] or "application/octet-stream")

        app.router.add_get("/media/{n}/{name}", serve_media)
        holder: dict[str, Adapter] = {}

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
            mark_failed=recorder.mark_failed,
            health=recorder.report_health,
        )
        adapter = cls(ctx)
        holder["adapter"] = adapter
        await adapter.start()
        started.append(adapter)
        return Mounted(adapter, recorder, client, channel_id)

    yield make
    for adapter in started:
        await adapter.stop()
