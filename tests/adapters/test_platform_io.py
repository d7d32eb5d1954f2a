"""The pieces the WeChat and QQ adapters share: the access token cache every process uses
(real Redis) and fetching a message's attachments within one time budget."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from adapters.media_download import fetch_attachments
from adapters.token_cache import TokenCache
from gateway.keys import Keys
from gateway.lease import Lease
from gateway.models import Attachment


class TokenError(Exception):
    pass


def _cache(redis: Redis, keys: Keys, produce, wait_seconds: float = 5.0) -> TokenCache:
    return TokenCache(
        redis,
        keys.channel_state("ch", "access_token"),
        keys.lease("ch:access_token"),
        produce,
        TokenError,
        wait_seconds,
    )


async def test_a_burst_of_callers_makes_one_token_request(redis: Redis, keys: Keys) -> None:
    asked: list[str | None] = []

    async def produce(rejected: str | None) -> tuple[str, int]:
        asked.append(rejected)
        await asyncio.sleep(0.1)  # the platform's answer takes a while
        return f"token-{len(asked)}", 7200

    caches = [_cache(redis, keys, produce) for _ in range(20)]  # as if 20 processes
    tokens = await asyncio.gather(*(c.get() for c in caches))
    assert set(tokens) == {"token-1"} and asked == [None]
    ttl = await redis.ttl(keys.channel_state("ch", "access_token"))
    assert 7000 < ttl <= 7200


async def test_a_refused_token_is_never_served_again(redis: Redis, keys: Keys) -> None:
    asked: list[str | None] = []

    async def produce(rejected: str | None) -> tuple[str, int]:
        asked.append(rejected)
        return f"token-{len(asked)}", 0  # a lifetime of 0 still caches for a second

    cache = _cache(redis, keys, produce)
    first = await cache.get()
    assert await cache.get() == first
    assert await cache.get(rejected=first) == "token-2"
    assert asked == [None, "token-1"]
    await cache.forget()
    assert await cache.get() == "token-3"


async def test_a_stuck_producer_elsewhere_gives_the_platform_s_error(
    redis: Redis, keys: Keys
) -> None:
    elsewhere = Lease(redis, keys.lease("ch:access_token"), ttl_ms=60_000)
    assert await elsewhere.acquire()  # another process asks and never answers

    async def produce(rejected: str | None) -> tuple[str, int]:
        raise AssertionError("only the holder of the lease asks")

    with pytest.raises(TokenError, match="another process's token"):
        await _cache(redis, keys, produce, wait_seconds=0.3).get()
    await elsewhere.release()


def _attachments(n: int) -> list[Attachment]:
    return [Attachment(kind="file", meta={"media_id": f"m{i}"}) for i in range(n)]


async def test_attachments_fetched_in_turn_within_one_budget() -> None:
    pending = _attachments(3)

    async def fetch_one(a: Attachment) -> None:
        if a.meta["media_id"] == "m1":
            await asyncio.sleep(10)  # a platform that never finishes this file
        a.url = f"/media/{a.meta['media_id']}"

    await fetch_attachments(pending, fetch_one, budget_seconds=0.3, storage_available=True)
    assert pending[0].url == "/media/m0" and "error" not in pending[0].meta
    assert [a.meta.get("error") for a in pending[1:]] == ["media download timed out"] * 2


async def test_without_storage_every_attachment_says_why() -> None:
    pending = _attachments(2)

    async def fetch_one(a: Attachment) -> None:
        raise AssertionError("nothing is fetched when it cannot be kept")

    await fetch_attachments(pending, fetch_one, budget_seconds=5, storage_available=False)
    assert [a.meta["error"] for a in pending] == ["media storage is not available"] * 2
    assert all(a.url is None for a in pending)
