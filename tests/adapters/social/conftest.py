"""Fixtures of the social adapter tests: the fake platforms on local ports, and adapters wired to
a real gateway's inbox (deliveries recorded on the way through)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.base import Adapter, AdapterContext, IngestResult
from gateway.models import InboundMessage
from tests.adapters.social.fakes import FakeMastodon, FakeWeibo, FakeX
from tests.conftest import Harness


@dataclass
class Served:
    fake: Any
    url: str


async def _serve(fake: Any) -> AsyncIterator[Served]:
    server = TestServer(fake.app())
    await server.start_server()
    yield Served(fake, str(server.make_url("")).rstrip("/"))
    await server.close()


@pytest.fixture
async def x_api() -> AsyncIterator[Served]:
    async for served in _serve(FakeX()):
        yield served


@pytest.fixture
async def mastodon_api() -> AsyncIterator[Served]:
    async for served in _serve(FakeMastodon()):
        yield served


@pytest.fixture
async def weibo_api() -> AsyncIterator[Served]:
    async for served in _serve(FakeWeibo()):
        yield served


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Wired:
    """An adapter whose deliveries go through the gateway's real inbox."""

    adapter: Any
    ctx: AdapterContext
    delivered: list[tuple[InboundMessage, IngestResult]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    fail_deliveries: int = 0  # the next N deliveries raise (an inbox outage)
    health: list[tuple[str, float]] = field(default_factory=list)  # what it told /metrics

    def new_ids(self) -> list[str]:
        """External ids of the messages that were new (not duplicates), in delivery order."""
        return [m.external_id for m, r in self.delivered if not r.duplicate]


WireAdapter = Callable[..., Awaitable[Wired]]


@pytest.fixture
def wire(gateway: Harness, http: aiohttp.ClientSession, tmp_path: Path) -> WireAdapter:
    async def make(cls: type[Adapter], config: dict[str, Any], channel_id: str | None = None):
        wired: Wired

        async def deliver(msg: InboundMessage) -> IngestResult:
            if wired.fail_deliveries > 0:
                wired.fail_deliveries -= 1
                raise ConnectionError("inbox unavailable")
            result = await gateway.gw.deliver(msg)
            wired.delivered.append((msg, result))
            return result

        async def on_spike(alert: dict[str, Any]) -> None:
            wired.alerts.append(alert)

        ctx = AdapterContext(
            channel_id=channel_id or "ch" + secrets.token_hex(4),
            config=cls.Config(**config),
            deliver=deliver,
            redis=gateway.gw.redis,
            keys=gateway.gw.keys,
            http=http,
            public_url=gateway.base_url,
            data_dir=str(tmp_path),
            health=lambda name, value: wired.health.append((name, value)),
            box=gateway.gw.box,
            extra={"on_spike": on_spike},
        )
        adapter = cls(ctx)
        # Retries after a 5xx come quickly in tests; the policy under test is unchanged.
        adapter.api.backoff_base = 0.02
        wired = Wired(adapter, ctx)
        return wired

    return make
