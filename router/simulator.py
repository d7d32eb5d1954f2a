"""The routing simulator: a day of a scenario, run through the production router code.

It drives the real Inbox (classification, SLA deadlines), RouterStore (the Lua steps) and
RouterWorker (sweep: offers, expiry, escalation) on an embedded Redis, with a simulated clock
injected into all three, under our policy and under the peers' (router/peers.py). Agents are
simulated: they accept an offer after a few seconds or miss it, reply, hold the conversation
for a handle time, then resolve it; they follow their shifts. Every policy faces the same
arrivals and the same agent behaviour per offer (common random numbers).

Discrete events: the clock jumps from one event to the next; the router sweeps when something
changed (coalesced to one sweep per simulated second, like a busy router) and every
``sweep_seconds`` while a conversation waits, as in production.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
import statistics
import tempfile
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from gateway.classify import load_classifier
from gateway.conversations import Conversations
from gateway.inbox import Inbox
from gateway.incidents import Incidents
from gateway.keys import Keys
from gateway.models import Channel, ContactIdentity, InboundMessage
from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis
from gateway.settings import config_dir
from router.peers import PEERS
from router.policy import (
    AgentView,
    ConversationView,
    DeadlinePolicy,
    RoutingPolicy,
    conversation_view,
    fits,
    is_eligible,
)
from router.policy_source import PolicySource
from router.scenario import Arrival, Scenario, agent_id_of, arrivals, offer_draw, shift_events
from router.sla import SlaPolicy, load_sla
from router.store import RouterStore
from router.worker import RouterConfig, RouterWorker

OURS = "ours"
POLICIES = (OURS, *PEERS)
_COALESCE_MS = 1000  # at most one triggered sweep per simulated second
_ITEM_INDEX = 10_000_000  # offer draws of incident items: apart from the arrivals'
SENIOR_MS = 30 * 60_000  # an incident or a media threat: a senior within 30 minutes


def make_policy(name: str, sla: SlaPolicy) -> RoutingPolicy:
    if name == OURS:
        return DeadlinePolicy.from_sla(sla)
    try:
        return PEERS[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; one of {', '.join(POLICIES)}") from None


class SimClock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@dataclass
class Record:
    """One simulated conversation, as measured."""

    arrival: Arrival
    conversation_id: str
    class_name: str  # as the production classifier set it
    due: int  # first-response deadline (ms), in the class's calendar
    target_s: float  # the class's first-response target for this channel (s)
    needs_supervisor: bool
    weight: float
    offers: int = 0
    first_offer_at: int | None = None  # its first offer (the class's maximum wait is to this)
    missed_by: set[str] = field(default_factory=set)  # agents who let an offer time out
    advisor: str | None = None  # a VIP's dedicated advisor
    advisor_on_shift: bool = False  # ... on shift when the VIP wrote
    accepted_at: int | None = None
    agent: str | None = None
    responded_at: int | None = None
    by_supervisor: bool = False
    resolved_at: int | None = None
    incident: str | None = None  # an incident's item (a senior takes it), its incident id
    bulk: bool = False  # answered by the incident's bulk reply

    @property
    def attained(self) -> bool:
        if self.responded_at is None or self.responded_at > self.due:
            return False
        return self.by_supervisor or not self.needs_supervisor


@dataclass
class Counters:
    offers: int = 0
    missed: int = 0
    offered_again: int = 0  # offers to an agent who had missed this conversation before
    # A VIP offered to another while the advisor had room: after the advisor missed its
    # offer (the rule: a missed offer goes to someone else), or not (against the rule).
    vip_elsewhere_advisor_free: int = 0
    vip_elsewhere_advisor_missed: int = 0
    set_away: int = 0
    alerts: int = 0
    escalation_lines: int = 0
    sweeps: int = 0
    bulk_answered: int = 0  # mentions answered by their incident's bulk reply
    idle_ms: int = 0  # an idle agent (nothing held) beside a queued conversation they may take
    idle_longest_ms: int = 0  # ... the longest such spell
    idle_spells: int = 0
    reopened: int = 0  # resolved conversations a returning customer reopened
    followups: int = 0  # messages into a conversation still open


@dataclass
class Simulation:
    scenario: Scenario
    policy_name: str
    redis: aioredis.Redis
    prefix: str
    day: list[Arrival]
    records: dict[str, Record] = field(default_factory=dict)
    finished: list[Record] = field(default_factory=list)  # earlier rounds of reopened ones
    counters: Counters = field(default_factory=Counters)

    async def setup(self) -> None:
        sc = self.scenario
        self.clock = SimClock(sc.start_ms)
        self.keys = Keys(self.prefix)
        sla = load_sla(config_dir() / "sla.toml")
        rules = load_classifier(config_dir() / "priority_rules.toml", list(sla.classes))
        self.sla = sla
        self.policies = PolicySource(self.redis, self.keys, sla, rules)
        if sc.channel_teams:  # the scenario's teams, as an admin would set them
            doc = dict(rules.doc)
            doc["channel_defaults"] = {
                **doc.get("channel_defaults", {}),
                **{c: {"team": t} for c, t in sc.channel_teams.items()},
            }
            await self.policies.put_rules(doc)
        self.store = RouterStore(self.redis, self.keys, clock=self.clock)
        self.inbox = Inbox(
            self.redis,
            self.keys,
            rules,
            sla,
            reopen_window_seconds=int(sc.behaviour.reopen_hours * 3600),
            dedupe_ttl_seconds=86400 * 3,
            clock=self.clock,
            policies=self.policies,
        )
        # Spikes are incidents, as in production (gateway/incidents/), on the simulated clock.
        self.incidents = Incidents(
            self.redis,
            self.keys,
            Conversations(self.redis, self.keys, clock=self.clock),
            open_item=self.inbox.ingest,
            resolve=self._bulk_resolved,
            clock=self.clock,
        )
        self.policy = make_policy(self.policy_name, sla)
        b = sc.behaviour
        self.worker = RouterWorker(
            self.store,
            RouterConfig(
                offer_timeout_ms=int(b.offer_timeout_seconds * 1000),
                heartbeat_ttl_ms=30 * 86_400_000,  # simulated agents never lose their heartbeat
                sweep_seconds=b.sweep_seconds,
                max_missed_offers=b.max_missed_offers,
            ),
            self._notify,
            policy=self.policy,
            policies=self.policies,
            clock=self.clock,
            log_event=self._log_event,
        )
        self.supervisors: set[str] = set()
        self.advisors: list[str] = []
        self.capacity: dict[str, float] = {}
        for group in sc.agents:
            for n in range(group.count):
                agent_id = agent_id_of(group, n)
                await self.store.upsert_agent(
                    agent_id,
                    name=agent_id,
                    capacity=group.capacity,
                    teams=list(group.teams),
                    skills=list(group.skills),
                    languages=list(group.languages),
                    supervisor=group.supervisor,
                )
                self.capacity[agent_id] = group.capacity
                if group.supervisor:
                    self.supervisors.add(agent_id)
                if group.name == "advisors":
                    self.advisors.append(agent_id)
        self.online_since: dict[str, int] = {}
        self.online_ms: dict[str, int] = dict.fromkeys(self.capacity, 0)
        self.on_shift: dict[str, bool] = dict.fromkeys(self.capacity, False)
        self.vip_contacts: set[str] = set()
        self._heap: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self.kicked = False
        self.sweep_due = False
        self.last_sweep = -(10**15)
        self.next_tick: int | None = None
        self.waiting = 0  # arrived and not yet accepted
        self.items = 0  # incident items opened
        self._idle_at: int | None = None  # an idle spell began after the round at this time

    # --- events ----------------------------------------------------------------------------
    def at(self, when: int, kind: str, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, payload))

    def _tick_at(self, when: int) -> None:
        if self.next_tick is not None and self.next_tick <= when:
            return
        self.next_tick = when
        self.at(when, "tick")

    async def run(self) -> dict[str, Any]:
        await self.setup()
        sc = self.scenario
        for arrival in self.day:
            self.at(arrival.at, "arrive", arrival)
        for when, agent_id, online in shift_events(sc):
            self.at(when, "shift", (agent_id, online))
        end = sc.at((sc.hours + sc.drain_hours) * 60)
        sweep_ms = int(sc.behaviour.sweep_seconds * 1000)
        while self._heap:
            when, _, kind, payload = heapq.heappop(self._heap)
            if when > end:
                break
            self.clock.now = when
            await getattr(self, f"_on_{kind}")(payload)
            if self._heap and self._heap[0][0] == when:
                continue  # finish everything at this instant first
            if self.sweep_due or (self.kicked and when - self.last_sweep >= _COALESCE_MS):
                await self._sweep(when)
            elif self.kicked:
                self._tick_at(self.last_sweep + _COALESCE_MS)
            if self.waiting > 0:
                self._tick_at(when + sweep_ms)
        self.clock.now = end
        for agent_id, since in self.online_since.items():
            self.online_ms[agent_id] += end - since
        return self.result(end)

    async def _sweep(self, when: int) -> None:
        self.kicked = self.sweep_due = False
        self.last_sweep = when
        self.counters.sweeps += 1
        await self.worker.sweep()
        if self.worker.hold_ends_at is not None:  # as the router's own sleep is cut short
            self._tick_at(self.worker.hold_ends_at)
        await self._idle_check(when)

    async def _idle_check(self, when: int) -> None:
        """After a round: is an online agent holding nothing left beside a queued
        conversation they may take (the router had the chance and made no offer)? Such a spell
        lasts until the next round; the total and the longest are reported."""
        c = self.counters
        if self._idle_at is not None:
            spell = when - self._idle_at
            c.idle_ms += spell
            c.idle_longest_ms = max(c.idle_longest_ms, spell)
        self._idle_at = None
        if self.waiting <= 0:
            return
        idle = [a for a in await self.store.candidates(0, 200) if a.load <= 1e-9]
        if not idle:
            return
        queued = await self.redis.zrange(self.keys.queue(), 0, 499)
        rows = await self.store.conversation_rows(queued)
        for conversation_id, row in zip(queued, rows, strict=True):
            if not row:
                continue
            view = conversation_view(conversation_id, row, self.sla)
            if any(is_eligible(a, view) for a in idle):
                self._idle_at = when
                c.idle_spells += 1
                return

    async def _on_tick(self, _payload: Any) -> None:
        if self.next_tick == self.clock.now:
            self.next_tick = None
        if self.last_sweep != self.clock.now:
            self.sweep_due = True

    async def _on_arrive(self, arrival: Arrival) -> None:
        channel = Channel(arrival.channel)
        msg = InboundMessage(
            channel_id=f"sim-{arrival.channel}",
            channel_type=channel,
            external_id=f"m{arrival.index}",
            contact=ContactIdentity(external_id=arrival.customer, tier=arrival.tier),
            thread_key=self._thread(arrival),
            text=arrival.text,
            sent_at=arrival.at,
            meta=arrival.meta,
        )
        result = await self.inbox.ingest(msg)
        earlier = self.records.get(result.conversation_id)
        if earlier is not None and earlier.resolved_at is None:
            # The customer wrote again in their open conversation: one more message, no new
            # first response to measure.
            self.counters.followups += 1
        else:
            if earlier is not None:  # a resolved conversation reopened
                self.finished.append(earlier)
                self.counters.reopened += 1
            await self._register(arrival, result.conversation_id, result.contact_id)
        if arrival.meta.get("spike"):
            outcome, incident_id = await self.incidents.on_mention(result.conversation_id, msg)
            if outcome == "created":
                await self._register_item(arrival, incident_id)

    def _thread(self, arrival: Arrival) -> str:
        if self.scenario.behaviour.reopen_hours > 0 and not arrival.meta:
            return f"t-{arrival.customer}"  # a returning customer writes in their thread
        return f"t{arrival.index}"

    async def _register_item(self, first: Arrival, incident_id: str) -> None:
        """An incident opened: its item is a conversation the router offers to seniors; the
        senior who takes it writes the statement (``statement_minutes``), answers the open
        mentions in bulk, and closes the incident (``incident_minutes`` after taking it)."""
        b = self.scenario.behaviour
        conversation_id = await self.redis.hget(self.keys.incident(incident_id), "conversation_id")
        self.items += 1
        item = Arrival(
            index=_ITEM_INDEX + self.items,
            at=self.clock.now,
            channel=first.channel,
            customer=f"incident:{incident_id}",
            class_name="incident",
            text="",
            tier=None,
            meta={"incident": incident_id},
            handle_ms=int(b.incident_minutes * 60_000),
            reply_ms=int(b.statement_minutes * 60_000),
        )
        await self._register(item, conversation_id, "", incident=incident_id)

    async def _register(
        self, arrival: Arrival, conversation_id: str, contact_id: str, incident: str | None = None
    ) -> None:
        k = self.keys
        conv_key = k.conversation(conversation_id)
        priority, rank, due, weight, created = await self.redis.hmget(
            conv_key, ["priority", "priority_rank", "first_response_due", "weight", "created_at"]
        )
        advisor = None
        if arrival.tier == "vip" and self.advisors:
            advisor = await self._dedicated_advisor(arrival, contact_id, conv_key)
        record = Record(
            arrival=arrival,
            conversation_id=conversation_id,
            class_name=priority or "normal",
            due=int(float(due)),
            target_s=self.sla.policy(priority or "normal").first_response_seconds(arrival.channel),
            needs_supervisor=self.sla.needs_supervisor(priority or "normal"),
            weight=float(weight or 1),
            advisor=advisor,
            advisor_on_shift=bool(advisor and self.on_shift.get(advisor)),
            incident=incident,
        )
        self.records[conversation_id] = record
        self.waiting += 1
        score = self.policy.queue_score(
            ConversationView(
                id=conversation_id,
                priority_rank=int(rank or 99),
                created_at=int(created or arrival.at),
                waiting_since=arrival.at,
            )
        )
        if score is not None:
            await self.store.enqueue(conversation_id, score)
        self.kicked = True

    async def _dedicated_advisor(self, arrival: Arrival, contact_id: str, conv_key: str) -> str:
        """VIPs have a dedicated advisor (an admin set it on the contact before the day)."""
        advisor = self.advisors[zlib.crc32(arrival.customer.encode()) % len(self.advisors)]
        if contact_id in self.vip_contacts:
            return advisor
        self.vip_contacts.add(contact_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.contact(contact_id), "advisor", advisor)
        pipe.hset(conv_key, "advisor", advisor)
        await pipe.execute()
        return advisor

    async def _fits(self, agent: AgentView, conversation_id: str) -> bool:
        """Whether the agent's team, skills and language fit the conversation."""
        row = (await self.store.conversation_rows([conversation_id]))[0]
        return bool(row) and fits(agent, conversation_view(conversation_id, row, self.sla))

    async def _notify(
        self, event: str, data: dict[str, Any], users: list[str], roles: list[str]
    ) -> None:
        now = self.clock.now
        if event == "conversation.offered":
            self.counters.offers += 1
            record = self.records.get(data["conversation_id"])
            if record is None:
                return
            agent_id = users[0]
            if agent_id in record.missed_by:
                self.counters.offered_again += 1
            if record.advisor and agent_id != record.advisor:
                advisor = await self.store.agent(record.advisor)
                if (
                    advisor
                    and advisor.status == "online"
                    and (advisor.load + record.weight <= advisor.capacity + 1e-4)
                    and await self._fits(advisor, record.conversation_id)
                ):
                    if record.advisor in record.missed_by:
                        self.counters.vip_elsewhere_advisor_missed += 1
                    else:
                        self.counters.vip_elsewhere_advisor_free += 1
            if record.first_offer_at is None:
                record.first_offer_at = now
            draw = offer_draw(self.scenario.seed, record.arrival.index, record.offers)
            record.offers += 1
            b = self.scenario.behaviour
            if draw.random() < b.miss_rate:
                self.counters.missed += 1
                record.missed_by.add(agent_id)
                self._tick_at(int(data["expires_at"]) + 1)  # the sweep that expires it
            else:
                delay = draw.uniform(*b.accept_seconds) * 1000
                self.at(now + int(delay), "accept", (record.conversation_id, agent_id))
        elif event == "agent.status" and data.get("status") == "away":
            self.counters.set_away += 1
            away_ms = int(self.scenario.behaviour.away_minutes * 60_000)
            self.at(now + away_ms, "back", data["agent_id"])
        elif event == "sla.breached":
            self.counters.alerts += 1

    async def _log_event(
        self, conversation_id: str, text: str, users: list[str], event: str,
        params: dict[str, str],
    ) -> None:  # fmt: skip
        self.counters.escalation_lines += 1
        await self.worker.append_event(conversation_id, text, users, event, params)

    async def _on_accept(self, payload: tuple[str, str]) -> None:
        conversation_id, agent_id = payload
        if await self.store.accept(conversation_id, agent_id) != "ok":
            return
        record = self.records[conversation_id]
        now = self.clock.now
        record.accepted_at, record.agent = now, agent_id
        self.waiting -= 1
        reply_at = now + record.arrival.reply_ms
        if record.incident:
            # Taking the incident is its response (production: Gateway.accept); the statement
            # and the bulk reply come ``statement_minutes`` later.
            await self.incidents.taken(conversation_id, agent_id)
            record.responded_at = now
            record.by_supervisor = agent_id in self.supervisors
            self.at(reply_at, "statement", conversation_id)
        else:
            self.at(reply_at, "reply", conversation_id)
        self.at(max(now + record.arrival.handle_ms, reply_at + 1000), "resolve", conversation_id)

    async def _on_reply(self, conversation_id: str) -> None:
        """What an agent's first reply does to the conversation (append.lua's SLA part)."""
        now = self.clock.now
        record = self.records[conversation_id]
        if record.responded_at is not None:
            return  # answered meanwhile by its incident's bulk reply
        key = self.keys.conversation(conversation_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, "first_response_at", now)
        pipe.hdel(key, "waiting_since")
        pipe.hset(key, "last_outbound_at", now)
        await pipe.execute()
        record.responded_at = now
        record.by_supervisor = record.agent in self.supervisors

    async def _on_statement(self, conversation_id: str) -> None:
        """The senior sets the approved statement and answers every open mention with it
        (gateway/incidents/: one outbox reply each; those no agent holds are resolved)."""
        record = self.records[conversation_id]
        assert record.incident and record.agent
        await self.incidents.update(
            record.incident,
            actor_id=record.agent,
            actor_name=record.agent,
            statement="We are aware of the issue and are on it; details to follow.",
        )
        outcome = await self.incidents.bulk_reply(
            record.incident, author_id=record.agent, author_name=record.agent
        )
        now = self.clock.now
        for answered in outcome.conversations:
            mention = self.records.get(answered)
            if mention is not None and mention.responded_at is None:
                mention.responded_at, mention.bulk = now, True
                mention.by_supervisor = True  # the senior's statement
                self.counters.bulk_answered += 1
        self.kicked = True

    async def _bulk_resolved(self, conversation_id: str, _actor: str) -> None:
        """The incident's resolve callback (production: Gateway.resolve)."""
        await self.store.resolve(conversation_id)
        record = self.records.get(conversation_id)
        if record is not None and record.resolved_at is None:
            record.resolved_at = self.clock.now
            if record.accepted_at is None:
                self.waiting -= 1  # it was still queued or offered

    async def _on_resolve(self, conversation_id: str) -> None:
        record = self.records[conversation_id]
        if record.resolved_at is not None:
            return  # resolved by its incident's bulk reply
        await self.store.resolve(conversation_id)
        record.resolved_at = self.clock.now
        if record.incident:
            await self.incidents.update(
                record.incident, actor_id=record.agent or "", actor_name=record.agent or "",
                status="resolved",
            )  # fmt: skip
        self.kicked = True

    async def _on_shift(self, payload: tuple[str, bool]) -> None:
        agent_id, online = payload
        now = self.clock.now
        self.on_shift[agent_id] = online
        if online:
            self.online_since.setdefault(agent_id, now)
            await self.store.set_status(agent_id, "online")
            self.kicked = True
        else:
            if agent_id in self.online_since:
                self.online_ms[agent_id] += now - self.online_since.pop(agent_id)
            await self.store.set_status(agent_id, "offline")

    async def _on_back(self, agent_id: str) -> None:
        if self.on_shift.get(agent_id):
            await self.store.set_status(agent_id, "online")
            self.kicked = True

    # --- measures --------------------------------------------------------------------------
    def result(self, end: int) -> dict[str, Any]:
        records = self.finished + list(self.records.values())
        return measure(self.scenario, self.policy_name, records, self, end)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _in_windows(scenario: Scenario, at: int) -> bool:
    minute = (at - scenario.start_ms) / 60_000
    return any(lo <= minute < hi for lo, hi in scenario.peak)


