"""Pure routing decisions: who may take a conversation, and who should.

No I/O here: the store feeds these functions snapshots and applies the decision atomically.
The simulator drives the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

EPSILON = 1e-4


@dataclass(frozen=True)
class AgentView:
    id: str
    status: str = "online"
    load: float = 0.0
    capacity: float = 5.0
    teams: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    last_assigned_at: int = 0

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
    preferred_agent: str | None = None  # sticky: the customer's previous agent


def is_eligible(agent: AgentView, conv: ConversationView) -> bool:
    if agent.status != "online" or agent.id in conv.excluded:
        return False
    if agent.load + conv.weight > agent.capacity + EPSILON:
        return False
    if conv.team and conv.team not in agent.teams:
        return False
    if not conv.skills <= agent.skills:
        return False
    return not (conv.language and agent.languages and conv.language not in agent.languages)


def choose_agent(agents: Iterable[AgentView], conv: ConversationView) -> AgentView | None:
    """Lowest load ratio, then longest idle; the customer's previous agent when eligible."""
    eligible = [a for a in agents if is_eligible(a, conv)]
    if not eligible:
        return None
    for agent in eligible:
        if agent.id == conv.preferred_agent:
            return agent
    return min(eligible, key=lambda a: (a.load_ratio, a.last_assigned_at, a.id))
