"""Pure routing decisions: who may take a conversation, and who should.

No I/O here: the store feeds these functions snapshots and applies the decision atomically.
The simulator drives the same functions (and the peers' policies in router/peers.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from router.sla import SlaPolicy

EPSILON = 1e-4

# Tiers of the overload-aware order (DeadlinePolicy.tier), first served first.
FIRST, OVERDUE, ON_TIME, LATE = 0, 1, 2, 3

# ms a (class, channel) counts as due earlier to even out channels' waits (router/parity.py)
Credits = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class AgentView:
    id: str
    status: str = "online"
    load: float = 0.0  # sum of the weights of the conversations held (chat 1, email 0.5...)
    capacity: float = 5.0
    teams: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    last_assigned_at: int = 0
    supervisor: bool = False
    open_count: int = 0  # conversations held, whatever their weight

    @property
    def load_ratio(self) -> float:
        return self.load / self.capacity if self.capacity > 0 else 1.0


@dataclass(frozen=True)
class ConversationView:
    id: str
    weight: float = 1.0
    team: str | None = None
    skills: frozenset[str] = frozenset()
    language: str | None = None
    excluded: frozenset[str] = field(default_factory=frozenset)  # declined / missed it already
    declined_at: int = 0  # ms of its last declined offer (0: none since it was taken)
    preferred_agent: str | None = None  # sticky: the customer's previous agent
    advisor: str | None = None  # sticky: the customer's dedicated advisor (VIP)
    needs_supervisor: bool = False  # the class wants a supervisor (sensitive)
    widened: bool = False  # escalated: any team may take it
    priority: str = "normal"
    priority_rank: int = 99
    channel_type: str = ""
    due: int = 0  # the deadline it is queued by (ms)
    responded: bool = False  # had its first response (queued again for a next response)
    waiting_since: int = 0  # since when it waits for an agent (ms)
    created_at: int = 0


def is_eligible(agent: AgentView, conv: ConversationView) -> bool:
    """Online, not excluded, room for the conversation's weight, team / skill / language."""
    if agent.status != "online" or agent.id in conv.excluded:
        return False
    if agent.load + conv.weight > agent.capacity + EPSILON:
        return False
    return fits(agent, conv)


def fits(agent: AgentView, conv: ConversationView) -> bool:
    """Team, skills, language and supervisor match, whatever the agent's load and status."""
    if conv.team and not conv.widened and conv.team not in agent.teams:
        return False
    if conv.needs_supervisor and not conv.widened and not agent.supervisor:
        return False
    if not conv.skills <= agent.skills:
        return False
    return not (conv.language and agent.languages and conv.language not in agent.languages)


def least_loaded(eligible: Iterable[AgentView]) -> AgentView | None:
    """Lowest load ratio, then longest idle (oldest last assignment), then id for stability."""
    return min(eligible, key=lambda a: (a.load_ratio, a.last_assigned_at, a.id), default=None)


def stranded_room(agent: AgentView, unit: float = 1.0) -> float:
    """The agent's room left once every whole ``unit`` (the heaviest conversation's weight) is
    counted out: only a lighter conversation can ever use it (0.5 of room at a load of 2.5)."""
    room = max(0.0, agent.capacity - agent.load)
    return room - math.floor(room / unit + EPSILON) * unit if unit > 0 else 0.0


def fill_gaps(
    eligible: Iterable[AgentView], conv: ConversationView, unit: float = 1.0
) -> list[AgentView]:
    """For a conversation lighter than ``unit``, the agents whose stranded room it fits.

    A mention put on an idle agent opens a half-unit gap that no chat can use; put into an
    existing gap it closes one, and whole units stay free for chats (best fit). Heavier
    conversations, or no gap anywhere: every eligible agent."""
    pool = list(eligible)
    if conv.weight + EPSILON >= unit:
        return pool
    gaps = [a for a in pool if stranded_room(a, unit) + EPSILON >= conv.weight]
    return gaps or pool


