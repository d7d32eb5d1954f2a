"""A compact inverted index that grows one document at a time (for search over live data).

Tokens are kept as 64-bit hashes (``hash(token)``: stable within a process, which is all an
index held in one process's memory needs; a collision is about one in 2**64 per pair of
tokens), never as strings, and postings as 32-bit document numbers:

- the *base*: every token hash once, sorted (``int64``), the offsets of its postings
  (``int64``) and the postings (``int32`` document numbers), CSR style;
- the *delta*: pairs (token hash, document) appended since the last compaction, in two
  ``array`` buffers; a query scans it with numpy (about a millisecond per token per million
  pairs).

``compact()`` folds the delta into a new base (sorted, duplicate pairs and dropped documents
removed); it is pure numpy on snapshots, so a caller may run it in a thread and ``swap`` the
result in. A document is never edited in place: the caller drops it (``alive``) and adds its
new version under a new number.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EMPTY = np.zeros(0, dtype=np.int32)


def token_hash(token: str) -> int:
    return hash(token)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _libc()


M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MAPPED_FROM = 1 << 20


def map_large_blocks(threshold: int = MAPPED_FROM) -> bool:
    """Have glibc serve every block of ``threshold`` bytes or more with its own mapping, which
    goes back to the system when freed (process-wide). glibc's default threshold is dynamic:
    once a mapped block (a rebuild's temporary array) is freed, blocks up to its size (up to
    32 MiB) come from the heap, where they stay resident after they are freed (their pages
    among live ones). A fixed threshold turns that off. Answers whether it was set (not on
    another C library)."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None or not hasattr(_LIBC, "malloc_trim"):  # glibc only
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``). A compaction's
    large temporary arrays come from the heap once glibc raised its mmap threshold, and would
    otherwise stay resident. Nothing elsewhere."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


@dataclass(frozen=True)
class Base:
    keys: np.ndarray  # int64, sorted, unique
    offsets: np.ndarray  # int32 (int64 past 2**31 postings), len(keys) + 1
    docs: np.ndarray  # int32

    @classmethod
    def empty(cls) -> Base:
        return cls(np.zeros(0, np.int64), np.zeros(1, np.int32), EMPTY)

    @classmethod
    def build(cls, keys: np.ndarray, docs: np.ndarray) -> Base:
        """From unordered pairs (duplicates allowed)."""
        if not len(keys):
            return cls.empty()
        order = np.lexsort((docs, keys))
        keys, docs = keys[order], docs[order]
        keep = np.ones(len(keys), dtype=bool)
        keep[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
        keys, docs = keys[keep], docs[keep]
        unique, starts = np.unique(keys, return_index=True)
        wide = np.int64 if len(keys) >= 2**31 else np.int32
        offsets = np.append(starts, len(keys)).astype(wide)
        return cls(unique.astype(np.int64), offsets, docs.astype(np.int32))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(self.keys, np.diff(self.offsets)), self.docs

    def lookup(self, key: int) -> np.ndarray:
        i = int(np.searchsorted(self.keys, key))
        if i >= len(self.keys) or self.keys[i] != key:
            return EMPTY
        return self.docs[self.offsets[i] : self.offsets[i + 1]]

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.offsets.nbytes + self.docs.nbytes


class Postings:
    """Token hashes -> document numbers; see the module's docstring."""

    def __init__(self) -> None:
        self.base = Base.empty()
        self._keys = array("q")
        self._docs = array("i")

    def add(self, doc: int, tokens: Iterable[str]) -> None:
        unique = {token_hash(t) for t in tokens}
        self._keys.extend(unique)
        self._docs.extend([doc] * len(unique))

    def add_bulk(self, keys: np.ndarray, docs: np.ndarray) -> None:
        """Pairs already hashed (a rebuild collects them off the event loop)."""
        self._keys.extend(keys.astype(np.int64).tolist())
        self._docs.extend(docs.astype(np.int32).tolist())

    @property
    def pending(self) -> int:
        """Pairs in the delta."""
        return len(self._docs)

    def docs(self, token: str) -> np.ndarray:
        """Every document number that had ``token`` (dropped ones included), sorted, once."""
        key = token_hash(token)
        found = self.base.lookup(key)  # sorted and unique already
        if self._docs:
            keys = np.frombuffer(self._keys, dtype=np.int64)
            docs = np.frombuffer(self._docs, dtype=np.int32)
            extra = docs[keys == key]
            if len(extra):
                found = np.unique(np.concatenate([found, extra]))
        return found

    def snapshot(self) -> tuple[Base, np.ndarray, np.ndarray]:
        """The base and a copy of the delta, for ``compact`` (in a thread)."""
        keys = np.array(self._keys, dtype=np.int64)
        docs = np.array(self._docs, dtype=np.int32)
        return self.base, keys, docs

    @staticmethod
    def compact(base: Base, keys: np.ndarray, docs: np.ndarray, alive: np.ndarray) -> Base:
        """A new base holding ``base`` and the delta pairs, without dropped documents."""
        old_keys, old_docs = base.pairs()
        all_keys = np.concatenate([old_keys, keys])
        all_docs = np.concatenate([old_docs, docs])
        keep = alive[all_docs]
        return Base.build(all_keys[keep], all_docs[keep])

    def swap(self, base: Base, folded: int) -> None:
        """Use ``base``, which holds the first ``folded`` delta pairs."""
        self.base = base
        self._keys = self._keys[folded:]
        self._docs = self._docs[folded:]

    @property
    def nbytes(self) -> int:
        return (
            self.base.nbytes
            + self._keys.buffer_info()[1] * self._keys.itemsize
            + self._docs.buffer_info()[1] * self._docs.itemsize
        )
