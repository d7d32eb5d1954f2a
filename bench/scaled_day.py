"""One scenario at a scaled load, for chosen policies, one process: the overload figures of
docs/routing.md section 7.

    .venv/bin/python bench/scaled_day.py [--scenario peak-day] [--scale 1.25]
                                         [--policies ours,twilio-taskrouter] [--json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_peak_day import scaled

from router.scenario import load_scenario
from router.simulator import format_table, simulate, to_json


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="peak-day")
    parser.add_argument("--scale", type=float, default=1.25)
    parser.add_argument("--policies", default="ours,twilio-taskrouter")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = load_scenario(args.scenario)
    scenario = scaled(base, args.scale, base.seed)
    results = simulate(scenario, tuple(args.policies.split(",")), processes=1)
    print(to_json(scenario, results) if args.json else format_table(scenario, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
