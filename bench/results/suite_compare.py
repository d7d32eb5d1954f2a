"""Ours from a new suite run (``--policies ours``) against the peers of earlier runs, per seed.

The peers' code did not change, so their figures stand: the exact ones from suite JSON files,
or the progress log's (one line per run, attainment rounded to 0.1 point) where the JSON of
that pass was never written. Extra JSON files given later override earlier figures (a rerun
of some peers on some seeds). Prints per family: ours new and old, the best peer, the margin,
the realized load, and the seeds behind the best peer / under +5 points at a realized load
of 1.2x or more.

    .venv/bin/python bench/results/suite_compare.py NEW.json --old OURS_OLD.json... \
        --peers-log PROGRESS.log --peers PEERS.json...
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

LINE = re.compile(r"^\[\d+/\d+\] (\w+) #(\d+) ([\w-]+): ([\d.]+)% in")


def from_json(paths: list[str], policy_filter: Any) -> dict[tuple[str, int, str], dict[str, Any]]:
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            rep = json.load(fh)
        for family, fam in rep["families"].items():
            for seed in fam["seeds"]:
                for policy, fig in seed["policies"].items():
                    if policy_filter(policy):
                        n = fig["conversations"]
                        out[(family, seed["index"], policy)] = {
                            "attainment": fig["attainment"], "n": n, "exact": True,
                            "missed": round(n * (1 - fig["attainment"])),
                        }  # fmt: skip
    return out


def from_log(path: str) -> dict[tuple[str, int, str], dict[str, Any]]:
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = LINE.match(line)
            if m and m.group(3) != "ours":
                out[(m.group(1), int(m.group(2)), m.group(3))] = {
                    "attainment": float(m.group(4)) / 100, "exact": False,
                }  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("--old", nargs="*", default=[])
    ap.add_argument("--peers-log")
    ap.add_argument("--peers", nargs="*", default=[])
    args = ap.parse_args()
    with open(args.new, encoding="utf-8") as fh:
        new = json.load(fh)
    old = from_json(args.old, lambda p: p == "ours")
    peers = from_log(args.peers_log) if args.peers_log else {}
    peers.update(from_json(args.peers, lambda p: p != "ours"))
    for family, fam in new["families"].items():
        behind, under5, margins = [], [], []
        print(f"\n{family}")
        for seed in fam["seeds"]:
            i = seed["index"]
            ours = seed["policies"]["ours"]
            mine = ours["attainment"]
            cands = {p: v for (f, j, p), v in peers.items() if f == family and j == i}
            best = max(cands, key=lambda p: cands[p]["attainment"]) if cands else None
            b = cands[best] if best else None
            margin = None if b is None else mine - b["attainment"]
            margins.append(margin)
            was = old.get((family, i, "ours"))
            load = seed.get("realized_load")
            n = ours["conversations"]
            missed = round(n * (1 - mine))

            def pct(v: dict[str, Any] | None) -> str:
                return "-" if v is None else f"{v['attainment'] * 100:6.2f}%"

            rounded = "" if b is None or b["exact"] else " (0.1)"
            gap = "-" if margin is None else f"{margin * 100:+.2f}"
            print(
                f"  #{i:<2} ours {mine * 100:6.2f}% ({missed} missed of {n}) was {pct(was)}"
                f"  best peer {pct(b)}{rounded} {best or ''}  margin {gap}"
                f"  load {'-' if load is None else f'{load:.2f}x'}"
            )
            if margin is not None and margin < -1e-9:
                behind.append((i, round(margin * 100, 2), best))
            if margin is not None and load is not None and load >= 1.2 - 1e-9 and margin < 0.05:
                under5.append((i, round(margin * 100, 2), load))
        print(f"  behind the best peer: {behind}")
        print(f"  under +5 points at a realized load >= 1.2x: {under5}")
        got = [f"{m * 100:+.1f}" for m in margins if m is not None]
        if got:
            print(f"  margin per seed: {', '.join(got)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