def measure(
    scenario: Scenario, policy: str, records: list[Record], sim: Simulation, end: int
) -> dict[str, Any]:
    def wait_s(r: Record) -> float:
        # Unanswered by the end: counted with the time waited so far (a lower bound).
        return ((r.responded_at or end) - r.arrival.at) / 1000

    # Incident items are measured apart (taken by a senior within 30 minutes); every other
    # figure is over the customers' conversations.
    items = [r for r in records if r.incident]
    records = [r for r in records if not r.incident]
    media = [r for r in records if r.class_name == "sensitive"]

    by_class: dict[str, dict[str, Any]] = {}
    for name in sim.sla.classes:
        group = [r for r in records if r.class_name == name]
        if group:
            met = sum(r.attained for r in group)
            by_class[name] = {
                "n": len(group),
                "attained": round(met / len(group), 4),
                "max_wait_s": round(max(map(wait_s, group)), 1),
                **max_wait_figures(sim.sla, name, group, end),
            }
    waits: dict[str, dict[str, float]] = {}
    for channel in scenario.channels:
        values = [wait_s(r) for r in records if r.arrival.channel == channel]
        waits[channel] = {
            "n": len(values),
            "p50": round(percentile(values, 50), 1),
            "p90": round(percentile(values, 90), 1),
        }
    # Parity: p90 first-response wait of the same class (normal) on channels with the same
    # target, largest over smallest; per group of equal capacity weight too (a lighter
    # conversation fits in room a heavier one cannot use, so it waits less).
    normal = sim.sla.policy("normal")
    p90_normal: dict[str, float] = {}
    for channel in scenario.channels:
        values = [
            wait_s(r) for r in records if r.arrival.channel == channel and r.class_name == "normal"
        ]
        if values:
            p90_normal[channel] = percentile(values, 90)

    def parity_by(key: Callable[[str], tuple[Any, ...]]) -> dict[str, float]:
        groups: dict[tuple[Any, ...], dict[str, float]] = {}
        for channel, p90 in p90_normal.items():
            groups.setdefault(key(channel), {})[channel] = p90
        return {
            "+".join(p90s): round(max(p90s.values()) / max(min(p90s.values()), 1e-9), 3)
            for p90s in groups.values()
            if len(p90s) > 1
        }

    same_target = parity_by(lambda c: (normal.first_response_seconds(c),))
    same_weight = parity_by(lambda c: (normal.first_response_seconds(c), sim.sla.weight(c)))
    # The figure read literally: every channel, every class, largest p90 over smallest
    # (email, with its 1-hour target and 90-second replies, is then the largest).
    p90_all = {c: w["p90"] for c, w in waits.items() if w["n"]}
    chat_channels = [c for c in p90_all if normal.first_response_seconds(c) <= 180]
    raw = _ratio(list(p90_all.values()))
    chat_like_all = _ratio([p90_all[c] for c in chat_channels])
    # How much of the same-target parity is sampling noise: a bootstrap of each channel's
    # normal waits (resampled with replacement, seeded), 5th and 95th percentile of the ratio.
    normal_waits = {
        channel: [wait_s(r) for r in records if r.arrival.channel == channel
                  and r.class_name == "normal"]
        for channel in p90_normal
        if normal.first_response_seconds(channel) <= 180
    }  # fmt: skip
    parity_interval = _bootstrap_parity(normal_waits)
    chat_like = [r for r in records if normal.first_response_seconds(r.arrival.channel) <= 180]
    peak = [r for r in chat_like if _in_windows(scenario, r.arrival.at)]
    urgent = [r for r in records if r.class_name == "urgent"]
    handled: dict[str, float] = dict.fromkeys(sim.capacity, 0.0)
    busy_ms = 0.0
    for r in records:
        if r.agent and r.accepted_at is not None:
            handled[r.agent] += r.weight
            busy_ms += r.weight * ((r.resolved_at or end) - r.accepted_at)
    per_hour = [handled[a] / (ms / 3_600_000) for a, ms in sim.online_ms.items() if ms > 0]
    capacity_ms = sum(sim.capacity[a] * ms for a, ms in sim.online_ms.items())
    attained = sum(r.attained for r in records)
    # VIPs who wrote while their dedicated advisor was on shift: the share their advisor took.
    vips = [r for r in records if r.advisor_on_shift]
    return {
        "policy": policy,
        "conversations": len(records),
        "answered": sum(r.responded_at is not None for r in records),
        "sla_attainment": round(attained / len(records), 4) if records else 0.0,
        "sla_by_class": by_class,
        "first_response_wait_s": waits,
        "parity": max(same_target.values(), default=1.0),
        "parity_groups": same_target,
        "parity_same_weight": max(same_weight.values(), default=1.0),
        "parity_same_weight_groups": same_weight,
        "parity_interval_90": parity_interval,
        "parity_raw": raw,
        "parity_chat_like_all_classes": chat_like_all,
        "p90_normal_s": {c: round(v, 1) for c, v in p90_normal.items()},
        "peak_within_3min": _share(peak, lambda r: wait_s(r) <= 180),
        "vip_to_advisor": _share(vips, lambda r: r.agent == r.advisor),
        "vip_with_advisor_on_shift": len(vips),
        "vip_elsewhere_while_advisor_had_room": sim.counters.vip_elsewhere_advisor_free,
        "vip_elsewhere_after_advisor_missed": sim.counters.vip_elsewhere_advisor_missed,
        "peak_conversations": len(peak),
        "urgent_within_15min": _share(urgent, lambda r: wait_s(r) <= 900),
        "incidents": len(items),
        "incident_taken_by_senior_30min": _share(items, _senior_in_time),
        "incident_longest_take_s": round(max(map(wait_s, items), default=0), 1),
        "media_threat_by_senior_30min": _share(media, _senior_in_time),
        "mentions_answered_in_bulk": sim.counters.bulk_answered,
        "idle_with_work_s": round(sim.counters.idle_ms / 1000, 1),
        "idle_with_work_longest_s": round(sim.counters.idle_longest_ms / 1000, 1),
        "idle_with_work_spells": sim.counters.idle_spells,
        "reopened": sim.counters.reopened,
        "followup_messages": sim.counters.followups,
        "load_spread": {
            "cv": round(statistics.pstdev(per_hour) / statistics.mean(per_hour), 3)
            if per_hour and statistics.mean(per_hour) > 0
            else 0.0,
            "min_per_hour": round(min(per_hour, default=0), 2),
            "max_per_hour": round(max(per_hour, default=0), 2),
        },
        "utilization": round(busy_ms / capacity_ms, 3) if capacity_ms else 0.0,
        "offers": sim.counters.offers,
        "missed_offers": sim.counters.missed,
        "offered_again_after_a_miss": sim.counters.offered_again,
        "agents_set_away": sim.counters.set_away,
        "escalation_steps_logged": sim.counters.escalation_lines,
        "supervisor_alerts": sim.counters.alerts,
        "sweeps": sim.counters.sweeps,
    }


