"""One process's index of one kind of record (conversations or contacts): record id ->
document number (idtable.py), per-document facts (activity time, channel, indexed seq,
fingerprint), and the postings of their terms (gateway/textsearch/postings.py).

A record is re-indexed under a new document number and the old number dropped, so postings
never change in place; new text of a record (a conversation's new messages) is added to its
current document. ``match`` answers the live documents holding every term, newest first."""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

import numpy as np

from gateway.search.idtable import IdTable
from gateway.textsearch.postings import Postings, release_free_memory

COMPACT_AT = 400_000  # delta pairs that trigger a compaction


class DocIndex:
    def __init__(self) -> None:
        self.postings = Postings()
        self.ids = IdTable()  # record id <-> document number
        self.activity = array("q")  # ms; the change feed's score when last read
        self.channel = array("h")  # code of the channel id (see ``channel_code``)
        self.kind = array("h")  # code of the channel type
        self.seq = array("i")  # the last message seq indexed (conversations)
        self.print = array("q")  # fingerprint of the indexed text (contacts)
        # Conversations: their contact's document in the contacts index when last seen (-1:
        # none); follow it with ``current`` of that index.
        self.owner = array("i")
        self.successor = array("i")  # the document that replaced this one (-1: none)
        self.alive = bytearray()
        self._channels: dict[str, int] = {}
        self._compacting = False
        self._dropped: list[int] = []  # since the last compaction: their ids are forgotten then

    def __len__(self) -> int:
        return self.ids.live

    def channel_code(self, name: str, create: bool = True) -> int:
        code = self._channels.get(name)
        if code is None:
            if not create:
                return -1
            code = self._channels[name] = len(self._channels)
        return code

    def get(self, record_id: str) -> int | None:
        return self.ids.get(record_id)

    def new_doc(self, record_id: str, activity: int, channel: str = "", kind: str = "") -> int:
        """A fresh document for ``record_id`` (its former one, if any, dropped)."""
        doc, old = self.ids.add(record_id)
        if old is not None:
            self.alive[old] = 0
            self._dropped.append(old)
            self.successor[old] = doc
        self.activity.append(int(activity))
        self.channel.append(self.channel_code(channel))
        self.kind.append(self.channel_code(kind))
        self.seq.append(0)
        self.print.append(0)
        self.owner.append(-1)
        self.successor.append(-1)
        self.alive.append(1)
        return doc

    def current(self, doc: int) -> int | None:
        """The live document that ``doc`` became (itself, or the one that replaced it), if
        any: a record indexed again gets a new number (postings never change in place)."""
        if doc < 0:
            return None
        start = doc
        while self.successor[doc] >= 0:
            doc = self.successor[doc]
        if doc != start:
            self.successor[start] = doc  # the next lookup takes one step
        return doc if self.alive[doc] else None

    def drop(self, record_id: str) -> None:
        doc = self.ids.remove(record_id)
        if doc is not None:
            self.alive[doc] = 0
            self._dropped.append(doc)

    def add_terms(self, doc: int, terms: Iterable[str]) -> None:
        self.postings.add(doc, terms)

    def match(
        self,
        terms: list[str],
        *,
        channels: list[int] | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> np.ndarray:
        """Live documents holding every term (within the filters), newest activity first."""
        if not terms:
            return np.zeros(0, np.int32)
        found: np.ndarray | None = None
        for term in sorted(terms, key=len, reverse=True):
            docs = self.postings.docs(term)
            found = docs if found is None else np.intersect1d(found, docs, assume_unique=True)
            if not len(found):
                return found
        assert found is not None
        alive = np.frombuffer(self.alive, dtype=np.uint8)
        found = found[alive[found] == 1]
        activity = np.frombuffer(self.activity, dtype=np.int64)[found]
        keep = np.ones(len(found), dtype=bool)
        if channels is not None:  # by channel id or by channel type
            by_id = np.isin(np.frombuffer(self.channel, dtype=np.int16)[found], channels)
            by_kind = np.isin(np.frombuffer(self.kind, dtype=np.int16)[found], channels)
            keep &= by_id | by_kind
        if since is not None:
            keep &= activity >= since
        if until is not None:
            keep &= activity <= until
        found, activity = found[keep], activity[keep]
        return found[np.argsort(-activity, kind="stable")]

    async def maybe_compact(
        self, off_loop: Callable[[Callable[[], Any]], Awaitable[Any]], force: bool = False
    ) -> None:
        """Fold the delta into the base once it is large, or now (numpy, in a thread)."""
        if self._compacting or not self.postings.pending:
            return
        if self.postings.pending < COMPACT_AT and not force:
            return
        self._compacting = True
        try:
            base, keys, docs = self.postings.snapshot()
            alive = np.frombuffer(bytes(self.alive), dtype=np.uint8).astype(bool)
            new = await off_loop(partial(Postings.compact, base, keys, docs, alive))
            folded = len(keys)
            del base, keys, docs, alive
            self.postings.swap(new, folded)
            del new
            self._forget_dropped()
            release_free_memory()
        finally:
            self._compacting = False

    def compact_now(self) -> None:
        if not self.postings.pending:
            return
        base, keys, docs = self.postings.snapshot()
        alive = np.frombuffer(bytes(self.alive), dtype=np.uint8).astype(bool)
        self.postings.swap(Postings.compact(base, keys, docs, alive), len(keys))
        del base, keys, docs, alive
        self._forget_dropped()
        release_free_memory()

    def _forget_dropped(self) -> None:
        """Dropped documents keep their number (postings never move) but not their id."""
        self.ids.forget(doc for doc in self._dropped if not self.alive[doc])
        self._dropped = []

    def nbytes(self) -> int:
        """Memory held (postings, per-document arrays, the id maps), approximately."""
        arrays = sum(
            a.buffer_info()[1] * a.itemsize
            for a in (
                self.activity,
                self.channel,
                self.kind,
                self.seq,
                self.print,
                self.owner,
                self.successor,
            )
        )
        return self.postings.nbytes + arrays + len(self.alive) + self.ids.nbytes
