"""Benchmark: Redis memory per waiting conversation and per stored message, through the real
inbox (Gateway.inbox.ingest of API-channel messages) on an embedded Redis; INFO memory deltas.

    .venv/bin/python bench/memory.py [--conversations 5000] [--messages 20000]

Phase 1 files one message from each of N new customers (N new waiting conversations: contact,
identity, thread, conversation hash, message log, dedupe key, queue / SLA / index entries).
Phase 2 appends M messages to 1,000 of those conversations (message log + dedupe key only).
Projects the total for 1 million messages at 10 messages per conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import redis.asyncio as aioredis

from gateway.models import Channel, ContactIdentity, InboundMessage, now_ms
from gateway.redis_server import EmbeddedRedis
from gateway.services import Gateway
from gateway.settings import load_settings

TEXT = "Hello, my order {n} has not arrived yet. It was due on Monday. Can you help me?"
CONCURRENCY = 16


def message(channel: str, n: int, customer: int) -> InboundMessage:
    return InboundMessage(
        channel_id=channel,
        channel_type=Channel.API,
        external_id=f"msg-{n}",
        contact=ContactIdentity(external_id=f"cust-{customer}", name=f"Customer {customer}"),
        thread_key=f"cust-{customer}",
        text=TEXT.format(n=100000 + n),
        sent_at=now_ms(),
        meta={"thread_id": f"cust-{customer}", "metadata": {}},
    )


async def used(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def breakdown(client: aioredis.Redis, gw: Gateway, channel: str, n: int) -> dict[str, int]:
    """MEMORY USAGE of each key of one new conversation (the shared zsets are not counted)."""
    k = gw.keys
    customer = f"cust-{n}"
    contact = await client.get(k.contact_identity(channel, customer)) or ""
    conv = await client.get(k.thread(channel, customer)) or ""
    names = {
        "conversation hash": k.conversation(conv),
        "message log": k.messages(conv),
        "contact hash": k.contact(contact),
        "contact's conversations": k.contact_conversations(contact),
        "identity": k.contact_identity(channel, customer),
        "thread": k.thread(channel, customer),
        "dedupe (TTL)": k.dedupe(channel, f"msg-{n}"),
    }
    return {name: int(await client.memory_usage(key) or 0) for name, key in names.items()}


async def ingest_all(gw: Gateway, messages: list[InboundMessage]) -> None:
    async def worker(items: list[InboundMessage]) -> None:
        while items:
            await gw.inbox.ingest(items.pop())

    await asyncio.gather(*(worker(messages) for _ in range(CONCURRENCY)))


async def run(url: str, data_dir: Path, conversations: int, messages: int) -> dict[str, float]:
    client = aioredis.from_url(url, decode_responses=True)
    settings = load_settings({"data_dir": str(data_dir), "redis_prefix": "mem"}, environ={})
    gw = Gateway(settings, client)
    channel = "ch-memory"
    await ingest_all(gw, [message(channel, 0, 0)])  # scripts loaded, indexes exist
    before = await used(client)
    await ingest_all(gw, [message(channel, n, n) for n in range(1, conversations + 1)])
    after_convs = await used(client)
    sample = await breakdown(client, gw, channel, conversations)
    base = conversations + 1
    await ingest_all(
        gw, [message(channel, base + n, 1 + n % 1000) for n in range(messages)]
    )  # fmt: skip
    after_msgs = await used(client)
    waiting = await client.zcard(gw.keys.queue())
    await client.aclose()
    per_conv = (after_convs - before) / conversations
    per_msg = (after_msgs - after_convs) / messages
    return {"per_conversation": per_conv, "per_message": per_msg, "waiting": waiting,
            "breakdown": sample}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument(
        "--hash-value-limit",
        type=int,
        default=0,
        help="start Redis with hash-max-ziplist-value N (default: Redis's 64)",
    )
    args = parser.parse_args()
    extra = ["--appendonly", "no"]
    if args.hash_value_limit:
        extra += ["--hash-max-ziplist-value", str(args.hash_value_limit)]
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        with EmbeddedRedis(Path(tmp), extra) as server:
            out = asyncio.run(run(server.url, Path(tmp), args.conversations, args.messages))
    conv, msg = out["per_conversation"], out["per_message"]
    keys = ", ".join(f"{name} {size}" for name, size in out["breakdown"].items())
    print(f"one conversation's own keys (MEMORY USAGE, bytes): {keys}")
    print(f"message text: {len(TEXT.format(n=100000))} characters; {int(out['waiting'])} waiting")
    print(f"bytes per new waiting conversation (with its first message): {conv:8.0f}")
    print(f"bytes per further stored message (log entry + dedupe key)  : {msg:8.0f}")
    total = 100_000 * conv + 900_000 * msg
    print(f"projected: 1,000,000 messages in 100,000 conversations: {total / 2**20:8.0f} MiB")
    print(f"projected: 1,000,000 messages, one per conversation    : {1e6 * conv / 2**20:8.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
