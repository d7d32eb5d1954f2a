"""Benchmark: routing assignments per second with 100, 1,000 and 10,000 online agents and
100,000 waiting conversations, on the production router code (RouterStore + RouterWorker
.assign_round) against an embedded Redis. Also counts the Redis commands per claim (MONITOR).

    .venv/bin/python bench/routing.py [--waiting 100000] [--assignments 2000]
                                           [--agents 100,1000,10000]

Target: the 10,000-agent rate at least 70% of the 100-agent rate, and a bounded number of Redis
round trips per claim. Read the ratio: absolute rates drift with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.asyncio as aioredis

from gateway.keys import Keys
from gateway.redis_server import EmbeddedRedis
from router.store import RouterStore
from router.worker import RouterConfig, RouterWorker

CAPACITY = 30  # per agent: 100 agents x 30 leave room for every measured assignment
BATCH = 5000  # commands per pipeline when filling Redis


async def _no_notify(*_args: object) -> None:
    return None


async def fill(client: aioredis.Redis, keys: Keys, store: RouterStore, agents: int,
               waiting: int) -> None:  # fmt: skip
    now = int(time.time() * 1000)
    for start in range(0, waiting, BATCH):
        pipe = client.pipeline(transaction=False)
        queue: dict[str, float] = {}
        for i in range(start, min(waiting, start + BATCH)):
            conv = f"cv{i:07d}"
            due = now + 60_000 + i  # distinct deadlines: a stable earliest-deadline order
            pipe.hset(keys.conversation(conv), mapping={
                "id": conv, "status": "open", "channel_type": "webchat", "weight": 1,
                "priority": "normal", "priority_rank": 3, "waiting_since": now,
                "created_at": now, "first_response_due": due, "queue_due": due, "last_seq": 1,
            })  # fmt: skip
            queue[conv] = due
        pipe.zadd(keys.queue(), queue)
        await pipe.execute()
    for start in range(0, agents, BATCH // 2):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(agents, start + BATCH // 2)):
            agent = f"ag{i:06d}"
            pipe.hset(keys.agent(agent), mapping={
                "id": agent, "name": agent, "capacity": CAPACITY, "load": 0,
                "teams": "[]", "skills": "[]", "languages": "[]", "supervisor": "0",
            })  # fmt: skip
            await store._presence(  # the production presence script, queued on the pipeline
                keys=[keys.agent(agent), keys.agents_presence(), keys.agents_available(),
                      keys.agent_cards()],
                args=[agent, "online", now, store.room_channel], client=pipe,
            )  # fmt: skip
        await pipe.execute()


@dataclass
class Setup:
    agents: int
    client: aioredis.Redis
    keys: Keys
    store: RouterStore
    worker: RouterWorker
    rates: list[float] = field(default_factory=list)
    assigned: int = 0


async def prepare(url: str, agents: int, waiting: int) -> Setup:
    client = aioredis.from_url(url, decode_responses=True)
    keys = Keys("b" + secrets.token_hex(4))
    store = RouterStore(client, keys)
    config = RouterConfig(
        offer_timeout_ms=600_000, heartbeat_ttl_ms=600_000, sweep_seconds=60, max_missed_offers=3
    )
    worker = RouterWorker(store, config, _no_notify)
    await fill(client, keys, store, agents, waiting)
    await worker.assign_round()  # warm: scripts loaded, policy read
    return Setup(agents, client, keys, store, worker)


async def segment(setup: Setup, assignments: int) -> float:
    """Assignment rounds until ``assignments`` offers were made; returns offers per second."""
    done = 0
    started = time.perf_counter()
    while done < assignments:
        made = await setup.worker.assign_round()
        if made == 0:
            break
        done += made
    elapsed = time.perf_counter() - started
    setup.assigned += done
    return done / elapsed


async def measure(url: str, counts: list[int], waiting: int, per_segment: int,
                  reps: int) -> list[Setup]:  # fmt: skip
    """Fill every configuration first, then alternate measured segments between them, so a
    burst of load from elsewhere on the machine does not favour one configuration."""
    setups = []
    for agents in counts:
        started = time.perf_counter()
        setups.append(await prepare(url, agents, waiting))
        print(f"filled {agents} agents + {waiting} waiting in "
              f"{time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
    for _ in range(reps):
        for setup in setups:
            setup.rates.append(await segment(setup, per_segment))
    for setup in setups:
        await setup.client.aclose()
    return setups


def count_commands(sock: str, url: str, agents: int, rounds: int) -> tuple[int, Counter[str]]:
    """Run ``rounds`` assignment rounds under MONITOR; returns (offers made, commands sent by
    the router, script-internal commands excluded)."""
    sent = Counter[str]()
    ready = threading.Event()

    def watch() -> None:
        with redis.Redis(unix_socket_path=sock).monitor() as mon:
            ready.set()
            for cmd in mon.listen():
                if cmd["command"] == "ECHO bench-start":
                    sent.clear()
                    continue
                if cmd["command"] == "ECHO bench-stop":
                    return
                if cmd.get("client_type") != "lua":
                    sent[cmd["command"].split(" ", 1)[0].upper()] += 1

    async def run() -> int:
        client = aioredis.from_url(url, decode_responses=True)
        keys = Keys("m" + secrets.token_hex(4))
        store = RouterStore(client, keys)
        config = RouterConfig(600_000, 600_000, 60, 3)
        worker = RouterWorker(store, config, _no_notify)
        await fill(client, keys, store, agents, 2000)
        await worker.assign_round()
        await client.echo("bench-start")
        made = 0
        for _ in range(rounds):
            made += await worker.assign_round()
        await client.echo("bench-stop")
        await client.aclose()
        return made

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    made = asyncio.run(run())
    thread.join(30)
    return made, sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--assignments", type=int, default=2000)
    parser.add_argument("--agents", default="100,1000,10000")
    parser.add_argument("--reps", type=int, default=4, help="alternating segments per setup")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = sorted(int(a) for a in args.agents.split(","))
    per_segment = args.assignments // args.reps
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        with EmbeddedRedis(Path(tmp), ["--appendonly", "no"]) as server:
            setups = asyncio.run(measure(server.url, counts, args.waiting, per_segment, args.reps))
            made, sent = count_commands(str(server.socket_path), server.url, counts[-1], 10)
    rates = {}
    for setup in setups:
        rates[setup.agents] = statistics.median(setup.rates)
        shown = ", ".join(f"{r:.0f}" for r in setup.rates)
        print(f"{setup.agents:6d} agents, {args.waiting} waiting: {rates[setup.agents]:8.0f} "
              f"assignments/s median ({setup.assigned} offers; segments {shown})")  # fmt: skip
    ratio = rates[counts[-1]] / rates[counts[0]]
    print(f"ratio {counts[-1]}/{counts[0]} agents: {ratio:.1%} (target >= 70%)")
    total = sum(sent.values())
    detail = ", ".join(f"{n} {c}" for c, n in sent.most_common())
    print(
        f"redis commands per claim ({counts[-1]} agents, {made} offers in 10 rounds): "
        f"{total / max(made, 1):.2f} ({detail}); no pipelines, so commands = round trips"
    )
    if args.json:
        json.dump({"rates": rates, "ratio": ratio, "commands": dict(sent), "offers": made},
                  sys.stdout)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
