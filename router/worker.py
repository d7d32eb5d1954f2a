"""The router loop: offers waiting conversations to agents, expires offers, takes stale agents
offline and wakes snoozed conversations. Woken by triggers (new conversation, agent online,
capacity freed) and by a periodic sweep, so nothing waits forever after a lost trigger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.models import now_ms
from router.policy import choose_agent
from router.store import CANDIDATE_WINDOW, RouterStore

log = logging.getLogger(__name__)

# (event type, payload, user ids to tell, roles to tell)
Notify = Callable[[str, dict[str, Any], list[str], list[str]], Awaitable[None]]


@dataclass(frozen=True)
class RouterConfig:
    offer_timeout_ms: int
    heartbeat_ttl_ms: int
    sweep_seconds: float
    max_missed_offers: int
    batch: int = 50  # waiting conversations looked at per round
    candidate_pages: int = 4  # pages of CANDIDATE_WINDOW agents looked at per conversation


class RouterWorker:
    def __init__(self, store: RouterStore, config: RouterConfig, notify: Notify) -> None:
        self.store = store
        self.config = config
        self.notify = notify
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """A trigger: something changed that may allow an offer."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: try again at the next sweep
                log.exception("router round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.sweep_seconds)
            self._wake.clear()

    async def sweep(self) -> int:
        """One full round; returns how many offers were made."""
        now = now_ms()
        await self.expire_offers(now)
        await self.offline_stale_agents(now)
        await self.wake_snoozed(now)
        return await self.assign_round()

    async def expire_offers(self, now: int) -> None:
        for conversation_id, agent_id in await self.store.expired_offers(now):
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
                                  ["supervisor", "admin"])  # fmt: skip

    async def offline_stale_agents(self, now: int) -> None:
        for agent_id in await self.store.stale_agents(now - self.config.heartbeat_ttl_ms):
            await self.store.set_status(agent_id, "offline")
            await self.notify("agent.status", {"agent_id": agent_id, "status": "offline",
                                               "reason": "no heartbeat"}, [agent_id],
                              ["supervisor", "admin"])  # fmt: skip

    async def wake_snoozed(self, now: int) -> None:
        store = self.store
        for conversation_id in await store.redis.zrangebyscore(store.keys.snoozed(), "-inf", now):
            conv_key = store.keys.conversation(conversation_id)
            if await store.redis.zrem(store.keys.snoozed(), conversation_id):
                await store.redis.hset(conv_key, "status", "open")
                await store.redis.hdel(conv_key, "snoozed_until")
                assignee = await store.redis.hget(conv_key, "assignee")
                await self.notify(
                    "conversation.updated",
                    {"conversation_id": conversation_id, "status": "open"},
                    [assignee] if assignee else [],
                    ["supervisor", "admin"],
                )

    async def assign_round(self) -> int:
        offers = 0
        for conversation_id, _due in await self.store.queue_head(self.config.batch):
            conv = await self.store.conversation_view(conversation_id)
            if conv is None:
                continue
            agent = None
            for page in range(self.config.candidate_pages):
                candidates = await self.store.candidates(page * CANDIDATE_WINDOW)
                if not candidates:
                    break
                agent = choose_agent(candidates, conv)
                if agent or len(candidates) < CANDIDATE_WINDOW:
                    break
            if agent is None:
                if page == 0 and not candidates:
                    break  # nobody available at all: stop looking down the queue
                continue
            expires = now_ms() + self.config.offer_timeout_ms
            outcome = await self.store.offer(conversation_id, agent.id, expires, conv.weight)
            if outcome != "ok":
                continue  # someone else took it or the agent filled up: next round sorts it
            offers += 1
            await self.notify("conversation.offered",
                              {"conversation_id": conversation_id, "expires_at": expires},
                              [agent.id], ["supervisor", "admin"])  # fmt: skip
        return offers
