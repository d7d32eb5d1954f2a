"""Self-service figures: the rate by channel, hand-offs by reason, the questions no article
answered well (the knowledge base's gaps), and what customers said of each article."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from gateway.i18n.formatting import local_day
from gateway.keys import Keys


def _days(days: int, now: float | None = None, zone: str = "UTC") -> list[str]:
    """The last ``days`` days of the deployment's zone (``zone``), today first."""
    now = time.time() if now is None else now
    return [local_day(now - i * 86400, zone) for i in range(days)]


async def report(
    redis: Redis,
    keys: Keys,
    articles: dict[str, dict[str, Any]],
    days: int = 30,
    zone: str = "UTC",
) -> dict[str, Any]:
    pipe = redis.pipeline(transaction=False)
    for day in _days(days, zone=zone):
        pipe.hgetall(keys.kb_stats(day))
    totals: dict[str, int] = {}
    for row in await pipe.execute():
        for name, value in row.items():
            totals[name] = totals.get(name, 0) + int(value)
    by_channel: dict[str, dict[str, Any]] = {}
    handoffs: dict[str, int] = {}
    for name, value in totals.items():
        kind, _, what = name.partition(":")
        if kind == "handoff":
            handoffs[what] = value
        elif kind in ("considered", "answered", "solved", "closed", "handoff_channel"):
            row = by_channel.setdefault(
                what,
                {"considered": 0, "answered": 0, "solved": 0, "closed": 0, "handoff_channel": 0},
            )
            row[kind] = value
    for row in by_channel.values():
        row["handed_off"] = row.pop("handoff_channel")
        done = row["solved"] + row["closed"]
        # Self-service rate: conversations it looked at that ended without a person.
        row["rate"] = round(done / row["considered"], 4) if row["considered"] else None
    gaps_raw = await redis.zrevrange(keys.kb_gaps(), 0, 49, withscores=True)
    samples = await redis.hmget(keys.kb_gap_samples(), [q for q, _ in gaps_raw]) if gaps_raw else []
    gaps = []
    for (question, count), sample in zip(gaps_raw, samples, strict=True):
        extra = json.loads(sample) if sample else {}
        gaps.append({"question": question, "count": int(count), "sample": extra.get("text"),
                     "channel": extra.get("channel"), "at": extra.get("at")})  # fmt: skip
    helpful = dict(await redis.zrange(keys.kb_feedback("helpful"), 0, -1, withscores=True))
    unhelpful = dict(await redis.zrange(keys.kb_feedback("unhelpful"), 0, -1, withscores=True))
    rated = []
    for article_id in set(helpful) | set(unhelpful):
        article = articles.get(article_id)
        rated.append(
            {"article_id": article_id, "title": article["title"] if article else None,
             "helpful": int(helpful.get(article_id, 0)),
             "unhelpful": int(unhelpful.get(article_id, 0))}
        )  # fmt: skip
    rated.sort(key=lambda a: (-a["unhelpful"], a["helpful"], a["article_id"]))
    return {
        "days": days,
        "by_channel": by_channel,
        "handoffs": handoffs,
        "gaps": gaps,
        "articles": rated,
    }
