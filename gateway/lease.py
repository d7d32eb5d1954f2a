"""A Redis lease: one holder at a time across all gateway processes (pollers, scheduled jobs).

The holder renews before the TTL runs out; when it dies, the lease expires and another process
takes over. Renew and release check the owner token atomically (Lua), so a slow process whose
lease expired can never release or extend someone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis

from gateway.failurelog import FailureLog
from gateway.tasks import cancel_and_wait, raise_if_cancelled

log = logging.getLogger(__name__)

T = TypeVar("T")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, redis: Redis, key: str, ttl_ms: int = 15_000) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        # Names its holder, so that an operator reading the key sees who holds it.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])


async def keep_renewed(lease: Lease) -> None:
    """Renew ``lease`` every third of its TTL until cancelled (run it beside the work it
    guards); a Redis hiccup skips a turn, a lease taken over ends it."""
    while True:
        await asyncio.sleep(lease.ttl_ms / 3000)
        try:
            if not await lease.renew():
                log.warning("lease %s was taken over; no longer renewed", lease.key)
                return
        except Exception as exc:  # Redis away a moment: the next turn may still be in time
            log.warning("renewing lease %s failed: %r", lease.key, exc)


async def run_while_leased(
    lease: Lease,
    work: Callable[[], Awaitable[None]],
    *,
    retry_seconds: float = 2.0,
) -> None:
    """Run ``work`` (a long-running coroutine) only while holding ``lease``; wait for the lease
    otherwise. If the lease is lost, ``work`` is cancelled and we go back to waiting. Runs until
    cancelled: a Redis that cannot answer (down, slow, a cluster failing over) only delays it,
    since a poller that died on one timeout would wait for a restart nobody makes."""
    renew_every = lease.ttl_ms / 3000
    # Redis away for an hour is one line with its traceback and one a minute, not 3,600.
    failures = FailureLog(log, f"taking the lease {lease.key}")
    try:
        while True:
            try:
                acquired = await lease.acquire()
                failures.worked()
            except Exception as exc:
                failures.failed(exc)
                acquired = False
            raise_if_cancelled()
            if not acquired:
                await asyncio.sleep(retry_seconds)
                continue
            task = asyncio.create_task(work())
            try:
                while not task.done():
                    done, _ = await asyncio.wait({task}, timeout=renew_every)
                    if done:
                        break
                    try:
                        renewed = await lease.renew()
                    except Exception as exc:
                        # Unconfirmed is as good as lost: another process may hold it soon.
                        log.warning("lease %s: renewal failed (%r); stopping", lease.key, exc)
                        renewed = False
                    raise_if_cancelled()
                    if not renewed:
                        break
            finally:
                await cancel_and_wait(task)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("leased work %s failed", lease.key, exc_info=task.exception())
            # Lost, crashed or finished: hand the lease back and try again after a pause.
            with contextlib.suppress(Exception):
                await lease.release()
            raise_if_cancelled()
            await asyncio.sleep(retry_seconds)
    finally:
        with contextlib.suppress(Exception):
            await lease.release()


class SingleFlightTimeout(Exception):
    """Another process held the lease for longer than we would wait."""


async def single_flight(
    redis: Redis,
    key: str,
    *,
    ready: Callable[[], Awaitable[T | None]],
    produce: Callable[[], Awaitable[T]],
    wait_seconds: float,
) -> T:
    """``ready()`` when it has a value; else exactly one process across the gateway runs
    ``produce()`` (which stores what ``ready()`` reads) while the others wait for it: a burst of
    callers after an access token expired makes one token request, not one each."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.02
    while True:
        value = await ready()
        if value is not None:
            return value
        lease = Lease(redis, key, ttl_ms=int(wait_seconds * 2000))
        if await lease.acquire():
            try:
                # Another process may have produced between our read and the lease.
                value = await ready()
                return value if value is not None else await produce()
            finally:
                await lease.release()
        if time.monotonic() > deadline:
            raise SingleFlightTimeout(f"timed out waiting for another process ({key})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