def max_wait_figures(sla: SlaPolicy, name: str, group: list[Record], end: int) -> dict[str, Any]:
    """The class's maximum wait (``max_wait`` in config/sla.toml: the longest a conversation
    should wait for an offer, in the class's calendar) against what its conversations waited
    for their first offer: never offered, until answered or resolved otherwise (a mention by
    its incident's bulk reply), else until the end. Classed by the class they arrived in (an
    escalation may raise one later)."""
    policy = sla.policy(name)
    limits = {ch: policy.max_wait_seconds(ch) for ch in sorted({r.arrival.channel for r in group})}

    def stopped(r: Record) -> int:
        for at in (r.first_offer_at, r.responded_at, r.resolved_at):
            if at is not None:
                return at
        return end

    waited = [
        sla.calendar(name, r.arrival.channel).business_seconds(r.arrival.at, stopped(r))
        for r in group
    ]
    over = sum(w > limits[r.arrival.channel] for r, w in zip(group, waited, strict=True))
    return {
        "max_wait_limit_s": limits,
        "longest_offer_wait_s": round(max(waited), 1),
        "over_max_wait": round(over / len(group), 4),
        "over_max_wait_n": over,
    }


def _senior_in_time(r: Record) -> bool:
    return (
        r.responded_at is not None
        and r.by_supervisor
        and not r.bulk
        and r.responded_at - r.arrival.at <= SENIOR_MS
    )


