"""Benchmark: the group commit's client CPU per command, redis-py's pipeline against the wire
(gateway/redis_wire.py), on an embedded Redis, in the same run.

    .venv/bin/python bench/redis_wire.py [--batches 3000] [--batch 8] [--rounds 3]

Each batch is ``--batch`` script calls shaped like the ingest script's (3 keys, 29 arguments of
mixed sizes) sent as one pipeline and awaited; rounds alternate the two senders. Printed per
sender: batches per second and this process's CPU per command (user + system, Redis apart),
medians over the rounds, and the ratio of the wire's CPU to the pipeline's (the figure that
counts: on a shared machine the rates drift, the ratio much less).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time

from gateway.redis_client import RedisClient, connect
from gateway.redis_server import EmbeddedRedis
from gateway.redis_wire import Wire

SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); return {ARGV[2], #ARGV}"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _batch(sha: str, size: int, n: int) -> list[tuple[object, ...]]:
    args = ["x" * 40, "y" * 120, "z" * 400, 1733400000000, 0, "web", *(f"a{i}" for i in range(23))]
    return [
        ("EVALSHA", sha, 3, f"{{b}}:k{n}:{i}", f"{{b}}:c{i}", "{b}:q", *args) for i in range(size)
    ]


async def _pipeline(redis: RedisClient, commands: list[tuple[object, ...]]) -> list[object]:
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return await pipe.execute(raise_on_error=False)


async def _round(redis: RedisClient, wire: Wire, sender: str, sha: str, args: argparse.Namespace):
    start, cpu = time.perf_counter(), _cpu()
    for n in range(args.batches):
        commands = _batch(sha, args.batch, n % 100)
        if sender == "pipeline":
            replies = await _pipeline(redis, commands)
        else:
            replies = await wire.send(commands)
        assert len(replies) == args.batch and not any(isinstance(r, Exception) for r in replies)
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    return args.batches / elapsed, used / (args.batches * args.batch) * 1e6


async def main(url: str, args: argparse.Namespace) -> None:
    redis = connect(url)
    sha = await redis.script_load(SCRIPT)
    wire = Wire(redis)
    results: dict[str, list[tuple[float, float]]] = {"pipeline": [], "wire": []}
    for round_no in range(1, args.rounds + 1):
        for sender in results:
            rate, cpu_us = await _round(redis, wire, sender, sha, args)
            results[sender].append((rate, cpu_us))
            print(
                f"round {round_no} {sender:8}: {rate:8.0f} batches/s, "
                f"{cpu_us:6.1f} us CPU per command"
            )
    await wire.close()
    await redis.aclose()
    print(
        f"\n{args.batch} script calls per batch, {args.batches} batches per round, "
        f"medians of {args.rounds}"
    )
    medians = {}
    for sender, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        cpu_us = statistics.median(c for _, c in rows)
        medians[sender] = cpu_us
        print(f"{sender:8}: {rate:8.0f} batches/s  {cpu_us:6.1f} us CPU per command")
    print(f"wire CPU per command / pipeline's: {medians['wire'] / medians['pipeline']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, EmbeddedRedis(data_dir) as server:
        asyncio.run(main(server.url, arguments))
