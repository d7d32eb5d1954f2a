"""Benchmark: search latency and index memory at 100,000 conversations and 1,000,000 messages,
beside a baseline measured in the same run.

    .venv/bin/python bench/search.py [--scale 1.0] [--queries 400] [--json]

Seeds an embedded Redis in bulk (pipelines, the real key layout and message JSON the inbox
writes: conversation hashes, message logs, contacts, the activity index), Chinese (Simplified
and Traditional) and English customer-service messages with order numbers and phone numbers.
Then this process's search service (gateway/search/) rebuilds its index from Redis exactly as
at start, and the searches run through it as the API calls them (an admin, 20 results, their
snippets read from Redis).

Figures: search p50 / p95 / max (ms) and CPU per query beside the rate; the rebuild's wall
and CPU time (this process: the analysis thread and the Redis client); index memory per
message (the postings and per-document arrays, counted, and the process's RSS growth) beside
the messages' own memory in Redis (MEMORY USAGE of every message log). Baseline: a plain scan
of the same texts (folded, substring test) per query, the simplest search there is."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.conversations import Viewer  # noqa: E402
from gateway.keys import Keys  # noqa: E402
from gateway.models import Role  # noqa: E402
from gateway.redis_client import connect  # noqa: E402
from gateway.redis_server import EmbeddedRedis  # noqa: E402
from gateway.search import Filters, Search  # noqa: E402
from gateway.textsearch import fold  # noqa: E402

PRODUCTS = """打印机 印表機 路由器 蓝牙耳机 藍牙耳機 电饭煲 空气净化器 扫地机器人
手机壳 充電器 保温杯 智能手表 laptop router headphones kettle""".split()
CHINESE = [
    "你好，我的{p}收到后无法开机，订单号 SO{o}，麻烦处理一下",
    "請問{p}的發票什麼時候可以開出來？訂單 SO{o}",
    "我要申请退款，{p}有质量问题，已经拍了照片",
    "快递显示已签收但是我没有收到{p}，电话 1{t}",
    "{p}的保修期是多久？需要带发票去售后吗",
    "您好，已为您登记换货，新的{p}会在三个工作日内发出",
    "物流一直没有更新，{p}到哪里了？",
    "能不能开增值税专用发票？公司抬头已经发给你们了",
    "退貨流程太複雜了，{p}我只想退錢",
    "客服你好，{p}的说明书丢了，可以发一份电子版吗",
    "感谢耐心等待，退款将在1-3个工作日原路退回",
    "会员积分怎么兑换优惠券？",
]
ENGLISH = [
    "Hi, my {p} stopped working after two days, order SO{o}",
    "When will the invoice for order SO{o} be issued?",
    "I would like a refund, the {p} arrived damaged",
    "The tracking says delivered but I never received my {p}",
    "Thanks for waiting, your replacement {p} ships tomorrow",
    "Can you change the delivery address to my office? Call me at 1{t}",
]
QUERIES = ["发票", "發票", "退款", "订单 SO1234", "打印机", "印表机", "快递 签收", "保修期",
           "说明书", "优惠券", "invoice", "refund damaged", "tracking delivered", "router",
           "增值税专用发票", "质量问题 照片", "物流", "换货", "headphones", "蓝牙耳机"]  # fmt: skip
STATUSES = ["open"] * 2 + ["pending"] + ["resolved"] * 7
CHANNELS = [
    ("ch-wechat", "wechat_oa"), ("ch-email", "email"), ("ch-web", "webchat"), ("ch-api", "api"),
]  # fmt: skip
NAMES = "王芳 李伟 張偉 刘洋 陈静 杨磊 赵敏 黃麗 周杰 吴婷 Alice Bob Carol David Emma".split()


def text(rng: random.Random) -> str:
    template = rng.choice(CHINESE if rng.random() < 0.8 else ENGLISH)
    return template.format(
        p=rng.choice(PRODUCTS), o=rng.randrange(10**7, 10**8), t=rng.randrange(10**9, 10**10)
    )


def message_json(rng: random.Random, seq: int, contact: str, at: int) -> str:
    inbound = seq % 2 == 1
    body = {
        "direction": "in" if inbound else "out",
        "text": text(rng),
        "author_id": contact if inbound else "u-agent",
        "author_name": "客户" if inbound else "Agent",
        "attachments": [],
        "external_id": f"ext-{at}-{seq}" if inbound else None,
        "created_at": at,
        "meta": {"sent_at": at, "thread_id": contact} if inbound else {},
    }
    return json.dumps(body, ensure_ascii=False)


async def seed(redis, keys: Keys, conversations: int, messages: int, rng: random.Random):
    """Bulk writes in the inbox's layout; answers (texts for the baseline, seconds)."""
    started = time.perf_counter()
    texts: list[str] = []
    now = int(time.time() * 1000)
    per = max(1, messages // conversations)
    pipe = redis.pipeline(transaction=False)
    for n in range(conversations):
        conv, contact = f"cv{n:07d}", f"ct{n:07d}"
        channel, kind = CHANNELS[n % len(CHANNELS)]
        at = now - rng.randrange(0, 90 * 86_400_000)
        log = {}
        for seq in range(1, per + 1):
            raw = message_json(rng, seq, contact, at + seq * 60_000)
            log[str(seq)] = raw
            texts.append(json.loads(raw)["text"])
        pipe.hset(keys.messages(conv), mapping=log)
        pipe.hset(keys.conversation(conv), mapping={
            "id": conv, "contact_id": contact, "channel_id": channel, "channel_type": kind,
            "thread_key": contact, "status": rng.choice(STATUSES), "priority": "normal",
            "created_at": at, "updated_at": at + per * 60_000, "last_seq": per,
            "weight": "1", "contact_external_id": contact,
        })  # fmt: skip
        name = rng.choice(NAMES) + str(n % 97)
        pipe.hset(keys.contact(contact), mapping={
            "id": contact, "name": name, "created_at": at,
            "identities": f"{channel}:{contact}", "phone": f"1{rng.randrange(10**9, 10**10)}",
        })  # fmt: skip
        pipe.zadd(keys.contact_conversations(contact), {conv: at + per * 60_000})
        pipe.zadd(keys.conversations_index(), {conv: at + per * 60_000})
        if len(pipe) >= 2_000:
            await pipe.execute()
    await pipe.execute()
    return texts, time.perf_counter() - started


async def message_memory(redis, keys: Keys, conversations: int, sample: int) -> float:
    """Bytes per message of the message logs (MEMORY USAGE, exact, on a sample)."""
    step = max(1, conversations // sample)
    pipe = redis.pipeline(transaction=False)
    chosen = list(range(0, conversations, step))
    for n in chosen:
        pipe.memory_usage(keys.messages(f"cv{n:07d}"), samples=0)
        pipe.hlen(keys.messages(f"cv{n:07d}"))
    answers = await pipe.execute()
    size = sum(answers[0::2])
    count = sum(answers[1::2])
    return size / count


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


async def timed(queries: list[str], run) -> tuple[dict[str, float], float, float]:
    """Latency figures, CPU ms per query, queries per second (one after another)."""
    samples = []
    cpu = time.process_time()
    wall = time.perf_counter()
    for query in queries:
        started = time.perf_counter()
        await run(query)
        samples.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu) / len(queries)
    rate = len(queries) / (time.perf_counter() - wall)
    return figures(samples), round(cpu * 1000, 2), round(rate, 1)


async def bench(url: str, scale: float, queries: int, seed_value: int) -> dict:
    rng = random.Random(seed_value)
    conversations = max(10, int(100_000 * scale))
    messages = max(100, int(1_000_000 * scale))
    redis = connect(url)
    keys = Keys("bench")
    texts, seed_seconds = await seed(redis, keys, conversations, messages, rng)
    per_message_redis = await message_memory(redis, keys, conversations, 2_000)

    search = Search(redis, keys)
    search.indexer.analyzer.tokens("预热 warm up 發票")  # the dictionaries load before RSS
    gc.collect()
    rss_before = rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    await search.indexer.poll()  # the rebuild, as at start
    rebuild = time.perf_counter() - started
    rebuild_cpu = time.process_time() - cpu_started  # this process's threads (not Redis)
    index = search.indexer.conversations
    started = time.perf_counter()
    index.compact_now()  # already compact after a rebuild: a no-op
    compact = time.perf_counter() - started
    gc.collect()
    rss_growth = rss() - rss_before
    counted = index.nbytes() + search.indexer.contacts.nbytes()
    stored = len(texts)

    # Serving: this process takes the search lease (one index per deployment) and answers its
    # searches here; its poll keeps running meanwhile, as in a gateway.
    await search.start()
    while not search.holding:  # noqa: ASYNC110 (a flag of the service, polled briefly)
        await asyncio.sleep(0.01)

    admin = Viewer("u-admin", Role.ADMIN)
    agent = Viewer("u-agent", Role.AGENT)
    asked = [QUERIES[i % len(QUERIES)] for i in range(queries)]
    await search.conversations(admin, "发票", Filters(), limit=20, offset=0)  # warm

    shown: list[int] = []

    async def by_text(query: str) -> None:
        page = await search.conversations(admin, query, Filters(), limit=20, offset=0)
        shown.append(len(page.items))

    async def as_agent(query: str) -> None:
        await search.conversations(agent, query, Filters(), limit=20, offset=0)

    async def filtered(query: str) -> None:
        await search.conversations(admin, query, Filters(status="open"), limit=20, offset=0)

    async def customers(query: str) -> None:
        await search.customers(admin, query, limit=20, offset=0)

    folded = [fold(t) for t in texts]

    async def scan(query: str) -> None:  # the baseline: every text, every query
        needles = [fold(word) for word in query.split()]
        [i for i, t in enumerate(folded) if all(n in t for n in needles)]

    names = ["王芳", "张伟", "Alice", "李伟1", "138", "Emma4"]
    out = {
        "conversations": conversations,
        "messages": stored,
        "seed_seconds": round(seed_seconds, 1),
        "rebuild_seconds": round(rebuild, 1),
        "rebuild_cpu_seconds": round(rebuild_cpu, 1),
        "compact_seconds": round(compact, 2),
        "redis_bytes_per_message": round(per_message_redis, 1),
        "index_bytes_per_message": round(counted / stored, 1),
        "index_rss_bytes_per_message": round(rss_growth / stored, 1),
        "index_share": round(counted / stored / per_message_redis, 3),
        "conversation_index_bytes_per_message": round(index.nbytes() / stored, 1),
        "postings_bytes_per_message": round(index.postings.nbytes / stored, 1),
        "contact_index_bytes_per_contact": round(
            search.indexer.contacts.nbytes() / max(1, len(search.indexer.contacts)), 1
        ),
        "index_rss_share": round(rss_growth / stored / per_message_redis, 3),
    }
    for name, run, n in (
        ("search", by_text, queries),
        ("search_as_agent", as_agent, queries),
        ("search_status_open", filtered, queries),
        ("customers", customers, queries),
        ("baseline_scan", scan, min(queries, 40)),
    ):
        chosen = [names[i % len(names)] for i in range(n)] if run is customers else asked[:n]
        stats, cpu, rate = await timed(chosen, run)
        out[name] = {**stats, "cpu_ms_per_query": cpu, "queries_per_second": rate}
    out["search"]["results_per_query"] = round(statistics.mean(shown), 1)
    await search.stop()
    await redis.aclose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 100k / 1M")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        with EmbeddedRedis(Path(tmp), ["--appendonly", "no", "--save", ""]) as server:
            out = asyncio.run(bench(server.url, args.scale, args.queries, args.seed))
    out["total_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['conversations']:,} conversations, {out['messages']:,} messages "
          f"(seeded in {out['seed_seconds']} s, index rebuilt in {out['rebuild_seconds']} s "
          f"at {out['rebuild_cpu_seconds']} s CPU, "
          f"compacted in {out['compact_seconds']} s; {out['total_seconds']} s in all)")  # fmt: skip
    print(
        f"memory per message: Redis message logs {out['redis_bytes_per_message']} B; index "
        f"{out['index_bytes_per_message']} B counted ({out['index_share']:.0%}), "
        f"{out['index_rss_bytes_per_message']} B RSS growth ({out['index_rss_share']:.0%}); "
        f"of which conversations {out['conversation_index_bytes_per_message']} B (postings "
        f"{out['postings_bytes_per_message']} B), contacts "
        f"{out['contact_index_bytes_per_contact']} B per contact"
    )
    print(f"results per search (limit 20): {out['search']['results_per_query']}")
    print(f"{'':22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU ms/q':>9} {'q/s':>7}")
    for name in ("search", "search_as_agent", "search_status_open", "customers",
                 "baseline_scan"):  # fmt: skip
        f = out[name]
        print(f"{name:22} {f['p50']:8} {f['p95']:8} {f['max']:8} {f['cpu_ms_per_query']:9} "
              f"{f['queries_per_second']:7}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
