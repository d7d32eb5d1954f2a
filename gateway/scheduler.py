"""Durable scheduled jobs in Redis (surveys, follow-ups): a sorted set of due jobs, each claimed by
one process with a lease, so a job survives restarts and runs once across processes.

A claimed job moves to the `running` set scored by its lease expiry; finishing removes it. When a
process dies mid-job, the lease expires and another process claims it again, so handlers make
their side effects idempotent (they record what they did on the conversation first).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.failurelog import FailureLog
from gateway.keys import Keys
from gateway.models import now_ms
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]

# KEYS: due, running. ARGV: now ms, lease ms, limit.
# Expired leases first (a process died), then due jobs; each moves to `running` atomically.
_CLAIM = """
local now = tonumber(ARGV[1])
local out = {}
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(stale) do
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)
  table.insert(out, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)
  table.insert(out, id)
end
return out
"""

MAX_ATTEMPTS = 5


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        poll_seconds: float = 1.0,
        lease_ms: int = 60_000,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.poll_seconds = poll_seconds
        self.lease_ms = lease_ms
        self.clock = clock
        self.handlers: dict[str, Handler] = {}
        self._claim = redis.register_script(_CLAIM)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    async def schedule(self, job_id: str, kind: str, payload: dict[str, Any], due_ms: int) -> bool:
        """Schedule a job once: the same id scheduled again is ignored (returns False)."""
        created = await self.redis.hsetnx(self.keys.job(job_id), "kind", kind)
        if not created:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.job(job_id), mapping={"payload": json.dumps(payload), "attempts": 0})
        pipe.zadd(self.keys.jobs_due(), {job_id: due_ms})
        await pipe.execute()
        self._wake.set()
        return True

    async def cancel(self, job_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys.jobs_due(), job_id)
        pipe.delete(self.keys.job(job_id))
        await pipe.execute()

    async def due_at(self, job_id: str) -> int | None:
        score = await self.redis.zscore(self.keys.jobs_due(), job_id)
        return None if score is None else int(score)

    async def run_due(self, limit: int = 50) -> int:
        """Claim and run what is due now; returns how many jobs were run."""
        ids = await self._claim(
            keys=[self.keys.jobs_due(), self.keys.jobs_running()],
            args=[self.clock(), self.lease_ms, limit],
        )
        for job_id in ids:
            await self._run(job_id)
        return len(ids)

    async def _run(self, job_id: str) -> None:
        kind, payload, attempts = await self.redis.hmget(
            self.keys.job(job_id), ["kind", "payload", "attempts"]
        )
        handler = self.handlers.get(kind or "")
        if handler is None or payload is None:
            log.warning("dropping job %s of unknown kind %r", job_id, kind)
            await self._finish(job_id)
            return
        try:
            await handler(json.loads(payload))
        except asyncio.CancelledError:
            raise
        except Exception:
            tries = int(attempts or 0) + 1
            log.exception("job %s failed (attempt %d)", job_id, tries)
            if tries >= MAX_ATTEMPTS:
                await self._finish(job_id)
                return
            # Back off and put it back among the due jobs.
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(self.keys.job(job_id), "attempts", tries)
            pipe.zrem(self.keys.jobs_running(), job_id)
            pipe.zadd(self.keys.jobs_due(), {job_id: self.clock() + 2000 * 2**tries})
            await pipe.execute()
            return
        await self._finish(job_id)

    async def _finish(self, job_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys.jobs_running(), job_id)
        pipe.delete(self.keys.job(job_id))
        await pipe.execute()

    # --- the loop --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        failures = FailureLog(log, "scheduler round")
        while True:
            try:
                await self.run_due()
                failures.worked()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures.failed(exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
