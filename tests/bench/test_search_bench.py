"""bench/search.py runs end to end at a tiny size and prints its figures beside the baseline
(no timing assertions: speed is judged by reading the figures, see docs/performance.md)."""

from __future__ import annotations

from tests.bench.test_bench_smoke import _run


def test_search_bench_prints_latency_memory_and_baseline():
    result = _run("search.py", "--scale", "0.002", "--queries", "20")
    assert result["conversations"] == 200 and result["messages"] == 2000
    assert result["redis_bytes_per_message"] > 0 and result["index_bytes_per_message"] > 0
    for name in ("search", "search_as_agent", "search_status_open", "customers",
                 "baseline_scan"):  # fmt: skip
        figures = result[name]
        assert figures["count"] > 0 and figures["p95"] >= figures["p50"] > 0, name
        assert figures["cpu_ms_per_query"] >= 0 and figures["queries_per_second"] > 0, name
