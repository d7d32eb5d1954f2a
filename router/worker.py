"""The router loop: offers waiting conversations to agents, expires offers, takes stale agents
offline, wakes snoozed conversations and escalates SLA breaches. Woken by triggers (new
conversation, agent online, capacity freed) and by a periodic sweep, so nothing waits forever
after a lost trigger.

While nobody has room (the last round found no available agent), new work cannot be offered:
its kicks are only counted, and the router sleeps until an agent gets room (the scripts publish
it on ``Keys.agent_room``, whichever process made the change), the next timed step (an offer's
expiry, a snooze, an SLA check, a stale heartbeat) or the periodic sweep. A burst of messages
with nobody online then costs the router nothing.

Time comes from ``clock`` (the store's by default): the simulator runs this same loop body
(``sweep``) on a simulated clock, with our policy or a peer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.conversations import Conversations
from gateway.events import subscribe_forever
from gateway.failurelog import FailureLog
from gateway.lease import Lease, run_while_leased
from gateway.models import Direction
from gateway.tasks import cancel_and_wait
from router.escalation import plan
from router.parity import ChannelWaits
from router.policy import (
    EPSILON,
    OVERDUE,
    AgentView,
    ConversationView,
    DeadlinePolicy,
    RoutingPolicy,
    back_to_decliners_at,
    conversation_view,
    is_eligible,
    last_resort,
    with_offer,
)
from router.policy_source import PolicySource
from router.sla import PAUSED, SlaPolicy, next_deadline
from router.store import CANDIDATE_WINDOW, RouterStore, routing_group

log = logging.getLogger(__name__)

# (event type, payload, user ids to tell, roles to tell)
Notify = Callable[[str, dict[str, Any], list[str], list[str]], Awaitable[None]]
# (conversation id, text, user ids to tell, catalogue key, its parameters): a system line in
# the conversation's log, in English, and how the console says it in other languages.
LogEvent = Callable[[str, str, list[str], str, dict[str, str]], Awaitable[None]]

STAFF = ["supervisor", "admin"]
# Under sustained overload, conversations past their class's maximum wait get at least this
# share of the offers (over the last OVERDUE_WINDOW_MS), and no more while on-time ones wait:
# served always first they take every offer and every conversation ends up late.
OVERDUE_SHARE = 0.25
OVERDUE_WINDOW_MS = 30 * 60_000
# Timed work one sweep takes of each kind (expired offers, stale agents, ...); more is left
# for the next sweep, which then follows at once.
DUE_LIMIT = 500
# RouterConfig.burst_seconds unless set: see docs/performance.md (issue 21, one round per burst;
# 5 ms until the rounds got cheaper, then 2 ms: the 200/s p99 4.3-4.4x bare instead of 5.2-6.2x,
# for about 5% more CPU per message at that rate).
BURST_SECONDS = 0.002


@dataclass(frozen=True)
class RouterConfig:
    offer_timeout_ms: int
    heartbeat_ttl_ms: int
    sweep_seconds: float
    max_missed_offers: int
    batch: int = 50  # waiting conversations looked at per round
    deep_scans: int = 2  # scans past the head per round while an agent with room is left
    candidate_pages: int = 4  # pages of candidates looked at per conversation (at most)
    # Rounds woken by kicks or room start at most this often (seconds): a kick after a quiet
    # spell is routed at once, the kicks that follow within this time share the next round.
    # So an offer waits at most this long for its round, and a steady stream of new
    # conversations costs a round per this time instead of a round each (issue 21).
    burst_seconds: float = BURST_SECONDS


class RouterWorker:
    def __init__(
        self,
        store: RouterStore,
        config: RouterConfig,
        notify: Notify,
        *,
        policy: RoutingPolicy | None = None,
        policies: PolicySource | None = None,
        clock: Callable[[], int] | None = None,
        log_event: LogEvent | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.notify = notify
        self.clock = clock or store.clock
        # The SLA policy in force (admins' copy in Redis, else config/sla.toml).
        self.policies = policies or PolicySource.from_config(store.redis, store.keys)
        self._policy = policy  # None: ours, with the knobs of the SLA policy in force
        self._conversations = Conversations(store.redis, store.keys)
        self.log_event = log_event or self.append_event
        self.parity = ChannelWaits(window_ms=0)  # set from the SLA policy each round
        self.recent = RecentOffers()  # whether overdue conversations had their share lately
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Nobody had room at the last round, and no agent got room since: kicks only count.
        self.idle = False
        self._no_room = False  # set by a round that found no available agent
        self._backlog = False  # set by a sweep that left timed work for the next one
        # The earliest moment a conversation of the last round stops waiting for its advisor
        # or previous agent (ms): the router looks again then, not at the next sweep.
        self.hold_ends_at: int | None = None
        self.kicks = 0  # kicks received (new work, mostly)
        self.room_signals = 0  # agents that got room, as published by the scripts
        self.sweeps = 0  # for tests and benchmarks
        self._failures = FailureLog(log, "router round")
        self._listening = False  # subscribed to the room signals

    def kick(self) -> None:
        """A trigger: something changed that may allow an offer. Ignored (only counted) while
        nobody has room: new work alone cannot be offered then, and every change of an agent's
        room comes through ``room``."""
        self.kicks += 1
        if not self.idle:
            self._wake.set()

    def room(self) -> None:
        """An agent got room (entered the available set): waiting work may be offered."""
        self.room_signals += 1
        self.idle = False
        self._wake.set()

    async def start(self, lease: Lease | None = None) -> None:
        """Run the rounds; with ``lease``, only while holding it: one router per deployment, so
        that more processes add throughput instead of repeating the same sweeps (every step is
        a Lua claim, so two routers are safe, only wasteful). The others' kicks reach the
        holder through the events channel; if it dies, another takes over once the lease
        expires."""
        work = self._run() if lease is None else run_while_leased(lease, self._run, retry_seconds=1)
        self._task = asyncio.create_task(work, name="router")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        listener = asyncio.create_task(
            subscribe_forever(
                self.store.redis,
                self.store.room_channel,
                self._on_room,
                asyncio.Event(),
                on_subscribed=self._subscribed,
            ),
            name="router-room",
        )
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                wait = await self._round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                if self._wake.is_set():
                    await self._gather_burst(started + self.config.burst_seconds - loop.time())
                self._wake.clear()
        finally:
            self._listening = False
            await cancel_and_wait(listener)

    async def _gather_burst(self, rest: float) -> None:
        """Woken within ``burst_seconds`` of the previous round's start: the kicks of a burst
        (or a steady stream) arriving until then share the next round. Never longer than
        that, so no offer waits more than ``burst_seconds`` for its round; a kick after a
        quiet spell (``rest`` <= 0) is routed at once."""
        if rest > 0:
            await asyncio.sleep(rest)

    def _subscribed(self) -> None:
        """Listening for room (again): what was published before is unknown, so look again."""
        self._listening = True
        self.room()

    async def _on_room(self, _agent_id: str) -> None:
        self.room()

    async def _round(self) -> float:
        """One sweep; then whether nobody has room (``idle``), and how long to sleep unless
        woken (seconds)."""
        kicks, signals = self.kicks, self.room_signals
        self._no_room = self._backlog = False
        try:
            await self.sweep()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis hiccup: try again at the next sweep
            self._failures.failed(exc)
            self.idle = False
            return self.config.sweep_seconds
        self._failures.worked()
        # Room published after the round read the candidates makes the round's view stale.
        self.idle = (
            self._no_room
            and not self._backlog
            and self._listening  # else an agent's room could go unheard
            and self.room_signals == signals
        )
        if not self.idle:
            if self.kicks != kicks:  # kicked meanwhile, while the previous round's idle held
                self._wake.set()
            return 0.0 if self._backlog else self._until_hold_ends(self.config.sweep_seconds)
        now = self.clock()
        try:
            at = await self.store.next_timer(now, self.config.heartbeat_ttl_ms)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("router: cannot read the next timer", exc_info=True)
            at = None
        wait = self.config.sweep_seconds
        if at is not None:
            wait = min(wait, max(0.0, (at - now) / 1000))
        return wait

    def _until_hold_ends(self, wait: float) -> float:
        """A sleep of ``wait`` seconds, cut short to the end of the last round's earliest hold."""
        if self.hold_ends_at is None:
            return wait
        return min(wait, max(0.0, (self.hold_ends_at - self.clock()) / 1000))

    async def _policy_in_force(self) -> tuple[SlaPolicy, RoutingPolicy]:
        sla = await self.policies.sla()
        return sla, self._policy or DeadlinePolicy.from_sla(sla)

    async def sweep(self) -> int:
        """One full round; returns how many offers were made."""
        self.sweeps += 1
        self.hold_ends_at = None
        now = self.clock()
        sla, policy = await self._policy_in_force()
        work = await self.store.due_work(
            now, now - self.config.heartbeat_ttl_ms, limit=DUE_LIMIT, queue_count=self.config.batch
        )
        self._backlog = any(
            len(due) >= DUE_LIMIT
            for due in (work.expired_offers, work.stale_agents, work.snoozed, work.sla_due)
        )
        changed = False
        if work.expired_offers:
            await self.expire_offers(now, work.expired_offers)
            changed = True
        if work.stale_agents:
            await self.offline_stale_agents(now, work.stale_agents)
        if work.snoozed:
            await self.wake_snoozed(now, work.snoozed)
        if work.sla_due:
            await self.check_sla(now, work.sla_due, sla, policy)
            changed = True
        # The queue head read with the rest is current unless a step above re-queued something.
        if changed:
            return await self.assign_round(now, sla, policy)
        return await self.assign_round(now, sla, policy, work.queue_head, work.on_time)

    # --- offers and presence ---------------------------------------------------------------
    async def expire_offers(self, now: int, conversation_ids: list[str] | None = None) -> None:
        if conversation_ids is None:
            held = await self.store.expired_offers(now)
        else:
            held = await self.store.offer_holders(conversation_ids)
        for conversation_id, agent_id in held:
            outcome = await self.store.release_offer(
                conversation_id, agent_id, "timeout", self.config.max_missed_offers
            )
            if outcome == "not-offered":
                continue
            await self.notify(
                "conversation.offer_expired", {"conversation_id": conversation_id}, [agent_id], []
            )
            if outcome == "away":
                await self.notify("agent.status", {"agent_id": agent_id, "status": "away",
                                                   "reason": "missed offers"}, [agent_id],
                                  STAFF)  # fmt: skip

    async def offline_stale_agents(self, now: int, agent_ids: list[str] | None = None) -> None:
        if agent_ids is None:
            agent_ids = await self.store.stale_agents(now - self.config.heartbeat_ttl_ms)
        for agent_id in agent_ids:
            # Released first: a sweep that dies between the two steps finds the agent stale
            # again next time; marked offline first, its waiting customers would stay.
            await self.release_held(agent_id, now)
            await self.store.set_status(agent_id, "offline")
            await self.notify("agent.status", {"agent_id": agent_id, "status": "offline",
                                               "reason": "no heartbeat"}, [agent_id],
                              STAFF)  # fmt: skip

    async def release_held(
        self, agent_id: str, now: int | None = None, *, going: bool = False
    ) -> int:
        """An agent is gone, or ``going`` offline (call this first, then set the status): each
        conversation of theirs whose customer waits for a reply goes back to the queue (the
        others when their customer writes: ``release_if_gone``). Returns how many went."""
        released = 0
        for conversation_id in await self.store.held(agent_id):
            released += await self.release_if_gone(conversation_id, agent_id, now, going=going)
        return released

    async def release_if_gone(
        self, conversation_id: str, agent_id: str, now: int | None = None, *, going: bool = False
    ) -> bool:
        """The conversation back to the queue if its customer waits and ``agent_id``, who holds
        it, is gone (offline, or no heartbeat within the TTL) or ``going``; logged on it."""
        now = self.clock() if now is None else now
        outcome = await self.store.release_if_gone(
            conversation_id, agent_id, now, self.config.heartbeat_ttl_ms, going=going
        )
        if outcome != "released":
            return False
        await self.log_event(
            conversation_id, "Back in the queue: its agent went offline", [agent_id],
            "agent_went_offline", {},
        )  # fmt: skip
        await self.notify(
            "conversation.updated",
            {"conversation_id": conversation_id, "assignee": None, "reason": "agent_offline"},
            [agent_id],
            STAFF,
        )
        self.kick()
        return True

    async def wake_snoozed(self, now: int, conversation_ids: list[str] | None = None) -> None:
        store = self.store
        if conversation_ids is None:
            conversation_ids = await store.redis.zrangebyscore(store.keys.snoozed(), "-inf", now)
        for conversation_id in conversation_ids:
            conv_key = store.keys.conversation(conversation_id)
            if await store.redis.zrem(store.keys.snoozed(), conversation_id):
                await store.redis.hset(conv_key, "status", "open")
                await store.redis.hdel(conv_key, "snoozed_until")
                await store.resume(conversation_id, now)  # the SLA clocks run again
                assignee = await store.redis.hget(conv_key, "assignee")
                await self.notify(
                    "conversation.updated",
                    {"conversation_id": conversation_id, "status": "open"},
                    [assignee] if assignee else [],
                    STAFF,
                )

    # --- SLA breaches ----------------------------------------------------------------------
    async def check_sla(
        self, now: int, conversation_ids: list[str], sla: SlaPolicy, policy: RoutingPolicy
    ) -> None:
        """Escalate the breaches among conversations whose SLA check time came."""
        rows = await self.store.sla_rows(conversation_ids)
        for conversation_id, row in zip(conversation_ids, rows, strict=True):
            status = row.get("status")
            if not row or status == "resolved":
                await self.store.watch(conversation_id, None)
                continue
            if status not in PAUSED and row.get("paused_at"):
                await self.store.resume(conversation_id, now)  # checked again next sweep
                continue
            if status in PAUSED and not row.get("paused_at"):
                # Paused by a path that did not record when: since its last change at latest.
                await self.store.pause(conversation_id, int(float(row.get("updated_at") or now)))
            decision = plan(row, sla, now)
            if not decision.actions or not policy.escalates:
                later = decision.next_check if policy.escalates else next_deadline(row, now)
                await self.store.watch(conversation_id, later)
                continue
            await self._escalate(conversation_id, row, decision, sla)

    async def _escalate(
        self, conversation_id: str, row: dict[str, str], decision: Any, sla: SlaPolicy
    ) -> None:
        assert decision.breach is not None
        widen = any(a.kind == "widen" for a in decision.actions)
        outcome = await self.store.escalate(
            conversation_id,
            breach_id=decision.breach.id,
            level_before=decision.previous_level,
            level_after=decision.level,
            new_class=decision.new_class,
            new_rank=sla.rank(decision.new_class or "normal"),
            widen=widen,
            next_check=decision.next_check,
            queue_shift=sla.queue_shift(str(row.get("priority") or "normal"), decision.new_class)
            if decision.new_class
            else 0,
        )
        if outcome != "ok":
            return  # another router did it, or the conversation is gone
        holder = [u for u in (row.get("assignee"), row.get("offered_to")) if u]
        current = str(row.get("priority") or "normal")
        for action in decision.actions:
            await self.log_event(
                conversation_id,
                action.describe(decision.breach, current),
                holder,
                *action.event(decision.breach, current),
            )
            current = action.new_class or current
            if action.kind == "alert":
                await self.notify(
                    "sla.breached",
                    {
                        "conversation_id": conversation_id,
                        "clock": decision.breach.name,
                        "due": decision.breach.due,
                        "priority": current,
                        "channel_type": row.get("channel_type"),
                        "assignee": row.get("assignee"),
                    },
                    [],
                    STAFF,
                )
        await self.notify(
            "conversation.updated",
            {"conversation_id": conversation_id, "priority": current, "widened": widen},
            holder,
            STAFF,
        )

    async def append_event(
        self, conversation_id: str, text: str, users: list[str], event: str,
        params: dict[str, str],
    ) -> None:  # fmt: skip
        """A system line in the conversation's log, shown to whoever holds it and to staff."""
        message = (
            await self._conversations.append(
                conversation_id, Direction.EVENT, text, author_id=None, author_name="SLA",
                send=False, meta={"event": event, "params": params},
            )
        ).message  # fmt: skip
        await self.notify(
            "message.created",
            {"conversation_id": conversation_id, "message": message},
            users,
            STAFF,
        )

    # --- assignment ------------------------------------------------------------------------
    async def assign_round(
        self,
        now: int | None = None,
        sla: SlaPolicy | None = None,
        policy: RoutingPolicy | None = None,
        head: list[tuple[str, float]] | None = None,
        on_time: list[tuple[str, float]] | None = None,
    ) -> int:
        """Offer the conversations at the head of the queue, earliest deadline first (in the
        policy's order: ours lets a heavier conversation go a little ahead of a lighter one);
        then, while an available agent still has room, the conversations further down that
        someone available may take (no head-of-line blocking: ``_past_the_head``).

        Round trips per round are bounded: the queue head, the conversations' fields, one
        page of candidates (more only when none fits), the sticky agents, then one per offer;
        past the head, at most ``deep_scans`` x (one scan, the fields, the sticky agents).
        """
        if now is None:
            now = self.clock()
        if sla is None or policy is None:
            sla, policy = await self._policy_in_force()
        if head is None:
            head, on_time = await self.store.queue_heads(now, self.config.batch)
        if not head:
            return 0
        # Under overload the head is all late work; those still on time are read beside it,
        # and the policy's order says who goes first.
        seen = {c for c, _ in head}
        queued = head + [(c, score) for c, score in on_time or () if c not in seen]
        pages: list[list[AgentView]] = [await self.store.candidates(0, CANDIDATE_WINDOW)]
        if not pages[0]:
            self._no_room = True
            return 0  # nobody available at all
        if isinstance(policy, DeadlinePolicy):
            policy = replace(policy, overdue_first=self._overdue_turn(now))
        state = _Round(now, sla, policy, self._parity_credits(now, sla), pages)
        unserved = await self._serve(state, queued)
        if len(head) < self.config.batch:
            return state.offers  # the head was the whole queue
        # Offered conversations left the queue: the unserved ones of the head are now first.
        waiting = {conv.id for conv, _ in unserved}
        await self._past_the_head(state, unserved, sum(c in waiting for c, _ in head))
        return state.offers

    async def _serve(
        self, state: _Round, queued: list[tuple[str, float]]
    ) -> list[tuple[ConversationView, str]]:
        """Offer these queued conversations in the policy's order; returns the views of those
        that got no offer, each with its routing group."""
        policy, now = state.policy, state.now
        rows = await self.store.conversation_rows([c for c, _ in queued])
        found = [(c, score, row) for (c, score), row in zip(queued, rows, strict=True) if row]
        group = {c: routing_group(row) for c, _, row in found}
        views = policy.order(
            [(conversation_view(c, row, state.sla), score) for c, score, row in found],
            state.credits,
            state.now,
        )
        pages, sticky, reserved = state.pages, state.sticky, state.reserved
        known = {a.id for page in pages for a in page} | set(sticky)
        wanted = {t for v in views for t in (v.preferred_agent, v.advisor) if t} - known
        if wanted:
            sticky.update(await self.store.agents(wanted))
        unserved: list[tuple[ConversationView, str]] = []
        claims = policy.claims(views, now) if isinstance(policy, DeadlinePolicy) else {}
        planned: list[tuple[ConversationView, AgentView]] = []
        for conv in views:
            if claims:
                kept = _kept_for_others(claims, conv, pages, sticky)
                agent = await self._choose(policy, conv, now, pages, sticky, reserved | kept)
                claims = {a: c for a, c in claims.items() if c[0] != conv.id}
            else:
                agent = await self._choose(policy, conv, now, pages, sticky, reserved)
            if agent is None and conv.excluded:
                # Nobody else may take it: those who declined or missed it are asked again
                # rather than leaving it to wait while they have room (after a decline, not
                # the same second: the router looks again when the cool-down ends).
                back_at = back_to_decliners_at(conv, self.config.offer_timeout_ms)
                if now >= back_at:
                    agent = await self._choose(
                        policy, last_resort(conv), now, pages, sticky, reserved
                    )
                else:
                    self._note_hold(back_at, now)
            if agent is None:
                if pages[0]:
                    reserved |= policy.reserve(pages[0] + list(sticky.values()), conv)
                self._note_hold(policy.hold_ends(conv, now), now)
                unserved.append((conv, group[conv.id]))
                continue
            # Counted as taken at once, so the next choice sees it; the round's offers then go
            # to Redis together, one pipeline instead of a round trip each (issue 21).
            planned.append((conv, agent))
            _update(pages, sticky, with_offer(agent, conv.weight))
        expires = now + self.config.offer_timeout_ms
        outcomes = await asyncio.gather(
            *(self.store.offer(c.id, a.id, expires, c.weight) for c, a in planned),
            return_exceptions=True,
        )
        offered: list[tuple[ConversationView, AgentView]] = []
        for (conv, agent), outcome in zip(planned, outcomes, strict=True):
            if outcome != "ok":
                # Full or gone (or Redis failed): the next round sees it afresh.
                _forget(pages, sticky, agent.id)
                unserved.append((conv, group[conv.id]))
                continue
            offered.append((conv, agent))
            state.offers += 1
            if isinstance(policy, DeadlinePolicy):
                self.recent.add(now, policy.tier(conv, now) == OVERDUE)
            if not conv.responded and not conv.excluded:  # a first offer
                since = conv.waiting_since or conv.created_at or now
                self.parity.record(conv.priority, conv.channel_type, now, now - since)
        # Told together too; an offer made but not told expires and is offered again.
        told = await asyncio.gather(
            *(
                self.notify("conversation.offered",
                            {"conversation_id": conv.id, "expires_at": expires},
                            [agent.id], STAFF)
                for conv, agent in offered
            ),
            return_exceptions=True,
        )  # fmt: skip
        _raise_first(list(outcomes) + told)
        return unserved

    def _note_hold(self, ends: int | None, now: int) -> None:
        if ends is not None and ends > now:
            self.hold_ends_at = ends if self.hold_ends_at is None else min(self.hold_ends_at, ends)

    async def _past_the_head(
        self, state: _Round, unserved: list[tuple[ConversationView, str]], start: int
    ) -> None:
        """No head-of-line blocking. The head read may be all conversations nobody available
        may take (200 mentions for the one busy senior): while an agent with room is left,
        scan further down the queue, skipping the routing groups no such agent may take, and
        serve what the scan finds in the same way. Bounded: ``deep_scans`` scans of at most
        ``SCAN_BUDGET`` queued conversations each, whatever the number of agents."""
        smallest = min(state.sla.weights.values(), default=1.0)
        blocked: set[str] = set()
        for _ in range(self.config.deep_scans):
            free = [
                a
                for page in state.pages
                for a in page
                if a.id not in state.reserved
                and a.status == "online"
                and a.load + smallest <= a.capacity + EPSILON
            ]
            if not free:
                return
            blocked |= {
                group
                for conv, group in unserved
                if not any(is_eligible(a, last_resort(conv)) for a in free)
            }
            found, start = await self.store.scan_queue(start, blocked, self.config.batch)
            if not found:
                return
            if start < 0:
                await self._serve(state, found)
                return
            unserved = await self._serve(state, found)
            start -= len(found) - len(unserved)  # those offered left the queue

    async def _choose(
        self,
        policy: RoutingPolicy,
        conv: ConversationView,
        now: int,
        pages: list[list[AgentView]],
        sticky: dict[str, AgentView],
        reserved: set[str],
    ) -> AgentView | None:
        """The policy's choice among the candidates not reserved, reading further windows of
        candidates (at most ``candidate_pages``) only while a full window had nobody."""
        window = CANDIDATE_WINDOW
        agent = None
        for index in range(self.config.candidate_pages):
            if index == len(pages):
                pages.append(await self.store.candidates(index * window, window))
            candidates = pages[index]
            if not candidates:
                break
            seen = {a.id for a in candidates}
            pool = candidates + [a for a in sticky.values() if a.id not in seen]
            if reserved:
                # A reserved agent's room is kept for an earlier conversation; the customer's
                # previous agent still counts, as busy (the policy may hold the conversation
                # for them), never as a choice. A VIP's own advisor is theirs first: the room
                # is not kept from them (their advisor whenever the advisor has room).
                own = conv.advisor if conv.advisor not in conv.excluded else None
                targets = {conv.advisor, conv.preferred_agent}
                pool = [
                    a
                    if a.id not in reserved or a.id == own
                    else replace(a, load=max(a.load, a.capacity))
                    for a in pool
                    if a.id not in reserved or a.id in targets
                ]
            agent = policy.choose(pool, conv, now)
            if agent or len(candidates) < window:
                break
        return agent

    def _overdue_turn(self, now: int) -> bool:
        """Whether those past their maximum wait go first this round: while they had less
        than OVERDUE_SHARE of the recent offers."""
        return self.recent.overdue_share(now) < OVERDUE_SHARE

    def _parity_credits(self, now: int, sla: SlaPolicy) -> dict[tuple[str, str], int]:
        """Each (class, channel)'s credit under the parity settings in force."""
        parity = self.parity
        parity.window_ms = sla.parity_window_minutes * 60_000
        parity.gain = sla.parity_gain
        parity.max_credit_ms = sla.parity_max_credit_seconds * 1000

        def group(priority: str, channel_type: str) -> tuple[str, int]:
            return priority, sla.policy(priority).first_response_seconds(channel_type)

        return parity.credits(now, group)


