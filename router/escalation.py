"""What a breached SLA clock sets off: escalation steps, decided purely.

A breach starts an *episode*, named by the clock and its deadline. The steps of the policy
(config/sla.toml [escalation]) run in order, each ``after`` seconds past the deadline: raise the
class, alert the supervisors, widen eligibility to every team. The conversation keeps which
episode it is in and how many steps are done, so several routers never repeat a step, and a
later breach (say, of the next response) starts the steps again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.i18n.catalog import catalogue
from router.sla import Clock, EscalationStep, SlaPolicy, breached, next_deadline

# How often a paused (pending / snoozed) conversation is looked at again.
PAUSED_RECHECK_MS = 300_000


@dataclass(frozen=True)
class Action:
    step: int  # index of the step in the policy
    kind: str  # raise / alert / widen / keep (a widen step on a class that is never widened)
    new_class: str | None = None  # for raise

    def describe(self, clock: Clock, old_class: str) -> str:
        """The line in English, as the API gives it: the console's English text of ``event``."""
        key, params = self.event(clock, old_class)
        template = catalogue("en")[f"console.event.{key}"]
        return template.format(**{**params, "clock": clock.name.replace("_", " ")})

    def event(self, clock: Clock, old_class: str) -> tuple[str, dict[str, str]]:
        """The line as the console's catalogue key (``console.event.<key>``) and its
        parameters, so an agent reads it in their own language."""
        if self.kind == "raise" and self.new_class:
            return "sla_raised", {"clock": clock.name, "from": old_class, "to": self.new_class}
        if self.kind == "raise":
            return "sla_top", {"clock": clock.name, "priority": old_class}
        key = {"alert": "sla_alerted", "keep": "sla_kept"}.get(self.kind, "sla_widened")
        return key, {"clock": clock.name}


@dataclass(frozen=True)
class Plan:
    breach: Clock | None
    actions: tuple[Action, ...]
    level: int  # steps done once the actions are applied
    previous_level: int  # steps done before (the store checks it did not change)
    next_check: int | None  # when to look again (None: nothing left to watch)
    new_class: str | None  # the class after the actions (None: unchanged)


def plan(row: Mapping[str, Any], policy: SlaPolicy, now: int) -> Plan:
    """Decide the escalation steps due for a conversation (its hash fields) at ``now``."""
    if row.get("status") in ("pending", "snoozed"):
        return Plan(None, (), 0, 0, now + PAUSED_RECHECK_MS, None)
    clock = breached(row, now)
    upcoming = next_deadline(row, now)
    if clock is None:
        return Plan(None, (), 0, 0, upcoming, None)
    same_episode = row.get("sla_breach") == clock.id
    done = int(row.get("sla_level") or 0) if same_episode else 0
    steps: tuple[EscalationStep, ...] = policy.escalation
    current = str(row.get("priority") or "normal")
    actions = []
    level = done
    while level < len(steps) and clock.due + steps[level].after * 1000 <= now:
        step = steps[level]
        raised = policy.raised(current) if step.action == "raise" else None
        kind = step.action
        if kind == "widen" and not policy.policy(current).widen:
            kind = "keep"
        actions.append(Action(level, kind, raised))
        if raised:
            current = raised
        level += 1
    pending_step = clock.due + steps[level].after * 1000 if level < len(steps) else None
    candidates = [t for t in (pending_step, upcoming) if t is not None]
    return Plan(
        breach=clock,
        actions=tuple(actions),
        level=level,
        previous_level=done,
        next_check=min(candidates) if candidates else None,
        new_class=current if current != str(row.get("priority") or "normal") else None,
    )
