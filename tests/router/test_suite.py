"""The scenario suite at its quick (CI) size: every family generated, every policy run, and the
report's structure: the worst seed per family and figure, and the targets computed (not that
they are met: docs/routing.md records the full suite)."""

from __future__ import annotations

from router.simulator import POLICIES
from router.suite import FAMILIES, QUICK_SEEDS, format_report, generate, run_suite


def test_families_are_seeded_and_cover_the_issue():
    assert set(FAMILIES) == {
        "load", "overload", "night", "spike", "skills", "returning", "missed",
    }  # fmt: skip
    a, b = generate("spike", 1, 20), generate("spike", 1, 20)
    assert a == b  # the seed decides everything drawn
    spikes = [generate("spike", i, 20).bursts[0].count for i in (0, 19)]
    assert spikes == [50, 500]
    night = generate("night", 0, 20)
    assert sum(g.count for g in night.agents) == 3
    assert [g.supervisor for g in night.agents].count(True) == 1
    assert generate("returning", 0, 20).behaviour.reopen_hours > 0
    misses = [generate("missed", i, 20).behaviour.miss_rate for i in (0, 19)]
    assert misses == [0.1, 0.3]


def test_quick_suite_reports_the_worst_seed_of_every_family():
    lines: list[str] = []
    report = run_suite(list(FAMILIES), 1, POLICIES, processes=1, quick=True, progress=lines.append)
    assert len(lines) == len(FAMILIES) * len(POLICIES)  # progress, one line per run
    assert report["quick"] and report["seeds_per_family"] == 1 and QUICK_SEEDS >= 1
    for name, family in report["families"].items():
        assert set(family["worst"]) == set(POLICIES)
        for figures in family["worst"].values():
            assert figures["attainment"]["value"] >= 0 and "seed" in figures["attainment"]
            assert figures["idle_s"]["value"] >= 0
        margin = family["worst_margin_vs_best_peer"]
        assert margin["best_peer"] in POLICIES and margin["best_peer"] != "ours"
        targets = family["targets"]
        assert "urgent_15min=100%" in targets and "idle_with_work=0s" in targets
        assert all(v in (True, False, None) for v in targets.values())
        if name == "overload":
            assert "attainment>=best_peer+5pt" in targets
        if name == "spike":
            assert targets["incident_by_senior_30min=100%"] is not None
    text = format_report(report)
    assert "WORST seed" in text and "spike" in text
