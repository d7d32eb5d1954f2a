"""Priority classes and SLA policies (config/sla.toml, or the admins' copy in Redis).

Pure: targets per class and channel, deadlines in business-hours calendars, the SLA clocks a
conversation has running, and which of them is breached. No I/O besides ``load_sla``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.calendar import ALWAYS, ALWAYS_OPEN, Calendar, CalendarError, calendar_to_dict
from router.calendar import parse_calendar as _parse_calendar

CLOCKS = ("first_response", "next_response", "resolution")
ACTIONS = ("raise", "alert", "widen")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class SlaConfigError(ValueError):
    """A bad SLA document; the message names the field."""


def _seconds(value: Any, where: str) -> int:
    """300, "300", "5m", "1h", "48h", "2d" -> seconds."""
    if isinstance(value, bool):
        raise SlaConfigError(f"{where}: expected a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise SlaConfigError(f"{where}: {value!r} is not a duration (e.g. 180, '3m', '1h')")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise SlaConfigError(f"{where}: must be positive")
    return int(seconds)


def _per_channel(value: Any, where: str, zero: bool = False) -> dict[str, int]:
    """A duration, or a table {default = ..., email = ...}."""

    def one(v: Any, at: str) -> int:
        return 0 if zero and v in (0, "0", "0s") else _seconds(v, at)

    if isinstance(value, dict):
        out = {str(k): one(v, f"{where}.{k}") for k, v in value.items()}
    else:
        out = {"default": one(value, where)}
    if "default" not in out:
        raise SlaConfigError(f"{where}: a 'default' entry is required")
    return out


# A class with queue_first is queued this much earlier than its deadline (about 31 years):
# ahead of every conversation of the other classes, overdue or not, in one sorted set.
QUEUE_FIRST_MS = 10**12
# Without max_wait, a class's maximum wait is this many times its first-response target.
LATE_FACTOR = 5


@dataclass(frozen=True)
class ClassPolicy:
    name: str
    rank: int  # 0 = most urgent
    first_response: dict[str, int]
    next_response: dict[str, int]
    resolution: dict[str, int]
    supervisor: bool = False  # a supervisor must answer (sensitive)
    calendar: dict[str, str] = field(default_factory=lambda: {"default": ALWAYS})
    description: str = ""
    # Where a waiting conversation queues: as if due this long after its clock started.
    # None: its response target. 0 (urgent): ahead of everything not yet overdue.
    queue_target: dict[str, int] | None = None
    # Served before every class without it, whatever their deadlines (urgent).
    queue_first: bool = False
    # The longest a conversation of the class should ever wait for an offer (seconds, in
    # its calendar like the targets). Under overload, conversations still able to meet their
    # deadline go before those already late (docs/routing.md section 5), and this bounds how
    # long a late one can be passed over. None: the response target x LATE_FACTOR.
    max_wait: dict[str, int] | None = None
    # The escalation's widen step applies (any team, no supervisor needed). False: a breach
    # still raises and alerts, but the class stays with its own people (a spike incident must
    # be a senior's).
    widen: bool = True

    def target(self, clock: str, channel_type: str) -> int:
        table = getattr(self, clock)
        return table.get(channel_type, table["default"])

    def first_response_seconds(self, channel_type: str) -> int:
        return self.target("first_response", channel_type)

    def next_response_seconds(self, channel_type: str) -> int:
        return self.target("next_response", channel_type)

    def queue_seconds(self, clock: str, channel_type: str) -> int:
        if self.queue_target is None:
            return self.target(clock, channel_type)
        return self.queue_target.get(channel_type, self.queue_target["default"])

    def max_wait_seconds(self, channel_type: str) -> int:
        if self.max_wait is None:
            return self.first_response_seconds(channel_type) * LATE_FACTOR
        return self.max_wait.get(channel_type, self.max_wait["default"])

    def calendar_name(self, channel_type: str) -> str:
        return self.calendar.get(channel_type, self.calendar.get("default", ALWAYS))


@dataclass(frozen=True)
class EscalationStep:
    after: int  # seconds after the breach
    action: str  # raise / alert / widen


@dataclass(frozen=True)
class SlaPolicy:
    classes: dict[str, ClassPolicy]
    weights: dict[str, float] = field(default_factory=lambda: {"default": 1.0})
    calendars: dict[str, Calendar] = field(default_factory=dict)
    escalation: tuple[EscalationStep, ...] = ()
    raise_to: dict[str, str] = field(default_factory=dict)
    # Routing knobs: how long a conversation waits for the customer's previous agent or
    # dedicated advisor before any eligible agent may take it.
    sticky_wait_seconds: int = 30
    advisor_wait_seconds: int = 30
    # A heavier conversation is served before a lighter one due up to this much later
    # (channel parity: a light one fits room a heavy one cannot use). Off by default: on the
    # peak day it evened the channels on a moderate day and overshot on a busier one
    # (docs/routing.md, section 7).
    light_lookahead_seconds: int = 0
    # Channel parity (router/parity.py): a channel whose 90th-percentile queue wait over the
    # last ``parity_window_minutes`` is behind the best channel of the same class and target
    # counts as due earlier by ``parity_gain`` x the gap, at most ``parity_max_credit_seconds``.
    parity_window_minutes: int = 1440
    parity_gain: float = 2.0
    parity_max_credit_seconds: int = 60

    def rank(self, class_name: str) -> int:
        policy = self.classes.get(class_name)
        return policy.rank if policy else len(self.classes)

    def most_urgent(self, names: list[str]) -> str:
        return min(names, key=self.rank)

    def policy(self, class_name: str) -> ClassPolicy:
        return self.classes.get(class_name) or self.classes["normal"]

    def calendar(self, class_name: str, channel_type: str) -> Calendar:
        name = self.policy(class_name).calendar_name(channel_type)
        return self.calendars.get(name, ALWAYS_OPEN)

    def due(self, clock: str, class_name: str, channel_type: str, since_ms: int) -> int:
        """Deadline of an SLA clock started at ``since_ms``, in the class's calendar."""
        seconds = self.policy(class_name).target(clock, channel_type)
        return self.calendar(class_name, channel_type).add(since_ms, seconds)

    def queue_due(self, clock: str, class_name: str, channel_type: str, since_ms: int) -> int:
        """The deadline a waiting conversation is queued by (its routing deadline), moved
        ``QUEUE_FIRST_MS`` earlier for a class served first (urgent)."""
        policy = self.policy(class_name)
        seconds = policy.queue_seconds(clock, channel_type)
        due = self.calendar(class_name, channel_type).add(since_ms, seconds)
        return due - QUEUE_FIRST_MS if policy.queue_first else due

    def queue_shift(self, old_class: str, new_class: str) -> int:
        """How much a queued conversation's position moves when its class changes (ms, <= 0:
        earlier), so a conversation raised to urgent joins the urgent ones."""
        before = self.policy(old_class).queue_first
        return -QUEUE_FIRST_MS if self.policy(new_class).queue_first and not before else 0

    def late_grace_ms(self, class_name: str, channel_type: str) -> int:
        """How long after its deadline a conversation may still be passed over by ones that
        can meet theirs: its class's maximum wait beyond the first-response target."""
        policy = self.policy(class_name)
        extra = policy.max_wait_seconds(channel_type) - policy.first_response_seconds(channel_type)
        return max(0, extra) * 1000

    def first_response_due(self, class_name: str, channel_type: str, since_ms: int) -> int:
        return self.due("first_response", class_name, channel_type, since_ms)

    def next_response_due(self, class_name: str, channel_type: str, since_ms: int) -> int:
        return self.due("next_response", class_name, channel_type, since_ms)

    def resolution_due(self, class_name: str, channel_type: str, since_ms: int) -> int:
        return self.due("resolution", class_name, channel_type, since_ms)

    def needs_supervisor(self, class_name: str) -> bool:
        policy = self.classes.get(class_name)
        return bool(policy and policy.supervisor)

    def raised(self, class_name: str) -> str | None:
        """The class a breach raises this one to (None: already the top, or not raised)."""
        target = self.raise_to.get(class_name)
        if target is None:
            # Default: one rank more urgent, never into a class that needs a supervisor.
            order = sorted(self.classes.values(), key=lambda c: c.rank)
            here = self.rank(class_name)
            above = [c for c in order if c.rank < here and not c.supervisor]
            target = above[-1].name if above else None
        return target if target and target != class_name else None

    def weight(self, channel_type: str) -> float:
        return self.weights.get(channel_type, self.weights.get("default", 1.0))


