"""Keeping this process's indexes in step with Redis, the one store of record.

Two change feeds, both sorted sets already written by the code that changes the records, so
the message hot path writes nothing more:

- ``convs:by_activity`` (conversation -> last activity ms): every poll reads the entries
  scored from ``OVERLAP_MS`` before the highest score seen (a script whose clock read an
  earlier ms may commit after a later one; hosts' clocks differ a little) and compares each
  score with the one indexed. A moved score with a higher ``last_seq``: the new messages are
  added; a moved score with the same ``last_seq`` (a redaction, or another bump): the
  conversation is indexed again from its whole log. Entries of the last second whose score did
  not move are checked by ``last_seq`` too (two messages in one millisecond).
- ``contacts:changed`` (contact -> ms of an edit, merge, undo or erasure): the contact is read
  again, and so is every conversation of an erased or merged contact (their text was
  redacted or they changed hands). A contact is also read again whenever one of its
  conversations moves (the inbox fills in a name or email it learns).

The first poll is the rebuild: the whole of both feeds, in chunks; then the fold cache, which
holds its last message texts, is cleared."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.search.documents import contact_terms, contact_texts, fingerprint, message_terms
from gateway.search.index import DocIndex
from gateway.textsearch import Analyzer, fold
from gateway.textsearch.postings import map_large_blocks

OVERLAP_MS = 5_000
RECHECK_MS = 1_000
# Records per pipeline: a rebuild's temporaries stay small (500 left ~50% more RSS behind).
CHUNK = 100
T = TypeVar("T")
_CONV_FIELDS = ("last_seq", "channel_id", "channel_type", "contact_id")


@dataclass
class FeedState:
    conv_high: float = 0.0  # highest activity score seen
    contact_high: float = 0.0
    rebuilt: bool = False
    contact_scores: dict[str, float] = field(default_factory=dict)  # contacts:changed read
    # contacts to read again -> the latest activity of their conversations seen (ms)
    stale_contacts: dict[str, float] = field(default_factory=dict)


class Indexer:
    def __init__(self, redis: Redis, keys: Keys, analyzer: Analyzer | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.analyzer = analyzer or Analyzer()
        self.conversations = DocIndex()
        self.contacts = DocIndex()
        self.state = FeedState()
        self._lock = asyncio.Lock()
        # One worker thread for analysis and compaction: one more OpenCC converter and one
        # more malloc arena, not one per thread of the default executor.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="search-index")
        map_large_blocks()  # a rebuild's large temporaries leave nothing resident

    async def off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    # --- the polls ---------------------------------------------------------------------------
    async def poll(self) -> None:
        """One round of both feeds (the first is the full rebuild)."""
        async with self._lock:
            first = not self.state.rebuilt
            await self._poll_conversations()
            await self._poll_contacts()
            self.state.rebuilt = True
        if first:  # its last 4,096 message texts, scattered over the allocator's arenas
            fold.cache_clear()
        await self.conversations.maybe_compact(self.off_loop, force=first)
        await self.contacts.maybe_compact(self.off_loop, force=first)

    async def _poll_conversations(self) -> None:
        index, state = self.conversations, self.state
        low = state.conv_high - OVERLAP_MS if state.rebuilt else "-inf"
        rows = await self.redis.zrangebyscore(
            self.keys.conversations_index(), low, "+inf", withscores=True
        )
        moved: list[tuple[str, float]] = []
        recheck: list[tuple[str, float]] = []
        for conv_id, score in rows:
            doc = index.get(conv_id)
            if doc is None or index.activity[doc] != int(score):
                moved.append((conv_id, score))
            elif score >= state.conv_high - RECHECK_MS:
                recheck.append((conv_id, score))
            state.conv_high = max(state.conv_high, score)
        for start in range(0, len(moved), CHUNK):
            await self._conversations(moved[start : start + CHUNK], moved=True)
        for start in range(0, len(recheck), CHUNK):
            await self._conversations(recheck[start : start + CHUNK], moved=False)

    async def _conversations(self, batch: list[tuple[str, float]], *, moved: bool) -> None:
        """Read these conversations' facts, then the messages each needs (all, or the new)."""
        pipe = self.redis.pipeline(transaction=False)
        for conv_id, _ in batch:
            pipe.hmget(self.keys.conversation(conv_id), list(_CONV_FIELDS))
        facts = await pipe.execute()
        index = self.conversations
        plan: list[tuple[str, float, list[str | None], int]] = []  # id, score, facts, from seq
        for (conv_id, score), row in zip(batch, facts, strict=True):
            last = int(row[0] or 0)
            doc = index.get(conv_id)
            if doc is None or (moved and last <= index.seq[doc]):
                plan.append((conv_id, score, row, 1))  # new, or its log changed: all of it
            elif last > index.seq[doc]:
                plan.append((conv_id, score, row, index.seq[doc] + 1))
            else:
                index.activity[doc] = int(score)
            if row[3]:
                stale = self.state.stale_contacts
                stale[row[3]] = max(stale.get(row[3], 0.0), score)
        if not plan:
            return
        pipe = self.redis.pipeline(transaction=False)
        for conv_id, _, row, first in plan:
            last = int(row[0] or 0)
            if first == 1:
                pipe.hgetall(self.keys.messages(conv_id))
            else:
                pipe.hmget(self.keys.messages(conv_id), [str(s) for s in range(first, last + 1)])
        logs = await pipe.execute()
        work = [
            (list(log.values()) if isinstance(log, dict) else log, step)
            for log, step in zip(logs, plan, strict=True)
        ]
        terms = await self._terms([raws for raws, _ in work])
        for (_, (conv_id, score, row, first)), found in zip(work, terms, strict=True):
            last = int(row[0] or 0)
            doc = index.get(conv_id)
            if first == 1 or doc is None:
                doc = index.new_doc(conv_id, int(score), row[1] or "", row[2] or "")
            index.activity[doc] = int(score)
            index.seq[doc] = last
            index.add_terms(doc, found)

    async def _terms(self, logs: list[list[str | None]]) -> list[set[str]]:
        """Messages -> terms; a large batch off the event loop."""
        size = sum(len(log) for log in logs)
        analyze = self.analyzer

        def run() -> list[set[str]]:
            return [message_terms(analyze, log) for log in logs]

        return await self.off_loop(run) if size > 50 else run()

    async def _poll_contacts(self) -> None:
        state = self.state
        low = state.contact_high - OVERLAP_MS if state.rebuilt else "-inf"
        rows = await self.redis.zrangebyscore(
            self.keys.contacts_changed(), low, "+inf", withscores=True
        )
        changed: list[str] = []
        for contact_id, score in rows:
            if state.contact_scores.get(contact_id) != score:
                changed.append(contact_id)
                state.contact_scores[contact_id] = score
            state.contact_high = max(state.contact_high, score)
        if changed and state.rebuilt:
            await self._reindex_conversations_of(changed)
        scores = {**dict(rows), **state.stale_contacts}
        ids = list(dict.fromkeys([*changed, *state.stale_contacts]))
        state.stale_contacts = {}
        for start in range(0, len(ids), CHUNK):
            await self._contacts(ids[start : start + CHUNK], scores)

    async def _contacts(self, ids: list[str], scores: dict[str, float]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in ids:
            pipe.hgetall(self.keys.contact(contact_id))
        rows = await pipe.execute()
        index = self.contacts
        for contact_id, row in zip(ids, rows, strict=True):
            texts = contact_texts(row) if row else []
            doc = index.get(contact_id)
            score = int(max(scores.get(contact_id, 0), index.activity[doc] if doc else 0))
            if not texts:
                index.drop(contact_id)
                continue
            mark = fingerprint(texts)
            if doc is not None and index.print[doc] == mark:
                index.activity[doc] = score
                continue
            doc = index.new_doc(contact_id, score)
            index.print[doc] = mark
            index.add_terms(doc, contact_terms(self.analyzer, texts))

    async def _reindex_conversations_of(self, contact_ids: Iterable[str]) -> None:
        """Erasure and merges redact or move conversations: index them again from their log."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.zrange(self.keys.contact_conversations(contact_id), 0, -1, withscores=True)
        batch: list[tuple[str, float]] = []
        for rows in await pipe.execute():
            batch.extend(rows)
        if not batch:
            return
        for conv_id, _ in batch:
            self.conversations.drop(conv_id)  # read whole on the next lines
        known = await self.redis.zmscore(self.keys.conversations_index(), [c for c, _ in batch])
        batch = [(c, s) for (c, _), s in zip(batch, known or [], strict=False) if s is not None]
        for start in range(0, len(batch), CHUNK):
            await self._conversations(batch[start : start + CHUNK], moved=True)
