"""Record id <-> document number for one index, without a Python object per record.

A dict of id strings to document numbers costs about 150 bytes a record (the string, an int
object, the dict's entry, the list's slot), allocated among a rebuild's temporaries, where they
keep the allocator's arenas resident. Here the ids are one UTF-8 blob with an end offset per
document, and the lookup is an open-addressing table (linear probing) of document numbers keyed
by the id's ``hash()``, stable within the process (the index never leaves it): about 40 bytes a
record, all in a few growing buffers.

A slot holds ``doc + 1`` while the id's document is current and ``-(doc + 1)`` once it was
dropped (kept for probing; the id's next document takes the same slot). ``forget`` erases the
ids of dropped documents from the blob; their slots then match no id and are cleared when the
table is next rebuilt."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

_MIN_SLOTS = 1024


class IdTable:
    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("q")  # per document: where its id ends in the blob
        self._hashes = array("q")  # per document: hash() of its id
        self._slots = array("i", bytes(4 * _MIN_SLOTS))
        self._used = 0  # slots not empty (current, dropped, forgotten)
        self.live = 0  # ids with a current document

    def __len__(self) -> int:
        """Documents numbered so far (current or not)."""
        return len(self._ends)

    def __getitem__(self, doc: int) -> str:
        """The id of a document ("" once forgotten)."""
        start = self._ends[doc - 1] if doc else 0
        return self._blob[start : self._ends[doc]].decode()

    def _slot(self, record_id: str, key: int) -> int:
        """The slot holding ``record_id``, else the empty slot where it would go."""
        slots, mask = self._slots, len(self._slots) - 1
        i = key & mask
        while True:
            held = slots[i]
            if not held:
                return i
            doc = abs(held) - 1
            if self._hashes[doc] == key and self[doc] == record_id:
                return i
            i = (i + 1) & mask

    def get(self, record_id: str) -> int | None:
        held = self._slots[self._slot(record_id, hash(record_id))]
        return held - 1 if held > 0 else None

    def add(self, record_id: str) -> tuple[int, int | None]:
        """A new document number for ``record_id``, and its former current one (if any)."""
        key = hash(record_id)
        doc = len(self._ends)
        self._blob += record_id.encode()
        self._ends.append(len(self._blob))
        self._hashes.append(key)
        i = self._slot(record_id, key)
        held = self._slots[i]
        self._slots[i] = doc + 1
        if not held:
            self._used += 1
        if held <= 0:
            self.live += 1
        if 2 * self._used > len(self._slots):
            self._rehash()
        return doc, (held - 1 if held > 0 else None)

    def remove(self, record_id: str) -> int | None:
        """Drop the current document of ``record_id``; answers its number."""
        i = self._slot(record_id, hash(record_id))
        held = self._slots[i]
        if held <= 0:
            return None
        self._slots[i] = -held
        self.live -= 1
        return held - 1

    def forget(self, docs: Iterable[int]) -> None:
        """Erase the ids of these dropped documents (their numbers stay, reading "")."""
        gone = np.unique(np.fromiter(docs, dtype=np.int64))
        if not len(gone):
            return
        ends = np.frombuffer(self._ends, dtype=np.int64)
        lengths = np.diff(ends, prepend=0)
        keep = np.ones(len(self._blob), dtype=bool)
        starts = ends - lengths
        for doc in gone.tolist():  # few: those dropped since the last compaction
            keep[starts[doc] : ends[doc]] = False
        lengths[gone] = 0
        blob = np.frombuffer(self._blob, dtype=np.uint8)[keep].tobytes()
        fresh = np.cumsum(lengths).astype(np.int64).tobytes()
        del ends  # the view of the old offsets
        self._ends = array("q", fresh)
        self._blob = bytearray(blob)
        if 4 * self.live < 3 * self._used:  # many slots only for dropped ids: rebuild
            self._rehash()

    def _rehash(self) -> None:
        """A table four times the current ids (at least), holding only the current ones."""
        size = _MIN_SLOTS
        while size < 4 * max(self.live, 1):
            size *= 2
        current = [held - 1 for held in self._slots if held > 0]
        self._slots = array("i", bytes(4 * size))
        self._used = 0
        mask = size - 1
        for doc in current:
            i = self._hashes[doc] & mask
            while self._slots[i]:
                i = (i + 1) & mask
            self._slots[i] = doc + 1
            self._used += 1

    @property
    def nbytes(self) -> int:
        return len(self._blob) + sum(
            a.buffer_info()[1] * a.itemsize for a in (self._ends, self._hashes, self._slots)
        )
