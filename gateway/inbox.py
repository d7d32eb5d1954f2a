"""The inbox: files each normalized inbound message into a contact's conversation, once."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from adapters.base import IngestResult
from gateway.batching import CommandBatcher
from gateway.classify import Classifier, Variants
from gateway.events import Encoded
from gateway.ids import new_id
from gateway.ingest_args import VerdictArgs, pack
from gateway.keys import Keys
from gateway.models import Direction, InboundMessage, now_ms
from gateway.scripts import decode_flat, load_script
from router.policy_source import PolicySource
from router.sla import SlaPolicy

log = logging.getLogger(__name__)

# Called after each new (non-duplicate) message: result, the conversation's assignee / offeree,
# and the message as stored (with seq and conversation_id), so nobody has to read it back.
OnIngested = Callable[[IngestResult, InboundMessage, str, str, dict[str, Any]], Awaitable[None]]


# Where an id goes in the key templates passed to ingest.lua (ids never contain it).
ID = "\x01"
# Stands for the author's id in the log's JSON until the script writes it in.
AUTHOR = "\x02"
_AUTHOR_JSON = json.dumps(AUTHOR)
_AUTHOR_AT = '"author_id": ' + _AUTHOR_JSON


def classified_text(msg: InboundMessage) -> str:
    """What the priority rules read: the text, after the subject when the channel has one (an
    e-mail titled "投诉：电暖器起火了" whose body only says "照片见附件" is urgent)."""
    subject = msg.meta.get("subject")
    if isinstance(subject, str) and subject.strip():
        return f"{subject.strip()[:300]}\n{msg.text}"
    return msg.text


class IngestConflict(RuntimeError):
    """The script kept asking for a classification (should not happen in practice)."""


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
        # Keys of ids the script reads (the identity's contact, the thread's conversation).
        # What is the same for every message is made and encoded once (redis-py encodes each
        # argument of each call).
        self._templates = [
            t.encode()
            for t in (keys.contact(ID), keys.contact_conversations(ID), keys.conversation(ID),
                      keys.messages(ID))
        ]  # fmt: skip
        self._shared_keys = [
            keys.queue().encode(), keys.conversations_index().encode(),
            keys.sla_watch().encode(), keys.snoozed().encode(),
            keys.contacts_changed().encode(),
        ]  # fmt: skip
        # Concurrent messages share pipelines: see gateway/batching.py.
        self.batch = batch or CommandBatcher(redis)
        self._verdict_args = VerdictArgs()  # packed once per SLA policy and variants

    async def ingest(self, msg: InboundMessage) -> IngestResult:
        """Files ``msg`` in one script call: it reads the identity, thread, contact and
        conversation, picks the verdict among those classified here for every stored tier and
        complaint count that matters, and writes everything."""
        k = self.keys
        policies = await self.policies.current()
        sla, classifier = policies.sla, policies.classifier
        now = self.clock()
        channel = msg.channel_type.value
        variants = classifier.variants(
            classified_text(msg), msg.contact.tier or None, msg.meta, channel
        )
        window = classifier.repeat_window_ms if variants.thresholds else 0
        new_contact, new_conv = new_id("ct"), new_id("cv")
        message = {
            "direction": Direction.IN.value,
            "text": msg.text,
            "author_id": "",  # the contact: new, or the one the identity names (the script's)
            "author_name": msg.contact.name,
            "attachments": [a.model_dump(exclude_none=True) for a in msg.attachments],
            "external_id": msg.external_id,
            "created_at": now,
            "meta": {**msg.meta, "sent_at": msg.sent_at},
        }
        # The log's JSON, split where the script puts the author's id (ids need no escaping):
        # json.dumps(message) once, cut at the author's id. Its first occurrence is ours: it
        # comes before every field a customer wrote, and in a string value a quote is escaped.
        message["author_id"] = AUTHOR
        json_head, cut, json_tail = json.dumps(message, ensure_ascii=False).partition(_AUTHOR_AT)
        json_head += cut[: -len(_AUTHOR_JSON) + 1]
        json_tail = '"' + json_tail
        contact_fields = [
            (name, value)
            for name, value in (
                ("name", msg.contact.name), ("email", msg.contact.email),
                ("phone", msg.contact.phone), ("tier", msg.contact.tier),
            )
            if value
        ]  # fmt: skip
        conversation_fields = [
            ("channel_id", msg.channel_id),
            ("channel_type", channel),
            ("thread_key", msg.thread_key),
            ("contact_external_id", msg.contact.external_id),
            ("weight", _number(sla.weight(channel))),
        ]
        if subject := msg.meta.get("subject"):
            conversation_fields.append(("subject", str(subject)[:300]))
        keys: list[str | bytes] = [
            k.dedupe(msg.channel_id, msg.external_id),
            k.contact_identity(msg.channel_id, msg.contact.external_id),
            k.thread(msg.channel_id, msg.thread_key),
            k.contact(new_contact), k.contact_conversations(new_contact),
            k.conversation(new_conv), k.messages(new_conv), *self._shared_keys,
        ]  # fmt: skip
        reply_context = json.dumps({**msg.meta, "external_id": msg.external_id}, ensure_ascii=False)
        identity = f"{msg.channel_id}:{msg.contact.external_id}"
        for _ in range(2):
            lists, *verdicts = self._verdict_args.args(variants, sla, channel, now)
            raw = await self.batch.script(
                self._ingest,
                keys,
                [
                    new_contact, new_conv, now, self.reopen_window_ms, self.dedupe_ttl,
                    json_head, json_tail, reply_context, identity, *self._templates, window,
                    lists, pack(_flat(contact_fields)), pack(_flat(conversation_fields)),
                    *verdicts,
                ],
            )  # fmt: skip
            out = decode_flat(raw)
            if out[0] == "dup":
                return _duplicate(out[1], out[2])
            if out[0] != "facts":
                break
            # A stored tier Lua cannot lowercase: classify here with the facts the script read.
            verdict = variants.pick(out[1] or None, int(out[2]))
            variants = Variants((), (), (verdict,))
        else:
            raise IngestConflict(f"ingest of {msg.channel_id}/{msg.external_id} kept asking")
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
                message["author_id"] = contact
                stored = Encoded(
                    {**message, "seq": result.seq, "conversation_id": conversation_id},
                    # json.dumps(stored), from the log's text (ids need no escaping)
                    f'{json_head}{contact}{json_tail[:-1]}, "seq": {result.seq}, '
                    f'"conversation_id": "{conversation_id}"}}',
                )
                await self.on_ingested(result, msg, assignee, offered_to, stored)
            except Exception:  # the message is durable; a failed notification is re-synced later
                log.exception("after-ingest notification failed for %s", conversation_id)
        return result


def _flat(pairs: list[tuple[str, Any]]) -> list[Any]:
    return [x for pair in pairs for x in pair]


def _number(value: float) -> str:
    """A number as Redis 6 writes a Lua number (%.17g): 1.0 -> "1"."""
    return format(float(value), ".17g")


def _duplicate(value: str | bytes, contact_id: str) -> IngestResult:
    text = value.decode() if isinstance(value, bytes) else value
    conv, _, seq = text.rpartition(":")
    return IngestResult(conv, int(seq), True, False, contact_id)
