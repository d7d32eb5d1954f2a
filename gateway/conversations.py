"""Reading conversations and their message logs, and appending replies, notes and events."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.batching import CommandBatcher
from gateway.keys import Keys
from gateway.models import Direction, Role, now_ms
from gateway.scripts import load_script


class NotFound(LookupError):
    pass


_INT_FIELDS = {
    "created_at", "updated_at", "last_inbound_at", "first_response_at", "first_response_due",
    "resolved_at", "snoozed_until", "last_seq", "offer_expires_at", "assigned_at",
    "waiting_since", "last_outbound_at", "priority_rank",
}  # fmt: skip
_HIDDEN_FIELDS = {"reply_context", "excluded"}


def conversation_from_hash(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in _HIDDEN_FIELDS:
            continue
        if key in _INT_FIELDS:
            out[key] = int(float(value)) if value not in ("", None) else None
        elif key == "weight":
            out[key] = float(value)
        else:
            out[key] = value
    for key in ("assignee", "offered_to", "team", "subject", "priority_rule", "last_agent"):
        out.setdefault(key, None)
    if out.get("priority_rule") == "":
        out["priority_rule"] = None
    return out


@dataclass(frozen=True)
class Viewer:
    user_id: str
    role: Role

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPERVISOR)


def may_view(viewer: Viewer, conversation: dict[str, Any]) -> bool:
    """Agents see their own, the ones offered to them and the unassigned ones."""
    if viewer.sees_everything:
        return True
    assignee = conversation.get("assignee")
    return assignee in (None, viewer.user_id) or conversation.get("offered_to") == viewer.user_id


def sla_due(conv: dict[str, Any]) -> int | None:
    """The deadline the console counts down to: the first response until there is one, then
    the next response while the customer waits; none once resolved or answered."""
    if conv.get("status") == "resolved":
        return None
    if not conv.get("first_response_at"):
        return conv.get("first_response_due")
    if conv.get("waiting_since") and conv.get("next_response_due"):
        return int(float(conv["next_response_due"]))
    return None


@dataclass(frozen=True)
class _Filter:
    """Which conversations a listing keeps (the API's filters and the viewer's rights)."""

    viewer: Viewer
    status: str | None
    assignee: str | None
    channel: str | None
    priority: str | None
    unassigned: bool
    tag: str | None

    def __call__(self, conv: dict[str, Any]) -> bool:
        if not may_view(self.viewer, conv):
            return False
        if self.status and conv.get("status") != self.status:
            return False
        if self.assignee and conv.get("assignee") != self.assignee:
            return False
        if self.unassigned and conv.get("assignee"):
            return False
        if self.channel and self.channel not in (conv.get("channel_id"), conv.get("channel_type")):
            return False
        if self.priority and conv.get("priority") != self.priority:
            return False
        return not self.tag or self.tag in _tags(conv)


def _tags(conv: dict[str, Any]) -> list[str]:
    try:
        tags = json.loads(conv.get("tags") or "[]")
    except ValueError:
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


# How long a reply's client id is remembered: a retry after longer is a new reply.
CLIENT_ID_SECONDS = 86_400


# What ``Appended.before`` holds: the fields a first response is measured from.
FIRST_RESPONSE_FIELDS = ("first_response_at", "waiting_since", "created_at", "channel_type",
                         "priority")  # fmt: skip


class IncidentItem(Exception):
    """A reply to a conversation answered through its incident's statement."""


