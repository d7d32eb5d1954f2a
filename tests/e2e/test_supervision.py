"""`gateway serve --workers 2` as real processes on its embedded Redis: one owner per data
directory, dead workers and a dead Redis started again, the search index taken over when its
worker dies, SIGTERM stops everything even after a crash, and the first admin exists before
any worker serves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.api.signing import sign
from gateway.keys import Keys
from gateway.procutil import alive
from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis
from tests.chaos.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    TIMEOUT,
    Callback,
    GatewayProcess,
    descendants,
    setup_gateway,
)
from tests.conftest import embedded_only, wait_for

pytestmark = embedded_only


def workers_of(gateway: GatewayProcess) -> list[int]:
    assert gateway.proc is not None
    return [
        pid
        for pid in descendants(gateway.proc.pid)
        if alive(pid) and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def redis_pid(gateway: GatewayProcess) -> int:
    return EmbeddedRedis(gateway.data_dir).owner()["redis"]


@pytest.fixture
async def served(tmp_path: Path):
    gateway = GatewayProcess(tmp_path, "", workers=2)
    gateway.start()
    try:
        await gateway.ready()
        yield gateway
    finally:
        gateway.stop()


async def post_message(
    gateway: GatewayProcess, channel: tuple[str, str], n: int, text: str = "hi"
) -> int:
    body = json.dumps({"message_id": f"m-{n}", "sender": {"id": "c1"}, "text": f"{text} {n}"})
    headers = {"X-Gateway-Signature": sign(channel[1], body.encode())}
    url = f"{gateway.base}/channels/{channel[0]}/messages"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        try:
            async with http.post(url, data=body, headers=headers) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return 0


async def test_the_first_admin_exists_before_any_worker_serves(tmp_path: Path):
    """Logins from the moment the port answers, not from /readyz: every answer is a yes."""
    gateway = GatewayProcess(tmp_path, "", workers=2)
    gateway.start()
    answers: list[int] = []
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    try:
        async with asyncio.timeout(60):
            while len(answers) < 20:
                # A new connection each time: the kernel spreads them over both workers.
                async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                    try:
                        async with http.post(f"{gateway.base}/api/v1/auth/login", json=login) as r:
                            answers.append(r.status)
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.01)  # no worker listens yet
    finally:
        gateway.stop()
    assert answers == [200] * 20, answers


async def test_a_second_serve_on_the_same_data_dir_refuses_naming_the_owner(
    served: GatewayProcess,
):
    env = {**served.env, "GATEWAY_PORT": "0"}
    second = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert served.proc is not None
    line = second.stderr.strip()
    assert "\n" not in line, line
    assert f"in use by gateway PID {served.proc.pid}" in line
    assert f"redis-server: PID {redis_pid(served)}" in line
    assert alive(redis_pid(served))  # the first one's Redis is untouched


async def test_a_dead_worker_is_started_again(served: GatewayProcess):
    await wait_for(lambda: asyncio.to_thread(lambda: len(workers_of(served)) == 2))
    victim = workers_of(served)[0]
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        pids = workers_of(served)
        return len(pids) == 2 and victim not in pids

    await wait_for(replaced, timeout=30)
    await served.ready()


async def search_status(gateway: GatewayProcess, token: str, query: str) -> tuple[int, Any]:
    url = f"{gateway.base}/api/v1/search"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        try:
            async with http.get(url, params={"q": query}, headers=headers) as resp:
                return resp.status, await resp.json()
        except (aiohttp.ClientError, TimeoutError):
            return 0, None


async def test_the_search_index_moves_when_its_worker_is_killed(served: GatewayProcess):
    """One worker holds the deployment's index (its pid is in the lease); SIGKILLed, another
    takes the index over once the lease runs out and builds it from Redis. Meanwhile a search
    answers 200 or a 503 to retry, never hangs; afterwards both workers find old and new."""
    callback = Callback()
    await callback.start()
    client = connect(EmbeddedRedis(served.data_dir).url)
    try:
        token, channels, _wechat = await setup_gateway(served, callback.url, channels=1)
        assert await post_message(served, channels[0], 1, "退款 订单") == 202
        lease = Keys(served.env.get("GATEWAY_REDIS_PREFIX", "gw")).lease("search")

        async def found(query: str) -> bool:
            status, body = await search_status(served, token, query)
            statuses.append(status)
            return status == 200 and not body["indexing"] and len(body["conversations"]) == 1

        statuses: list[int] = []
        await wait_for(lambda: found("退款 订单"), timeout=30, interval=0.2)
        holder = int((await client.get(lease)).split(":")[1])
        assert holder in workers_of(served)
        os.kill(holder, signal.SIGKILL)
        statuses.clear()
        await asyncio.sleep(0.5)
        await wait_for(lambda: found("退款 订单"), timeout=40, interval=0.2)
        assert set(statuses) <= {0, 200, 503}, statuses
        assert int((await client.get(lease)).split(":")[1]) != holder
        assert await post_message(served, channels[0], 2, "发票 抬头") == 202
        await wait_for(lambda: found("发票 抬头"), timeout=10, interval=0.2)
        for _ in range(6):  # each of the two workers (the port spreads the connections)
            assert await found("退款 发票")
    finally:
        await client.aclose()
        await callback.close()


async def test_a_dead_embedded_redis_is_started_again_and_keeps_everything(
    served: GatewayProcess,
):
    callback = Callback()
    await callback.start()
    try:
        _token, channels, _wechat = await setup_gateway(served, callback.url, channels=1)
        assert await post_message(served, channels[0], 1) == 202
        old = redis_pid(served)
        os.kill(old, signal.SIGKILL)
        # Meanwhile webhooks are refused (503: the platform retries), never hang or lose.
        statuses = [await post_message(served, channels[0], 2)]

        async def back() -> bool:
            statuses.append(await post_message(served, channels[0], 2))
            return statuses[-1] == 202

        await wait_for(back, timeout=30, interval=0.2)
        assert set(statuses) <= {0, 202, 503}, statuses
        assert redis_pid(served) != old and alive(redis_pid(served))
        client = connect(EmbeddedRedis(served.data_dir).url)
        keys = Keys(served.env.get("GATEWAY_REDIS_PREFIX", "gw"))
        filed = []
        for conversation in await client.zrange(keys.conversations_index(), 0, -1):
            for raw in (await client.hgetall(keys.messages(conversation))).values():
                filed.append(json.loads(raw)["external_id"])
        await client.aclose()
        assert sorted(filed) == ["m-1", "m-2"]
    finally:
        await callback.close()


async def test_sigterm_after_a_worker_crashed_stops_everything(tmp_path: Path):
    gateway = GatewayProcess(tmp_path, "", workers=2)
    gateway.start()
    try:
        await gateway.ready()
        await wait_for(lambda: asyncio.to_thread(lambda: len(workers_of(gateway)) == 2))
        assert gateway.proc is not None
        everything = [*descendants(gateway.proc.pid), gateway.proc.pid]
        os.kill(workers_of(gateway)[0], signal.SIGKILL)
        await asyncio.sleep(0.2)
        gateway.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(gateway.proc.wait, 40)
        assert code == 0, gateway.log_tail()

        async def all_gone() -> bool:
            return not any(alive(pid) for pid in everything)

        await wait_for(all_gone, timeout=10)
    finally:
        gateway.kill()