def _ratio(values: list[float]) -> float:
    """Largest over smallest (1.0 for fewer than two values)."""
    if len(values) < 2:
        return 1.0
    return round(max(values) / max(min(values), 1e-9), 3)


def _bootstrap_parity(waits: dict[str, list[float]], rounds: int = 200) -> list[float]:
    """5th and 95th percentile of the p90 ratio when each channel's waits are resampled."""
    groups = [values for values in waits.values() if values]
    if len(groups) < 2:
        return [1.0, 1.0]
    rng = random.Random(7)
    ratios = sorted(
        _ratio([percentile(rng.choices(values, k=len(values)), 90) for values in groups])
        for _ in range(rounds)
    )
    return [ratios[int(0.05 * rounds)], ratios[int(0.95 * rounds) - 1]]


def _share(records: list[Record], test: Callable[[Record], bool]) -> float:
    return round(sum(map(test, records)) / len(records), 4) if records else 1.0


# --- running ---------------------------------------------------------------------------------
async def simulate_policy(
    scenario: Scenario, policy: str, redis_url: str, prefix: str
) -> dict[str, Any]:
    client = connect(redis_url)  # any Redis URL, Cluster and Sentinel too
    try:
        sim = Simulation(scenario, policy, client, prefix, arrivals(scenario))
        return await sim.run()
    finally:
        await client.aclose()


