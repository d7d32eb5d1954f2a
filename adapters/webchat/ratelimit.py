"""Per-minute limits counted in Redis (a sliding window), shared by every gateway process."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.models import now_ms
from gateway.scripts import load_script

WINDOW_MS = 60_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until one more event would be allowed (0 when allowed)


class RateLimiter:
    def __init__(self, redis: Redis, key_for: Callable[[str], str]) -> None:
        self.key_for = key_for  # subject -> Redis key (the adapter's state keys)
        self._script = load_script(redis, __file__, "ratelimit")

    async def hit(self, limits: list[tuple[str, int]], now: int | None = None) -> Verdict:
        """Count one event against every (subject, limit per minute), atomically: allowed
        only if no subject is over its limit."""
        now = now_ms() if now is None else now
        member = f"{now}-{secrets.token_hex(4)}"
        wait = await self._script(
            keys=[self.key_for(f"rate:{subject}") for subject, _ in limits],
            args=[now, WINDOW_MS, member, *[limit for _, limit in limits]],
        )
        wait = int(wait)
        return Verdict(wait == 0, round(wait / 1000, 1))
