"""The router's atomic Redis steps: presence, queue, offers, assignment, capacity, SLA watch.

Each step reads a snapshot in one round trip, decides with router.policy, and applies the change
with a Lua script that re-checks what it relies on, so concurrent routers in several processes
never offer one conversation twice nor lose a unit of capacity.

Time comes from ``clock`` (ms): the wall clock in production, a simulated one in the simulator,
so both run this same code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from gateway.batching import CommandBatcher
from gateway.keys import Keys
from gateway.models import now_ms
from gateway.scripts import load_script
from router.policy import CONVERSATION_FIELDS, AgentView, ConversationView, agent_view

# How many of the least-loaded available agents one claim looks at. Bounded so a claim costs
# the same with 100 or 10,000 agents online.
CANDIDATE_WINDOW = 64

Clock = Callable[[], int]

# Fields of an agent's hash a routing decision reads.
AGENT_FIELDS = (
    "id", "status", "load", "capacity", "teams", "skills", "languages", "last_assigned_at",
    "supervisor", "open",
)  # fmt: skip

# Fields the SLA watch reads to evaluate a conversation's clocks.
SLA_FIELDS = (
    "status", "priority", "priority_rank", "waiting_since", "first_response_at",
    "first_response_due", "next_response_due", "resolution_due", "sla_breach", "sla_level",
    "paused_at", "updated_at", "assignee", "offered_to", "channel_type",
)  # fmt: skip


# Fields of a conversation that decide who may take it (besides who declined or missed it),
# i.e. its routing group; scan_queue.lua joins the same fields the same way.
GROUP_FIELDS = ("priority", "channel_type", "team", "skills", "language", "widened")

# How many queued conversations one scan past the head looks at, at most (server side).
SCAN_BUDGET = 2000


def routing_group(row: dict[str, str]) -> str:
    """A conversation's routing group from its hash fields (as scan_queue.lua builds it)."""
    return "|".join(row.get(f) or "" for f in GROUP_FIELDS)


@dataclass(frozen=True)
class ExpiredOffer:
    conversation_id: str
    agent_id: str
    outcome: str  # ok / away


@dataclass(frozen=True)
class DueWork:
    """What one sweep has to do, read in one round trip."""

    expired_offers: list[str]
    stale_agents: list[str]
    snoozed: list[str]
    sla_due: list[str]
    queue_head: list[tuple[str, float]]
    # When the whole head is past its queue position (overload): the first conversations
    # still due later, which can yet be answered in time.
    on_time: list[tuple[str, float]] = field(default_factory=list)


