"""The router's atomic Redis steps: presence, queue, offers, assignment, capacity.

Each step reads a snapshot in one round trip, decides with router.policy, and applies the change
with a Lua script that re-checks what it relies on, so concurrent routers in several processes
never offer one conversation twice nor lose a unit of capacity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.models import now_ms
from gateway.scripts import load_script
from router.policy import AgentView, ConversationView

# How many of the least-loaded available agents one claim looks at. Bounded so a claim costs
# the same with 100 or 10,000 agents online.
CANDIDATE_WINDOW = 64


@dataclass(frozen=True)
class ExpiredOffer:
    conversation_id: str
    agent_id: str
    outcome: str  # ok / away


def _set(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    try:
        return frozenset(json.loads(value))
    except ValueError:
        return frozenset(v for v in value.split(",") if v)


class RouterStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._presence = load_script(redis, __file__, "presence", "_lib")
        self._offer = load_script(redis, __file__, "offer", "_lib")
        self._accept = load_script(redis, __file__, "accept", "_lib")
        self._release = load_script(redis, __file__, "release_offer", "_lib")
        self._resolve = load_script(redis, __file__, "resolve", "_lib")
        self._transfer = load_script(redis, __file__, "transfer", "_lib")

    # --- agents ----------------------------------------------------------------------------
    async def upsert_agent(
        self,
        agent_id: str,
        *,
        name: str,
        capacity: float,
        teams: list[str],
        skills: list[str],
        languages: list[str],
    ) -> None:
        key = self.keys.agent(agent_id)
        await self.redis.hset(
            key,
            mapping={
                "id": agent_id,
                "name": name,
                "capacity": capacity,
                "teams": json.dumps(sorted(teams)),
                "skills": json.dumps(sorted(skills)),
                "languages": json.dumps(sorted(languages)),
            },
        )
        await self.redis.hsetnx(key, "status", "offline")
        await self.redis.hsetnx(key, "load", 0)
        # Capacity may have changed: re-score with the current status.
        status = await self.redis.hget(key, "status")
        await self.set_status(agent_id, status or "offline")

    async def remove_agent(self, agent_id: str) -> None:
        await self.set_status(agent_id, "offline")

    async def set_status(self, agent_id: str, status: str, now: int | None = None) -> bool:
        k = self.keys
        return bool(
            await self._presence(
                keys=[k.agent(agent_id), k.agents_presence(), k.agents_available()],
                args=[agent_id, status, now or now_ms()],
            )
        )

    async def agent(self, agent_id: str) -> AgentView | None:
        data = await self.redis.hgetall(self.keys.agent(agent_id))
        return _agent_view(data) if data else None

    async def agent_raw(self, agent_id: str) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.agent(agent_id))

    async def candidates(self, offset: int = 0, limit: int = CANDIDATE_WINDOW) -> list[AgentView]:
        ids = await self.redis.zrange(self.keys.agents_available(), offset, offset + limit - 1)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hgetall(self.keys.agent(agent_id))
        rows = await pipe.execute()
        return [_agent_view(row) for row in rows if row]

    async def stale_agents(self, older_than: int) -> list[str]:
        return await self.redis.zrangebyscore(self.keys.agents_presence(), "-inf", older_than)

    # --- queue -----------------------------------------------------------------------------
    async def queue_head(self, count: int) -> list[tuple[str, float]]:
        return await self.redis.zrange(self.keys.queue(), 0, count - 1, withscores=True)

    async def queue_length(self) -> int:
        return await self.redis.zcard(self.keys.queue())

    async def conversation_view(self, conversation_id: str) -> ConversationView | None:
        fields = ["team", "skills", "language", "excluded", "channel_type", "weight", "contact_id"]
        row = await self.redis.hmget(self.keys.conversation(conversation_id), fields)
        team, skills, language, excluded, channel_type, weight, contact_id = row
        if channel_type is None:
            return None
        preferred = None
        if contact_id:
            preferred = await self.redis.hget(self.keys.contact(contact_id), "last_agent")
        return ConversationView(
            id=conversation_id,
            weight=float(weight) if weight else 1.0,
            team=team or None,
            skills=_set(skills),
            language=language or None,
            excluded=_set(excluded),
            preferred_agent=preferred,
        )

    # --- offers ----------------------------------------------------------------------------
    async def offer(
        self, conversation_id: str, agent_id: str, expires_at: int, weight: float
    ) -> str:
        k = self.keys
        return await self._offer(
            keys=[k.queue(), k.offers(), k.agents_available(), k.conversation(conversation_id),
                  k.agent(agent_id)],
            args=[conversation_id, agent_id, expires_at, weight],
        )  # fmt: skip

    async def accept(self, conversation_id: str, agent_id: str) -> str:
        k = self.keys
        return await self._accept(
            keys=[k.conversation(conversation_id), k.offers(), k.agent(agent_id),
                  k.agent_conversations(agent_id), k.agents_available()],
            args=[conversation_id, agent_id, now_ms()],
        )  # fmt: skip

    async def release_offer(
        self, conversation_id: str, agent_id: str, reason: str, max_missed: int
    ) -> str:
        k = self.keys
        return await self._release(
            keys=[k.conversation(conversation_id), k.offers(), k.agent(agent_id), k.queue(),
                  k.agents_available(), k.agents_presence()],
            args=[conversation_id, agent_id, reason, max_missed, now_ms()],
        )  # fmt: skip

    async def expired_offers(self, now: int) -> list[tuple[str, str]]:
        ids = await self.redis.zrangebyscore(self.keys.offers(), "-inf", now, start=0, num=500)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for conversation_id in ids:
            pipe.hget(self.keys.conversation(conversation_id), "offered_to")
        agents = await pipe.execute()
        return [(c, a) for c, a in zip(ids, agents, strict=True) if a]

    # --- assignment changes ----------------------------------------------------------------
    async def _current_agent(self, conversation_id: str) -> str:
        assignee, offered = await self.redis.hmget(
            self.keys.conversation(conversation_id), ["assignee", "offered_to"]
        )
        return assignee or offered or ""

    async def resolve(self, conversation_id: str) -> str:
        k = self.keys
        for _ in range(5):
            agent = await self._current_agent(conversation_id)
            agent_key = k.agent(agent or "none")
            outcome = await self._resolve(
                keys=[k.conversation(conversation_id), k.queue(), k.offers(), agent_key,
                      k.agent_conversations(agent or "none"), k.agents_available(), k.snoozed()],
                args=[conversation_id, agent, now_ms()],
            )  # fmt: skip
            if outcome != "retry":
                return outcome
        return "conflict"

    async def transfer(
        self, conversation_id: str, *, to_agent: str = "", team: str = "", weight: float = 1.0
    ) -> str:
        k = self.keys
        for _ in range(5):
            current = await self._current_agent(conversation_id)
            outcome = await self._transfer(
                keys=[k.conversation(conversation_id), k.agent(current or "none"),
                      k.agent_conversations(current or "none"), k.agent(to_agent or "none"),
                      k.agent_conversations(to_agent or "none"), k.queue(), k.offers(),
                      k.agents_available()],
                args=[conversation_id, current, to_agent, team, now_ms(), weight],
            )  # fmt: skip
            if outcome != "retry":
                return outcome
        return "conflict"


def _agent_view(row: dict[str, str]) -> AgentView:
    return AgentView(
        id=row["id"],
        status=row.get("status", "offline"),
        load=float(row.get("load") or 0),
        capacity=float(row.get("capacity") or 0),
        teams=_set(row.get("teams")),
        skills=_set(row.get("skills")),
        languages=_set(row.get("languages")),
        last_assigned_at=int(float(row.get("last_assigned_at") or 0)),
    )