class NotWaiting(Exception):
    """A reply asked only while the customer waits for one: the conversation is resolved or
    answered already (``reason``: "resolved" or "answered")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Appended:
    """A message just appended and the conversation around it, read in the same step (nothing
    moved in between)."""

    message: dict[str, Any]
    assignee: str | None  # who holds the conversation now: who hears of the message
    offered_to: str | None
    # FIRST_RESPONSE_FIELDS before the append (empty for a replayed reply): was it the first?
    before: dict[str, str | None]


class Conversations:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        clock: Callable[[], int] = now_ms,
        batch: CommandBatcher | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock  # the simulator passes a simulated one
        # Group commit (the gateway passes its own): a burst of replies (each reads the
        # conversation, then appends) shares pipelines instead of taking a pooled connection
        # per call, which drained the pool (issue 21).
        self.batch = batch or CommandBatcher(redis)
        self._append = load_script(redis, __file__, "append")

    async def get(self, conversation_id: str) -> dict[str, Any]:
        row = await self.batch.command("HGETALL", self.keys.conversation(conversation_id))
        if not row:
            raise NotFound(conversation_id)
        return conversation_from_hash(row)

    async def raw(self, conversation_id: str, *fields: str) -> list[str | None]:
        return await self.batch.command("HMGET", self.keys.conversation(conversation_id), *fields)

    async def reply_context(self, conversation_id: str) -> dict[str, Any]:
        key = self.keys.conversation(conversation_id)
        value = await self.batch.command("HGET", key, "reply_context")
        return json.loads(value) if value else {}

    async def list(
        self,
        viewer: Viewer,
        *,
        status: str | None = None,
        assignee: str | None = None,
        channel: str | None = None,
        priority: str | None = None,
        unassigned: bool = False,
        tag: str | None = None,
        limit: int = 50,
        before: int | None = None,
        before_id: str | None = None,
        sort: str = "activity",
    ) -> list[dict[str, Any]]:
        """Newest activity first; each row carries ``activity_at``, its place in that order.
        ``before``: activity time (ms) to page back from; with ``before_id`` (the previous
        page's last row: its ``activity_at`` and id) the page goes on exactly after that row,
        even among conversations of the same millisecond (ordered by id, descending).
        ``sort="sla"``: the conversations with an SLA deadline first, soonest first (from the
        SLA watch), then the others by activity; each row carries ``sla_due`` and
        ``assignee_name``.

        Reads the activity index in chunks, each starting at the lowest score the previous one
        reached (past the entries already read at that score), not at an offset: a message
        arriving meanwhile moves its conversation to the top, which would shift an offset and
        show a conversation twice. ``seen`` guards the rest."""
        index = self.keys.conversations_index()
        high: float | str = f"({before}" if before else "+inf"
        if before and before_id:
            high = before  # that millisecond's rows after ``before_id`` too
        skip = 0  # entries at score ``high`` already read
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        scan = max(limit * 4, 100)
        keep = _Filter(viewer, status, assignee, channel, priority, unassigned, tag)
        if sort == "sla":
            await self._by_sla_due(keep, limit, seen, out)
        while len(out) < limit:
            rows = await self.redis.zrevrangebyscore(
                index, high, "-inf", start=skip, num=scan, withscores=True
            )
            if not rows:
                break
            lowest = rows[-1][1]
            tied = sum(1 for _, score in rows if score == lowest)
            skip = skip + tied if lowest == high else tied
            high = lowest
            scores = {
                conversation_id: int(score)
                for conversation_id, score in rows
                if conversation_id not in seen
                and not (before_id and score == before and conversation_id >= before_id)
            }
            seen.update(conversation_id for conversation_id, _ in rows)
            pipe = self.redis.pipeline(transaction=False)
            for conversation_id in scores:
                pipe.hgetall(self.keys.conversation(conversation_id))
            for score, row in zip(scores.values(), await pipe.execute(), strict=True):
                if not row:
                    continue
                conv = conversation_from_hash(row)
                if not keep(conv):
                    continue
                conv["activity_at"] = score
                out.append(conv)
                if len(out) >= limit:
                    break
        await self._add_contact_names(out)
        await self._add_assignee_names(out)
        for conv in out:
            conv["sla_due"] = sla_due(conv)
        return out

    async def _by_sla_due(
        self, keep: _Filter, limit: int, seen: set[str], out: list[dict[str, Any]]
    ) -> None:
        """The SLA watch (conversations by their next deadline), soonest first, into ``out``."""
        start = 0
        while len(out) < limit:
            ids = await self.redis.zrange(self.keys.sla_watch(), start, start + 199)
            if not ids:
                return
            start += len(ids)
            ids = [i for i in ids if i not in seen]
            seen.update(ids)
            pipe = self.redis.pipeline(transaction=False)
            for conversation_id in ids:
                pipe.hgetall(self.keys.conversation(conversation_id))
            rows = [conversation_from_hash(r) for r in await pipe.execute() if r]
            picked = [c for c in rows if keep(c) and sla_due(c) is not None]
            picked.sort(key=lambda c: sla_due(c) or 0)
            out.extend(picked[: limit - len(out)])

    async def _add_assignee_names(self, conversations: list[dict[str, Any]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for conv in conversations:
            pipe.hget(self.keys.user(conv.get("assignee") or "none"), "name")
        for conv, name in zip(conversations, await pipe.execute(), strict=True):
            conv["assignee_name"] = name if conv.get("assignee") else None

    async def _add_contact_names(self, conversations: list[dict[str, Any]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for conv in conversations:
            pipe.hget(self.keys.contact(conv.get("contact_id") or "none"), "name")
        for conv, name in zip(conversations, await pipe.execute(), strict=True):
            conv["contact_name"] = name or None

    async def for_contact(self, contact_id: str, limit: int = 50) -> list[dict[str, Any]]:
        ids = await self.redis.zrevrange(self.keys.contact_conversations(contact_id), 0, limit - 1)
        pipe = self.redis.pipeline(transaction=False)
        for conversation_id in ids:
            pipe.hgetall(self.keys.conversation(conversation_id))
        return [conversation_from_hash(r) for r in await pipe.execute() if r]

    async def messages(
        self, conversation_id: str, after_seq: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        last = int(await self.redis.hget(self.keys.conversation(conversation_id), "last_seq") or 0)
        seqs = list(range(after_seq + 1, min(last, after_seq + limit) + 1))
        if not seqs:
            return []
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.keys.messages(conversation_id), seqs)
        pipe.hmget(self.keys.deliveries(conversation_id), seqs)
        bodies, deliveries = await pipe.execute()
        return [
            message_from_stored(conversation_id, seq, body, delivery)
            for seq, body, delivery in zip(seqs, bodies, deliveries, strict=True)
            if body is not None
        ]

    async def message(self, conversation_id: str, seq: int) -> dict[str, Any]:
        # One round trip, shared with the others of this loop turn (after every delivery):
        # a seq beyond last_seq simply has no body.
        body, delivery = await self.batch.commands(
            ("HGET", self.keys.messages(conversation_id), str(seq)),
            ("HGET", self.keys.deliveries(conversation_id), str(seq)),
        )
        if body is None:
            raise NotFound(f"{conversation_id}:{seq}")
        return message_from_stored(conversation_id, seq, body, delivery)

    async def append(
        self,
        conversation_id: str,
        direction: Direction,
        text: str,
        *,
        author_id: str | None,
        author_name: str | None,
        send: bool,
        attachments: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        client_id: str | None = None,
        refuse_incident_item: bool = False,
        only_if_waiting: bool = False,
    ) -> Appended:
        """The message as stored, with ``seq``, and the conversation around it. ``client_id``
        (an agent's reply): appended once per conversation for a day; a second call with it
        appends nothing and answers the message the first one stored, with ``replayed`` true.
        ``refuse_incident_item``: raise ``IncidentItem`` rather than append to a conversation
        answered through its incident. ``only_if_waiting``: raise ``NotWaiting`` rather than
        append when the conversation is resolved or has its answer already (decided in the same
        step)."""
        k = self.keys
        now = self.clock()
        body = {
            "direction": direction.value,
            "text": text,
            "author_id": author_id,
            "author_name": author_name,
            "attachments": attachments or [],
            "created_at": now,
            "meta": meta or {},
        }
        # An automatic message (greeting, survey) is sent like a reply but answers nobody.
        system = direction == Direction.OUT and bool((meta or {}).get("system"))
        clock = "system" if system else direction.value
        raw_seq, replayed, *around = [
            as_text(v)
            for v in await self.batch.script(
                self._append,
                [k.conversation(conversation_id), k.messages(conversation_id), k.outbox(),
                 k.conversations_index(), k.deliveries(conversation_id),
                 k.reply_once(conversation_id, client_id or "-")],
                [conversation_id, json.dumps(body, ensure_ascii=False), now, clock,
                 "1" if send else "0", "1" if client_id else "0", CLIENT_ID_SECONDS,
                 "1" if refuse_incident_item else "0", "1" if only_if_waiting else "0"],
            )
        ]  # fmt: skip
        seq = int(raw_seq or 0)
        if seq == -1:
            raise NotFound(conversation_id)
        if seq == -2:
            raise IncidentItem(conversation_id)
        if seq == -3:
            raise NotWaiting(around[0] or "answered")
        assignee, offered_to, *before = around + [None] * (7 - len(around))
        if replayed == "1":
            message = {**await self.message(conversation_id, seq), "replayed": True}
            return Appended(message, assignee, offered_to, {})
        body.update(seq=seq, conversation_id=conversation_id)
        if send:
            body.update(delivery="queued", delivery_error=None, attempts=0)
        return Appended(
            body, assignee, offered_to, dict(zip(FIRST_RESPONSE_FIELDS, before, strict=True))
        )

    async def set_delivery(
        self,
        conversation_id: str,
        seq: int,
        state: str,
        *,
        attempts: int,
        error: str | None = None,
        platform_id: str | None = None,
    ) -> None:
        value = {"state": state, "attempts": attempts, "error": error, "platform_id": platform_id}
        await self.redis.hset(self.keys.deliveries(conversation_id), str(seq), json.dumps(value))

    async def delivery(self, conversation_id: str, seq: int) -> dict[str, Any] | None:
        value = await self.redis.hget(self.keys.deliveries(conversation_id), str(seq))
        return json.loads(value) if value else None

    async def snooze(self, conversation_id: str, until_ms: int) -> None:
        k = self.keys
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            k.conversation(conversation_id),
            mapping={"status": "snoozed", "snoozed_until": until_ms, "updated_at": now_ms()},
        )
        pipe.zadd(k.snoozed(), {conversation_id: until_ms})
        await pipe.execute()

    async def set_status(self, conversation_id: str, status: str) -> None:
        await self.redis.hset(
            self.keys.conversation(conversation_id),
            mapping={"status": status, "updated_at": now_ms()},
        )


def message_from_stored(
    conversation_id: str, seq: int, body: str, delivery: str | None
) -> dict[str, Any]:
    """A message as the API shows it, from its stored body and delivery state (JSON)."""
    message = json.loads(body)
    message["seq"] = seq
    message["conversation_id"] = conversation_id
    if delivery:
        state = json.loads(delivery)
        message["delivery"] = state.get("state")
        message["delivery_error"] = state.get("error")
        message["platform_message_id"] = state.get("platform_id")
        message["attempts"] = state.get("attempts", 0)
    return message


def as_text(value: object) -> str | None:
    """A Redis answer as text (the wire may hand bytes), None kept."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
