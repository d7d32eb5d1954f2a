"""Contacts on the real inbox and router (tests/router/conftest.py) and the test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.contacts import Contacts
from gateway.keys import Keys
from gateway.models import Channel, ContactIdentity, InboundMessage
from tests.router.conftest import Router, make_router


@pytest.fixture
async def router(redis: aioredis.Redis, keys: Keys) -> AsyncIterator[Router]:
    yield await make_router(redis, keys)


@pytest.fixture
def contacts(router: Router) -> Contacts:
    return Contacts(router.redis, router.keys, router.policies, clock=router.clock)


def inbound(
    customer: str,
    *,
    channel: str = "webchat",
    n: int,
    text: str = "hello",
    thread: str | None = None,
    meta: dict[str, Any] | None = None,
    **contact: Any,
) -> InboundMessage:
    return InboundMessage(
        channel_id=f"ch-{channel}",
        channel_type=Channel(channel),
        external_id=f"m{n}-{customer}",
        contact=ContactIdentity(external_id=customer, **contact),
        thread_key=thread or f"t{n}-{customer}",
        text=text,
        meta=meta or {},
    )


# Real Chromium for the contacts page (tests/console/conftest.py).
from tests.console.conftest import browser, new_page  # noqa: E402, F401
