"""A hung Redis does not hang webhooks, through a real process: a `gateway serve` subprocess on
an embedded Redis of its own, customers posting signed API-channel messages and WeChat Official
Account callbacks. Redis is frozen (SIGSTOP: connections stay open, nothing is answered) for 6 s
while they post. Every request gets its answer within a bound (2xx, or 503 while Redis hangs, so
the platform retries), /readyz says not ready, Redis sees no more of the gateway's connections
than its pool allows, and once Redis runs again (SIGCONT) every refused message, retried as a
platform does, is filed exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.keys import Keys
from gateway.redis_client import POOL_CONNECTIONS, RedisClient, connect
from gateway.redis_server import EmbeddedRedis
from tests.chaos.harness import Callback, GatewayProcess, Traffic, setup_gateway
from tests.conftest import embedded_only

FREEZE_SECONDS = 6.0
# How long a request may wait for its answer while Redis hangs: a bound on hanging (the
# gateway's is about 2 s), not a performance figure.
ANSWER_BOUND_SECONDS = 3.0
POSTERS = 6
# Patient clients: a hanging answer is measured, not cut off.
PATIENT = aiohttp.ClientTimeout(total=20)


@dataclass
class Answer:
    index: int
    acknowledged: bool  # else 5xx (the harness fails the test on any other refusal) or none
    seconds: float
    during_freeze: bool


@dataclass
class Customers:
    """The harness's customers (signed API-channel messages, every third one a WeChat
    callback), each answer timed; a refused message is kept to be posted again later, as a
    platform does."""

    traffic: Traffic
    answers: list[Answer] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    frozen: bool = False

    async def post(self, http: aiohttp.ClientSession, index: int) -> bool:
        during_freeze = self.frozen
        start = time.monotonic()
        acknowledged = await self.traffic._post(http, index)
        seconds = time.monotonic() - start
        self.answers.append(Answer(index, acknowledged, seconds, during_freeze or self.frozen))
        if not acknowledged:
            self.refused.append(index)
        return acknowledged

    async def poster(self, first: int, stop: asyncio.Event) -> None:
        """Posts new messages (first, first + POSTERS, ...) until ``stop``."""
        index = first
        async with aiohttp.ClientSession(timeout=PATIENT) as http:
            while not stop.is_set():
                if not await self.post(http, index):
                    await asyncio.sleep(0.05)
                index += POSTERS

    async def retry_refused(self, deadline_seconds: float = 60.0) -> int:
        """The platforms' retries: every refused message again until acknowledged."""
        retries = 0
        deadline = time.monotonic() + deadline_seconds
        async with aiohttp.ClientSession(timeout=PATIENT) as http:
            while self.refused:
                assert time.monotonic() < deadline, f"still refused: {self.refused[:10]}"
                retries += 1
                if not await self.post(http, self.refused.pop(0)):
                    await asyncio.sleep(0.2)
        return retries


async def connected_clients(client: RedisClient) -> int:
    return int((await client.info("clients"))["connected_clients"])


async def readyz(base: str) -> tuple[int, float]:
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=PATIENT) as http:
        async with http.get(f"{base}/readyz") as resp:
            return resp.status, time.monotonic() - start


async def filed_once(client: RedisClient, keys: Keys, traffic: Traffic) -> None:
    """Every acknowledged message is in the inbox exactly once, in the conversation it was
    acknowledged with, and nothing else is."""
    filed: Counter[str] = Counter()
    where: dict[str, str] = {}
    for conversation in await client.zrange(keys.conversations_index(), 0, -1):
        for raw in (await client.hgetall(keys.messages(conversation))).values():
            message = json.loads(raw)
            if message["direction"] == "in":
                filed[message["external_id"]] += 1
                where[message["external_id"]] = conversation
    lost = sorted(m for m in traffic.acked if filed[m] == 0)
    doubled = sorted(m for m, n in filed.items() if n > 1)
    unknown = sorted(m for m in filed if m not in traffic.acked)
    assert not lost, f"acknowledged but not in the inbox: {lost[:10]}"
    assert not doubled, f"filed more than once: {doubled[:10]}"
    assert not unknown, f"filed but never acknowledged (all were retried): {unknown[:10]}"
    for message_id, conversation in traffic.acked.items():
        assert not conversation or where[message_id] == conversation, message_id
        value = await client.get(keys.dedupe(traffic.acked_on[message_id], message_id))
        assert value and value.startswith(where[message_id]), (message_id, value)


@embedded_only
async def test_a_frozen_redis_gets_503s_in_bounded_time_and_loses_nothing(tmp_path: Path):
    redis_server = EmbeddedRedis(tmp_path / "redis-data")
    url = redis_server.start()
    assert redis_server.process is not None
    redis_pid = redis_server.process.pid
    callback = Callback()
    await callback.start()
    gateway = GatewayProcess(tmp_path, url)
    client = connect(url)
    try:
        gateway.start()
        await gateway.ready()
        token, channels, wechat = await setup_gateway(gateway, callback.url)
        traffic = Traffic(gateway.base, channels, token, wechat)
        customers = Customers(traffic)
        stop = asyncio.Event()
        posters = [asyncio.create_task(customers.poster(i, stop)) for i in range(POSTERS)]
        await asyncio.sleep(1.5)
        assert traffic.acked, "nothing acknowledged before the freeze"
        before = await connected_clients(client)

        customers.frozen = True
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(1.0)
            ready_status, ready_seconds = await readyz(gateway.base)
            await asyncio.sleep(FREEZE_SECONDS - 1.0 - ready_seconds)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
            customers.frozen = False
        # Connections opened while Redis hung reach it now: count them before they close.
        most = 0
        for _ in range(10):
            most = max(most, await connected_clients(client))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*posters)
        retries = await customers.retry_refused()

        assert ready_status == 503, f"/readyz answered {ready_status} while Redis hung"
        assert ready_seconds < ANSWER_BOUND_SECONDS, f"/readyz took {ready_seconds:.1f}s"
        frozen = [a for a in customers.answers if a.during_freeze]
        assert any(not a.acknowledged for a in frozen), "nothing was refused while Redis hung"
        slow = sorted((a for a in customers.answers if a.seconds >= ANSWER_BOUND_SECONDS),
                      key=lambda a: -a.seconds)  # fmt: skip
        assert not slow, f"{len(slow)} answers took longer than {ANSWER_BOUND_SECONDS}s: {slow[:5]}"
        # The gateway's pool is bounded; the test's own connection is the one more.
        assert most <= POOL_CONNECTIONS + 1, f"Redis saw {most} clients (before: {before})"
        await filed_once(client, Keys("gw"), traffic)
        print(
            f"\n[redis frozen {FREEZE_SECONDS:.0f}s] {len(customers.answers)} requests, "
            f"{len(frozen)} during the freeze ({sum(not a.acknowledged for a in frozen)} "
            "refused), "
            f"slowest answer {max(a.seconds for a in customers.answers):.2f}s, "
            f"/readyz {ready_status} in {ready_seconds:.2f}s, Redis clients {before} before, "
            f"at most {most} after; {retries} retries; {len(traffic.acked)} messages filed once"
        )
    finally:
        if redis_server.process is not None:
            os.kill(redis_pid, signal.SIGCONT)
        await client.aclose()
        gateway.stop()
        await callback.close()
        redis_server.stop()
