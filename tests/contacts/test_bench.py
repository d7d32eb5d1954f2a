"""bench/contact_merge.py runs end to end at a tiny size and prints every figure (speed is read
from the figures, not asserted: docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_contact_merge_bench_prints_merge_undo_and_baselines():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "contact_merge.py"), "--conversations", "20",
         "--trials", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["conversations_each"] == 20
    assert set(result["results"]) == {"zunionstore", "zunion+hset", "merge", "undo"}
    for row in result["results"].values():
        assert row["wall_ms_median"] > 0 and row["per_second"] > 0 and row["command_ms"] > 0
