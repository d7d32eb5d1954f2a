"""Benchmark: the shipped peak day under our routing policy and the peers', on the production
router code (gateway simulate). Prints the comparison, checks the targets, writes JSON and a
PNG chart. Not a test: the numbers depend on the scenario and the seed.

    .venv/bin/python bench/simulate_peak_day.py [--seeds 3] [--scale 1.0] [--out DIR]

--seeds N   run N days (seed, seed+1, ...) and report each, to see how robust the ranking is
--scale F   multiply every arrival rate (1.1 = a day 10% busier than staffed for)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from router.chart import write_chart
from router.scenario import Scenario, load_scenario
from router.simulator import format_table, simulate

TARGETS = "ours: >=90% chat-like first responses within 3 min at peak, every urgent within " \
    "15 min, channel parity <= 1.15, SLA attainment above every peer"  # fmt: skip


def scaled(scenario: Scenario, factor: float, seed: int) -> Scenario:
    channels = {
        name: replace(spec, rates=tuple(r * factor for r in spec.rates))
        for name, spec in scenario.channels.items()
    }
    bursts = tuple(replace(b, count=round(b.count * factor)) for b in scenario.bursts)
    return replace(scenario, channels=channels, bursts=bursts, seed=seed)


def check(results: list[dict]) -> dict[str, bool]:
    ours = next(r for r in results if r["policy"] == "ours")
    peers = [r for r in results if r["policy"] != "ours"]
    return {
        "peak_within_3min>=90%": ours["peak_within_3min"] >= 0.90,
        "urgent_within_15min=100%": ours["urgent_within_15min"] == 1.0,
        "parity_chat_like_normal<=1.15": ours["parity"] <= 1.15,
        "parity_same_weight<=1.15": ours["parity_same_weight"] <= 1.15,
        "parity_chat_like_all_classes<=1.15": ours["parity_chat_like_all_classes"] <= 1.15,
        "parity_raw_every_channel<=1.15": ours["parity_raw"] <= 1.15,
        "beats_every_peer": all(ours["sla_attainment"] > p["sla_attainment"] for p in peers),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="peak-day")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    base = load_scenario(args.scenario)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(TARGETS)
    summary = []
    for n in range(args.seeds):
        scenario = scaled(base, args.scale, base.seed + n)
        started = time.perf_counter()
        results = simulate(scenario, processes=args.processes)
        elapsed = time.perf_counter() - started
        print()
        print(format_table(scenario, results))
        verdict = check(results)
        print(f"seed {scenario.seed}, scale {args.scale}: {elapsed:.0f} s; targets: {verdict}")
        stem = f"{scenario.name}-seed{scenario.seed}-x{args.scale:g}"
        (out / f"{stem}.json").write_text(
            json.dumps({"seed": scenario.seed, "scale": args.scale, "elapsed_s": elapsed,
                        "targets": verdict, "policies": results}, indent=2)
        )  # fmt: skip
        write_chart(out / f"{stem}.png", results, f"{stem}: first-response wait per channel")
        ours = next(r for r in results if r["policy"] == "ours")
        summary.append((scenario.seed, {r["policy"]: r["sla_attainment"] for r in results}, ours))
    print()
    for seed, attainment, ours in summary:
        print(f"seed {seed}: " + ", ".join(f"{p} {a * 100:.2f}%" for p, a in attainment.items()))
        low, high = ours["parity_interval_90"]
        print(f"  ours: parity chat-like normal {ours['parity']:.2f} (90% bootstrap "
              f"{low:.2f}-{high:.2f}), all classes {ours['parity_chat_like_all_classes']:.2f}, "
              f"raw {ours['parity_raw']:.2f}; within 3 min at peak "
              f"{ours['peak_within_3min'] * 100:.1f}%")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
