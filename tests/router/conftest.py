"""A router on the test Redis with a clock the test moves: the real Inbox, RouterStore and
RouterWorker (the code the gateway runs), nothing mocked."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.classify import load_classifier
from gateway.inbox import Inbox
from gateway.keys import Keys
from gateway.models import Channel, ContactIdentity, InboundMessage
from gateway.settings import config_dir
from router.policy_source import PolicySource
from router.sla import load_sla
from router.store import RouterStore
from router.worker import RouterConfig, RouterWorker

T0 = 1_773_360_000_000  # 2026-03-13 08:00 Asia/Shanghai, a Friday


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> int:
        self.now += int(seconds * 1000)
        return self.now


@dataclass
class Router:
    redis: aioredis.Redis
    keys: Keys
    clock: Clock
    store: RouterStore
    inbox: Inbox
    worker: RouterWorker
    policies: PolicySource
    events: list[tuple[str, dict[str, Any], list[str], list[str]]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    async def agent(
        self,
        agent_id: str,
        *,
        capacity: float = 3,
        teams: tuple[str, ...] = (),
        skills: tuple[str, ...] = (),
        languages: tuple[str, ...] = (),
        supervisor: bool = False,
        status: str = "online",
    ) -> None:
        await self.store.upsert_agent(
            agent_id,
            name=agent_id,
            capacity=capacity,
            teams=list(teams),
            skills=list(skills),
            languages=list(languages),
            supervisor=supervisor,
        )
        await self.store.set_status(agent_id, status)

    async def message(
        self,
        text: str = "hello",
        *,
        channel: str = "webchat",
        customer: str | None = None,
        tier: str | None = None,
        meta: dict[str, Any] | None = None,
        thread: str | None = None,
    ) -> str:
        n = next(self._ids)
        msg = InboundMessage(
            channel_id=f"ch-{channel}",
            channel_type=Channel(channel),
            external_id=f"m{n}",
            contact=ContactIdentity(external_id=customer or f"cust{n}", tier=tier),
            thread_key=thread or f"t{n}",
            text=text,
            meta=meta or {},
        )
        return (await self.inbox.ingest(msg)).conversation_id

    async def conv(self, conversation_id: str) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.conversation(conversation_id))

    def offered(self) -> dict[str, str]:
        """Conversation -> agent, for every offer made so far."""
        return {
            data["conversation_id"]: users[0]
            for kind, data, users, _ in self.events
            if kind == "conversation.offered"
        }

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data, _, _ in self.events if k == kind]

    async def reply(self, conversation_id: str) -> None:
        """What an agent's reply does to the SLA fields (gateway/lua/append.lua)."""
        key = self.keys.conversation(conversation_id)
        await self.redis.hsetnx(key, "first_response_at", self.clock.now)
        await self.redis.hdel(key, "waiting_since")


async def make_router(redis: aioredis.Redis, keys: Keys, policy: Any = None) -> Router:
    clock = Clock()
    sla = load_sla(config_dir() / "sla.toml")
    rules = load_classifier(config_dir() / "priority_rules.toml", list(sla.classes))
    policies = PolicySource(redis, keys, sla, rules)
    store = RouterStore(redis, keys, clock=clock)
    inbox = Inbox(
        redis,
        keys,
        rules,
        sla,
        reopen_window_seconds=3600,
        dedupe_ttl_seconds=3600,
        clock=clock,
        policies=policies,
    )
    events: list[tuple[str, dict[str, Any], list[str], list[str]]] = []

    async def notify(kind: str, data: dict[str, Any], users: list[str], roles: list[str]) -> None:
        events.append((kind, data, users, roles))

    worker = RouterWorker(
        store,
        RouterConfig(
            offer_timeout_ms=30_000,
            heartbeat_ttl_ms=86_400_000,
            sweep_seconds=5,
            max_missed_offers=3,
        ),
        notify,
        policy=policy,
        policies=policies,
        clock=clock,
    )
    return Router(redis, keys, clock, store, inbox, worker, policies, events)


@pytest.fixture
async def router(redis: aioredis.Redis, keys: Keys) -> AsyncIterator[Router]:
    yield await make_router(redis, keys)
