"""Benchmark: merging two contacts of 1,000 conversations each (gateway/contacts/lua/merge.lua,
one script) and undoing it, against baselines of the same set sizes, on an embedded Redis.

    .venv/bin/python bench/contact_merge.py [--conversations 1000] [--trials 5] [--json]

Each trial files 2 x N messages through the real inbox (two customers on two channels, each
message a thread of its own, so N conversations each), then times, on the same Redis:

- baseline ``zunionstore``: ZUNIONSTORE of the two conversation sets and DEL of the source's
  (the set operation alone);
- baseline ``zunion+hset``: the same plus N HSET contact_id in one MULTI (the least a merge that
  keeps each conversation naming its contact must write);
- ``merge``: Contacts.merge (tier ranking read, the script, the merge record read back);
- ``undo``: Contacts.undo of that merge (it reads every conversation of the target's set to
  find the source's).

Wall time per operation (median and worst of the trials), Redis CPU per operation (INFO cpu,
user + system, delta) and the usec INFO commandstats charges to it, and the rate one process
could sustain (1 / wall time), printed side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from gateway.models import Channel, ContactIdentity, InboundMessage, now_ms
from gateway.redis_server import EmbeddedRedis
from gateway.services import Gateway
from gateway.settings import load_settings

CONCURRENCY = 16


def message(trial: int, who: str, channel: Channel, n: int) -> InboundMessage:
    customer = f"{who}-{trial}"
    return InboundMessage(
        channel_id=f"ch-{channel.value}",
        channel_type=channel,
        external_id=f"{customer}-m{n}",
        contact=ContactIdentity(external_id=customer, name=f"Customer {who}"),
        thread_key=f"{customer}-t{n}",
        text=f"order {n} has not arrived",
        sent_at=now_ms(),
    )


async def ingest_all(gw: Gateway, messages: list[InboundMessage]) -> str:
    contact = ""

    async def worker() -> None:
        nonlocal contact
        while messages:
            contact = (await gw.inbox.ingest(messages.pop())).contact_id

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return contact


async def pair(gw: Gateway, trial: int, size: int) -> tuple[str, str]:
    a = await ingest_all(gw, [message(trial, "a", Channel.API, n) for n in range(size)])
    b = await ingest_all(gw, [message(trial, "b", Channel.EMAIL, n) for n in range(size)])
    return a, b


async def cpu(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measured(client: aioredis.Redis, action: Any, scripted: bool) -> dict[str, float]:
    cpu0 = await cpu(client)
    stats0 = await client.info("commandstats")
    start = time.perf_counter()
    await action()
    wall = time.perf_counter() - start
    cpu1 = await cpu(client)
    stats1 = await client.info("commandstats")
    usec = 0
    for name, value in stats1.items():
        if name in ("cmdstat_info", "cmdstat_exec"):
            continue  # EXEC's usec holds its queued commands' again
        if scripted and name not in ("cmdstat_evalsha", "cmdstat_eval"):
            continue  # inside the script: already in its usec
        usec += int(value["usec"]) - int(stats0.get(name, {}).get("usec", 0))
    return {"wall_ms": wall * 1000, "redis_cpu_ms": (cpu1 - cpu0) * 1000, "command_ms": usec / 1000}


async def one_trial(
    client: aioredis.Redis, gw: Gateway, trial: int, size: int, results: dict[str, list]
) -> None:
    k = gw.keys
    a, b = await pair(gw, trial, size)
    assert await client.zcard(k.contact_conversations(a)) == size
    assert await client.zcard(k.contact_conversations(b)) == size
    # Baselines on copies of the two sets (the real ones stay for the merge).
    src, dst = f"{{bench}}:copy:src:{trial}", f"{{bench}}:copy:dst:{trial}"
    convs = await client.zrange(k.contact_conversations(a), 0, -1)

    async def copies() -> None:
        await client.zunionstore(src, [k.contact_conversations(a)])
        await client.zunionstore(dst, [k.contact_conversations(b)])

    async def union() -> None:
        pipe = client.pipeline(transaction=True)
        pipe.zunionstore(dst, [dst, src], aggregate="MAX")
        pipe.delete(src)
        await pipe.execute()

    async def union_and_hset() -> None:
        pipe = client.pipeline(transaction=True)
        pipe.zunionstore(dst, [dst, src], aggregate="MAX")
        pipe.delete(src)
        for conversation_id in convs:
            pipe.hset(k.conversation(conversation_id), "contact_id", b)
        await pipe.execute()

    await copies()
    results["zunionstore"].append(await measured(client, union, False))
    await copies()
    results["zunion+hset"].append(await measured(client, union_and_hset, False))
    # Give the conversations back their owner before the real merge.
    pipe = client.pipeline(transaction=False)
    for conversation_id in convs:
        pipe.hset(k.conversation(conversation_id), "contact_id", a)
    await pipe.execute()
    await client.delete(src, dst)
    record: dict[str, Any] = {}

    async def merge() -> None:
        record.update(await gw.contacts.merge(a, b, "bench", "bench"))

    async def undo() -> None:
        await gw.contacts.undo(record["id"], "bench", "bench")

    results["merge"].append(await measured(client, merge, True))
    assert record["conversations"] == size
    assert await client.zcard(k.contact_conversations(b)) == 2 * size
    results["undo"].append(await measured(client, undo, True))
    assert await client.zcard(k.contact_conversations(a)) == size


async def run(url: str, data_dir: Path, size: int, trials: int) -> dict[str, Any]:
    client = aioredis.from_url(url, decode_responses=True)
    settings = load_settings({"data_dir": str(data_dir), "redis_prefix": "bench"}, environ={})
    gw = Gateway(settings, client)
    results: dict[str, list[dict[str, float]]] = {
        "zunionstore": [], "zunion+hset": [], "merge": [], "undo": [],
    }  # fmt: skip
    for trial in range(trials):
        await one_trial(client, gw, trial, size, results)
    await client.aclose()
    return {"conversations_each": size, "trials": trials, "results": summarize(results)}


def summarize(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, rows in results.items():
        walls = [r["wall_ms"] for r in rows]
        median = statistics.median(walls)
        out[name] = {
            "wall_ms_median": round(median, 2),
            "wall_ms_max": round(max(walls), 2),
            "redis_cpu_ms": round(statistics.median(r["redis_cpu_ms"] for r in rows), 2),
            "command_ms": round(statistics.median(r["command_ms"] for r in rows), 2),
            "per_second": round(1000 / median, 1) if median else 0.0,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000, help="each contact's")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        out = asyncio.run(run(server.url, Path(tmp), args.conversations, args.trials))
    if args.json:
        print(json.dumps(out))
        return 0
    size = args.conversations
    print(f"merge of two contacts with {size:,} conversations each, {args.trials} trials, same run")
    print(f"{'operation':<14}{'wall ms (median / max)':>24}{'Redis CPU ms':>14}"
          f"{'commandstats ms':>17}{'per second':>12}")  # fmt: skip
    for name, row in out["results"].items():
        wall = f"{row['wall_ms_median']:.2f} / {row['wall_ms_max']:.2f}"
        print(f"{name:<14}{wall:>24}{row['redis_cpu_ms']:>14.2f}{row['command_ms']:>17.2f}"
              f"{row['per_second']:>12.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
