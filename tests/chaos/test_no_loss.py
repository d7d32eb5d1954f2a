"""No loss under crashes, through real processes: a `gateway serve` subprocess on a Redis
started apart from it (the session's, so a Redis Cluster in the cluster pass; an embedded one of
its own when Redis is the one crashed), or on its own embedded Redis. While customers post
signed messages through two API channels and WeChat Official Account callbacks, and an admin
replies, every few seconds either the gateway (master and workers) is SIGKILLed and restarted,
or Redis is killed and restarted on the same directory (AOF replay), or the master of a
two-worker gateway with its embedded Redis is SIGKILLed alone (as a pidfile-based supervisor
does) and `gateway serve` started again at once on the same data directory: its workers and
Redis must go with it, and the new one must not start a second Redis on the same AOF.
Afterwards: every message acknowledged (2xx, WeChat's "success") is in
the inbox exactly once, and every reply accepted (201) is sent or marked failed; a reply sent
twice (a crash between the send and its acknowledgement) carries the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from gateway.keys import Keys
from gateway.procutil import alive
from gateway.redis_client import RedisClient, connect
from gateway.redis_server import EmbeddedRedis
from tests.chaos.harness import Callback, GatewayProcess, Traffic, setup_gateway
from tests.conftest import embedded_only, wait_for

CHAOS_SECONDS = 24
CRASH_EVERY = 4.0
# A sender killed mid-send leaves its stream entry pending: another process claims it after the
# outbox's claim_idle_ms (60 s), checked every 30 s, so settling can take about 90 s.
SETTLE_SECONDS = 150


async def run_chaos(tmp_path: Path, crash: str, shared_url: str = "", prefix: str = "gw") -> None:
    """``shared_url``: the test session's Redis (embedded or the cluster pass's Redis Cluster)
    when Redis itself is not crashed; else an embedded one of its own, killed and restarted."""
    redis_server, url = None, shared_url
    if crash == "master":
        gateway = GatewayProcess(tmp_path, "", workers=2)
        url = EmbeddedRedis(tmp_path).url  # the gateway's own, once it runs
    else:
        if not shared_url:
            redis_server = EmbeddedRedis(tmp_path / "redis-data")
            url = redis_server.start()
        gateway = GatewayProcess(tmp_path, url)
    callback = Callback()
    await callback.start()
    gateway.env["GATEWAY_REDIS_PREFIX"] = prefix
    client = connect(url)
    try:
        gateway.start()
        await gateway.ready()
        token, channels, wechat = await setup_gateway(gateway, callback.url)
        traffic = Traffic(gateway.base, channels, token, wechat)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(traffic.customer(stop)),
            asyncio.create_task(traffic.agent(stop)),
        ]
        crashes = 0
        left_behind: list[int] = []
        deadline = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(CRASH_EVERY)
            crashes += 1
            if crash == "gateway":
                gateway.kill()
                gateway.start()
                await gateway.ready()
            elif crash == "master":
                left_behind += gateway.kill_master()
                gateway.start()
                await gateway.ready()
            else:
                assert redis_server is not None
                redis_server.kill()
                await asyncio.sleep(0.5)  # the gateway sees Redis gone and answers 503
                redis_server.start()
        stop.set()
        await asyncio.gather(*tasks)
        if left_behind:
            # Workers drain for GATEWAY_SHUTDOWN_GRACE_SECONDS, then exit.
            async def all_gone() -> bool:
                return not any(alive(pid) for pid in left_behind)

            await wait_for(all_gone, timeout=30)
        await check(client, Keys(prefix), traffic, callback, crashes, crash)
    finally:
        await client.aclose()
        gateway.stop()
        await callback.close()
        if redis_server is not None:
            redis_server.stop()


async def check(
    client: RedisClient,
    keys: Keys,
    traffic: Traffic,
    callback: Callback,
    crashes: int,
    crash: str,
) -> None:
    assert traffic.acked, "no message was acknowledged at all"
    # Every acknowledged message is filed exactly once.
    conversations = set(await client.zrange(keys.conversations_index(), 0, -1))
    assert set(traffic.acked.values()) - {""} <= conversations
    assert len(set(traffic.acked_on.values())) == 3, "not every channel acknowledged messages"
    filed: Counter[str] = Counter()
    replies_in_log: set[str] = set()
    for conversation in conversations:
        for seq, raw in (await client.hgetall(keys.messages(conversation))).items():
            message = json.loads(raw)
            if message["direction"] == "in":
                filed[message["external_id"]] += 1
            elif message["direction"] == "out":
                replies_in_log.add(f"{conversation}:{seq}")
    lost = sorted(m for m in traffic.acked if filed[m] == 0)
    doubled = sorted(m for m, n in filed.items() if n > 1)
    assert not lost, f"acknowledged but not in the inbox: {lost[:10]}"
    assert not doubled, f"filed more than once: {doubled[:10]}"
    for message_id, conversation in traffic.acked.items():
        value = await client.get(keys.dedupe(traffic.acked_on[message_id], message_id))
        assert value and value.startswith(conversation), (message_id, value)

    # Every accepted reply is in the log and ends sent or failed; sent ones reached the callback.
    assert traffic.replies, "no reply was accepted at all"
    assert traffic.replies <= replies_in_log

    async def states() -> dict[str, str]:
        out = {}
        for message_id in traffic.replies:
            conversation, _, seq = message_id.rpartition(":")
            raw = await client.hget(keys.deliveries(conversation), seq)
            out[message_id] = json.loads(raw)["state"] if raw else "queued"
        return out

    async def settled() -> bool:
        return all(s in ("sent", "failed") for s in (await states()).values())

    await wait_for(settled, timeout=SETTLE_SECONDS, interval=0.5)
    final = await states()
    sent = {m for m, s in final.items() if s == "sent"}
    missing = sorted(m for m in sent if callback.keys[m] == 0)
    assert not missing, f"marked sent but never received: {missing[:10]}"
    # Replies accepted by the API but whose 201 was lost in a crash are in the log too.
    unknown = sorted(k for k in callback.keys if k not in replies_in_log)
    assert not unknown, f"callback got messages that are not in any log: {unknown[:10]}"
    duplicates = sum(n - 1 for n in callback.keys.values() if n > 1)
    print(
        f"\n[{crash} crashes: {crashes}] acknowledged {len(traffic.acked)} messages "
        f"({traffic.refused} attempts refused and retried), replies accepted "
        f"{len(traffic.replies)} ({traffic.reply_failures} refused), sent {len(sent)}, "
        f"failed {len(final) - len(sent)}, duplicate deliveries {duplicates} "
        f"(same Idempotency-Key: dedupable)"
    )


async def test_gateway_sigkill_loses_nothing(tmp_path: Path, redis_url: str, prefix: str):
    await run_chaos(tmp_path, "gateway", redis_url, prefix)


@embedded_only
async def test_redis_restart_loses_nothing(tmp_path: Path):
    await run_chaos(tmp_path, "redis")


@embedded_only
async def test_master_sigkill_alone_loses_nothing(tmp_path: Path):
    await run_chaos(tmp_path, "master")