def _run_one(args: tuple[Scenario, str, str, str]) -> dict[str, Any]:
    scenario, policy, redis_url, prefix = args
    return asyncio.run(simulate_policy(scenario, policy, redis_url, prefix))


def simulate(
    scenario: Scenario,
    policies: tuple[str, ...] = POLICIES,
    *,
    redis_url: str | None = None,
    processes: int = 2,
    prefix: str = "sim",
) -> list[dict[str, Any]]:
    """Run the scenario under each policy (in ``processes`` worker processes), each on its own
    key prefix of one Redis: the given one, else an embedded one in a temporary directory."""
    for name in policies:
        if name != OURS and name not in PEERS:
            raise ValueError(f"unknown policy {name!r}; one of {', '.join(POLICIES)}")
    with tempfile.TemporaryDirectory(prefix="gw-sim-") as tmp:
        embedded = None
        if redis_url is None:
            embedded = EmbeddedRedis(tmp, ["--appendonly", "no"])
            redis_url = embedded.start()
        try:
            jobs = [(scenario, p, redis_url, f"{prefix}{i}") for i, p in enumerate(policies)]
            if processes <= 1 or len(jobs) == 1:
                return [_run_one(job) for job in jobs]
            with ProcessPoolExecutor(max_workers=processes) as pool:
                return list(pool.map(_run_one, jobs))
        finally:
            if embedded is not None:
                embedded.stop()


