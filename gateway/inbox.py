"""The inbox: files each normalized inbound message into a contact's conversation, once."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from adapters.base import IngestResult
from gateway.batching import CommandBatcher
from gateway.classify import Classifier
from gateway.ids import new_id
from gateway.keys import Keys
from gateway.models import Direction, InboundMessage, now_ms
from gateway.scripts import decode_flat, load_script
from router.policy_source import Policies, PolicySource
from router.sla import SlaPolicy

log = logging.getLogger(__name__)

# Called after each new (non-duplicate) message: result, the conversation's assignee / offeree,
# and the message as stored (with seq and conversation_id), so nobody has to read it back.
OnIngested = Callable[[IngestResult, InboundMessage, str, str, dict[str, Any]], Awaitable[None]]


# Where an id goes in the key templates passed to ingest_facts.lua (ids never contain it).
ID = "\x01"


@dataclass(frozen=True)
class _Facts:
    """What ingest_facts.lua read: '' / 0 when unknown."""

    contact_id: str | None
    conv_id: str | None
    tier: str | None
    complaints: int
    now: int


class IngestConflict(RuntimeError):
    """The identity or thread kept changing under us (should not happen in practice)."""


class Inbox:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        classifier: Classifier,
        sla: SlaPolicy,
        *,
        reopen_window_seconds: int,
        dedupe_ttl_seconds: int,
        on_ingested: OnIngested | None = None,
        clock: Callable[[], int] = now_ms,
        policies: PolicySource | None = None,
        batch: CommandBatcher | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.classifier = classifier
        self.sla = sla
        self.clock = clock  # the simulator passes a simulated one
        # The admins' SLA policy and rules (Redis) when set, else the ones given (config files).
        self.policies = policies or PolicySource(redis, keys, sla, classifier)
        self.reopen_window_ms = reopen_window_seconds * 1000
        self.dedupe_ttl = dedupe_ttl_seconds
        self.on_ingested = on_ingested
        self._ingest = load_script(redis, __file__, "ingest")
        self._facts = load_script(redis, __file__, "ingest_facts")
        # Concurrent messages share pipelines: see gateway/batching.py.
        self.batch = batch or CommandBatcher(redis)

    async def ingest(self, msg: InboundMessage) -> IngestResult:
        k = self.keys
        dedupe_key = k.dedupe(msg.channel_id, msg.external_id)
        identity_key = k.contact_identity(msg.channel_id, msg.contact.external_id)
        thread_key = k.thread(msg.channel_id, msg.thread_key)
        for _ in range(8):
            policies = await self.policies.current()
            window_ms = policies.classifier.repeat_window_ms
            now = self.clock()
            # One script reads all the facts (identity, thread, dedupe, tier, complaints):
            # round trips through redis-py are most of the inbox's cost.
            raw = await self.batch.script(
                self._facts,
                [identity_key, thread_key, dedupe_key],
                [
                    "" if msg.contact.tier else "1", window_ms, now,
                    k.contact(ID), k.contact_conversations(ID), k.conversation(ID),
                ],
            )  # fmt: skip
            contact_id, conv_id, duplicate, stored_tier, complaints = decode_flat(raw)
            if duplicate:
                return _duplicate(duplicate, contact_id)
            facts = _Facts(
                contact_id or None,
                conv_id or None,
                msg.contact.tier or stored_tier or None,
                int(complaints),
                now,
            )
            result = await self._run(msg, facts, policies, dedupe_key, identity_key, thread_key)
            if result is not None:
                return result
        raise IngestConflict(f"ingest of {msg.channel_id}/{msg.external_id} kept conflicting")

    async def _run(
        self,
        msg: InboundMessage,
        facts: _Facts,
        policies: Policies,
        dedupe_key: str,
        identity_key: str,
        thread_key: str,
    ) -> IngestResult | None:
        k = self.keys
        contact_id, conv_id, now = facts.contact_id, facts.conv_id, facts.now
        new_contact = new_id("ct")
        new_conv = new_id("cv")
        the_contact = contact_id or new_contact
        the_conv = conv_id or new_conv
        sla, classifier = policies.sla, policies.classifier
        channel = msg.channel_type.value
        verdict = classifier.classify(msg.text, facts.tier, msg.meta, channel, facts.complaints)
        due = sla.first_response_due(verdict.class_name, channel, now)
        next_due = sla.next_response_due(verdict.class_name, channel, now)
        resolution_due = sla.resolution_due(verdict.class_name, channel, now)
        queue_first = sla.queue_due("first_response", verdict.class_name, channel, now)
        queue_next = sla.queue_due("next_response", verdict.class_name, channel, now)
        message = {
            "direction": Direction.IN.value,
            "text": msg.text,
            "author_id": the_contact,
            "author_name": msg.contact.name,
            "attachments": [a.model_dump(exclude_none=True) for a in msg.attachments],
            "external_id": msg.external_id,
            "created_at": now,
            "meta": {**msg.meta, "sent_at": msg.sent_at},
        }
        contact_fields = {
            "name": msg.contact.name or "",
            "email": msg.contact.email or "",
            "phone": msg.contact.phone or "",
            "tier": msg.contact.tier or "",
        }
        conversation_fields: dict[str, Any] = {
            "channel_id": msg.channel_id,
            "channel_type": msg.channel_type.value,
            "thread_key": msg.thread_key,
            "contact_external_id": msg.contact.external_id,
            "weight": sla.weight(channel),
        }
        # Routing hints of the classification rules (team, skills, language).
        if verdict.team:
            conversation_fields["team"] = verdict.team
        if verdict.skills:
            conversation_fields["skills"] = json.dumps(list(verdict.skills))
        if verdict.language:
            conversation_fields["language"] = verdict.language
        if subject := msg.meta.get("subject"):
            conversation_fields["subject"] = str(subject)[:300]
        message_json = json.dumps(message, ensure_ascii=False)
        raw = await self.batch.script(
            self._ingest,
            [
                dedupe_key, identity_key, thread_key, k.contact(the_contact),
                k.conversation(the_conv), k.messages(the_conv),
                k.conversation(new_conv), k.messages(new_conv),
                k.queue(), k.conversations_index(), k.contact_conversations(the_contact),
                k.sla_watch(), k.snoozed(),
            ],
            [
                contact_id or "", new_contact, conv_id or "", new_conv,
                now, self.reopen_window_ms, self.dedupe_ttl,
                message_json,
                json.dumps(contact_fields, ensure_ascii=False),
                json.dumps(conversation_fields, ensure_ascii=False),
                verdict.class_name, sla.rank(verdict.class_name), verdict.rule or "",
                due,
                json.dumps({**msg.meta, "external_id": msg.external_id}, ensure_ascii=False),
                f"{msg.channel_id}:{msg.contact.external_id}",
                next_due, resolution_due, queue_first, queue_next,
            ],
        )  # fmt: skip
        out = decode_flat(raw)
        if out[0] == "retry":
            return None
        if out[0] == "dup":
            return _duplicate(out[1], contact_id or "")
        mode, conversation_id, seq, contact, assignee, offered_to = out
        result = IngestResult(
            conversation_id=conversation_id,
            seq=int(seq),
            duplicate=False,
            new_conversation=mode in ("new", "reopened"),
            contact_id=contact,
        )
        if self.on_ingested is not None:
            try:
                stored = {**json.loads(message_json), "seq": result.seq,
                          "conversation_id": conversation_id}  # fmt: skip
                await self.on_ingested(result, msg, assignee, offered_to, stored)
            except Exception:  # the message is durable; a failed notification is re-synced later
                log.exception("after-ingest notification failed for %s", conversation_id)
        return result


def _duplicate(value: str | bytes, contact_id: str) -> IngestResult:
    text = value.decode() if isinstance(value, bytes) else value
    conv, _, seq = text.rpartition(":")
    return IngestResult(conv, int(seq), True, False, contact_id)
