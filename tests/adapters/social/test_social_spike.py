"""Spike detection: the pure rule on synthetic series (property tests), and the Redis counters,
alerts and report built on it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.social.spike import (
    MentionVolume,
    SpikeRule,
    bucket_start,
    is_spike,
    mention_report,
    spike_starts,
)

RULE = SpikeRule()  # 4x the trailing hour's mean, at least 10 mentions
BUCKET_MS = RULE.bucket_seconds * 1000


@st.composite
def steady(draw, min_len: int = 1, max_len: int = 200, base: int | None = None):
    """A steady series with noise: every bucket within +-50% of a base level."""
    level = base if base is not None else draw(st.integers(1, 200))
    lo, hi = math.ceil(level * 0.5), math.floor(level * 1.5)
    values = draw(st.lists(st.integers(lo, hi), min_size=min_len, max_size=max_len))
    return level, values


@settings(max_examples=300, deadline=None)
@given(steady(min_len=12, max_len=12), st.data())
def test_no_alert_on_a_steady_noisy_series(history, data) -> None:
    level, before = history
    _, series = data.draw(steady(min_len=1, max_len=300, base=level))
    assert spike_starts(series, RULE, history=before) == []


@settings(max_examples=300, deadline=None)
@given(
    steady(min_len=12, max_len=12),
    st.data(),
    st.integers(1, 12),
    st.integers(0, 500),
)
def test_one_alert_at_the_start_of_a_burst(history, data, burst_len, extra) -> None:
    level, before = history
    _, calm = data.draw(steady(min_len=0, max_len=100, base=level))
    _, after = data.draw(steady(min_len=0, max_len=100, base=level))
    height = max(RULE.min_count, math.ceil(RULE.factor * 1.5 * level)) + extra
    series = [*calm, *([height] * burst_len), *after]
    assert spike_starts(series, RULE, history=before) == [len(calm)]


def test_min_count_guards_a_quiet_account() -> None:
    # From nothing to 9 mentions is not a spike; to 10 is.
    assert not is_spike(9, [0] * 12, RULE)
    assert is_spike(10, [0] * 12, RULE)
    # Four times the mean, not less.
    assert is_spike(40, [10] * 12, RULE)
    assert not is_spike(39, [10] * 12, RULE)


def test_cooldown_keeps_a_second_spike_quiet() -> None:
    rule = SpikeRule(cooldown_buckets=6)
    calm = [2] * 12
    # Two bursts four buckets apart: one alert; eight buckets apart: two.
    close = [*calm, 30, 2, 2, 2, 30, 2]
    apart = [*calm, 30, *([2] * 8), 60]
    assert spike_starts(close, rule) == [12]
    assert spike_starts(apart, rule) == [12, 21]


async def test_counters_alert_once_and_report(redis, keys) -> None:
    volume = MentionVolume(redis, keys, "ch-x", "x", RULE)
    start = bucket_start(1_800_000_000_000)
    # An hour of three mentions per bucket, then a burst of 25 in one bucket.
    for b in range(12):
        for _ in range(3):
            assert not await volume.would_spike(start + b * BUCKET_MS)
            assert await volume.record(start + b * BUCKET_MS) is None
    burst = start + 12 * BUCKET_MS
    flags, alerts = [], []
    for i in range(25):
        flags.append(await volume.would_spike(burst + i))
        alert = await volume.record(burst + i, post_id=f"p{i}", url=f"https://x.test/{i}")
        if alert is not None:
            alerts.append(alert)
    # The 12th mention reaches 4 x 3 (and the minimum of 10): from there on, all are in a spike.
    assert flags == [False] * 11 + [True] * 14
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.bucket_start, alert.count, alert.baseline) == (burst, 12, 3.0)
    assert alert.post_id == "p11"

    report = await mention_report(redis, keys, ["ch-x"], start, burst + BUCKET_MS)
    (channel,) = report["channels"]
    assert [p["count"] for p in channel["series"]] == [3] * 12 + [25]
    assert channel["series"][0]["t"] == start
    assert channel["total"] == 61
    assert [a["bucket_start"] for a in channel["alerts"]] == [burst]
    assert channel["alerts"][0]["type"] == "mention_spike"
    # A range before the burst has no alert.
    early = await mention_report(redis, keys, ["ch-x"], start, burst)
    assert early["channels"][0]["alerts"] == []


async def test_live_counters_agree_with_the_pure_rule(redis, keys) -> None:
    series = [1, 0, 2, 1, 0, 12, 15, 3, 1, 0, 1, 2, 40, 1, 2, 0, 0, 0, 0, 0, 0, 0, 11, 2]
    volume = MentionVolume(redis, keys, "ch-m", "mastodon", RULE)
    start = bucket_start(1_800_000_000_000)
    raised = []
    for b, count in enumerate(series):
        for _ in range(count):
            alert = await volume.record(start + b * BUCKET_MS)
            if alert is not None:
                raised.append((alert.bucket_start - start) // BUCKET_MS)
    assert raised == spike_starts(series, RULE)
    assert raised  # the series does hold spikes


async def test_report_rejects_bad_ranges(redis, keys) -> None:
    with pytest.raises(ValueError):
        await mention_report(redis, keys, ["c"], 10, 10)
    with pytest.raises(ValueError):
        await mention_report(redis, keys, ["c"], 0, 40 * 86400 * 1000)
