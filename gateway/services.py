"""The gateway's parts wired together, and the actions that span several of them
(an agent's reply, accept, resolve, transfer), each telling the right people what changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel
from redis.asyncio import Redis

from adapters.base import SPIKE_EARLIER, AdapterContext, IngestResult
from gateway.auth import Users
from gateway.batching import CommandBatcher
from gateway.channels import ChannelManager, ChannelStore
from gateway.classify import load_classifier
from gateway.contacts import Contacts
from gateway.conversations import Appended, Conversations, IncidentItem, NotFound
from gateway.events import EventBus
from gateway.i18n.prefs import LanguagePrefs
from gateway.inbox import Inbox
from gateway.incidents import Incidents
from gateway.kb import KnowledgeBase
from gateway.kb.selfservice import IDLE_JOB, SelfService
from gateway.keys import Keys
from gateway.lease import Lease
from gateway.media import MediaStore
from gateway.metrics import Metrics
from gateway.models import Direction, InboundMessage, now_ms
from gateway.outbox import Delivered, Outbox, OutboxConfig
from gateway.scheduler import Scheduler
from gateway.search import Search
from gateway.secretbox import SecretBox, load_or_create_key
from gateway.settings import Settings
from gateway.surveys import FOLLOWUP_JOB, SURVEY_JOB, Aftercare, LinkSigner
from gateway.tasks import cancel_and_wait
from gateway.unread import Unread
from router.calendar import set_default_zone
from router.sla import load_sla
from router.store import RouterStore
from router.worker import RouterConfig, RouterWorker

log = logging.getLogger(__name__)

STAFF_ROLES = ["admin", "supervisor"]
ROUTER_KICK = "router.kick"
# One router per deployment: a dead holder is replaced within this (plus a 1 s retry).
ROUTER_LEASE_MS = 6_000


class ActionError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Gateway:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.redis_prefix)
        set_default_zone(settings.zone_name)  # calendars without a zone of their own
        self.sla = load_sla(settings.config_path(settings.sla_file))
        classifier = load_classifier(
            settings.config_path(settings.priority_rules_file), list(self.sla.classes)
        )
        self.metrics = Metrics()
        self.events = EventBus(redis, self.keys)
        # Concurrent requests share Redis pipelines (gateway/batching.py): the inbox's scripts,
        # the events' publishes, the token checks and the replies' reads and appends.
        self.batch = CommandBatcher(redis)
        self.events.batcher = self.batch
        self.conversations = Conversations(redis, self.keys, batch=self.batch)
        self.inbox = Inbox(
            redis,
            self.keys,
            classifier,
            self.sla,
            reopen_window_seconds=settings.reopen_window_seconds,
            dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
            on_ingested=self._after_ingest,
            batch=self.batch,
        )
        self.users = Users(
            redis,
            self.keys,
            token_ttl=settings.token_ttl_seconds,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
            batch=self.batch,  # every API call's token lookup
        )
        self.router_store = RouterStore(redis, self.keys, batch=self.batch)
        self.router_lease = Lease(redis, self.keys.lease("router"), ttl_ms=ROUTER_LEASE_MS)
        self.router = RouterWorker(
            self.router_store,
            RouterConfig(
                offer_timeout_ms=int(settings.offer_timeout_seconds * 1000),
                heartbeat_ttl_ms=int(settings.agent_heartbeat_ttl_seconds * 1000),
                sweep_seconds=settings.router_sweep_seconds,
                max_missed_offers=settings.max_missed_offers,
            ),
            self._router_notify,
            # The admins' SLA policy and rules, as the inbox sees them.
            policies=self.inbox.policies,
        )
        secret = load_or_create_key(settings.secret_key, settings.data_dir)
        self.box = SecretBox(secret)
        self.languages = LanguagePrefs(redis, self.keys)  # agents' console language
        self.channel_store = ChannelStore(redis, self.keys, self.box, self.events)
        self.channels = ChannelManager(self.channel_store, self._adapter_context)
        self.outbox = Outbox(
            redis,
            self.keys,
            self.conversations,
            self.channels.adapter,
            OutboxConfig(
                max_attempts=settings.outbox_max_attempts,
                backoff_base_seconds=settings.outbox_backoff_base_seconds,
                backoff_max_seconds=settings.outbox_backoff_max_seconds,
                claim_idle_ms=int(settings.outbox_claim_idle_seconds * 1000),
                concurrency=settings.outbox_concurrency,
            ),
            self._after_delivery,
            batch=self.batch,  # a burst of replies shares pipelines
            channel_gone=self.channel_store.why_not_sending,
        )
        self.http: aiohttp.ClientSession | None = None
        self._kick_task: asyncio.Task[None] | None = None
        self._kick_again = False
        self.media = MediaStore(Path(settings.data_dir) / "media")
        self.events.listen(self._on_event)
        # Durable scheduled work: satisfaction surveys and follow-ups after resolution.
        self.scheduler = Scheduler(redis, self.keys)
        self.aftercare = Aftercare(
            redis,
            self.keys,
            LinkSigner(secret),
            self.send_system,
            lambda: self.settings.public_url,
            lambda outcome: self._count_aftercare(outcome),
        )
        self.scheduler.register(SURVEY_JOB, self.aftercare.send_survey)
        self.scheduler.register(FOLLOWUP_JOB, self.aftercare.send_followup)
        # Mention spikes as incidents (gateway/incidents/): one item for a senior.
        self.incidents = Incidents(
            redis,
            self.keys,
            self.conversations,
            open_item=self.inbox.ingest,
            resolve=lambda conversation_id, actor: self.resolve(conversation_id, actor_name=actor),
            publish=lambda kind, data: self.events.publish(kind, data, [], STAFF_ROLES),
            on_message=self._publish_appended,
        )
        # Knowledge base (gateway/kb/): articles, this process's search index, self-service.
        self.kb = KnowledgeBase(
            redis, self.keys, lambda kind, data: self.events.publish(kind, data, [], [])
        )
        self.events.listen(self.kb.on_event)
        self.selfservice = SelfService(
            redis,
            self.keys,
            self.kb,
            self.inbox.policies,
            send_bot=self._send_bot,
            resolve=lambda conv, why: self.resolve(conv, actor_name="self-service", reason=why),
            event_line=lambda conv, text: self._event_line(
                conv, text, "self-service", "handed_off"
            ),
            schedule=self.scheduler.schedule,
            idle_seconds=settings.selfservice_idle_seconds,
            zone=settings.zone_name,
        )
        self.scheduler.register(IDLE_JOB, self.selfservice.idle)
        # Search (gateway/search/): this process's index, fed by the message events and
        # Redis's change feeds.
        self.search = Search(redis, self.keys)
        self.events.listen(self.search.on_event)
        self.events.on_subscribed(self.search.on_subscribed)
        self.events.on_subscribed(self.channels.on_subscribed)
        # Contact profiles (gateway/contacts/): merge / undo, suggestions, export and erase.
        self.contacts = Contacts(redis, self.keys, self.inbox.policies, self.media)
        # Unread counts (gateway/unread/): each agent's read position per conversation.
        self.unread = Unread(redis, self.keys)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self.events.start()
        await self.kb.start()
        await self.search.start()
        await self.channels.start_all()
        await self.outbox.start()
        await self.router.start(self.router_lease)
        await self.scheduler.start()

    async def stop(self) -> None:
        """Every part is stopped even when an earlier one fails (Redis gone with a killed
        master): a step that raised used to leave the adapters and the HTTP session open."""
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("router kick", lambda: cancel_and_wait(self._kick_task)),
            ("scheduler", self.scheduler.stop),
            ("router", self.router.stop),
            ("outbox", lambda: self.outbox.stop(self.settings.shutdown_grace_seconds)),
            ("channels", self.channels.stop_all),
            ("knowledge base", self.kb.stop),
            ("search", self.search.stop),
            ("events", self.events.stop),
            ("command batcher", self.batch.close),
        ]
        if self.http:
            steps.append(("HTTP client", self.http.close))
        for name, step in steps:
            try:
                await step()
            except Exception as exc:
                log.warning("stopping the %s failed: %r", name, exc)

    async def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == ROUTER_KICK:
            self.router.kick()
        await self.channels.on_event(event)

    async def kick_router(self) -> None:
        """Wake the routers of every process (ours at once, the others soon).

        Kicks that arrive while one is being published ride on one more publish, not one each:
        under load most messages would otherwise cost a PUBLISH and a sweep in every process.
        """
        self.router.kick()
        self._kick_again = True
        if self._kick_task is None or self._kick_task.done():
            self._kick_task = asyncio.create_task(self._publish_kicks(), name="router-kick")

    async def _publish_kicks(self) -> None:
        while self._kick_again:
            self._kick_again = False
            try:
                # Ours was kicked above: the event is for the other processes' routers.
                await self.events.publish(ROUTER_KICK, {}, local=False)
            except Exception:  # Redis down: the periodic sweeps still run everywhere
                log.warning("could not wake the other processes' routers", exc_info=True)
                return

    # --- adapters' context -----------------------------------------------------------------
    def _adapter_context(self, channel_id: str, config: BaseModel) -> AdapterContext:
        assert self.http is not None
        return AdapterContext(
            channel_id=channel_id,
            config=config,
            deliver=self.deliver,
            redis=self.redis,
            keys=self.keys,
            http=self.http,
            public_url=self.settings.public_url,
            data_dir=self.settings.data_dir,
            send_system=self.send_system,
            mark_failed=self.outbox.mark_failed,
            store_media=lambda data, name, ctype: self.media.store(channel_id, data, name),
            load_media=self.media.read,
            close_thread=lambda thread, reason: self.close_thread(channel_id, thread, reason),
            on_spike=self.raise_spike_alert,
            health=lambda name, value: self.metrics.adapter_health(channel_id, name, value),
            box=self.box,
            batch=self.batch,
            # Web chat sends offline replies through the email channel's adapter and records
            # the survey answers of its widget.
            extra={"adapter": self.channels.adapter, "aftercare": self.aftercare},
        )

    async def deliver(self, msg: InboundMessage) -> IngestResult:
        earlier = msg.meta.pop(SPIKE_EARLIER, None)  # for the incident, not the message's record
        result = await self.inbox.ingest(msg)
        if msg.meta.get("spike"):
            # Also for a duplicate: a retried delivery finishes what a failed one began.
            await self.incidents.on_mention(result.conversation_id, msg)
            if isinstance(earlier, list) and earlier:
                await self.incidents.on_earlier_mentions(earlier, msg)
        self.metrics.message_in(msg.channel_type.value, msg.channel_id, result.duplicate)
        return result

    async def send_system(self, conversation_id: str, text: str) -> None:
        appended = await self.conversations.append(
            conversation_id,
            Direction.OUT,
            text,
            author_id=None,
            author_name=None,
            send=True,
            meta={"system": True},
        )
        await self._publish_appended(conversation_id, appended)

    async def _send_bot(self, conversation_id: str, text: str, meta: dict[str, Any]) -> None:
        """A self-service answer: sent like a system message (no agent's first response)."""
        appended = await self.conversations.append(
            conversation_id, Direction.OUT, text, author_id=None, author_name=None, send=True,
            meta=meta,
        )  # fmt: skip
        await self._publish_appended(conversation_id, appended)

    async def raise_spike_alert(self, alert: dict[str, Any]) -> None:
        """A spike of social mentions: tell supervisors now, and the configured webhook."""
        self.metrics.spikes.labels(channel=str(alert.get("channel_type", "?"))).inc()
        await self.events.publish("mention.spike", alert, [], STAFF_ROLES)
        url = self.settings.spike_webhook_url
        if url and self.http is not None:
            try:
                async with self.http.post(
                    url, json=alert, timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    if resp.status >= 400:
                        log.warning("spike webhook answered %s", resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("spike webhook unreachable: %r", exc)

    async def close_thread(self, channel_id: str, thread_key: str, reason: str) -> None:
        conversation_id = await self.redis.get(self.keys.thread(channel_id, thread_key))
        if conversation_id:
            await self.resolve(conversation_id, actor_name="system", reason=reason)

    # --- notifications ---------------------------------------------------------------------
    async def _after_ingest(
        self,
        result: IngestResult,
        msg: InboundMessage,
        assignee: str,
        offered_to: str,
        message: dict[str, Any],
    ) -> None:
        await self.contacts.observe(result, msg)  # verified claims: merge suggestions
        # The ingest script answered who holds the conversation: no need to read it again.
        users, roles = _audience_of(assignee, offered_to)
        await self.events.publish(
            "message.created",
            # The channel: a new conversation's search document needs it (gateway/search/).
            {"conversation_id": result.conversation_id, "message": message,
             "channel_id": msg.channel_id, "channel_type": msg.channel_type.value},
            users,
            roles,
        )  # fmt: skip
        if assignee:
            # Held by an agent who is gone: the customer who just wrote goes back to the queue.
            if await self.router.release_if_gone(result.conversation_id, assignee):
                await self.kick_router()
        elif not users:
            # Self-service may answer first (gateway/kb/selfservice.py); else the router.
            if await self.selfservice.handle(result, msg):
                return
            await self.kick_router()

    async def _audience(self, conversation_id: str) -> tuple[list[str], list[str]]:
        assignee, offered = await self.conversations.raw(conversation_id, "assignee", "offered_to")
        return _audience_of(assignee, offered)

    async def _publish_appended(self, conversation_id: str, appended: Appended) -> None:
        """A message just appended, to whoever held the conversation at that step."""
        users, roles = _audience_of(appended.assignee, appended.offered_to)
        await self.events.publish(
            "message.created",
            {"conversation_id": conversation_id, "message": appended.message},
            users,
            roles,
        )

    async def publish_conversation(
        self,
        conversation_id: str,
        event: str = "conversation.updated",
        extra_users: list[str] | None = None,
    ) -> None:
        conv = await self.conversations.get(conversation_id)
        users, roles = await self._audience(conversation_id)
        await self.events.publish(
            event, {"conversation": conv}, users + [u for u in extra_users or [] if u], roles
        )

    async def _router_notify(
        self, event_type: str, data: dict[str, Any], users: list[str], roles: list[str]
    ) -> None:
        if "conversation_id" in data and event_type == "conversation.offered":
            self.metrics.offers.labels(outcome="made").inc()
            data = {**data, "conversation": await self.conversations.get(data["conversation_id"])}
            conv = data["conversation"] or {}
            since = int(conv.get("waiting_since") or conv.get("created_at") or now_ms())
            self.metrics.time_to_offer.labels(
                channel=str(conv.get("channel_type", "?")), priority=str(conv.get("priority", "?"))
            ).observe(max(0, now_ms() - since) / 1000)
        elif event_type == "agent.status" and data.get("agent_id"):
            await self.log_agent_status(str(data["agent_id"]), str(data.get("status", "")))
        elif event_type == "sla.breached":
            self.metrics.sla_breaches.labels(
                clock=str(data.get("clock", "?")),
                priority=str(data.get("priority", "?")),
                channel=str(data.get("channel_type", "?")),
            ).inc()
        elif event_type == "conversation.offer_expired":
            self.metrics.offers.labels(outcome="timeout").inc()
        await self.events.publish(event_type, data, users, roles)

    async def _after_delivery(
        self, conversation_id: str, seq: int, delivered: Delivered | None
    ) -> None:
        conv: dict[str, Any]
        if delivered is not None:  # a send: the outbox read and wrote what the event needs
            message, conv = delivered.message, delivered.conversation
        else:
            message, conv = await asyncio.gather(
                self.conversations.message(conversation_id, seq),
                self.conversations.get(conversation_id),
            )
        self.metrics.outbound.labels(
            channel=conv.get("channel_type") or "?", state=message.get("delivery") or "?"
        ).inc()
        if message.get("delivery") == "sent":
            self.metrics.last_send_ok.labels(channel_id=str(conv.get("channel_id") or "?")).set(
                now_ms() / 1000
            )
        users, roles = _audience_of(conv.get("assignee"), conv.get("offered_to"))
        await self.events.publish(
            "message.updated",
            {"conversation_id": conversation_id, "message": message},
            users,
            roles,
        )

    # --- agent actions ---------------------------------------------------------------------
    async def reply(
        self,
        conversation_id: str,
        user_id: str,
        user_name: str,
        text: str,
        *,
        note: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """``client_id``: the console's id of this reply; a retried request with it (the
        answer was lost) gets the reply stored the first time, never a second one sent."""
        direction = Direction.NOTE if note else Direction.OUT
        try:
            appended = await self.conversations.append(
                conversation_id,
                direction,
                text,
                author_id=user_id,
                author_name=user_name,
                send=not note,
                attachments=attachments,
                client_id=client_id,
                refuse_incident_item=not note,
            )
        except NotFound:
            raise ActionError(404, "not_found", "no such conversation") from None
        except IncidentItem:
            raise ActionError(
                409,
                "incident_item",
                "an incident is answered through its statement and bulk reply; write notes here",
            ) from None
        message = appended.message
        if not note and appended.before and not appended.before["first_response_at"]:
            await self._first_response(conversation_id, appended.before, int(message["created_at"]))
        # A replayed reply is published again: the first request may have failed before its
        # event went out (consoles and the search index take an event for a known seq as no news).
        await self._publish_appended(conversation_id, appended)
        return message

    async def _first_response(
        self, conversation_id: str, before: dict[str, str | None], at: int
    ) -> None:
        """The first reply of a conversation (or of its reopening): the wait it ended."""
        start = int(before["waiting_since"] or before["created_at"] or at)
        channel, priority = before["channel_type"], before["priority"]
        # Reports measure from here (a reopening starts a new first-response clock).
        key = self.keys.conversation(conversation_id)
        await self.batch.command("HSET", key, "first_wait_start", start)
        self.metrics.first_response.labels(
            channel=channel or "?", priority=priority or "?"
        ).observe(max(0, at - start) / 1000)

    async def log_agent_status(self, user_id: str, status: str) -> None:
        """Status history for occupancy reports; kept for 180 days."""
        now = now_ms()
        key = self.keys.agent_status_log(user_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(key, {f"{now}:{status}": now})
        pipe.zremrangebyscore(key, "-inf", now - 180 * 86400 * 1000)
        await pipe.execute()

    def _count_aftercare(self, outcome: str) -> None:
        if outcome == "followup":
            self.metrics.followups.inc()
        else:
            self.metrics.surveys.labels(outcome=outcome).inc()

    async def _event_line(
        self, conversation_id: str, text: str, actor: str | None, event: str, **params: str
    ) -> None:
        """``text`` in English for the API; ``event`` and ``params`` let the console say it in
        the agent's language (catalogue key ``console.event.<event>``)."""
        appended = await self.conversations.append(
            conversation_id,
            Direction.EVENT,
            text,
            author_id=None,
            author_name=actor,
            send=False,
            meta={"event": event, "params": params},
        )
        await self._publish_appended(conversation_id, appended)

    async def accept(self, conversation_id: str, user_id: str, user_name: str) -> None:
        outcome = await self.router_store.accept(conversation_id, user_id)
        if outcome != "ok":
            raise ActionError(409, "not_offered", "this conversation is not offered to you")
        await self._event_line(
            conversation_id, f"Assigned to {user_name}", user_name, "assigned", name=user_name
        )
        await self.incidents.taken(conversation_id, user_id)
        await self.publish_conversation(conversation_id, "conversation.assigned")

    async def decline(self, conversation_id: str, user_id: str) -> None:
        outcome = await self.router_store.release_offer(
            conversation_id, user_id, "decline", self.settings.max_missed_offers
        )
        if outcome == "not-offered":
            raise ActionError(409, "not_offered", "this conversation is not offered to you")
        self.metrics.offers.labels(outcome="declined").inc()
        await self.publish_conversation(conversation_id, extra_users=[user_id])
        await self.kick_router()

    async def resolve(self, conversation_id: str, *, actor_name: str, reason: str = "") -> None:
        outcome = await self.router_store.resolve(conversation_id)
        if outcome == "not-found":
            raise ActionError(404, "not_found", "no such conversation")
        if outcome == "already":
            return
        await self._event_line(
            conversation_id,
            f"Resolved by {actor_name}" + (f": {reason}" if reason else ""),
            actor_name,
            "resolved_reason" if reason else "resolved",
            by=actor_name,
            reason=reason,
        )
        await self.publish_conversation(conversation_id)
        await self.kick_router()
        await self._after_resolve(conversation_id)

    async def _after_resolve(self, conversation_id: str) -> None:
        conv = await self.conversations.get(conversation_id)
        self.metrics.resolved.labels(
            channel=str(conv.get("channel_type", "?")), priority=str(conv.get("priority", "?"))
        ).inc()
        if str(conv.get("incident_item") or "") == "1":
            return  # an incident's item: no survey, no follow-up
        for job_id, kind, payload, due in await self.aftercare.plan(conv):
            await self.scheduler.schedule(job_id, kind, payload, due)

    async def transfer(
        self, conversation_id: str, *, actor_name: str, to_agent: str = "", team: str = ""
    ) -> None:
        before, weight = await self.conversations.raw(conversation_id, "assignee", "weight")
        user = await self.users.get(to_agent) if to_agent else None
        if to_agent and user is None:
            raise ActionError(400, "invalid_field", "agent_id: no such agent")
        outcome = await self.router_store.transfer(
            conversation_id,
            to_agent=to_agent,
            team=team,
            weight=float(weight or 1),
            heartbeat_ttl_ms=int(self.settings.agent_heartbeat_ttl_seconds * 1000),
        )
        if outcome == "not-found":
            raise ActionError(404, "not_found", "no such conversation")
        if outcome == "resolved":
            raise ActionError(409, "resolved", "a resolved conversation cannot be transferred")
        if outcome == "no-such-agent":
            raise ActionError(400, "invalid_field", "agent_id: that user is not an agent")
        if outcome == "agent-offline":
            raise ActionError(409, "agent_offline", "agent_id: that agent is offline")
        if outcome != "ok":
            raise ActionError(409, "conflict", "the conversation changed; try again")
        target = user.name if user else f"team {team}"
        await self._event_line(
            conversation_id,
            f"Transferred to {target} by {actor_name}",
            actor_name,
            "transferred_agent" if to_agent else "transferred_team",
            target=target if to_agent else team,
            by=actor_name,
        )
        await self.publish_conversation(conversation_id, extra_users=[before or "", to_agent])
        await self.kick_router()

    async def snooze(self, conversation_id: str, until_ms: int, actor_name: str) -> None:
        await self.conversations.snooze(conversation_id, until_ms)
        await self.router_store.pause(conversation_id)  # SLA clocks stop while snoozed
        await self._event_line(
            conversation_id, f"Snoozed by {actor_name}", actor_name, "snoozed", by=actor_name
        )
        await self.publish_conversation(conversation_id)

    async def set_agent_status(self, user_id: str, status: str) -> None:
        user = await self.users.get(user_id)
        if user is None:
            raise ActionError(404, "not_found", "no such user")
        previous = await self.redis.hget(self.keys.agent(user_id), "status")
        if previous is None:
            await self.sync_agent(user_id)
        released = 0
        if status == "offline":
            # Customers waiting on this agent go back to the queue, before the status changes:
            # a crash between the two leaves the agent online (the console says offline again),
            # never offline with customers waiting on them.
            released = await self.router.release_held(user_id, going=True)
        await self.router_store.set_status(user_id, status)
        if released:
            await self.kick_router()
        if status == previous:
            return  # a heartbeat: nothing changed for anyone else, nor for the status log
        await self.log_agent_status(user_id, status)
        await self.events.publish(
            "agent.status", {"agent_id": user_id, "status": status}, [user_id], STAFF_ROLES
        )
        if status == "online":
            await self.kick_router()

    async def sync_agent(self, user_id: str) -> None:
        """Keep the router's view of a user (capacity, teams, skills) in step with the user."""
        user = await self.users.get(user_id)
        if user is None:
            # Nobody waits on a deleted agent (released first, as for going offline).
            released = await self.router.release_held(user_id, going=True)
            await self.router_store.remove_agent(user_id)
            if released:
                await self.kick_router()
            return
        await self.router_store.upsert_agent(
            user.id,
            name=user.name,
            capacity=user.capacity,
            teams=user.teams,
            skills=user.skills,
            languages=user.languages,
        )

    def now(self) -> int:
        return now_ms()


def _audience_of(assignee: str | None, offered_to: str | None) -> tuple[list[str], list[str]]:
    """Who hears of a conversation's messages: its holder and staff, or every agent if none."""
    users = [u for u in (assignee, offered_to) if u]
    return users, list(STAFF_ROLES) if users else [*STAFF_ROLES, "agent"]