def parse_sla(data: Mapping[str, Any]) -> SlaPolicy:
    """A policy from a TOML- or JSON-shaped document; raises SlaConfigError naming the field.

    ``classes`` is a table in TOML (order = urgency) or a list of {name, ...} in JSON.
    """
    if not isinstance(data, Mapping):
        raise SlaConfigError("body: expected an object")
    raw_classes = data.get("classes")
    if isinstance(raw_classes, Mapping):
        items = [(str(k), v) for k, v in raw_classes.items()]
    elif isinstance(raw_classes, list):
        items = []
        for i, spec in enumerate(raw_classes):
            if not isinstance(spec, Mapping) or not spec.get("name"):
                raise SlaConfigError(f"classes.{i}: expected an object with a name")
            items.append((str(spec["name"]), spec))
    else:
        raise SlaConfigError("classes: expected a table of classes, most urgent first")

    calendars: dict[str, Calendar] = {}
    raw_calendars = data.get("calendars", {})
    if not isinstance(raw_calendars, Mapping):
        raise SlaConfigError("calendars: expected a table")
    for name, spec in raw_calendars.items():
        if name == ALWAYS:
            raise SlaConfigError("calendars.always: built in; choose another name")
        try:
            calendars[str(name)] = _parse_calendar(str(name), spec)
        except CalendarError as exc:
            raise SlaConfigError(str(exc)) from None

    classes: dict[str, ClassPolicy] = {}
    for rank, (name, spec) in enumerate(items):
        where = f"classes.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            raise SlaConfigError(f"{where}: class names are lowercase words")
        if name in classes:
            raise SlaConfigError(f"{where}: defined twice")
        if not isinstance(spec, Mapping) or "first_response" not in spec:
            raise SlaConfigError(f"{where}.first_response: required")
        first = _per_channel(spec["first_response"], f"{where}.first_response")
        calendar = spec.get("calendar", ALWAYS)
        calendar_map = dict(calendar) if isinstance(calendar, Mapping) else {"default": calendar}
        calendar_map.setdefault("default", ALWAYS)
        for channel, cal_name in calendar_map.items():
            if cal_name != ALWAYS and cal_name not in calendars:
                raise SlaConfigError(f"{where}.calendar.{channel}: unknown calendar {cal_name!r}")
        classes[name] = ClassPolicy(
            name=name,
            rank=rank,
            first_response=first,
            next_response=_per_channel(spec.get("next_response", first), f"{where}.next_response"),
            resolution=_per_channel(spec.get("resolution", 172800), f"{where}.resolution"),
            supervisor=bool(spec.get("supervisor", False)),
            calendar={str(k): str(v) for k, v in calendar_map.items()},
            description=str(spec.get("description", "")),
            queue_target=_per_channel(spec["queue_target"], f"{where}.queue_target", zero=True)
            if "queue_target" in spec
            else None,
            queue_first=bool(spec.get("queue_first", False)),
            max_wait=_per_channel(spec["max_wait"], f"{where}.max_wait")
            if "max_wait" in spec
            else None,
            widen=bool(spec.get("widen", True)),
        )
    if "normal" not in classes:
        raise SlaConfigError("classes.normal: a 'normal' class is required")

    weights = {"default": 1.0}
    raw_weights = data.get("weights", {})
    if not isinstance(raw_weights, Mapping):
        raise SlaConfigError("weights: expected a table")
    for channel, value in raw_weights.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
            raise SlaConfigError(f"weights.{channel}: a positive number")
        weights[str(channel)] = float(value)

    escalation = data.get("escalation", {})
    if not isinstance(escalation, Mapping):
        raise SlaConfigError("escalation: expected a table")
    steps = []
    for i, spec in enumerate(escalation.get("steps", [])):
        where = f"escalation.steps.{i}"
        if not isinstance(spec, Mapping) or spec.get("action") not in ACTIONS:
            raise SlaConfigError(f"{where}.action: one of {', '.join(ACTIONS)}")
        after = spec.get("after", 0)
        after_s = 0 if after in (0, "0") else _seconds(after, f"{where}.after")
        steps.append(EscalationStep(after_s, str(spec["action"])))
    steps.sort(key=lambda s: s.after)
    raise_to = {str(k): str(v) for k, v in escalation.get("raise", {}).items()}
    for source, target in raise_to.items():
        for name in (source, target):
            if name not in classes:
                raise SlaConfigError(f"escalation.raise.{source}: unknown class {name!r}")

    routing = data.get("routing", {})
    if not isinstance(routing, Mapping):
        raise SlaConfigError("routing: expected a table")
    sticky = routing.get("sticky_wait_seconds", 30)
    advisor = routing.get("advisor_wait_seconds", 30)
    lookahead = routing.get("light_lookahead_seconds", 0)
    window = routing.get("parity_window_minutes", 1440)
    max_credit = routing.get("parity_max_credit_seconds", 60)
    for name, value in (
        ("sticky_wait_seconds", sticky),
        ("advisor_wait_seconds", advisor),
        ("light_lookahead_seconds", lookahead),
        ("parity_max_credit_seconds", max_credit),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86400:
            raise SlaConfigError(f"routing.{name}: whole seconds between 0 and 86400")
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= 10080:
        raise SlaConfigError("routing.parity_window_minutes: whole minutes between 0 and 10080")
    gain = routing.get("parity_gain", 2.0)
    if isinstance(gain, bool) or not isinstance(gain, int | float) or not 0 <= gain <= 10:
        raise SlaConfigError("routing.parity_gain: a number between 0 and 10")
    return SlaPolicy(
        classes=classes,
        weights=weights,
        calendars=calendars,
        escalation=tuple(steps),
        raise_to=raise_to,
        sticky_wait_seconds=sticky,
        advisor_wait_seconds=advisor,
        light_lookahead_seconds=lookahead,
        parity_window_minutes=window,
        parity_gain=float(gain),
        parity_max_credit_seconds=max_credit,
    )


def sla_to_doc(policy: SlaPolicy) -> dict[str, Any]:
    """The JSON shape the API serves and accepts (classes as an ordered list)."""
    classes = []
    for c in sorted(policy.classes.values(), key=lambda c: c.rank):
        classes.append(
            {
                "name": c.name,
                "description": c.description,
                "first_response": c.first_response,
                "next_response": c.next_response,
                "resolution": c.resolution,
                "supervisor": c.supervisor,
                "calendar": c.calendar,
                **({"queue_target": c.queue_target} if c.queue_target is not None else {}),
                **({"queue_first": True} if c.queue_first else {}),
                **({"max_wait": c.max_wait} if c.max_wait is not None else {}),
                **({"widen": False} if not c.widen else {}),
            }
        )
    return {
        "classes": classes,
        "weights": policy.weights,
        "calendars": {n: calendar_to_dict(c) for n, c in policy.calendars.items()},
        "escalation": {
            "steps": [{"after": s.after, "action": s.action} for s in policy.escalation],
            "raise": policy.raise_to,
        },
        "routing": {
            "sticky_wait_seconds": policy.sticky_wait_seconds,
            "advisor_wait_seconds": policy.advisor_wait_seconds,
            "light_lookahead_seconds": policy.light_lookahead_seconds,
            "parity_window_minutes": policy.parity_window_minutes,
            "parity_gain": policy.parity_gain,
            "parity_max_credit_seconds": policy.parity_max_credit_seconds,
        },
    }


def load_sla(path: Path) -> SlaPolicy:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        return parse_sla(data)
    except SlaConfigError as exc:
        raise SlaConfigError(f"{path}: {exc}") from None


# --- SLA clocks of one conversation (fields of its Redis hash) ------------------------------
@dataclass(frozen=True)
class Clock:
    name: str  # first_response / next_response / resolution
    due: int  # ms

    @property
    def id(self) -> str:
        return f"{self.name}:{self.due}"


PAUSED = ("pending", "snoozed")


def _int(row: Mapping[str, Any], name: str) -> int:
    value = row.get(name)
    return int(float(value)) if value not in (None, "") else 0


def running_clocks(row: Mapping[str, Any]) -> list[Clock]:
    """The clocks running for a conversation, earliest deadline first.

    First response runs from the first customer message until an agent's reply; next response
    from a customer message (after a reply) until the next reply; resolution until resolved.
    A pending or snoozed conversation has its clocks paused (none running).
    """
    status = row.get("status")
    if status in (None, "", "resolved") or status in PAUSED:
        return []
    clocks = []
    if row.get("waiting_since"):
        if not row.get("first_response_at"):
            if due := _int(row, "first_response_due"):
                clocks.append(Clock("first_response", due))
        elif due := _int(row, "next_response_due"):
            clocks.append(Clock("next_response", due))
    if due := _int(row, "resolution_due"):
        clocks.append(Clock("resolution", due))
    return sorted(clocks, key=lambda c: c.due)


def breached(row: Mapping[str, Any], now: int) -> Clock | None:
    """The earliest running clock past its deadline, if any."""
    for clock in running_clocks(row):
        if clock.due <= now:
            return clock
    return None


def next_deadline(row: Mapping[str, Any], now: int) -> int | None:
    future = [c.due for c in running_clocks(row) if c.due > now]
    return min(future) if future else None
