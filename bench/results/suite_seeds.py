"""Some seeds of the suite, not whole families: the same runs and JSON shape as
``gateway simulate-suite`` (router/suite.py), for reruns of single seeds.

    .venv/bin/python bench/results/suite_seeds.py overload:1,overload:16,missed:16 \
        --policies chatwoot-v1-round-robin,twilio-taskrouter --processes 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from gateway.redis_server import EmbeddedRedis
from router.suite import FULL_SEEDS, Job, _collect, _run, generate, report


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("seeds", help="family:index,...")
    ap.add_argument("--policies", required=True)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    policies = tuple(args.policies.split(","))
    wanted = [(f, int(i)) for f, i in (s.split(":") for s in args.seeds.split(","))]
    jobs = [
        Job(f, i, p, generate(f, i, FULL_SEEDS), f"ss{n}x{k}")
        for n, (f, i) in enumerate(wanted)
        for k, p in enumerate(policies)
    ]
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    started = time.monotonic()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gw-seeds-") as tmp:
        embedded = EmbeddedRedis(tmp, ["--appendonly", "no"])
        url = embedded.start()
        try:
            if args.processes <= 1:
                _collect((_run((j, url)) for j in jobs), runs, jobs, started, progress)
            else:
                with ProcessPoolExecutor(max_workers=args.processes) as pool:
                    futures = [pool.submit(_run, (j, url)) for j in jobs]
                    outcomes = (f.result() for f in as_completed(futures))
                    _collect(outcomes, runs, jobs, started, progress)
        finally:
            embedded.stop()
    families = list(dict.fromkeys(f for f, _ in wanted))
    rep = report(runs, families, FULL_SEEDS, policies, False, time.monotonic() - started)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(rep, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