def _pairs(flat: list[str]) -> list[tuple[str, float]]:
    """A WITHSCORES reply as (member, score) pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


# Parsed routing cards by their exact text. A round reads a window of up to 64 cards and
# parsing them (JSON, then three JSON lists each) was most of a round's Python work, while
# between two rounds only the cards of agents whose load or status moved change. A view is a
# frozen value of the text alone, so a hit is the same view a parse would give.
_CARD_CACHE: dict[str, AgentView] = {}
CARD_CACHE_SIZE = 4096  # cards kept; emptied when full (each live agent's card comes back)


def _card_view(card: str | None) -> AgentView | None:
    if not card:
        return None
    view = _CARD_CACHE.get(card)
    if view is not None:
        return view
    try:
        row = json.loads(card)
    except ValueError:
        return None
    view = agent_view({k: v for k, v in row.items() if v is not None})
    if len(_CARD_CACHE) >= CARD_CACHE_SIZE:
        _CARD_CACHE.clear()
    _CARD_CACHE[card] = view
    return view


class RouterStore:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        clock: Clock = now_ms,
        batch: CommandBatcher | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        # A round's offers, made together, go out as one pipeline (in the order made); its
        # reads (due work, candidates, rows) go the same lean way: redis-py's own script
        # call cost a round more CPU than the scripts themselves.
        self.batch = batch or CommandBatcher(redis)
        # Where the scripts publish an agent that got room (router/lua/_lib.lua).
        self.room_channel = keys.agent_room()
        self._presence = load_script(redis, __file__, "presence", "_lib")
        self._offer = load_script(redis, __file__, "offer", "_lib")
        self._accept = load_script(redis, __file__, "accept", "_lib")
        self._release = load_script(redis, __file__, "release_offer", "_lib")
        self._resolve = load_script(redis, __file__, "resolve", "_lib")
        self._transfer = load_script(redis, __file__, "transfer", "_lib")
        self._release_gone = load_script(redis, __file__, "release_gone", "_lib")
        self._escalate = load_script(redis, __file__, "escalate", "_lib")
        self._resume = load_script(redis, __file__, "resume", "_lib")
        self._candidates = load_script(redis, __file__, "candidates")
        self._hashes = load_script(redis, __file__, "hashes")
        self._due = load_script(redis, __file__, "due")
        self._scan = load_script(redis, __file__, "scan_queue")
        self._next_timer = load_script(redis, __file__, "next_timer")

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
        supervisor: bool | None = None,
    ) -> None:
        """``supervisor``: may answer classes that need one (None: from the user's role)."""
        key = self.keys.agent(agent_id)
        if supervisor is None:
            role = await self.redis.hget(self.keys.user(agent_id), "role")
            supervisor = role in ("supervisor", "admin") if role else None
        mapping = {
            "id": agent_id,
            "name": name,
            "capacity": capacity,
            "teams": json.dumps(sorted(teams)),
            "skills": json.dumps(sorted(skills)),
            "languages": json.dumps(sorted(languages)),
        }
        if supervisor is not None:
            mapping["supervisor"] = "1" if supervisor else "0"
        await self.redis.hset(key, mapping=mapping)
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
                keys=[
                    k.agent(agent_id),
                    k.agents_presence(),
                    k.agents_available(),
                    k.agent_cards(),
                ],
                args=[agent_id, status, now or self.clock(), self.room_channel],
            )
        )

    async def agent(self, agent_id: str) -> AgentView | None:
        data = await self.redis.hgetall(self.keys.agent(agent_id))
        return agent_view(data) if data else None

    async def agent_raw(self, agent_id: str) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.agent(agent_id))

    async def agents(self, agent_ids: Iterable[str]) -> dict[str, AgentView]:
        """Several agents by their routing cards, in one round trip (sticky targets)."""
        ids = list(dict.fromkeys(agent_ids))
        if not ids:
            return {}
        cards = await self.redis.hmget(self.keys.agent_cards(), ids)
        out = {view.id: view for view in map(_card_view, cards) if view is not None}
        missing = [a for a in ids if a not in out]
        if missing:  # no card yet (an agent not touched since before cards existed)
            pipe = self.redis.pipeline(transaction=False)
            for agent_id in missing:
                pipe.hmget(self.keys.agent(agent_id), AGENT_FIELDS)
            for values in await pipe.execute():
                row = {n: v for n, v in zip(AGENT_FIELDS, values, strict=True) if v is not None}
                if row.get("id"):
                    out[row["id"]] = agent_view(row)
        return out

    async def candidates(self, offset: int = 0, limit: int = CANDIDATE_WINDOW) -> list[AgentView]:
        """Available agents, least loaded first: one window of them, in one round trip."""
        k = self.keys
        ids, cards = await self.batch.script(
            self._candidates, keys=[k.agents_available(), k.agent_cards()], args=[offset, limit]
        )
        views = [_card_view(card) for card in cards]
        missing = [a for a, view in zip(ids, views, strict=True) if view is None]
        found = await self.agents(missing) if missing else {}  # no card yet: read the hash
        return [
            view or found[agent_id]
            for agent_id, view in zip(ids, views, strict=True)
            if view or agent_id in found
        ]

    async def stale_agents(self, older_than: int) -> list[str]:
        return await self.redis.zrangebyscore(self.keys.agents_presence(), "-inf", older_than)

    # --- queue -----------------------------------------------------------------------------
    async def queue_head(self, count: int) -> list[tuple[str, float]]:
        return await self.redis.zrange(self.keys.queue(), 0, count - 1, withscores=True)

    async def queue_heads(
        self, now: int, count: int
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The queue head and, under overload, the first conversations still on time (what
        ``due_work`` reads of the queue), in one round trip."""
        work = await self.due_work(now, 0, limit=0, queue_count=count)
        return work.queue_head, work.on_time

    async def scan_queue(
        self, start: int, blocked: Iterable[str], count: int, budget: int = SCAN_BUDGET
    ) -> tuple[list[tuple[str, float]], int]:
        """Up to ``count`` waiting conversations from queue rank ``start`` on whose routing
        group is not in ``blocked``, looking at ``budget`` entries at most, in one round trip;
        with the rank to go on from (-1: the queue's end)."""
        nxt, ids, scores = await self.batch.script(
            self._scan,
            keys=[self.keys.queue()],
            args=[self.keys.conversation(""), start, budget, count, *sorted(blocked)],
        )
        return [(c, float(v)) for c, v in zip(ids, scores, strict=True)], int(nxt)

    async def queue_length(self) -> int:
        return await self.redis.zcard(self.keys.queue())

    async def conversation_rows(
        self, conversation_ids: list[str], fields: Iterable[str] = CONVERSATION_FIELDS
    ) -> list[dict[str, str]]:
        """Some fields of several conversations in one round trip ({} for a missing one)."""
        names = list(fields)
        if not conversation_ids:
            return []
        keys = [self.keys.conversation(c) for c in conversation_ids]
        out = []
        for values in await self.batch.script(self._hashes, keys=keys, args=names):
            row = {n: v for n, v in zip(names, values, strict=True) if v is not None}
            out.append(row if row.get(names[0]) is not None else {})
        return out

    async def conversation_view(self, conversation_id: str) -> ConversationView | None:
        from router.policy import conversation_view

        rows = await self.conversation_rows([conversation_id])
        return conversation_view(conversation_id, rows[0]) if rows[0] else None

    async def enqueue(self, conversation_id: str, score: float) -> None:
        """Give a waiting conversation a fixed queue position (the peers' disciplines)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.conversation(conversation_id), "queue_score", repr(score))
        pipe.zadd(self.keys.queue(), {conversation_id: score}, xx=True)
        await pipe.execute()

    # --- one sweep's work ------------------------------------------------------------------
    async def due_work(
        self, now: int, stale_before: int, limit: int = 500, queue_count: int = 50
    ) -> DueWork:
        k = self.keys
        offers, stale, snoozed, sla, flat, later = await self.batch.script(
            self._due,
            keys=[k.offers(), k.agents_presence(), k.snoozed(), k.sla_watch(), k.queue()],
            args=[now, stale_before, limit, queue_count],
        )
        return DueWork(offers, stale, snoozed, sla, _pairs(flat), _pairs(later))

    async def next_timer(self, now: int, heartbeat_ttl_ms: int) -> int | None:
        """When a sweep next has timed work (offer expiry, snooze, SLA check, a heartbeat going
        stale), after ``now``; None: nothing timed."""
        k = self.keys
        at = await self.batch.script(
            self._next_timer,
            keys=[k.offers(), k.agents_presence(), k.snoozed(), k.sla_watch()],
            args=[now, heartbeat_ttl_ms],
        )
        return None if int(at) < 0 else int(at)

    # --- offers ----------------------------------------------------------------------------
    async def offer(
        self, conversation_id: str, agent_id: str, expires_at: int, weight: float
    ) -> str:
        k = self.keys
        return await self.batch.script(
            self._offer,
            [k.queue(), k.offers(), k.agents_available(), k.conversation(conversation_id),
             k.agent(agent_id), k.agent_cards()],
            [conversation_id, agent_id, expires_at, weight, self.room_channel],
        )  # fmt: skip

    async def accept(self, conversation_id: str, agent_id: str) -> str:
        k = self.keys
        contact_id = await self.redis.hget(k.conversation(conversation_id), "contact_id")
        return await self._accept(
            keys=[k.conversation(conversation_id), k.offers(), k.agent(agent_id),
                  k.agent_conversations(agent_id), k.agents_available(),
                  k.contact(contact_id or "none"), k.agent_cards()],
            args=[conversation_id, agent_id, self.clock(), self.room_channel],
        )  # fmt: skip

    async def release_offer(
        self, conversation_id: str, agent_id: str, reason: str, max_missed: int
    ) -> str:
        k = self.keys
        return await self._release(
            keys=[k.conversation(conversation_id), k.offers(), k.agent(agent_id), k.queue(),
                  k.agents_available(), k.agents_presence(), k.agent_cards()],
            args=[conversation_id, agent_id, reason, max_missed, self.clock(),
                  self.room_channel],
        )  # fmt: skip

    async def expired_offers(self, now: int) -> list[tuple[str, str]]:
        ids = await self.redis.zrangebyscore(self.keys.offers(), "-inf", now, start=0, num=500)
        return await self.offer_holders(ids)

    async def offer_holders(self, conversation_ids: list[str]) -> list[tuple[str, str]]:
        """(conversation, agent it is offered to) for those still offered."""
        if not conversation_ids:
            return []
        rows = await self.conversation_rows(conversation_ids, ["offered_to"])
        return [
            (c, row["offered_to"])
            for c, row in zip(conversation_ids, rows, strict=True)
            if row.get("offered_to")
        ]

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
                      k.agent_conversations(agent or "none"), k.agents_available(), k.snoozed(),
                      k.sla_watch(), k.agent_cards()],
                args=[conversation_id, agent, self.clock(), self.room_channel],
            )  # fmt: skip
            if outcome != "retry":
                return outcome
        return "conflict"

    async def transfer(
        self,
        conversation_id: str,
        *,
        to_agent: str = "",
        team: str = "",
        weight: float = 1.0,
        heartbeat_ttl_ms: int,
    ) -> str:
        """Move a conversation to ``to_agent`` (refused when that agent is offline or their
        heartbeat is older than ``heartbeat_ttl_ms``) or back to the queue for ``team``."""
        k = self.keys
        for _ in range(5):
            current = await self._current_agent(conversation_id)
            now = self.clock()
            outcome = await self._transfer(
                keys=[k.conversation(conversation_id), k.agent(current or "none"),
                      k.agent_conversations(current or "none"), k.agent(to_agent or "none"),
                      k.agent_conversations(to_agent or "none"), k.queue(), k.offers(),
                      k.agents_available(), k.agent_cards(), k.agents_presence()],
                args=[conversation_id, current, to_agent, team, now, weight,
                      self.room_channel, now - heartbeat_ttl_ms],
            )  # fmt: skip
            if outcome != "retry":
                return outcome
        return "conflict"

    async def release_if_gone(
        self, conversation_id: str, agent_id: str, now: int, heartbeat_ttl_ms: int,
        *, going: bool = False,
    ) -> str:  # fmt: skip
        """Back to the queue when the customer waits and ``agent_id``, who holds it, is gone
        (router/lua/release_gone.lua), or ``going`` (the caller takes them offline next):
        released / present / not-waiting / not-held."""
        k = self.keys
        return await self._release_gone(
            keys=[k.conversation(conversation_id), k.agent(agent_id),
                  k.agent_conversations(agent_id), k.queue(), k.agents_available(),
                  k.agent_cards(), k.agents_presence()],
            args=[conversation_id, agent_id, now, now - heartbeat_ttl_ms, self.room_channel,
                  "1" if going else "0"],
        )  # fmt: skip

    async def held(self, agent_id: str) -> list[str]:
        """The conversations assigned to an agent."""
        return sorted(await self.redis.smembers(self.keys.agent_conversations(agent_id)))

    # --- SLA clocks ------------------------------------------------------------------------
    async def sla_rows(self, conversation_ids: list[str]) -> list[dict[str, str]]:
        return await self.conversation_rows(conversation_ids, SLA_FIELDS)

    async def watch(self, conversation_id: str, at: int | None) -> None:
        """Check this conversation's SLA clocks at ``at`` (None: stop watching)."""
        if at is None:
            await self.redis.zrem(self.keys.sla_watch(), conversation_id)
        else:
            await self.redis.zadd(self.keys.sla_watch(), {conversation_id: at})

    async def pause(self, conversation_id: str, at: int | None = None) -> None:
        """The conversation went pending or snoozed: its SLA clocks stop from ``at``."""
        when = at if at is not None else self.clock()
        await self.redis.hsetnx(self.keys.conversation(conversation_id), "paused_at", when)

    async def resume(self, conversation_id: str, now: int | None = None) -> bool:
        """The pause ended: deadlines move later by its length."""
        k = self.keys
        return bool(
            await self._resume(
                keys=[k.conversation(conversation_id), k.queue(), k.sla_watch()],
                args=[conversation_id, now if now is not None else self.clock()],
            )
        )

    async def escalate(
        self,
        conversation_id: str,
        *,
        breach_id: str,
        level_before: int,
        level_after: int,
        new_class: str | None,
        new_rank: int,
        widen: bool,
        next_check: int | None,
        queue_shift: int = 0,
    ) -> str:
        """Record escalation steps once (ok / stale / gone)."""
        k = self.keys
        rule = f"escalation:{breach_id.split(':')[0]}"
        return await self._escalate(
            keys=[k.conversation(conversation_id), k.sla_watch(), k.queue()],
            args=[conversation_id, breach_id, level_before, level_after, new_class or "",
                  new_rank, rule, "1" if widen else "0",
                  "" if next_check is None else next_check, queue_shift],
        )  # fmt: skip