# --- output ----------------------------------------------------------------------------------
def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_table(scenario: Scenario, results: list[dict[str, Any]]) -> str:
    names = [r["policy"] for r in results]
    width = max(14, *(len(n) for n in names)) + 2
    lines = [f"Scenario {scenario.name}: {scenario.description}".rstrip(": ")]
    lines.append(f"{results[0]['conversations']} conversations" if results else "")

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:<34}" + "".join(f"{v:>{width}}" for v in values))

    row("", names)
    row("SLA attainment (all)", [_pct(r["sla_attainment"]) for r in results])
    classes = list(dict.fromkeys(c for r in results for c in r["sla_by_class"]))
    for name in classes:
        row(
            f"  {name} (n={results[0]['sla_by_class'].get(name, {}).get('n', 0)})",
            [_pct(r["sla_by_class"].get(name, {}).get("attained", 0)) for r in results],
        )
    lines.append("Longest first-response wait per class (s)")
    for name in classes:
        row(f"  {name}", [f"{r['sla_by_class'].get(name, {}).get('max_wait_s', 0):.0f}"
                          for r in results])  # fmt: skip
    row("Chat-like <= 3 min at peak", [_pct(r["peak_within_3min"]) for r in results])
    row("VIP to their advisor (on shift)", [_pct(r["vip_to_advisor"]) for r in results])
    row("Urgent <= 15 min", [_pct(r["urgent_within_15min"]) for r in results])
    if any(r["incidents"] for r in results):
        row(
            f"Incidents by a senior <= 30 min (n={results[0]['incidents']})",
            [_pct(r["incident_taken_by_senior_30min"]) for r in results],
        )
        row("  mentions answered in bulk", [str(r["mentions_answered_in_bulk"]) for r in results])
    media = results[0]["sla_by_class"].get("sensitive", {}).get("n", 0)
    row(
        f"Media threats by a senior <= 30 min (n={media})",
        [_pct(r["media_threat_by_senior_30min"]) for r in results],
    )
    lines.append("First-response wait p50 / p90 (s)")
    for channel in scenario.channels:
        row(
            f"  {channel}",
            [
                f"{r['first_response_wait_s'][channel]['p50']:.0f} / "
                f"{r['first_response_wait_s'][channel]['p90']:.0f}"
                for r in results
            ],
        )
    row("Channel parity, raw (all, p90)", [f"{r['parity_raw']:.2f}" for r in results])
    row(
        "  chat-like channels, all classes",
        [f"{r['parity_chat_like_all_classes']:.2f}" for r in results],
    )
    row("  chat-like, normal class", [f"{r['parity']:.2f}" for r in results])
    row(
        "    90% bootstrap interval",
        ["{:.2f}-{:.2f}".format(*r["parity_interval_90"]) for r in results],
    )
    row("  ... and same weight", [f"{r['parity_same_weight']:.2f}" for r in results])
    row("Idle agent beside work it may take (s)",
        [f"{r['idle_with_work_s']:.0f} (max {r['idle_with_work_longest_s']:.0f})"
         for r in results])  # fmt: skip
    row("Agent load spread (CV)", [f"{r['load_spread']['cv']:.2f}" for r in results])
    row("Utilization", [_pct(r["utilization"]) for r in results])
    row("Escalation steps logged", [str(r["escalation_steps_logged"]) for r in results])
    row("Missed offers", [str(r["missed_offers"]) for r in results])
    row("  offered again to who missed it", [str(r["offered_again_after_a_miss"]) for r in results])
    row("Agents set away (missed offers)", [str(r["agents_set_away"]) for r in results])
    return "\n".join(lines)


def to_json(scenario: Scenario, results: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"scenario": scenario.name, "description": scenario.description, "policies": results},
        ensure_ascii=False,
        indent=2,
    )


def run_cli(args: Any) -> int:
    """``gateway simulate SCENARIO [--json] [--chart PATH] [--policies a,b] [--processes N]``."""
    import sys

    from router.chart import write_chart
    from router.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
        names = tuple(p.strip() for p in args.policies.split(",")) if args.policies else POLICIES
        results = simulate(scenario, names, processes=max(1, args.processes))
    except (ScenarioError, ValueError) as exc:
        print(f"gateway simulate: {exc}", file=sys.stderr)
        return 2
    print(to_json(scenario, results) if args.json else format_table(scenario, results))
    if args.chart:
        write_chart(args.chart, results, f"{scenario.name}: first-response wait per channel")
        if not args.json:
            print(f"Chart written to {args.chart}")
    return 0
