"""Keeping this process's indexes in step with Redis, the one store of record.

Messages come in through the events this process already receives (gateway/search/live.py):
each ``message.created`` adds its text to its conversation and records the conversation's
``last_seq`` and score, so the next poll finds the score unchanged and reads nothing. The
events of one loop turn are applied together (a large batch analysed in the worker thread).

Two change feeds, sorted sets already written by the code that changes the records, are the
safety net (an event lost, missed before subscribing, or out of order) and the rest:

- ``convs:by_activity`` (conversation -> last activity ms): every poll reads the entries
  scored from ``OVERLAP_MS`` before the highest score seen (a script whose clock read an
  earlier ms may commit after a later one; hosts' clocks differ a little) and compares each
  score with the one indexed. A moved score with a higher ``last_seq``: the new messages are
  read and added; a moved score with the same ``last_seq`` (a redaction, or another bump): the
  conversation is indexed again from its whole log. A moved score is read only once it has
  stayed moved for ``GRACE_SECONDS`` (its event usually comes first). Conversations the poll
  itself read in the last second are checked by ``last_seq`` again while their score stays
  (two messages in one millisecond); those the events brought are not (their events carry
  every seq), except after the events subscription came back (``missed_events``): then the
  next poll checks every conversation of its window.
- ``contacts:changed`` (contact -> ms of an edit, merge, undo, erasure, or a name, email or
  phone the inbox learned from a message: gateway/lua/ingest.lua): the contact is read again,
  and so is every conversation of an erased or merged contact (their text was redacted or
  they changed hands).

A contact is read when its first conversation is indexed and when ``contacts:changed`` names
it, never because one of its conversations moved: a move only raises the contact's activity
(its document is the conversation's ``owner``).

The first poll is the rebuild: the whole of both feeds, in chunks; then the fold cache, which
holds its last message texts, is cleared."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.search.documents import (
    contact_terms,
    contact_texts,
    fingerprint,
    message_terms,
    text_terms,
)
from gateway.search.index import DocIndex
from gateway.search.live import MessageEvent, continuing, message_event
from gateway.textsearch import Analyzer, fold
from gateway.textsearch.postings import map_large_blocks
from gateway.turns import SLICE_SECONDS, Turns

log = logging.getLogger(__name__)

OVERLAP_MS = 5_000
RECHECK_MS = 1_000
# Records per pipeline: a rebuild's temporaries stay small (500 left ~50% more RSS behind).
CHUNK = 100
# Messages analysed on the event loop; a larger batch goes to the worker thread.
ON_LOOP = 50
# A moved conversation is read once it has stayed moved this long: its event is usually on
# its way (a process publishes after the write, and after a step or two of its request).
GRACE_SECONDS = 1.0
T = TypeVar("T")
_CONV_FIELDS = ("last_seq", "channel_id", "channel_type", "contact_id")


@dataclass
class FeedState:
    conv_high: float = 0.0  # highest activity score seen
    contact_high: float = 0.0
    rebuilt: bool = False
    contact_scores: dict[str, float] = field(default_factory=dict)  # contacts:changed read
    # conversations the poll read in the last RECHECK_MS -> their score (checked again)
    read: dict[str, float] = field(default_factory=dict)
    # contacts first seen in an event, read by the next poll -> their latest activity (ms)
    new_contacts: dict[str, float] = field(default_factory=dict)
    # conversation -> its contact, for those whose contact is in ``new_contacts``
    orphans: dict[str, str] = field(default_factory=dict)
    # moved conversations not read yet -> when a poll first saw them moved (monotonic s)
    suspects: dict[str, float] = field(default_factory=dict)
    recheck_all: bool = False  # events may have been missed: the next poll checks the window


class Indexer:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        analyzer: Analyzer | None = None,
        *,
        grace_seconds: float = GRACE_SECONDS,
        turn_seconds: float = SLICE_SECONDS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.analyzer = analyzer or Analyzer()
        self.grace_seconds = grace_seconds
        # Longest stretch of indexing on the event loop before the rest of the process gets
        # a turn (gateway/turns.py): requests must not wait behind a poll.
        self.turn_seconds = turn_seconds
        self.conversations = DocIndex()
        self.contacts = DocIndex()
        self.state = FeedState()
        self._lock = asyncio.Lock()
        self._received: list[MessageEvent] = []
        self._applying: asyncio.Task[None] | None = None
        # One worker thread for analysis and compaction: one more OpenCC converter and one
        # more malloc arena, not one per thread of the default executor.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="search-index")
        map_large_blocks()  # a rebuild's large temporaries leave nothing resident

    async def off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work)

    def close(self) -> None:
        if self._applying is not None:
            self._applying.cancel()
        self._worker.shutdown(wait=False, cancel_futures=True)

    # --- the events --------------------------------------------------------------------------
    def receive(self, event: dict[str, Any]) -> None:
        """An event of this process's bus: a message's is applied with the others received in
        the same loop turn (one task, after the bus's dispatcher has handed them all over)."""
        message = message_event(event)
        if message is None:
            return
        self._received.append(message)
        if self._applying is None or self._applying.done():
            self._applying = asyncio.get_running_loop().create_task(
                self._apply_received(), name="search-events"
            )

    async def _apply_received(self) -> None:
        try:
            while self._received:  # more may come while a batch is analysed
                async with self._lock:
                    await self._apply_events()
        except asyncio.CancelledError:
            raise
        except Exception:  # the poll reads whatever was not applied (its score moved)
            log.exception("search index: applying message events failed")

    async def _apply_events(self) -> None:
        """The messages received, added to their conversations (under the lock). Before the
        rebuild there is nothing to continue: the rebuild reads them."""
        events, self._received = self._received, []
        if not events or not self.state.rebuilt:
            return
        runs = continuing(self.conversations, events)
        if not runs:
            return
        terms = await self._terms([[e.text for e in run] for _, run in runs], raw=False)
        index = self.conversations
        turns = Turns(self.turn_seconds)
        # The documents continuing() found stay valid: only code under the lock adds or drops
        # documents (a compaction forgets dropped ones only).
        for (doc, run), found in zip(runs, terms, strict=True):
            await turns.share()
            first, last = run[0], run[-1]
            if doc is None:
                doc = index.new_doc(first.conversation_id, last.at, first.channel_id,
                                    first.channel_type)  # fmt: skip
            index.add_terms(doc, found)
            index.seq[doc] = last.seq
            index.activity[doc] = last.at
            self.state.read.pop(first.conversation_id, None)
            contact = next((e.contact_id for e in run if e.contact_id), "")
            self._touch_contact(doc, contact, last.at)

    def _touch_contact(self, doc: int, contact_id: str, at: float) -> int | None:
        """A conversation moved: its contact's activity rises (nothing read). A contact the
        index does not hold yet is left for the next poll to read."""
        contacts, conversations = self.contacts, self.conversations
        owner = contacts.get(contact_id) if contact_id else None
        if owner is None:
            owner = contacts.current(conversations.owner[doc])
        if owner is None:
            if contact_id:
                waiting = self.state.new_contacts
                waiting[contact_id] = max(waiting.get(contact_id, 0.0), at)
                self.state.orphans[conversations.ids[doc]] = contact_id
            return None
        conversations.owner[doc] = owner
        contacts.activity[owner] = max(contacts.activity[owner], int(at))
        return owner

    def missed_events(self) -> None:
        """The events subscription was down: a message written then in the same millisecond
        as the one before it did not move its score, so the next poll checks every
        conversation of its window by ``last_seq``."""
        self.state.recheck_all = True

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
        await self._apply_events()  # those received meanwhile need no read
        moved: list[tuple[str, float]] = []
        recheck: list[tuple[str, float]] = []
        now = time.monotonic()
        suspects, state.suspects = state.suspects, {}
        everything, state.recheck_all = state.recheck_all and state.rebuilt, False
        # The window holds every conversation of the last seconds: hundreds when busy.
        turns = Turns(self.turn_seconds)
        for conv_id, score in rows:
            await turns.share()
            doc = index.get(conv_id)
            if doc is None or index.activity[doc] != int(score):
                since = suspects.get(conv_id, now)
                if state.rebuilt and now - since < self.grace_seconds:
                    state.suspects[conv_id] = since  # its event may be on its way
                else:
                    moved.append((conv_id, score))
            elif everything or (conv_id in state.read and score >= state.conv_high - RECHECK_MS):
                recheck.append((conv_id, score))
            state.conv_high = max(state.conv_high, score)
        horizon = state.conv_high - RECHECK_MS
        state.read = {c: s for c, s in state.read.items() if s >= horizon}
        for start in range(0, len(moved), CHUNK):
            await self._conversations(moved[start : start + CHUNK], moved=True)
        for start in range(0, len(recheck), CHUNK):
            await self._conversations(recheck[start : start + CHUNK], moved=False)

    async def _conversations(self, batch: list[tuple[str, float]], *, moved: bool) -> None:
        """Read these conversations' facts, then the messages each needs (all, or the new),
        and the contacts the index does not hold yet."""
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
                self._touch_contact(doc, row[3] or "", score)
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
        recent = self.state.conv_high - RECHECK_MS
        unknown: dict[str, float] = {}  # contacts to read now -> activity
        turns = Turns(self.turn_seconds)
        for (_, (conv_id, score, row, first)), found in zip(work, terms, strict=True):
            await turns.share()
            last = int(row[0] or 0)
            doc = index.get(conv_id)
            if first == 1 or doc is None:
                doc = index.new_doc(conv_id, int(score), row[1] or "", row[2] or "")
            index.activity[doc] = int(score)
            index.seq[doc] = last
            index.add_terms(doc, found)
            if score >= recent:
                self.state.read[conv_id] = score
            contact_id = row[3] or ""
            if contact_id and self._touch_contact(doc, contact_id, score) is None:
                unknown[contact_id] = max(unknown.get(contact_id, 0.0), score)
        if unknown:
            await self._contacts(list(unknown), unknown)
            self._adopt_orphans(unknown)

    def _adopt_orphans(self, read: Iterable[str]) -> None:
        """Conversations whose contact was just read get it as their owner."""
        done = set(read)
        for conv_id, contact_id in list(self.state.orphans.items()):
            if contact_id not in done:
                continue
            del self.state.orphans[conv_id]
            self.state.new_contacts.pop(contact_id, None)
            doc, owner = self.conversations.get(conv_id), self.contacts.get(contact_id)
            if doc is not None and owner is not None:
                self.conversations.owner[doc] = owner

    async def _terms(self, groups: list[list[str | None]], *, raw: bool = True) -> list[set[str]]:
        """Messages (stored JSON, or their texts) -> terms; a large batch off the event loop."""
        size = sum(len(group) for group in groups)
        analyzer = self.analyzer
        terms_of = message_terms if raw else text_terms

        def run() -> list[set[str]]:
            return [terms_of(analyzer, group) for group in groups]  # type: ignore[arg-type]

        if size > ON_LOOP:
            return await self.off_loop(run)
        found: list[set[str]] = []
        turns = Turns(self.turn_seconds)
        for group in groups:
            await turns.share()
            found.append(terms_of(analyzer, group))  # type: ignore[arg-type]
        return found

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
        waiting = dict(state.new_contacts)
        scores = {**dict(rows), **waiting}
        ids = list(dict.fromkeys([*changed, *waiting]))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            await self._contacts(chunk, scores)
            self._adopt_orphans(chunk)
            for contact_id in chunk:
                state.new_contacts.pop(contact_id, None)

    async def _contacts(self, ids: list[str], scores: dict[str, float]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in ids:
            pipe.hgetall(self.keys.contact(contact_id))
        rows = await pipe.execute()
        index = self.contacts
        turns = Turns(self.turn_seconds)
        for contact_id, row in zip(ids, rows, strict=True):
            await turns.share()
            texts = contact_texts(row) if row else []
            doc = index.get(contact_id)
            before = index.activity[doc] if doc is not None else 0
            score = int(max(scores.get(contact_id, 0), before))
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
