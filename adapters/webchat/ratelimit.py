"""Limits counted in Redis, shared by every gateway process: events per minute (a sliding
window) and sockets open at once (leases)."""

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


# A socket's lease in the counts below, renewed every LEASE_MS / 3 while it is open.
LEASE_MS = 60_000


class SocketCounter:
    """Open sockets per subject (a client address, a visitor session), counted in Redis so the
    cap holds across every gateway process. Each socket holds a lease its process renews
    (``renew``); a process that dies leaves leases that run out within LEASE_MS."""

    def __init__(self, redis: Redis, key_for: Callable[[str], str]) -> None:
        self.redis = redis
        self.key_for = key_for  # subject -> Redis key (the adapter's state keys)
        self._script = load_script(redis, __file__, "sockets")

    async def acquire(self, subject: str, socket_id: str, limit: int) -> bool:
        """Count one more open socket of ``subject``; False (nothing counted) at its limit."""
        key = self.key_for(f"sockets:{subject}")
        return bool(
            int(await self._script(keys=[key], args=[now_ms(), LEASE_MS, limit, socket_id]))
        )

    async def renew(self, held: list[tuple[str, str]]) -> None:
        """Extend the leases of these (subject, socket id) pairs."""
        if not held:
            return
        expiry = now_ms() + LEASE_MS
        pipe = self.redis.pipeline(transaction=False)
        for subject, socket_id in held:
            key = self.key_for(f"sockets:{subject}")
            pipe.zadd(key, {socket_id: expiry}, xx=True)
            pipe.pexpire(key, LEASE_MS)
        await pipe.execute()

    async def release(self, held: list[tuple[str, str]]) -> None:
        if not held:
            return
        pipe = self.redis.pipeline(transaction=False)
        for subject, socket_id in held:
            pipe.zrem(self.key_for(f"sockets:{subject}"), socket_id)
        await pipe.execute()
