"""How much of a one-conversation gap between ours and the best peer is luck: the same day (the
same arrivals, texts, handle times) run again with the agents' per-offer draws (accept delay,
missed offer; router/scenario.py offer_draw) re-drawn from another seed, K times, under ours
and the given peer. Prints each draw's attainment and misses, and how often ours is behind.

    .venv/bin/python bench/results/suite_perturb.py FAMILY INDEX PEER [K]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import replace

from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis
from router.scenario import arrivals
from router.simulator import Simulation
from router.suite import generate


async def one(scenario, day, policy: str, url: str, prefix: str) -> dict:  # type: ignore[no-untyped-def]
    client = connect(url)
    try:
        return await Simulation(scenario, policy, client, prefix, day).run()
    finally:
        await client.aclose()


def main() -> int:
    family, index, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    draws = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    base = generate(family, index, 20)
    day = arrivals(base)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gw-perturb-") as tmp:
        embedded = EmbeddedRedis(tmp, ["--appendonly", "no"])
        url = embedded.start()
        try:
            for k in range(draws):
                scenario = base if k == 0 else replace(base, seed=base.seed * 100 + k)
                row = {"draw": k}
                for n, policy in enumerate(("ours", peer)):
                    r = asyncio.run(one(scenario, day, policy, url, f"pt{k}x{n}"))
                    missed = round(r["conversations"] * (1 - r["sla_attainment"]))
                    row[policy] = {"attainment": r["sla_attainment"], "missed": missed}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            embedded.stop()
    behind = sum(r["ours"]["attainment"] < r[peer]["attainment"] for r in rows)
    ahead = sum(r["ours"]["attainment"] > r[peer]["attainment"] for r in rows)
    print(f"{family} #{index}: ours behind {peer} on {behind} of {draws} draws, ahead on {ahead}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