class RecentOffers:
    """The offers of the last ``window_ms``, and how many went to conversations past their
    maximum wait: counted as offers come and go, not summed each round (at 200 offers/s the
    window holds 360,000)."""

    def __init__(self, window_ms: int = OVERDUE_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._offers: deque[tuple[int, bool]] = deque()  # (when, went past its maximum wait)
        self._overdue = 0

    def add(self, at: int, overdue: bool) -> None:
        self._offers.append((at, overdue))
        self._overdue += overdue

    def overdue_share(self, now: int) -> float:
        """The share of the window's offers that were overdue (0 when there were none)."""
        offers = self._offers
        while offers and offers[0][0] < now - self.window_ms:
            self._overdue -= offers.popleft()[1]
        return self._overdue / len(offers) if offers else 0.0

    def __len__(self) -> int:
        return len(self._offers)


@dataclass
class _Round:
    """What one routing round has read and decided so far."""

    now: int
    sla: SlaPolicy
    policy: RoutingPolicy
    credits: dict[tuple[str, str], int]
    pages: list[list[AgentView]]  # windows of candidates, updated with this round's offers
    sticky: dict[str, AgentView] = field(default_factory=dict)  # sticky targets outside them
    reserved: set[str] = field(default_factory=set)  # kept for conversations that found nobody
    offers: int = 0


def _kept_for_others(
    claims: dict[str, tuple[str, float]],
    conv: ConversationView,
    pages: list[list[AgentView]],
    sticky: dict[str, AgentView],
) -> set[str]:
    """Advisors a VIP later in the round waits for, whose room this conversation would take
    (room for both: not kept)."""
    agents = {a.id: a for page in pages for a in page} | sticky
    kept = set()
    for agent_id, (claimer, weight) in claims.items():
        agent = agents.get(agent_id)
        if claimer == conv.id or agent is None:
            continue
        if agent.capacity - agent.load - conv.weight + EPSILON < weight:
            kept.add(agent_id)
    return kept


def _update(pages: list[list[AgentView]], sticky: dict[str, AgentView], agent: AgentView) -> None:
    for page in pages:
        for i, candidate in enumerate(page):
            if candidate.id == agent.id:
                page[i] = agent
    if agent.id in sticky:
        sticky[agent.id] = agent


def _raise_first(results: list[Any]) -> None:
    """The first error among gathered results, raised once every call has finished."""
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _forget(pages: list[list[AgentView]], sticky: dict[str, AgentView], agent_id: str) -> None:
    for page in pages:
        page[:] = [a for a in page if a.id != agent_id]
    sticky.pop(agent_id, None)
