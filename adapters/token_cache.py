"""A platform access token shared by every gateway process.

The token lives in Redis under the channel's cache key. When it is missing, or the platform
has just refused it, exactly one process asks for a new one (``single_flight`` on the lock key)
while the others wait for it to appear: a burst of sends after the token expired makes one
token request, not one each (WeChat and QQ count them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.lease import SingleFlightTimeout, single_flight

# (the token just refused, or None) -> (a new token, seconds to keep it in the cache)
Produce = Callable[[str | None], Awaitable[tuple[str, int]]]


class TokenCache:
    def __init__(
        self,
        redis: Redis,
        cache_key: str,
        lock_key: str,
        produce: Produce,
        timed_out: Callable[[str], Exception],
        wait_seconds: float = 20.0,
    ) -> None:
        self.redis = redis
        self.cache_key = cache_key
        self.lock_key = lock_key
        self.produce = produce
        self.timed_out = timed_out  # the platform's error for "no token came in time"
        self.wait_seconds = wait_seconds

    async def get(self, rejected: str | None = None) -> str:
        """The cached token, or a new one. ``rejected``: a token the platform just refused,
        so a cached copy of it does not count."""

        async def cached() -> str | None:
            token = _text(await self.redis.get(self.cache_key))
            return token if token and token != rejected else None

        try:
            return await single_flight(
                self.redis,
                self.lock_key,
                ready=cached,
                produce=lambda: self._renew(rejected),
                wait_seconds=self.wait_seconds,
            )
        except SingleFlightTimeout:
            raise self.timed_out("timed out waiting for another process's token") from None

    async def _renew(self, rejected: str | None) -> str:
        token, ttl = await self.produce(rejected)
        await self.redis.set(self.cache_key, token, ex=max(1, ttl))
        return token

    async def forget(self) -> None:
        await self.redis.delete(self.cache_key)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
