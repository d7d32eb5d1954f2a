"""Latency figures shared by the benchmarks: percentiles of a list of seconds, as milliseconds."""

from __future__ import annotations

import math

POINTS = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(seconds: list[float]) -> dict[str, float]:
    """count, p50 / p90 / p99 / max in milliseconds."""
    values = sorted(seconds)
    out: dict[str, float] = {"count": len(values)}
    for name, pct in POINTS:
        out[name] = round(percentile(values, pct) * 1000, 2)
    out["max"] = round(values[-1] * 1000, 2) if values else 0.0
    return out


def line(label: str, figures: dict[str, float], width: int = 30) -> str:
    return (
        f"{label:{width}s}: p50 {figures['p50']:8.2f} ms  p90 {figures['p90']:8.2f} ms  "
        f"p99 {figures['p99']:8.2f} ms  max {figures['max']:8.2f} ms  "
        f"(n={int(figures['count'])})"
    )


def ratios(gateway: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """gateway / baseline for each percentile (how many times slower the gateway is)."""
    out = {}
    for key in ("p50", "p90", "p99", "max"):
        out[key] = round(gateway[key] / baseline[key], 2) if baseline[key] else 0.0
    return out


def ratio_line(label: str, figures: dict[str, float], width: int = 30) -> str:
    return (
        f"{label:{width}s}: p50 {figures['p50']:7.1f}x     p90 {figures['p90']:7.1f}x     "
        f"p99 {figures['p99']:7.1f}x     max {figures['max']:7.1f}x"
    )
