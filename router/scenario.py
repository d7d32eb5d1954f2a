"""Simulator scenarios (config/scenarios/*.toml): agents and their shifts, arrivals per channel
over a day, bursts, handle times, class mix and agent behaviour. Loading and drawing the
arrivals are pure and seeded, so every policy faces exactly the same day."""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.models import Channel

# A message text per class, written the way customers write (the production rules classify
# them; VIPs are a tier, spikes a meta flag).
CLASS_TEXTS = {
    "urgent": ["充电器冒烟了，有安全隐患！", "Our whole batch failure: all units stopped working"],
    "sensitive": ["再不处理我就找记者曝光", "My lawyer will contact you about this"],
    "low": ["给你们提个建议：希望增加夜间模式", "Some feedback on the new app"],
    "normal": ["订单什么时候发货？", "How do I reset my device?", "请问怎么申请退款"],
    "high": ["我的订单有问题", "I need help with my order"],
}


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class ChannelSpec:
    name: str  # channel type (Channel value)
    rates: tuple[float, ...]  # arrivals per hour, for each hour of the day
    handle_minutes: float  # mean time an agent holds a conversation after accepting it
    reply_seconds: float  # from accepting to the first reply


@dataclass(frozen=True)
class Burst:
    channel: str
    start_minute: int
    minutes: int
    count: int
    meta: dict[str, Any]


@dataclass(frozen=True)
class AgentGroup:
    name: str
    count: int
    shifts: tuple[tuple[int, int], ...]  # minutes since midnight (end may pass 24:00)
    teams: tuple[str, ...]
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: float
    supervisor: bool


@dataclass(frozen=True)
class Behaviour:
    accept_seconds: tuple[float, float] = (3.0, 15.0)
    miss_rate: float = 0.03  # offers left to time out
    away_minutes: float = 3.0  # an agent set away for missed offers comes back after this
    offer_timeout_seconds: float = 30.0
    max_missed_offers: int = 3
    sweep_seconds: float = 5.0
    returning_rate: float = 0.1  # arrivals from a customer who wrote earlier that day
    vip_customers: int = 40  # VIPs have a dedicated advisor (agents of the group "advisors")
    statement_minutes: float = 30.0  # a senior who took an incident sets its statement after
    incident_minutes: float = 60.0  # ... and holds the incident this long
    # > 0: a returning customer writes in their earlier thread, which reopens their resolved
    # conversation within this many hours (the inbox's reopen window) or joins the open one.
    reopen_hours: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    day: date
    timezone: str
    seed: int
    hours: float  # arrivals during this long
    drain_hours: float  # then keep running this long to answer what is left
    peak: tuple[tuple[int, int], ...]  # windows (minutes) for the 'at peak' figures
    channels: dict[str, ChannelSpec]
    bursts: tuple[Burst, ...]
    class_mix: dict[str, float]
    agents: tuple[AgentGroup, ...]
    behaviour: Behaviour
    channel_teams: dict[str, str] = field(default_factory=dict)

    @property
    def start_ms(self) -> int:
        midnight = datetime.combine(self.day, time(0), tzinfo=ZoneInfo(self.timezone))
        return int(midnight.timestamp() * 1000)

    def at(self, minute: float) -> int:
        return self.start_ms + int(minute * 60_000)


@dataclass(frozen=True)
class Arrival:
    index: int
    at: int  # ms
    channel: str
    customer: str
    class_name: str  # intended class (the production classifier decides the real one)
    text: str
    tier: str | None
    meta: dict[str, Any]
    handle_ms: int
    reply_ms: int


def _minute(text: str, where: str) -> int:
    try:
        hh, mm = str(text).split(":")
        return int(hh) * 60 + int(mm)
    except ValueError:
        raise ScenarioError(f"{where}: {text!r} is not HH:MM") from None


def _window(text: str, where: str) -> tuple[int, int]:
    start, sep, end = str(text).partition("-")
    if not sep:
        raise ScenarioError(f"{where}: {text!r} is not HH:MM-HH:MM")
    lo, hi = _minute(start, where), _minute(end, where)
    return (lo, hi if hi > lo else hi + 24 * 60)  # an end before the start is the next day


