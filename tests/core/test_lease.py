"""Leases: one holder across processes; a cancelled runner always stops and hands back."""

from __future__ import annotations

import asyncio

import pytest

from gateway.lease import Lease, SingleFlightTimeout, run_while_leased, single_flight
from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis
from gateway.tasks import cancel_and_wait
from tests.conftest import embedded_only, wait_for


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


async def test_single_flight_produces_once_for_many_callers(redis, keys):
    """Twenty callers (as if in several processes) want a value that is not there: one makes
    it, the others read it; a caller finds it ready without touching the lease."""
    store: dict[str, str] = {}
    produced: list[int] = []

    async def ready() -> str | None:
        return store.get("value")

    async def produce() -> str:
        produced.append(1)
        await asyncio.sleep(0.2)  # a slow token endpoint
        store["value"] = "v1"
        return "v1"

    key = keys.lease("single-flight")
    results = await asyncio.gather(
        *(
            single_flight(redis, key, ready=ready, produce=produce, wait_seconds=5)
            for _ in range(20)
        )
    )
    assert results == ["v1"] * 20 and produced == [1]
    assert await redis.get(key) is None  # handed back


async def test_single_flight_gives_up_on_a_holder_that_never_finishes(redis, keys):
    key = keys.lease("single-flight-stuck")
    assert await Lease(redis, key, ttl_ms=60_000).acquire()  # another process, stuck

    async def ready() -> None:
        return None

    async def produce() -> str:
        raise AssertionError("the lease is held elsewhere")

    with pytest.raises(SingleFlightTimeout):
        await single_flight(redis, key, ready=ready, produce=produce, wait_seconds=0.3)


@embedded_only
async def test_a_runner_outlives_a_redis_that_is_down_then_comes_back(tmp_path):
    """A runner started while Redis is down (and one whose Redis dies while it works) keeps
    trying: the work runs once Redis answers again, instead of the runner dying for good."""
    server = EmbeddedRedis(tmp_path / "own")
    client = connect(server.url)  # nothing listens there yet
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)
        await asyncio.Event().wait()

    runner = asyncio.create_task(
        run_while_leased(Lease(client, "gw-test:lease", ttl_ms=600), work, retry_seconds=0.05)
    )
    try:
        await asyncio.sleep(0.5)
        assert not runner.done() and runs == []
        server.start()
        await wait_for(lambda: _value(len(runs) == 1))
        server.kill()  # its renewals fail: the work stops, the runner waits
        await asyncio.sleep(1.0)
        assert not runner.done()
        server.start()
        await wait_for(lambda: _value(len(runs) == 2), timeout=20)
    finally:
        await cancel_and_wait(runner)
        await client.aclose()
        server.stop()


async def _value(value):
    return value
