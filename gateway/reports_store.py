"""What the reports read from Redis: conversation records of a time range, the live queue and
agents, SLA deadlines coming up, recent mention spikes; and agents' tags on conversations."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.reports import ConvRecord
from router.sla import running_clocks

BATCH = 500
_CLOCK_FIELDS = (
    "status", "waiting_since", "first_response_at", "first_response_due", "next_response_due",
    "resolution_due", "priority", "channel_type", "assignee",
)  # fmt: skip
_FIELDS = (
    "id", "channel_type", "channel_id", "created_at", "priority", "priority_rule", "team",
    "assignee", "last_agent", "status", "first_wait_start", "first_response_at",
    "first_response_due", "resolved_at", "resolution_due", "reopened", "survey_sent_at",
    "csat_score", "tags", "product", "assigned_at", "weight",
)  # fmt: skip


async def load_records(
    redis: Redis, keys: Keys, start: int, end: int, *, active: bool = False
) -> list[ConvRecord]:
    """Conversations created in [start, end) (with `active`: created before `end` and active
    since `start`). A conversation created in the range was active at or after `start`, so the
    activity index narrows the scan."""
    ids = await redis.zrangebyscore(keys.conversations_index(), start, "+inf")
    out: list[ConvRecord] = []
    for i in range(0, len(ids), BATCH):
        pipe = redis.pipeline(transaction=False)
        for conversation_id in ids[i : i + BATCH]:
            pipe.hmget(keys.conversation(conversation_id), list(_FIELDS))
        for values in await pipe.execute():
            row = {k: v for k, v in zip(_FIELDS, values, strict=True) if v is not None}
            created = int(float(row.get("created_at") or 0))
            if row.get("id") and (active or start <= created) and created < end:
                out.append(ConvRecord.from_hash(row))
    return out


async def queue_stats(redis: Redis, keys: Keys, now: int) -> dict[str, tuple[int, float]]:
    """Per class: waiting conversations and the longest wait so far (seconds)."""
    ids = await redis.zrange(keys.queue(), 0, 4999)
    pipe = redis.pipeline(transaction=False)
    for conversation_id in ids:
        pipe.hmget(keys.conversation(conversation_id), ["priority", "waiting_since", "created_at"])
    stats: dict[str, tuple[int, float]] = {}
    for priority, waiting, created in await pipe.execute() if ids else []:
        name = priority or "normal"
        since = int(float(waiting or created or now))
        count, oldest = stats.get(name, (0, 0.0))
        stats[name] = (count + 1, max(oldest, max(0, now - since) / 1000))
    return stats


async def live_view(
    redis: Redis,
    keys: Keys,
    now: int,
    social_channels: list[str],
    classes: list[str],
    horizon_ms: int = 600_000,
) -> dict[str, Any]:
    """The supervisors' live view: queue per class (every class, most urgent first), agents,
    SLA deadlines within the horizon (soonest first), and mention spikes of the last hour."""
    queue = {name: (0, 0.0) for name in classes}
    queue.update(await queue_stats(redis, keys, now))
    cards = sorted((await redis.hgetall(keys.agent_cards())).items())
    pipe = redis.pipeline(transaction=False)
    for agent_id, _ in cards:
        pipe.hget(keys.agent(agent_id), "name")
    names = await pipe.execute() if cards else []
    agents = []
    for (agent_id, raw), name in zip(cards, names, strict=True):
        try:
            card = json.loads(raw)
        except ValueError:
            continue
        agents.append(
            {
                "id": agent_id,
                "name": name or "",
                "status": card.get("status", "offline"),
                "load": card.get("load", 0),
                "capacity": card.get("capacity", 0),
            }
        )
    # Candidates from the SLA watch; the verdict from the conversation's running clocks (the
    # watch may still hold a check for a clock a reply has just stopped).
    due = await redis.zrangebyscore(keys.sla_watch(), "-inf", now + horizon_ms)
    pipe = redis.pipeline(transaction=False)
    for conversation_id in due:
        pipe.hmget(keys.conversation(conversation_id), list(_CLOCK_FIELDS))
    rows = await pipe.execute() if due else []
    at_risk = []
    for conversation_id, values in zip(due, rows, strict=True):
        row = {k: v for k, v in zip(_CLOCK_FIELDS, values, strict=True) if v is not None}
        clocks = [c for c in running_clocks(row) if c.due <= now + horizon_ms]
        if not clocks:
            continue
        at_risk.append(
            {
                "conversation_id": conversation_id,
                "clock": clocks[0].name,
                "due": clocks[0].due,
                "overdue": clocks[0].due <= now,
                "priority": row.get("priority"),
                "channel_type": row.get("channel_type"),
                "assignee": row.get("assignee"),
            }
        )
    at_risk.sort(key=lambda r: r["due"])
    spikes = []
    for channel_id in social_channels:
        for raw, score in await redis.zrangebyscore(
            keys.mention_alerts(channel_id), now - 3_600_000, "+inf", withscores=True
        ):
            try:
                alert = json.loads(raw)
            except ValueError:
                alert = {"raw": raw}
            spikes.append({"channel_id": channel_id, "bucket": int(score), "alert": alert})
    return {
        "now": now,
        "queue": [
            {"priority": name, "waiting": count, "oldest_wait_seconds": round(wait, 1)}
            for name, (count, wait) in queue.items()
        ],
        "agents": agents,
        "sla_at_risk": at_risk,
        "mention_spikes": spikes,
    }


async def set_tags(
    redis: Redis, keys: Keys, conversation_id: str, tags: list[str], product: str | None
) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.hset(keys.conversation(conversation_id), "tags", json.dumps(tags, ensure_ascii=False))
    if product is not None:
        pipe.hset(keys.conversation(conversation_id), "product", product)
    if tags:
        pipe.sadd(keys.tag_index(), *tags)
    await pipe.execute()


async def agent_activity(
    redis: Redis, keys: Keys, agent_ids: list[str], end: int
) -> dict[str, tuple[str, float, list[tuple[int, str]]]]:
    """Per agent: name, capacity and status changes up to `end` (for occupancy)."""
    pipe = redis.pipeline(transaction=False)
    for agent_id in agent_ids:
        pipe.hmget(keys.agent(agent_id), ["name", "capacity"])
        pipe.zrangebyscore(keys.agent_status_log(agent_id), "-inf", end)
    values = await pipe.execute() if agent_ids else []
    out = {}
    for i, agent_id in enumerate(agent_ids):
        (name, capacity), log = values[2 * i], values[2 * i + 1]
        events = []
        for entry in log:
            at, _, status = entry.partition(":")
            events.append((int(at), status))
        out[agent_id] = (name or "", float(capacity or 0), events)
    return out
