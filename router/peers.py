"""The peers' routing policies, implemented from their public descriptions, for the simulator.

They run on the same store, worker and eligibility filter as ours (online, team, skill,
language, capacity; a supervisor for classes that need one), so a comparison isolates what
differs: the queue order and the choice of agent. None of them escalates on an SLA breach.

- Chatwoot v1 auto-assignment: a round-robin list per inbox (one inbox per channel here); the
  next online agent of the inbox's rotation below the assignment limit gets the conversation
  and moves to the end of that list. Conversations are taken in arrival order.
- Chatwoot v2 "balanced" assignment policy: the online agent with the fewest open conversations
  (counted, whatever the channel) below the limit; ties to the one assigned least recently.
  Arrival order.
- Twilio TaskRouter default: a TaskQueue hands out higher-priority tasks first and, within a
  priority, the oldest first (FIFO); the task goes to the eligible worker idle the longest.
  One TaskQueue per worker group: a queue's target expression is our eligibility filter (team,
  skill, language, supervisor), and a worker in several queues takes the highest-priority,
  oldest task among them, which is one priority-then-age order filtered by eligibility. The
  workflow's first step targets the customer's known agent (previous agent, or a VIP's
  advisor) with a timeout (``known_agent_timeout_seconds``, 30 s like our sticky wait); when it
  expires the workflow moves to the next step, any eligible worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from router.policy import AgentView, ConversationView, Credits, is_eligible


class _Backfills:
    """The peers hand any free room to whatever fits it (no reservation), in queue order."""

    def reserve(self, agents: Sequence[AgentView], conv: ConversationView) -> set[str]:
        return set()

    def hold_ends(self, conv: ConversationView, now: int) -> int | None:
        return None  # no known-agent step

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
    """Chatwoot v1: a rotation per inbox below a cap; FIFO."""

    name: str = "chatwoot-v1-round-robin"
    escalates: bool = False
    rotations: dict[str, list[str]] = field(default_factory=dict)  # inbox -> agent ids

    def queue_score(self, conv: ConversationView) -> float | None:
        return _arrival(conv)

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        rotation = self.rotations.setdefault(conv.channel_type, [])
        for agent in sorted(agents, key=lambda a: a.id):
            if agent.id not in rotation:
                rotation.append(agent.id)  # newcomers join the inbox's list at the end
        eligible = {a.id: a for a in agents if is_eligible(a, conv)}
        for agent_id in rotation:
            if agent_id in eligible:
                rotation.remove(agent_id)
                rotation.append(agent_id)
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
    known_agent_timeout_seconds: float = 30.0  # the workflow's first step

    def queue_score(self, conv: ConversationView) -> float | None:
        return conv.priority_rank * _PRIORITY_STEP + _arrival(conv)

    def choose(
        self, agents: Sequence[AgentView], conv: ConversationView, now: int
    ) -> AgentView | None:
        eligible = [a for a in agents if is_eligible(a, conv)]
        known = conv.advisor or conv.preferred_agent
        if known and now - _arrival(conv) < self.known_agent_timeout_seconds * 1000:
            # Step 1: the known agent only; the task waits in the step until it times out.
            return next((a for a in eligible if a.id == known), None)
        return min(eligible, key=lambda a: (a.last_assigned_at, a.id), default=None)

    def hold_ends(self, conv: ConversationView, now: int) -> int | None:
        """The workflow step's timeout fires at its moment and moves the task on."""
        if conv.advisor or conv.preferred_agent:
            return int(_arrival(conv) + self.known_agent_timeout_seconds * 1000)
        return None


PEERS = {
    "chatwoot-v1-round-robin": RoundRobinPolicy,
    "chatwoot-v2-balanced": BalancedPolicy,
    "twilio-taskrouter": TaskRouterPolicy,
}
