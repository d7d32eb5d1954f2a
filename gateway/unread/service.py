"""An agent's read positions, and each listed conversation's unread count and last message."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.scripts import load_script

# Messages read per listed conversation at most: the unread count stops there ("20+"), which
# bounds what a list of never-read conversations costs (a supervisor's first look at All).
WINDOW = 20
# The last message's preview, in characters (the console shows one line of it).
PREVIEW_CHARS = 140
# Messages looked back through for the last reply or customer message (past notes and events).
PREVIEW_LOOKBACK = 5


class Unread:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._mark = load_script(redis, __file__, "mark")

    async def mark_read(self, user_id: str, conversation_id: str, seq: int) -> int:
        """The agent has seen the conversation up to ``seq``; the position never goes back.
        Returns the position now stored."""
        return int(
            await self._mark(keys=[self.keys.agent_reads(user_id)], args=[conversation_id, seq])
        )

    async def positions(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        values = await self.redis.hmget(self.keys.agent_reads(user_id), conversation_ids)
        return {c: int(v or 0) for c, v in zip(conversation_ids, values, strict=True)}

    async def annotate(self, user_id: str, conversations: list[dict[str, Any]]) -> None:
        """Adds ``unread`` (the customer's messages after the agent's read position, at most
        WINDOW), ``unread_capped`` and ``last_message`` (the latest reply or customer message:
        direction, text cut to PREVIEW_CHARS, author, time, attachments count) to each."""
        read = await self.positions(user_id, [c["id"] for c in conversations])
        spans: list[list[int]] = []
        pipe = self.redis.pipeline(transaction=False)
        for conv in conversations:
            last = int(conv.get("last_seq") or 0)
            start = max(
                1, min(read[conv["id"]] + 1, last - PREVIEW_LOOKBACK + 1), last - WINDOW + 1
            )
            seqs = list(range(start, last + 1))
            spans.append(seqs)
            pipe.hmget(self.keys.messages(conv["id"]), seqs or ["0"])
        bodies = await pipe.execute() if conversations else []
        for conv, seqs, values in zip(conversations, spans, bodies, strict=True):
            position = read[conv["id"]]
            unread = 0
            latest: dict[str, Any] | None = None
            for seq, body in zip(seqs, values, strict=False):
                if body is None:
                    continue
                message = json.loads(body)
                direction = message.get("direction")
                if direction == "in" and seq > position:
                    unread += 1
                if direction in ("in", "out"):
                    latest = message
            last = int(conv.get("last_seq") or 0)
            conv["unread"] = unread
            conv["unread_capped"] = last - position > WINDOW
            conv["last_message"] = _preview(latest)


def _preview(message: dict[str, Any] | None) -> dict[str, Any] | None:
    if message is None:
        return None
    text = " ".join(str(message.get("text") or "").split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return {
        "direction": message.get("direction"),
        "text": text,
        "author_id": message.get("author_id"),
        "author_name": message.get("author_name"),
        "created_at": message.get("created_at"),
        "attachments": len(message.get("attachments") or []),
    }
