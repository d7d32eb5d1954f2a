"""Script calls made in the same loop turn share one pipeline, and each gets its own answer."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway.batching import CommandBatcher
from gateway.keys import Keys
from tests.redis_monitor import CommandCounter

ECHO = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"
FAILS_ON_BAD = """
if ARGV[1] == 'bad' then return redis.error_reply('bad input') end
return ARGV[1]
"""


async def test_concurrent_calls_share_a_pipeline_and_get_their_own_answers(
    redis: Redis, keys: Keys
) -> None:
    batcher = CommandBatcher(redis)
    script = redis.register_script(ECHO)
    names = [keys.channel_state("batch", str(i % 5)) for i in range(60)]
    replies = await asyncio.gather(
        *(batcher.script(script, [name], [f"arg-{i}"]) for i, name in enumerate(names))
    )
    for i, (key, arg, _count) in enumerate(replies):
        assert (key, arg) == (names[i], f"arg-{i}")
    # Twelve INCRs per key, each seen once: nothing ran twice or got lost.
    assert sorted(int(r[2]) for r in replies if r[0] == names[0]) == list(range(1, 13))
    assert batcher.pipelines_sent < 60
    await batcher.close()


async def test_a_failing_call_fails_alone(redis: Redis) -> None:
    batcher = CommandBatcher(redis)
    script = redis.register_script(FAILS_ON_BAD)
    results = await asyncio.gather(
        batcher.script(script, ["{t}:a"], ["good"]),
        batcher.script(script, ["{t}:a"], ["bad"]),
        batcher.script(script, ["{t}:a"], ["fine"]),
        return_exceptions=True,
    )
    assert results[0] == "good" and results[2] == "fine"
    assert isinstance(results[1], ResponseError) and "bad input" in str(results[1])


async def test_scripts_are_reloaded_after_redis_forgets_them(redis: Redis) -> None:
    batcher = CommandBatcher(redis)
    script = redis.register_script("return 'still here ' .. ARGV[1]")
    assert await batcher.script(script, ["{t}:x"], ["1"]) == "still here 1"
    await redis.script_flush()  # what a Redis restart without the script cache looks like
    # The whole batch finds it missing; it is loaded once for all of them, not once each.
    loads = CommandCounter(redis, "{t}:x", lambda verb, rest: verb if verb == "SCRIPT" else None)
    async with loads:
        answers = await asyncio.gather(
            *(batcher.script(script, ["{t}:x"], [str(i)]) for i in range(5))
        )
    assert answers == [f"still here {i}" for i in range(5)]
    assert loads.counts["SCRIPT"] == 1


async def test_redis_unreachable_fails_every_call_of_the_batch_with_connection_error(
    tmp_path,
) -> None:
    dead = Redis(unix_socket_path=str(tmp_path / "nobody.sock"), decode_responses=True)
    batcher = CommandBatcher(dead)
    script = dead.register_script("return 1")
    results = await asyncio.gather(
        *(batcher.script(script, ["{t}:k"], []) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    await dead.aclose()


async def test_a_cancelled_caller_does_not_disturb_the_others(redis: Redis) -> None:
    batcher = CommandBatcher(redis)
    script = redis.register_script("return ARGV[1]")
    doomed = asyncio.ensure_future(batcher.script(script, ["{t}:c"], ["doomed"]))
    kept = asyncio.ensure_future(batcher.script(script, ["{t}:c"], ["kept"]))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await doomed
