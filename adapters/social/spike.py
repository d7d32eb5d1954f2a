"""Mention volume per channel in 5-minute buckets, and spike alerts.

A spike: a bucket holding at least ``min_count`` mentions and at least ``factor`` times the mean
of the ``baseline_buckets`` buckets before it. An alert is raised when a spike starts (the bucket
before was not a spike) unless one was raised in the last ``cooldown_buckets`` buckets.

The decision is a pure function (``is_spike`` / ``spike_starts``); ``MentionVolume`` keeps the
counters in Redis (one key per bucket, expiring after the retention) and records alerts in a
sorted set, so ``mention_report`` can return both for any time range.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.keys import Keys

BUCKET_SECONDS = 300
# Mentions of a bucket kept for its incident until the bucket is a spike: the newest this many
# (a spike needs ``factor`` times the trailing mean, which may be hundreds on a busy account),
# for an hour (a poller that falls further behind than that leaves them out).
EARLY_MAX = 1000
EARLY_TTL_SECONDS = 3600
RETENTION_DAYS = 35
MAX_REPORT_BUCKETS = 31 * 24 * 12  # a month of 5-minute buckets


@dataclass(frozen=True)
class SpikeRule:
    factor: float = 4.0  # times the trailing mean
    min_count: int = 10  # and never below this many mentions in one bucket
    baseline_buckets: int = 12  # trailing window: one hour of 5-minute buckets
    cooldown_buckets: int = 6  # no second alert within 30 minutes of one
    bucket_seconds: int = BUCKET_SECONDS


def baseline(trailing: Sequence[int]) -> float:
    return sum(trailing) / len(trailing) if trailing else 0.0


def is_spike(count: int, trailing: Sequence[int], rule: SpikeRule) -> bool:
    """``trailing``: the counts of the buckets just before (missing buckets count 0). A trailing
    mean below 1 counts as 1, so a quiet account needs ``min_count`` mentions, not just one."""
    if count < rule.min_count:
        return False
    return count >= rule.factor * max(baseline(trailing), 1.0)


def spike_starts(series: Sequence[int], rule: SpikeRule, history: Sequence[int] = ()) -> list[int]:
    """Indices of ``series`` where an alert is raised. ``history``: the buckets before
    ``series[0]`` (oldest first), which give the first buckets their baseline."""
    counts = [*history, *series]
    offset = len(history)
    n = rule.baseline_buckets
    alerts: list[int] = []
    last_alert: int | None = None
    previous_spike = False
    for i in range(len(counts)):
        spike = is_spike(counts[i], counts[max(0, i - n) : i], rule)
        if (
            spike
            and not previous_spike
            and (last_alert is None or i - last_alert > rule.cooldown_buckets)
        ):
            last_alert = i
            if i >= offset:
                alerts.append(i - offset)
        previous_spike = spike
    return alerts


def bucket_start(ms: int, bucket_seconds: int = BUCKET_SECONDS) -> int:
    size = bucket_seconds * 1000
    return ms - ms % size


@dataclass(frozen=True)
class SpikeAlert:
    """What the core publishes (supervisors' WebSocket, console banner, optional webhook)."""

    channel_id: str
    channel_type: str
    bucket_start: int  # ms since epoch
    bucket_seconds: int
    count: int
    baseline: float
    factor: float
    min_count: int
    post_id: str | None = None  # the mention that tipped the bucket over
    url: str | None = None  # its public link
    raised_at: int = 0  # ms since epoch

    def to_dict(self) -> dict[str, Any]:
        return {"type": "mention_spike", **asdict(self)}


class MentionVolume:
    """Counters and alerts of one channel in Redis."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        channel_id: str,
        channel_type: str,
        rule: SpikeRule,
        retention_days: int = RETENTION_DAYS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.channel_id = channel_id
        self.channel_type = channel_type
        self.rule = rule
        self.ttl = retention_days * 86400

    def _bucket_key(self, start: int) -> str:
        return self.keys.mention_bucket(self.channel_id, start)

    async def _counts(self, starts: Sequence[int]) -> list[int]:
        if not starts:
            return []
        values = await self.redis.mget([self._bucket_key(s) for s in starts])
        return [int(v) if v is not None else 0 for v in values]

    def _window(self, start: int, back: int) -> list[int]:
        """Bucket starts of the ``back`` buckets before ``start``, oldest first."""
        size = self.rule.bucket_seconds * 1000
        return [start - k * size for k in range(back, 0, -1)]

    async def would_spike(self, sent_at: int) -> bool:
        """Whether one more mention at ``sent_at`` (ms) falls in a spike bucket: decided before
        delivery, so the message carries ``meta["spike"]`` to the classifier."""
        start = bucket_start(sent_at, self.rule.bucket_seconds)
        counts = await self._counts([*self._window(start, self.rule.baseline_buckets), start])
        return is_spike(counts[-1] + 1, counts[:-1], self.rule)

    def _early_key(self, sent_at: int) -> str:
        start = bucket_start(sent_at, self.rule.bucket_seconds)
        return self.keys.mention_bucket_early(self.channel_id, start)

    async def keep_early(self, sent_at: int, conversation_id: str) -> None:
        """A mention delivered while its bucket is not a spike: if the bucket becomes one, its
        incident takes this conversation too (the spike is only known from its
        ``min_count``-th mention on)."""
        key = self._early_key(sent_at)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, conversation_id)
            pipe.ltrim(key, -EARLY_MAX, -1)
            pipe.expire(key, EARLY_TTL_SECONDS)
            await pipe.execute()

    async def early(self, sent_at: int) -> list[str]:
        """The conversations kept by ``keep_early`` for this bucket, oldest first."""
        values = await self.redis.lrange(self._early_key(sent_at), 0, EARLY_MAX - 1)
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    async def forget_early(self, sent_at: int, count: int) -> None:
        """Drops the first ``count`` (handed to the incident; newer ones stay)."""
        await self.redis.ltrim(self._early_key(sent_at), count, -1)

    async def record(
        self, sent_at: int, *, post_id: str | None = None, url: str | None = None
    ) -> SpikeAlert | None:
        """Count one delivered (not duplicate) mention; return the alert when a spike starts."""
        rule = self.rule
        start = bucket_start(sent_at, rule.bucket_seconds)
        key = self._bucket_key(start)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.ttl)
            count = int((await pipe.execute())[0])
        # before[-1] is the bucket just before ``start``; before[:-1] is its own baseline.
        before = await self._counts(self._window(start, rule.baseline_buckets + 1))
        if not is_spike(count, before[1:], rule) or is_spike(before[-1], before[:-1], rule):
            return None
        size = rule.bucket_seconds * 1000
        alerts_key = self.keys.mention_alerts(self.channel_id)
        last = await self.redis.zrevrangebyscore(
            alerts_key, "+inf", "-inf", start=0, num=1, withscores=True
        )
        if last and start - int(last[0][1]) <= rule.cooldown_buckets * size:
            return None
        alert = SpikeAlert(
            channel_id=self.channel_id,
            channel_type=self.channel_type,
            bucket_start=start,
            bucket_seconds=rule.bucket_seconds,
            count=count,
            baseline=round(baseline(before[1:]), 2),
            factor=rule.factor,
            min_count=rule.min_count,
            post_id=post_id,
            url=url,
            raised_at=int(time.time() * 1000),
        )
        # Callers serialise record() per channel (one leased poller, one lock), so reading the
        # last alert and adding this one need no transaction.
        await self.redis.zadd(alerts_key, {_alert_member(alert): start})
        await self.redis.zremrangebyscore(alerts_key, "-inf", start - self.ttl * 1000)
        return alert


def _alert_member(alert: SpikeAlert) -> str:
    return json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"))


async def mention_report(
    redis: Redis,
    keys: Keys,
    channel_ids: Sequence[str],
    start_ms: int,
    end_ms: int,
    *,
    bucket_seconds: int = BUCKET_SECONDS,
) -> dict[str, Any]:
    """Volume series and alerts of each channel for [start_ms, end_ms) (the core serves this as
    ``GET /api/v1/reports/mentions``). Buckets are aligned to ``bucket_seconds``; a range longer
    than a month raises ValueError (answer 400)."""
    if end_ms <= start_ms:
        raise ValueError("end must be after start")
    size = bucket_seconds * 1000
    first = bucket_start(start_ms, bucket_seconds)
    starts = list(range(first, end_ms, size))
    if len(starts) > MAX_REPORT_BUCKETS:
        raise ValueError(
            f"range too long: at most {MAX_REPORT_BUCKETS} buckets of {bucket_seconds}s"
        )
    channels = []
    for channel_id in channel_ids:
        values = await redis.mget([keys.mention_bucket(channel_id, s) for s in starts])
        counts = [int(v) if v is not None else 0 for v in values]
        raw_alerts = await redis.zrangebyscore(keys.mention_alerts(channel_id), first, end_ms - 1)
        alerts = [json.loads(a) for a in raw_alerts]
        channels.append(
            {
                "channel_id": channel_id,
                "total": sum(counts),
                "series": [{"t": s, "count": c} for s, c in zip(starts, counts, strict=True)],
                "alerts": alerts,
            }
        )
    return {
        "bucket_seconds": bucket_seconds,
        "start": first,
        "end": end_ms,
        "channels": channels,
    }
