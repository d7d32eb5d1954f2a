"""The conversations ours and a peer miss on one suite seed: channel, class, arrival (minutes
from midnight), target, and the first offer, accept and reply after arrival (s).

    .venv/bin/python bench/results/suite_missed.py FAMILY INDEX PEER [DRAW [SEEDS]]

DRAW and SEEDS as `gateway simulate-suite --draw --seeds` (defaults 0 and 20).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import Any

from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis
from router.scenario import Arrival, Scenario, arrivals
from router.simulator import Simulation
from router.suite import generate


async def run(sc: Scenario, day: list[Arrival], policy: str, url: str, prefix: str) -> Any:
    client = connect(url)
    try:
        sim = Simulation(sc, policy, client, prefix, day)
        return sim, await sim.run()
    finally:
        await client.aclose()


def main() -> int:
    family, index, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    draw = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    seeds = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    sc = generate(family, index, seeds, draw=draw)
    day = arrivals(sc)
    with tempfile.TemporaryDirectory(prefix="gw-missed-") as tmp:
        embedded = EmbeddedRedis(tmp, ["--appendonly", "no"])
        url = embedded.start()
        try:
            for n, policy in enumerate(("ours", peer)):
                sim, res = asyncio.run(run(sc, day, policy, url, f"m{n}"))
                records = list(sim.records.values()) + list(sim.finished)
                missed = [r for r in records if not r.attained]
                print(policy, res["sla_attainment"], res["conversations"], "missed", len(missed))
                for r in missed:
                    a = r.arrival

                    def after(t: int | None, at: int = a.at) -> float | None:
                        return None if t is None else round((t - at) / 1000, 1)

                    print(
                        f"  {a.channel} {r.class_name} at {(a.at - sc.start_ms) / 60000:.2f} min"
                        f" target {r.target_s:.0f}s offer +{after(r.first_offer_at)}"
                        f" accept +{after(r.accepted_at)} reply +{after(r.responded_at)}"
                        f" offers {r.offers} agent {r.agent} missed by {sorted(r.missed_by)}"
                    )
        finally:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