def choose_agent(
    agents: Iterable[AgentView],
    conv: ConversationView,
    now: int = 0,
    sticky_wait_ms: int = 0,
    advisor_wait_ms: int = 0,
    unit: float = 1.0,
) -> AgentView | None:
    """Our choice: the dedicated advisor, else the previous agent, when eligible; while such an
    agent is online but busy, hold the conversation for them up to the configured wait (never
    past a third of the time to its deadline, and only while the team has room to spare:
    ``may_hold``); otherwise the least loaded eligible agent, a light conversation going into
    an existing gap first (``fill_gaps``)."""
    pool = list(agents)
    by_id = {a.id: a for a in pool}
    eligible = [a for a in pool if is_eligible(a, conv)]
    for target, wait_ms in (
        (conv.advisor, advisor_wait_ms),
        (conv.preferred_agent, sticky_wait_ms),
    ):
        agent = by_id.get(target or "")
        if agent is None:
            continue
        if is_eligible(agent, conv):
            return agent
        # Everyone else who could take it now counts, the other known agent too (a VIP is
        # not held for their busy advisor while their previous agent sits idle).
        others = [a for a in eligible if a.id != target]
        if holds_for(agent, conv, now, wait_ms) and may_hold(others, conv):
            return None
    return least_loaded(fill_gaps(eligible, conv, unit))


# A hold passes up the room of the other eligible agents; it is allowed only while they have
# room for at least this many conversations of its weight (see ``may_hold``).
HOLD_SPARE = 2


def may_hold(others: Sequence[AgentView], conv: ConversationView) -> bool:
    """Whether holding ``conv`` for its busy advisor or previous agent costs nobody a deadline,
    given the other agents who could take it now (``others``, all eligible).

    A hold leaves their room unused for up to the wait, or gives it to conversations queued
    behind; either way the capacity passed up is lost to the queue. That is free only while
    the team has room to spare, so: never while one of them holds nothing at all (an idle agent
    beside a conversation they may take, issue 14), and never when their room would fit fewer
    than ``HOLD_SPARE`` conversations of this weight, i.e. when the room the hold passes up is
    the team's last. Measured (docs/routing.md, the suite): near saturation, a 30-second hold
    while a partly busy agent had the room let the backlog of the 12:00 peak grow until seven
    chats missed their 3 minutes (suite `returning`, seed #0); with no other room at all, a hold
    changes nothing (nobody else could take it)."""
    if any(a.load <= EPSILON for a in others):
        return False
    if conv.weight <= EPSILON:
        return True  # it takes no room: holding it costs nobody else
    fits_in = sum(math.floor((a.capacity - a.load + EPSILON) / conv.weight) for a in others)
    return fits_in == 0 or fits_in >= HOLD_SPARE


def holds_for(agent: AgentView, conv: ConversationView, now: int, wait_ms: int) -> bool:
    """Keep a conversation for a sticky agent who is online, fits, but is full right now."""
    if wait_ms <= 0 or agent.status != "online" or agent.id in conv.excluded:
        return False
    if not fits(agent, conv) or conv.weight > agent.capacity + EPSILON:
        return False
    return now < hold_limit(conv, now, wait_ms)


