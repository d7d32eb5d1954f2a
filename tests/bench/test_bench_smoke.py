"""The WebSocket benchmarks run end to end at a tiny size and print their figures (no timing
assertions: speed is judged by reading the figures, see docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_e2e_latency_prints_every_figure():
    result = _run("e2e_latency.py", "--seconds", "1", "--rates", "5", "--warmup", "0.4")
    assert result["settings"]["rates"] == [5.0]
    run = result["5.0"]
    for name in ("bare", "bare-json", "gateway"):
        assert run[name]["statuses"] == {"202": 5}
        assert run[name]["missing"] == 0
        assert run[name]["figures"]["count"] == 5
        assert run[name]["figures"]["p50"] > 0
        assert run[name]["cpu_ms_per_message"] >= 0
    for ratio in ("ratio", "ratio_json"):  # the gateway's to each baseline's
        assert set(run[ratio]) == {"p50", "p90", "p99", "max"}


def test_websockets_prints_memory_and_fanout():
    result = _run("websockets.py", "--visitors", "6", "--agents", "3", "--replies", "2",
                  "--trials", "1", "--reply-trials", "1", "--settle", "0")  # fmt: skip
    for name in ("baseline", "gateway"):
        side = result[name]
        assert side["agents"]["connected"] == 3 and side["visitors"]["connected"] == 6
        assert side["rss_after_mib"] > 0
        assert side["agent_event"]["figures"]["count"] == 3
        assert side["visitor_reply"]["figures"]["count"] == 2
        assert side["agent_event"]["missing"] == side["visitor_reply"]["missing"] == 0
    assert result["gateway"]["visitor_reply"]["statuses"] == {"201": 2}
