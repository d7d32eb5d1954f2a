"""PIPL / GDPR requests about one contact: export everything (JSON) and erase.

Erase keeps what reports count (each conversation's status, channel, priority, times, the
number of messages and their directions) and removes what names or describes the person: the
text, attachments (their files too) and meta of every customer message, reply and note of
their conversations, the conversations' reply context, subject, thread and external id, every
identity key and identity, the contact's fields, notes, attributes, claims and timeline, and
the same of contacts merged into it. New messages from the same person start a new contact."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from gateway.contacts.profile import contact_view, identities_of, identity_parts
from gateway.contacts.service import ContactsError
from gateway.conversations import conversation_from_hash
from gateway.keys import Keys
from gateway.media import MediaStore
from gateway.models import now_ms
from gateway.scripts import load_script

log = logging.getLogger(__name__)

REDACTED_DIRECTIONS = ("in", "out", "note")  # event lines ("Assigned to ...") stay
_CONV_PERSONAL = ("reply_context", "subject", "contact_external_id", "thread_key")


class Privacy:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        media: MediaStore | None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.media = media
        self.clock = clock
        self._delete_if = load_script(redis, __file__, "delete_if")

    async def _conversation_ids(self, contact_id: str) -> list[str]:
        return await self.redis.zrange(self.keys.contact_conversations(contact_id), 0, -1)

    async def export(self, contact_id: str) -> dict[str, Any]:
        """Everything stored about one contact: profile (notes, attributes), identities,
        verified claims, timeline, and each conversation with all of its messages."""
        k = self.keys
        row = await self.redis.hgetall(k.contact(contact_id))
        if not row:
            raise ContactsError(404, "not_found", "no such contact")
        conversations = []
        for conversation_id in await self._conversation_ids(contact_id):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(k.conversation(conversation_id))
            pipe.hgetall(k.messages(conversation_id))
            conv, messages = await pipe.execute()
            if not conv:
                continue
            view = conversation_from_hash(conv)
            if conv.get("reply_context"):
                view["reply_context"] = json.loads(conv["reply_context"])
            ordered = sorted(messages.items(), key=lambda item: int(item[0]))
            view["messages"] = [{**json.loads(body), "seq": int(seq)} for seq, body in ordered]
            conversations.append(view)
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(k.contact_claims(contact_id))
        pipe.lrange(k.contact_timeline(contact_id), 0, -1)
        claims, timeline = await pipe.execute()
        profile = contact_view(row)
        return {
            "exported_at": self.clock(),
            "contact": profile,
            "identities": profile["identities"],
            "notes": profile["notes"],
            "attrs": profile["attrs"],
            "claims": sorted(claims),
            "timeline": [json.loads(e) for e in timeline],
            "conversations": conversations,
        }

    async def erase(self, contact_id: str, actor: str) -> dict[str, int]:
        """Erase one contact (not a tombstone: erase the contact it was merged into)."""
        k = self.keys
        row = await self.redis.hgetall(k.contact(contact_id))
        if not row:
            raise ContactsError(404, "not_found", "no such contact")
        if row.get("merged_into"):
            raise ContactsError(
                409, "merged", f"merged into {row['merged_into']}: erase that contact"
            )
        if row.get("erased_at"):
            raise ContactsError(409, "erased", "already erased")
        now = self.clock()
        # Contacts merged into this one (their tombstones keep their own fields for undo).
        merged_from = await self._merged_sources(contact_id)
        identities = identities_of(row.get("identities"))
        conversation_ids = await self._conversation_ids(contact_id)
        # 1. No new message finds this person any more: identities and threads go first.
        pipe = self.redis.pipeline(transaction=True)
        for identity in identities:
            parts = identity_parts(identity)
            pipe.delete(k.contact_identity(parts["channel_id"], parts["external_id"]))
        for conversation_id in conversation_ids:
            pipe.hmget(k.conversation(conversation_id), ["channel_id", "thread_key"])
        answers = await pipe.execute()
        threads = answers[len(identities) :]
        threads_of = [
            (k.thread(channel, thread_key), conversation_id)
            for conversation_id, (channel, thread_key) in zip(
                conversation_ids, threads, strict=True
            )
            if channel and thread_key
        ]
        if threads_of:  # one script call (a cluster pipeline would not load it first)
            names, owners = zip(*threads_of, strict=True)
            await self._delete_if(keys=list(names), args=list(owners))
        # 2. Each conversation: messages redacted, personal fields gone, re-indexed now.
        messages = files = 0
        for conversation_id in conversation_ids:
            redacted, removed = await self._redact(conversation_id, now)
            messages += redacted
            files += removed
        # 3. The contact, its claims and timeline, and the tombstones merged into it.
        await self._scrub_merge_records(contact_id)
        for one in [contact_id, *merged_from]:
            await self._clear_contact(one, now, actor)
        return {
            "conversations": len(conversation_ids),
            "messages": messages,
            "identities": len(identities),
            "files": files,
            "merged_contacts": len(merged_from),
        }

    async def _merged_sources(self, contact_id: str) -> list[str]:
        out = []
        for entry in await self.redis.lrange(self.keys.contact_timeline(contact_id), 0, -1):
            event = json.loads(entry)
            if event.get("type") == "merge" and event.get("target") == contact_id:
                source = event.get("source")
                into = await self.redis.hget(self.keys.contact(source), "merged_into")
                if into == contact_id and source not in out:
                    out.append(source)
        return out

    async def _scrub_merge_records(self, contact_id: str) -> None:
        for entry in await self.redis.lrange(self.keys.contact_timeline(contact_id), 0, -1):
            merge_id = json.loads(entry).get("merge_id")
            if merge_id:
                await self.redis.hdel(self.keys.contact_merge(merge_id), "identities", "changes")

    async def _redact(self, conversation_id: str, now: int) -> tuple[int, int]:
        k = self.keys
        bodies = await self.redis.hgetall(k.messages(conversation_id))
        rewritten: dict[str, str] = {}
        urls: list[str] = []
        for seq, body in bodies.items():
            message = json.loads(body)
            if message.get("direction") not in REDACTED_DIRECTIONS:
                continue
            urls += [a.get("url") or "" for a in message.get("attachments") or []]
            customer = message.get("direction") == "in"
            rewritten[seq] = json.dumps(
                {
                    "direction": message.get("direction"),
                    "text": "",
                    "author_id": message.get("author_id"),
                    "author_name": None if customer else message.get("author_name"),
                    "attachments": [],
                    "created_at": message.get("created_at"),
                    "meta": {},
                    "redacted": True,
                }
            )
        pipe = self.redis.pipeline(transaction=True)
        if rewritten:
            pipe.hset(k.messages(conversation_id), mapping=rewritten)
        pipe.hdel(k.conversation(conversation_id), *_CONV_PERSONAL)
        pipe.hset(k.conversation(conversation_id), mapping={"erased_at": now})
        pipe.zadd(k.conversations_index(), {conversation_id: now}, xx=True)
        await pipe.execute()
        return len(rewritten), await self._remove_files(urls)

    async def _remove_files(self, urls: list[str]) -> int:
        if self.media is None:
            return 0
        removed = 0
        for url in urls:
            path = self.media.file_of_url(url)
            if path is None:
                continue
            try:
                await asyncio.to_thread(path.unlink)
                removed += 1
            except OSError as exc:
                log.warning("erase: could not remove %s: %r", path, exc)
        return removed

    async def _clear_contact(self, contact_id: str, now: int, actor: str) -> None:
        k = self.keys
        row = await self.redis.hmget(k.contact(contact_id), ["created_at", "merged_into"])
        claims = await self.redis.smembers(k.contact_claims(contact_id))
        pipe = self.redis.pipeline(transaction=True)
        for claim in claims:
            pipe.srem(k.claim_contacts(claim), contact_id)
        pipe.delete(k.contact_claims(contact_id), k.contact_timeline(contact_id))
        pipe.delete(k.contact(contact_id))
        kept = {"id": contact_id, "created_at": row[0] or now, "erased_at": now}
        if row[1]:
            kept["merged_into"] = row[1]
        pipe.hset(k.contact(contact_id), mapping=kept)
        entry = {"type": "erase", "at": now, "actor": actor}
        pipe.lpush(k.contact_timeline(contact_id), json.dumps(entry))
        pipe.zadd(k.contacts_changed(), {contact_id: now})
        await pipe.execute()
        for claim in claims:
            if await self.redis.scard(k.claim_contacts(claim)) < 2:
                await self.redis.zrem(k.shared_claims(), claim)