def hold_limit(conv: ConversationView, now: int, wait_ms: int) -> int:
    """When a hold for the advisor or previous agent ends (ms)."""
    since = conv.waiting_since or conv.created_at or now
    limit = since + wait_ms
    if conv.due > since:
        # Never hold more than a third of the time to the deadline: the agent who finally
        # takes it still needs time to accept (or miss the offer) and answer.
        limit = min(limit, since + (conv.due - since) // 3)
    return limit


def back_to_decliners_at(conv: ConversationView, cooldown_ms: int) -> int:
    """When a conversation nobody else may take goes back to those who passed on it (ms): at
    once after a missed offer; after a decline, only once ``cooldown_ms`` have passed (an
    agent who just said no is not asked again the same second; as long as an unanswered
    offer would have held it)."""
    return conv.declined_at + cooldown_ms if conv.declined_at else 0


def last_resort(conv: ConversationView) -> ConversationView:
    """The conversation as seen when nobody who has not declined or missed it may take it:
    the exclusion lifted, so it goes back to those agents rather than wait while they have
    room (a missed offer never strands a conversation; an agent who keeps missing offers is
    set away by ``max_missed_offers`` instead)."""
    return replace(conv, excluded=frozenset())


def short_of_room(agents: Iterable[AgentView], conv: ConversationView) -> set[str]:
    """Agents who could take this conversation but lack the room for its weight right now.

    While it waits, a lighter conversation queued behind it (a mention, an email) must not
    take their spare room: it would keep them from ever having room for it, and the lighter
    channel would overtake the heavier one with the same deadline (channel parity)."""
    return {
        a.id
        for a in agents
        if a.status == "online"
        and a.id not in conv.excluded
        and a.capacity + EPSILON >= conv.weight
        and a.load + conv.weight > a.capacity + EPSILON
        and fits(a, conv)
    }


class RoutingPolicy(Protocol):
    """How a router orders its queue and picks an agent. Ours and the peers' (simulator)."""

    name: str
    escalates: bool  # runs SLA escalation steps

    def queue_score(self, conv: ConversationView) -> float | None:
        """Fixed queue position for a new conversation; None = its running SLA deadline."""
        ...

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None: ...

    def reserve(self, agents: Sequence[AgentView], conv: ConversationView) -> set[str]:
        """Agents kept, for the rest of a round, for a conversation that found nobody."""
        ...

    def hold_ends(self, conv: ConversationView, now: int) -> int | None:
        """When a conversation this policy may be holding for a known agent stops waiting
        for them (ms), or None: the router looks again at that moment, not a sweep later."""
        ...

    def order(
        self, head: Sequence[tuple[ConversationView, float]], credits: Credits, now: int = 0
    ) -> list[ConversationView]:
        """The order a round serves the queue head in (conversation, queue score), given each
        (class, channel)'s parity credit in ms (router/parity.py; peers ignore it)."""
        ...


@dataclass
class DeadlinePolicy:
    """Ours: earliest deadline first; least loaded, longest idle; sticky with a bounded wait."""

    sticky_wait_ms: int = 30_000
    advisor_wait_ms: int = 30_000
    # A heavier conversation goes before a lighter one due up to this much later (see order;
    # 0 = plain deadline order, the default).
    light_lookahead_ms: int = 0
    unit: float = 1.0  # the heaviest conversation's weight (a chat)
    name: str = "ours"
    escalates: bool = True

    # Classes served before all others whatever their deadlines (urgent; sla queue_first).
    first_classes: frozenset[str] = frozenset()
    # (class, channel) -> how long past its deadline a conversation may still be passed over
    # by those that can meet theirs (sla.late_grace_ms); None: never (plain deadline order).
    late_grace: Callable[[str, str], int] | None = None
    # Whether conversations past their maximum wait go before those still on time. The worker
    # sets it each round from the share of its recent offers that went to such conversations
    # (RouterWorker, OVERDUE_SHARE): under sustained overload they get that share of the
    # offers, not all of them (all of them is the collapse of plain deadline order again).
    overdue_first: bool = True

    @classmethod
    def from_sla(cls, sla: SlaPolicy) -> DeadlinePolicy:
        return cls(
            sla.sticky_wait_seconds * 1000,
            sla.advisor_wait_seconds * 1000,
            sla.light_lookahead_seconds * 1000,
            max(sla.weights.values(), default=1.0),
            first_classes=frozenset(n for n, c in sla.classes.items() if c.queue_first),
            late_grace=sla.late_grace_ms,
        )

    def queue_score(self, conv: ConversationView) -> float | None:
        return None

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        return choose_agent(agents, conv, now, self.sticky_wait_ms, self.advisor_wait_ms, self.unit)

    def reserve(self, agents: Sequence[AgentView], conv: ConversationView) -> set[str]:
        """No overtaking: the earlier deadline keeps the agents it is waiting for."""
        return short_of_room(agents, conv)

    def hold_ends(self, conv: ConversationView, now: int) -> int | None:
        if conv.advisor and self.advisor_wait_ms > 0:
            return hold_limit(conv, now, self.advisor_wait_ms)
        if conv.preferred_agent and self.sticky_wait_ms > 0:
            return hold_limit(conv, now, self.sticky_wait_ms)
        return None

    def claims(self, views: Sequence[ConversationView], now: int) -> dict[str, tuple[str, float]]:
        """Advisors whose room a VIP of this round waits for (advisor -> (conversation,
        weight)): conversations served before the VIP in the round may not take that room,
        so the VIP reaches their advisor whenever the advisor has room within the wait."""
        out: dict[str, tuple[str, float]] = {}
        for conv in views:
            if not conv.advisor or conv.advisor in conv.excluded or conv.advisor in out:
                continue
            since = conv.waiting_since or conv.created_at or now
            if self.advisor_wait_ms > 0 and now < since + self.advisor_wait_ms:
                out[conv.advisor] = (conv.id, conv.weight)
        return out

    def tier(self, conv: ConversationView, now: int) -> int:
        """Where a conversation stands in the overload-aware order (``order``): 0 a class
        served first (urgent), 1 past its class's maximum wait, 2 still able to meet its
        deadline, 3 already late but within its maximum wait."""
        if conv.priority in self.first_classes:
            return FIRST
        if self.late_grace is None or now <= 0 or not conv.due or now <= conv.due:
            return ON_TIME
        grace = self.late_grace(conv.priority, conv.channel_type)
        return OVERDUE if now > conv.due + grace else LATE

    def order(
        self, head: Sequence[tuple[ConversationView, float]], credits: Credits, now: int = 0
    ) -> list[ConversationView]:
        """Overload-aware earliest deadline first.

        Urgent first, always. Then, while every deadline can be met, earliest deadline first
        (the queue's order) as before. Under overload, plain deadline order serves the most
        overdue first, so every conversation ends up late (the known collapse of EDF); here
        those that can still meet their deadline go before those that already missed it, and
        a late one is passed over only until its class's maximum wait (then it goes first,
        longest past it first: nobody starves). Among the late ones the more important class
        goes first (priority rank, then deadline). While the round holds late conversations
        (the team is behind), those still on time are ordered the same way: class first, then
        deadline; when nothing is late, by deadline alone.

        Among those on time, a conversation counts as due earlier by its channel's parity
        credit (a channel that waited longer lately goes first among equals), and a lighter
        conversation counts as due ``light_lookahead_ms`` later than it is when compared with
        a heavier one: a light conversation (a mention, an email) fits any half unit of room,
        a chat needs a whole one, so at equal deadlines the light one finds room sooner.
        Letting the heavier one go first costs the light one only while there is competition
        (no agent idles for this). Stable, and bounded to what one round reads."""

        def key(item: tuple[ConversationView, float]) -> float:
            view, score = item
            light = view.weight + EPSILON < self.unit
            return score + (self.light_lookahead_ms if light else 0)

        tiers = {id(view): self.tier(view, now) for view, _ in head}
        behind = any(t in (OVERDUE, LATE) for t in tiers.values())

        def rank(item: tuple[ConversationView, float]) -> tuple[float, ...]:
            view = item[0]
            tier = tiers[id(view)]
            # Equal deadlines (emails written over lunch are all due when the office opens)
            # go by arrival, not by the queue's tie-break, the conversation id, which is made
            # of the wall clock and random bits: the same day routes the same way every time.
            arrived = view.waiting_since or view.created_at
            if tier == OVERDUE:
                assert self.late_grace is not None
                place = tier if self.overdue_first else ON_TIME + 0.5  # after those on time
                grace = self.late_grace(view.priority, view.channel_type)
                return (place, view.due + grace, arrived)
            if tier == LATE:
                return (tier, view.priority_rank, view.due, arrived)
            if tier == ON_TIME and behind:
                # The team is behind: not every deadline can be met, so among those still on
                # time the more important class goes first (a VIP's 2 minutes before a
                # mention's 3), then the deadline.
                return (tier, view.priority_rank, key(item), arrived)
            return (tier, key(item), arrived)

        ranked = sorted(head, key=rank)
        if not credits:
            return [view for view, _ in ranked]
        # The credit reorders conversations of one class among the places that class holds
        # among those on time: it never lets a normal conversation overtake an urgent one.
        slots: dict[str, list[int]] = {}
        for place, (view, _) in enumerate(ranked):
            if tiers[id(view)] == ON_TIME:
                slots.setdefault(view.priority, []).append(place)
        ordered: list[ConversationView] = [view for view, _ in ranked]
        for priority, places in slots.items():
            members = sorted(
                (ranked[p] for p in places),
                key=lambda item: (
                    key(item) - credits.get((priority, item[0].channel_type), 0),
                    item[0].waiting_since or item[0].created_at,
                ),
            )
            for place, (view, _) in zip(places, members, strict=True):
                ordered[place] = view
        return ordered


# --- snapshots from Redis hash fields -------------------------------------------------------
CONVERSATION_FIELDS = (
    "channel_type", "weight", "team", "skills", "language", "excluded", "sticky_agent",
    "advisor", "widened", "priority", "priority_rank", "waiting_since", "created_at",
    "first_response_due", "next_response_due", "first_response_at", "declined_at",
)  # fmt: skip


def as_set(value: str | None) -> frozenset[str]:
    """A JSON list or a comma-separated string (both are stored)."""
    if not value:
        return frozenset()
    try:
        parsed = json.loads(value)
    except ValueError:
        return frozenset(v for v in value.split(",") if v)
    return frozenset(str(v) for v in parsed) if isinstance(parsed, list) else frozenset()


def _num(value: Any, default: float = 0) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def conversation_view(
    conversation_id: str, row: Mapping[str, Any], sla: SlaPolicy | None = None
) -> ConversationView:
    """From the conversation's hash fields (CONVERSATION_FIELDS)."""
    priority = str(row.get("priority") or "normal")
    first_done = bool(row.get("first_response_at"))
    due = _num(row.get("next_response_due")) if first_done else 0
    due = due or _num(row.get("first_response_due"))
    return ConversationView(
        id=conversation_id,
        weight=_num(row.get("weight"), 1.0) or 1.0,
        team=row.get("team") or None,
        skills=as_set(row.get("skills")),
        language=row.get("language") or None,
        excluded=as_set(row.get("excluded")),
        declined_at=int(_num(row.get("declined_at"))),
        preferred_agent=row.get("sticky_agent") or None,
        advisor=row.get("advisor") or None,
        needs_supervisor=bool(sla and sla.needs_supervisor(priority)),
        widened=row.get("widened") == "1",
        priority=priority,
        priority_rank=int(_num(row.get("priority_rank"), 99)),
        channel_type=str(row.get("channel_type") or ""),
        due=int(due),
        responded=first_done,
        waiting_since=int(_num(row.get("waiting_since"))),
        created_at=int(_num(row.get("created_at"))),
    )


def agent_view(row: Mapping[str, Any]) -> AgentView:
    """From the agent's hash fields."""
    return AgentView(
        id=str(row["id"]),
        status=str(row.get("status") or "offline"),
        load=_num(row.get("load")),
        capacity=_num(row.get("capacity")),
        teams=as_set(row.get("teams")),
        skills=as_set(row.get("skills")),
        languages=as_set(row.get("languages")),
        last_assigned_at=int(_num(row.get("last_assigned_at"))),
        supervisor=row.get("supervisor") == "1" or "supervisor" in as_set(row.get("skills")),
        open_count=int(_num(row.get("open"))),
    )


def with_offer(agent: AgentView, weight: float) -> AgentView:
    """The agent as it is after taking an offer (for the rest of one routing round)."""
    return replace(agent, load=agent.load + weight, open_count=agent.open_count + 1)
