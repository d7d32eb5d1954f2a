"""Incidents: the mentions of one spike, grouped, with one routable item for a senior.

A social mention inside a volume spike (the adapter sets ``meta["spike"]``) is an ordinary
conversation for the general pool (class ``normal`` unless its own words say more, e.g. a media
threat). It also joins its channel's open incident (``attach.lua``), or opens one when the
channel has none open or its last mention is older than the join window. Opening an incident
files one *item*: a conversation on the same channel whose message carries
``meta["incident"]``, which the shipped rules class ``incident`` (config/sla.toml: a supervisor
within 30 minutes, never widened to other agents, queued ahead like urgent). The router offers
that item to seniors like any conversation; a senior accepting it takes the incident
(``taken.lua``), which is the response the media-risk rule asks for.

The senior sets the approved statement (offered as the suggested reply on every open mention)
and may answer every open mention with it at once (``bulk_reply``): each answer is an ordinary
reply through the outbox (so retries, platform rate limits and part progress apply), and the
mentions no agent holds are resolved. The item itself never sends: it is answered through the
statement.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from adapters.base import IngestResult
from gateway.conversations import Appended, Conversations, NotFound, NotWaiting
from gateway.ids import new_id
from gateway.keys import Keys
from gateway.lease import Lease, keep_renewed
from gateway.models import ContactIdentity, Direction, InboundMessage, now_ms
from gateway.scripts import decode_flat, load_script
from gateway.tasks import cancel_and_wait

# Files the item through the inbox (classification, deadlines, queue).
OpenItem = Callable[[InboundMessage], Awaitable[IngestResult]]
# Resolves a mention answered in bulk that no agent holds (conversation id, actor name).
Resolve = Callable[[str, str], Awaitable[None]]
# Tells staff what changed (event type, payload).
Publish = Callable[[str, dict[str, Any]], Awaitable[None]]
# A message appended to a mention (conversation id, the append), for whoever holds it.
OnMessage = Callable[[str, Appended], Awaitable[None]]

ITEM_FLAG = "incident"  # meta flag of the item's message (the rules class it `incident`)
STATUSES = ("open", "resolved")
# One bulk run per incident: its lock is renewed every third of this while the run lasts, and
# frees itself this long after a process died holding it.
BULK_LOCK_MS = 30_000
MAX_STATEMENT = 5000


class IncidentError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class BulkOutcome:
    queued: int  # replies queued in the outbox, one per open mention not yet answered
    skipped_answered: int  # an agent answered since the customer's last message
    skipped_resolved: int
    resolved: int  # of the queued, those no agent held: resolved after the answer
    conversations: tuple[str, ...]  # the mentions answered

    def to_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "skipped_answered": self.skipped_answered,
            "skipped_resolved": self.skipped_resolved,
            "resolved": self.resolved,
        }


class Incidents:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        conversations: Conversations,
        *,
        open_item: OpenItem,
        resolve: Resolve,
        publish: Publish | None = None,
        on_message: OnMessage | None = None,
        clock: Callable[[], int] = now_ms,
        join_window_seconds: int = 3600,
        bulk_lock_ms: int = BULK_LOCK_MS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.conversations = conversations
        self.open_item = open_item
        self.resolve = resolve
        self.publish = publish
        self.on_message = on_message
        self.clock = clock
        self.join_window_ms = join_window_seconds * 1000
        self.bulk_lock_ms = bulk_lock_ms
        self._attach = load_script(redis, __file__, "attach")
        self._link = load_script(redis, __file__, "link")
        self._taken = load_script(redis, __file__, "taken")

    # --- spike mentions --------------------------------------------------------------------
    async def on_mention(self, conversation_id: str, msg: InboundMessage) -> tuple[str, str]:
        """A mention inside a spike, filed as ``conversation_id``: join or open the channel's
        incident. Returns (joined / created / already, incident id). Safe to call again for the
        same conversation (a platform's retried delivery)."""
        k = self.keys
        pointer = k.incident_current(msg.channel_id)
        for _ in range(8):
            current = await self.redis.get(pointer) or ""
            fresh = new_id("in")
            raw = await self._attach(
                keys=[pointer, k.incident(current or "none"),
                      k.incident_mentions(current or "none"), k.incident(fresh),
                      k.incident_mentions(fresh), k.incidents(), k.conversation(conversation_id)],
                args=[current, fresh, self.clock(), self.join_window_ms, conversation_id,
                      msg.channel_id, msg.channel_type.value],
            )  # fmt: skip
            out = decode_flat(raw)
            if out[0] == "retry":
                continue
            outcome, incident_id = out[0], out[1]
            if outcome == "created":
                await self._open(incident_id, msg)
            elif not await self.redis.hget(k.incident(incident_id), "conversation_id"):
                await self._open(incident_id, msg)  # a crash between the two steps: repair
            return outcome, incident_id
        raise RuntimeError(f"incident attach of {conversation_id} kept conflicting")

    async def on_earlier_mentions(self, conversation_ids: list[str], spike: InboundMessage) -> None:
        """The mentions of the spike's bucket delivered before the spike was known (the adapter
        lists them on the mention that started it): they join its incident too. Only
        conversations of the spike's own channel, and each at most once (``on_mention``)."""
        ids = [c for c in dict.fromkeys(conversation_ids) if isinstance(c, str)]
        pipe = self.redis.pipeline(transaction=False)
        for conversation_id in ids:
            pipe.hget(self.keys.conversation(conversation_id), "channel_id")
        channels = await pipe.execute() if ids else []
        for conversation_id, channel_id in zip(ids, channels, strict=True):
            if channel_id == spike.channel_id:
                await self.on_mention(conversation_id, spike)

    async def _open(self, incident_id: str, first: InboundMessage) -> None:
        """File the incident's item (idempotent: the inbox dedupes its message id)."""
        channel = first.channel_type.value
        item = InboundMessage(
            channel_id=first.channel_id,
            channel_type=first.channel_type,
            external_id=f"incident:{incident_id}",
            contact=ContactIdentity(external_id=f"incident:{incident_id}",
                                    name=f"Incident {incident_id}"),
            thread_key=f"incident:{incident_id}",
            text=(f"Mention spike on {channel}: its mentions are grouped in incident "
                  f"{incident_id}. Take it, set the approved statement, then answer every open "
                  "mention with it."),
            sent_at=self.clock(),
            meta={ITEM_FLAG: incident_id},
        )  # fmt: skip
        result = await self.open_item(item)
        await self._link(
            keys=[self.keys.incident(incident_id), self.keys.conversation(result.conversation_id)],
            args=[incident_id, result.conversation_id],
        )
        if self.publish is not None:
            await self.publish("incident.created", {"incident": await self.get(incident_id)})

    async def taken(self, conversation_id: str, agent_id: str) -> str | None:
        """After an accept: if the conversation is an incident's item, the incident is taken.
        Returns the incident id (None: not an item)."""
        incident_id, item = await self.redis.hmget(
            self.keys.conversation(conversation_id), ["incident_id", "incident_item"]
        )
        if not incident_id or item != "1":
            return None
        outcome = await self._taken(
            keys=[self.keys.incident(incident_id), self.keys.conversation(conversation_id)],
            args=[agent_id, self.clock()],
        )
        if outcome == "ok" and self.publish is not None:
            await self.publish("incident.updated", {"incident": await self.get(incident_id)})
        return incident_id

    async def _reply_if_waiting(
        self, conversation_id: str, text: str, author_id: str, author_name: str, incident_id: str
    ) -> Appended | str:
        """The reply appended and queued, or why not ("resolved", "answered"): whether the
        mention still waits is decided in the step that appends (not from an earlier read)."""
        try:
            return await self.conversations.append(
                conversation_id, Direction.OUT, text, author_id=author_id,
                author_name=author_name, send=True, meta={"incident": incident_id, "bulk": True},
                only_if_waiting=True,
            )  # fmt: skip
        except NotWaiting as exc:
            return exc.reason
        except NotFound:
            return "answered"  # gone: nothing to answer

    # --- reading ---------------------------------------------------------------------------
    async def get(self, incident_id: str, *, with_counts: bool = True) -> dict[str, Any]:
        row = await self.redis.hgetall(self.keys.incident(incident_id))
        if not row:
            raise IncidentError(404, "not_found", "no such incident")
        out: dict[str, Any] = dict(row)
        for name in ("created_at", "updated_at", "first_mention_at", "last_mention_at",
                     "taken_at", "statement_at", "resolved_at", "mentions"):  # fmt: skip
            if out.get(name):
                out[name] = int(float(out[name]))
        if with_counts:
            out["counts"] = await self._counts(incident_id)
        return out

    async def _mention_rows(self, incident_id: str) -> list[tuple[str, list[str | None]]]:
        ids = await self.redis.zrange(self.keys.incident_mentions(incident_id), 0, -1)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for conversation_id in ids:
            pipe.hmget(
                self.keys.conversation(conversation_id),
                ["status", "waiting_since", "assignee", "channel_id"],
            )
        return list(zip(ids, await pipe.execute(), strict=True))

    async def _counts(self, incident_id: str) -> dict[str, int]:
        counts = {"mentions": 0, "waiting": 0, "answered": 0, "resolved": 0}
        for _, (status, waiting, _, _) in await self._mention_rows(incident_id):
            counts["mentions"] += 1
            if status == "resolved":
                counts["resolved"] += 1
            elif waiting:
                counts["waiting"] += 1
            else:
                counts["answered"] += 1
        return counts

    async def list(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        ids = await self.redis.zrevrange(self.keys.incidents(), 0, max(limit * 4, 200) - 1)
        out = []
        for incident_id in ids:
            try:
                incident = await self.get(incident_id, with_counts=False)
            except IncidentError:
                continue
            if status and incident.get("status") != status:
                continue
            out.append(incident)
            if len(out) >= limit:
                break
        return out

    async def suggested_reply(self, conversation: dict[str, Any]) -> str | None:
        """The incident's approved statement, for an open mention of it (not for its item)."""
        incident_id = conversation.get("incident_id")
        if not incident_id or str(conversation.get("incident_item") or "") == "1":
            return None
        if conversation.get("status") == "resolved":
            return None
        status, statement = await self.redis.hmget(
            self.keys.incident(str(incident_id)), ["status", "statement"]
        )
        return statement or None if status == "open" else None

    # --- changing --------------------------------------------------------------------------
    async def update(
        self,
        incident_id: str,
        *,
        actor_id: str,
        actor_name: str,
        statement: str | None = None,
        title: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        incident = await self.get(incident_id, with_counts=False)
        now = self.clock()
        fields: dict[str, Any] = {"updated_at": now}
        if statement is not None:
            fields.update(statement=statement.strip(), statement_by=actor_id,
                          statement_by_name=actor_name, statement_at=now)  # fmt: skip
        if title is not None:
            fields["title"] = title.strip()
        if status is not None:
            if status not in STATUSES:
                raise IncidentError(400, "invalid_field", "status: open or resolved")
            fields["status"] = status
            if status == "resolved":
                fields.update(resolved_at=now, resolved_by=actor_id)
        await self.redis.hset(self.keys.incident(incident_id), mapping=fields)
        item = incident.get("conversation_id")
        if status == "resolved" and incident.get("status") != "resolved" and item:
            await self.resolve(str(item), actor_name)  # the senior's item is done too
        updated = await self.get(incident_id)
        if self.publish is not None:
            await self.publish("incident.updated", {"incident": updated})
        return updated

    async def bulk_reply(
        self, incident_id: str, *, author_id: str, author_name: str, text: str | None = None
    ) -> BulkOutcome:
        """Answer every open mention not yet answered with ``text`` (default: the statement),
        each an ordinary reply queued in the outbox; resolve those no agent holds. One bulk
        reply of an incident at a time (409 while one runs)."""
        incident = await self.get(incident_id, with_counts=False)
        body = (text if text is not None else incident.get("statement") or "").strip()
        if not body:
            raise IncidentError(400, "invalid_field", "text: set the statement first, or give one")
        # Owner-checked (a run whose lock ran out never frees another run's) and renewed.
        lock = Lease(self.redis, self.keys.incident_bulk_lock(incident_id), self.bulk_lock_ms)
        if not await lock.acquire():
            raise IncidentError(409, "busy", "a bulk reply of this incident is running")
        # Once lost, another run may start: each mention is still answered once (append.lua's
        # only-while-waiting), so this run goes on.
        renewing = asyncio.create_task(keep_renewed(lock), name=f"bulk-lock-{incident_id}")
        try:
            return await self._bulk(incident_id, body, author_id, author_name)
        finally:
            await cancel_and_wait(renewing)
            await lock.release()

    async def _bulk(
        self, incident_id: str, body: str, author_id: str, author_name: str
    ) -> BulkOutcome:
        queued = answered = resolved_before = resolved = 0
        done: list[str] = []
        mentions = await self.redis.zrange(self.keys.incident_mentions(incident_id), 0, -1)
        for conversation_id in mentions:
            appended = await self._reply_if_waiting(
                conversation_id, body, author_id, author_name, incident_id
            )
            if isinstance(appended, str):  # nothing appended: resolved, or answered already
                if appended == "resolved":
                    resolved_before += 1
                else:
                    answered += 1
                continue
            queued += 1
            done.append(conversation_id)
            if self.on_message is not None:
                await self.on_message(conversation_id, appended)
            if not appended.assignee:
                await self.resolve(conversation_id, author_name)
                resolved += 1
        outcome = BulkOutcome(queued, answered, resolved_before, resolved, tuple(done))
        now = self.clock()
        await self.redis.hset(
            self.keys.incident(incident_id),
            mapping={"bulk_replied_at": now, "updated_at": now,
                     "bulk_last": json.dumps(outcome.to_dict())},
        )  # fmt: skip
        if self.publish is not None:
            await self.publish(
                "incident.updated",
                {"incident": await self.get(incident_id), "bulk": outcome.to_dict()},
            )
        return outcome
