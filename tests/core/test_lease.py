"""Leases: one holder across processes; a cancelled runner always stops and hands back."""

from __future__ import annotations

import asyncio

from gateway.lease import Lease, run_while_leased
from gateway.tasks import cancel_and_wait


async def test_only_one_runner_works_and_the_other_takes_over(redis, keys):
    running: list[str] = []

    def worker(name: str):
        async def work() -> None:
            running.append(name)
            await asyncio.Event().wait()

        return work

    key = keys.lease("test")
    a = asyncio.create_task(
        run_while_leased(Lease(redis, key, ttl_ms=600), worker("a"), retry_seconds=0.05)
    )
    await asyncio.sleep(0.3)
    b = asyncio.create_task(
        run_while_leased(Lease(redis, key, ttl_ms=600), worker("b"), retry_seconds=0.05)
    )
    await asyncio.sleep(0.5)
    assert running == ["a"]
    await cancel_and_wait(a)
    assert a.done()
    for _ in range(100):
        if running == ["a", "b"]:
            break
        await asyncio.sleep(0.05)
    assert running == ["a", "b"]
    await cancel_and_wait(b)
    assert b.done() and await redis.get(key) is None


async def test_cancelling_many_runners_always_stops_them(redis, keys):
    """redis-py may swallow a cancellation mid-command; the runner must stop all the same."""

    async def work() -> None:
        await asyncio.Event().wait()

    for i in range(30):
        task = asyncio.create_task(
            run_while_leased(
                Lease(redis, keys.lease(f"many-{i % 3}"), ttl_ms=500), work, retry_seconds=0.01
            )
        )
        await asyncio.sleep(0.001 * (i % 7))
        await cancel_and_wait(task, timeout=5)
        assert task.done(), i
