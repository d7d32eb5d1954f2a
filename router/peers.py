"""The peers' routing policies, implemented from their public descriptions, for the simulator.

They run on the same store, worker and eligibility filter as ours (online, team, skill,
language, capacity; a supervisor for classes that need one), so a comparison isolates what
differs: the queue order and the choice of agent. None of them escalates on an SLA breach.

- Chatwoot v1 auto-assignment: a round-robin list of the inbox's agents; the next online agent
  in the rotation below the assignment limit gets the conversation, which is then moved to the
  end of the list. Conversations are taken in arrival order.
- Chatwoot v2 "balanced" assignment policy: the online agent with the fewest open conversations
  (counted, whatever the channel) below the limit; ties to the one assigned least recently.
  Arrival order.
- Twilio TaskRouter default: a TaskQueue hands out higher-priority tasks first and, within a
  priority, the oldest first (FIFO); the task goes to the eligible worker idle the longest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from router.policy import AgentView, ConversationView, Credits, is_eligible


class _Backfills:
    """The peers hand any free room to whatever fits it (no reservation), in queue order."""

    def reserve(self, agents: Sequence[AgentView], conv: ConversationView) -> set[str]:
        return set()

    def order(
        self, head: Sequence[tuple[ConversationView, float]], credits: Credits, now: int = 0
    ) -> list[ConversationView]:
        return [view for view, _ in head]  # queue order as scored; no parity credit


# Queue scores are ms timestamps; a priority step must outweigh any age difference.
_PRIORITY_STEP = 1e13


def _arrival(conv: ConversationView) -> float:
    return float(conv.waiting_since or conv.created_at)


@dataclass
class RoundRobinPolicy(_Backfills):
    """Chatwoot v1: rotation below a cap; FIFO."""

    name: str = "chatwoot-v1-round-robin"
    escalates: bool = False
    rotation: list[str] = field(default_factory=list)  # agent ids, next first

    def queue_score(self, conv: ConversationView) -> float | None:
        return _arrival(conv)

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        for agent in sorted(agents, key=lambda a: a.id):
            if agent.id not in self.rotation:
                self.rotation.append(agent.id)  # newcomers join at the end
        eligible = {a.id: a for a in agents if is_eligible(a, conv)}
        for agent_id in self.rotation:
            if agent_id in eligible:
                self.rotation.remove(agent_id)
                self.rotation.append(agent_id)
                return eligible[agent_id]
        return None


@dataclass
class BalancedPolicy(_Backfills):
    """Chatwoot v2 balanced: fewest open conversations below the cap; FIFO."""

    name: str = "chatwoot-v2-balanced"
    escalates: bool = False

    def queue_score(self, conv: ConversationView) -> float | None:
        return _arrival(conv)

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        eligible = [a for a in agents if is_eligible(a, conv)]
        return min(eligible, key=lambda a: (a.open_count, a.last_assigned_at, a.id), default=None)


@dataclass
class TaskRouterPolicy(_Backfills):
    """Twilio TaskRouter default: priority, then FIFO; the longest-idle eligible worker."""

    name: str = "twilio-taskrouter"
    escalates: bool = False

    def queue_score(self, conv: ConversationView) -> float | None:
        return conv.priority_rank * _PRIORITY_STEP + _arrival(conv)

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        eligible = [a for a in agents if is_eligible(a, conv)]
        return min(eligible, key=lambda a: (a.last_assigned_at, a.id), default=None)


PEERS = {
    "chatwoot-v1-round-robin": RoundRobinPolicy,
    "chatwoot-v2-balanced": BalancedPolicy,
    "twilio-taskrouter": TaskRouterPolicy,
}