def _rates(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != 24:
        raise ScenarioError(f"{where}: 24 hourly rates (arrivals per hour)")
    return tuple(float(v) for v in value)


def parse_scenario(data: dict[str, Any], name: str = "scenario") -> Scenario:
    try:
        channels = {}
        for channel, spec in data["channels"].items():
            if channel not in {c.value for c in Channel}:
                raise ScenarioError(f"channels.{channel}: unknown channel type")
            channels[channel] = ChannelSpec(
                name=channel,
                rates=_rates(spec["rates"], f"channels.{channel}.rates"),
                handle_minutes=float(spec.get("handle_minutes", 8)),
                reply_seconds=float(spec.get("reply_seconds", 20)),
            )
        bursts = tuple(
            Burst(
                channel=b["channel"],
                start_minute=_minute(b["start"], "bursts.start"),
                minutes=int(b.get("minutes", 30)),
                count=int(b["count"]),
                meta=dict(b.get("meta", {})),
            )
            for b in data.get("bursts", [])
        )
        for burst in bursts:
            if burst.channel not in channels:
                raise ScenarioError(f"bursts: channel {burst.channel!r} is not in [channels]")
        agents = tuple(
            AgentGroup(
                name=g["name"],
                count=int(g.get("count", 1)),
                shifts=tuple(_window(s, f"agents.{g['name']}.shift") for s in _list(g["shift"])),
                teams=tuple(g.get("teams", [])),
                skills=tuple(g.get("skills", [])),
                languages=tuple(g.get("languages", [])),
                capacity=float(g.get("capacity", 3)),
                supervisor=bool(g.get("supervisor", False)),
            )
            for g in data["agents"]
        )
        b = data.get("behaviour", {})
        behaviour = Behaviour(
            accept_seconds=tuple(b.get("accept_seconds", (3, 15))),  # type: ignore[arg-type]
            miss_rate=float(b.get("miss_rate", 0.03)),
            away_minutes=float(b.get("away_minutes", 3)),
            offer_timeout_seconds=float(b.get("offer_timeout_seconds", 30)),
            max_missed_offers=int(b.get("max_missed_offers", 3)),
            sweep_seconds=float(b.get("sweep_seconds", 5)),
            returning_rate=float(b.get("returning_rate", 0.1)),
            vip_customers=int(b.get("vip_customers", 40)),
            statement_minutes=float(b.get("statement_minutes", 30)),
            incident_minutes=float(b.get("incident_minutes", 60)),
            reopen_hours=float(b.get("reopen_hours", 0)),
        )
        mix = {str(k): float(v) for k, v in data.get("class_mix", {}).items()}
        if sum(mix.values()) > 1:
            raise ScenarioError("class_mix: fractions add up to more than 1")
        return Scenario(
            name=str(data.get("name", name)),
            description=str(data.get("description", "")),
            day=date.fromisoformat(str(data.get("date", "2026-03-13"))),
            timezone=str(data.get("timezone", "Asia/Shanghai")),
            seed=int(data.get("seed", 1)),
            hours=float(data.get("hours", 24)),
            drain_hours=float(data.get("drain_hours", 4)),
            peak=tuple(_window(w, "peak") for w in data.get("peak", [])),
            channels=channels,
            bursts=bursts,
            class_mix=mix,
            agents=agents,
            behaviour=behaviour,
            channel_teams={str(k): str(v) for k, v in data.get("channel_teams", {}).items()},
        )
    except KeyError as exc:
        raise ScenarioError(f"missing {exc.args[0]!r}") from None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_scenario(name_or_path: str) -> Scenario:
    """A path to a TOML file, or the name of one in config/scenarios/."""
    from gateway.settings import config_dir

    path = Path(name_or_path)
    if not path.exists():
        path = config_dir() / "scenarios" / f"{name_or_path.removesuffix('.toml')}.toml"
    if not path.exists():
        raise ScenarioError(f"no scenario {name_or_path!r} (a file, or a name in config/scenarios)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse_scenario(data, path.stem)


def _draw_class(rng: random.Random, mix: dict[str, float]) -> str:
    roll = rng.random()
    for name, share in mix.items():
        if roll < share:
            return name
        roll -= share
    return "normal"


def arrivals(scenario: Scenario) -> list[Arrival]:
    """The day's arrivals, seeded: a Poisson process per channel at the hourly rates, plus the
    bursts; each with its customer, class, text, handle time and reply delay."""
    rng = random.Random(scenario.seed)
    times: list[tuple[float, str, dict[str, Any]]] = []
    total_minutes = scenario.hours * 60
    for channel in scenario.channels.values():
        # Exponential gaps within each hour (memoryless, so restarting at the hour is exact).
        for hour in range(math.ceil(scenario.hours)):
            per_minute = channel.rates[hour % 24] / 60
            minute = hour * 60.0
            end = min((hour + 1) * 60.0, total_minutes)
            while per_minute > 0:
                minute += rng.expovariate(per_minute)
                if minute >= end:
                    break
                times.append((minute, channel.name, {}))
    for burst in scenario.bursts:
        for _ in range(burst.count):
            times.append(
                (burst.start_minute + rng.random() * burst.minutes, burst.channel, burst.meta)
            )
    times.sort(key=lambda t: t[0])

    vips = [f"vip-{i}" for i in range(scenario.behaviour.vip_customers)]
    seen: dict[str, list[str]] = {}
    out: list[Arrival] = []
    last_at = -1
    for index, (minute, channel_name, meta) in enumerate(times):
        # Every arrival at its own millisecond: two conversations created in the same ms of a
        # day would tie in the queue (same deadline) and share their offers' random draws
        # (offer_draw), and the production queue breaks such a tie by the conversation id,
        # which is made of the wall clock and random bits (gateway/ids.py): the run would not
        # be reproducible (docs/routing.md, section 7). One ms later changes nothing else.
        last_at = max(scenario.at(minute), last_at + 1)
        channel = scenario.channels[channel_name]
        # A burst's flags (e.g. spike) let the production rules decide its class.
        class_name = "normal" if meta else _draw_class(rng, scenario.class_mix)
        earlier = seen.setdefault(channel_name, [])
        tier = None
        if class_name == "high" and not meta and vips:
            customer, tier = rng.choice(vips) + f"-{channel_name}", "vip"
        elif earlier and rng.random() < scenario.behaviour.returning_rate:
            customer = rng.choice(earlier)
        else:
            customer = f"c{index}"
            earlier.append(customer)
        texts = CLASS_TEXTS.get(class_name, CLASS_TEXTS["normal"])
        # Log-normal handle times (a long tail, as in real queues) with the configured mean.
        sigma = 0.6
        mu = math.log(channel.handle_minutes * 60_000) - sigma * sigma / 2
        out.append(
            Arrival(
                index=index,
                at=last_at,
                channel=channel_name,
                customer=customer,
                class_name=class_name,
                text=rng.choice(texts),
                tier=tier,
                meta=dict(meta),
                handle_ms=int(rng.lognormvariate(mu, sigma)),
                reply_ms=int(channel.reply_seconds * 1000 * rng.uniform(0.5, 1.5)),
            )
        )
    return out


def shift_events(scenario: Scenario) -> list[tuple[int, str, bool]]:
    """(time ms, agent id, online?) for every shift start and end."""
    out = []
    for group in scenario.agents:
        for n in range(group.count):
            agent_id = agent_id_of(group, n)
            for start, end in group.shifts:
                out.append((scenario.at(start), agent_id, True))
                out.append((scenario.at(end), agent_id, False))
    return sorted(out)


def agent_id_of(group: AgentGroup, n: int) -> str:
    return f"{group.name}-{n + 1:02d}"


def offer_draw(seed: int, arrival: int, attempt: int) -> random.Random:
    """Agent behaviour on one offer, the same whatever the policy (common random numbers)."""
    return random.Random(f"{seed}:{arrival}:{attempt}")
