"""What keeps a rebuilt index small in the process: record ids in one table without a Python
object per record (gateway/search/idtable.py), and glibc told to map large blocks itself
(gateway/textsearch/postings.py), so a rebuild's large temporaries go back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from gateway.search.idtable import IdTable
from gateway.search.index import DocIndex


def test_ids_found_again_through_growth_reindexing_and_drops():
    table = IdTable()
    ids = [f"c_{n:012x}{n * 7919 % 99991:05d}" for n in range(5_000)] + ["联系人-1", ""]
    docs = [table.add(i)[0] for i in ids]  # the table grows several times on the way
    assert docs == list(range(len(ids))) and table.live == len(ids)
    assert all(table.get(i) == d for i, d in zip(ids, docs, strict=True))
    assert all(table[d] == i for i, d in zip(ids, docs, strict=True))
    assert table.get("c_missing") is None and table.get("联系人-2") is None

    again, old = table.add(ids[10])  # indexed again: a new number, the old one given back
    assert old == 10 and table.get(ids[10]) == again and table.live == len(ids)
    assert table.remove(ids[20]) == 20 and table.remove(ids[20]) is None
    assert table.get(ids[20]) is None and table.live == len(ids) - 1
    back, old = table.add(ids[20])
    assert old is None and table.get(ids[20]) == back and table.live == len(ids)


def test_forgotten_ids_are_gone_and_the_others_stay():
    table = IdTable()
    ids = [f"conv-{n}" for n in range(3_000)]
    for record_id in ids:
        table.add(record_id)
    for record_id in ids[:2_500]:  # most dropped: the table is rebuilt without them
        table.remove(record_id)
    table.forget(range(2_500))
    assert all(table[d] == "" for d in (0, 1, 2_499))
    assert all(table.get(i) is None for i in ids[:2_500])
    assert all(table.get(i) == d for d, i in enumerate(ids) if d >= 2_500)
    assert all(table[d] == ids[d] for d in range(2_500, 3_000))
    doc, old = table.add(ids[0])  # the same record again later
    assert old is None and table.get(ids[0]) == doc and table[doc] == ids[0]
    assert table.live == 501 and table.nbytes < 200_000


def test_a_doc_index_holds_no_object_per_record():
    index = DocIndex()
    for n in range(20_000):
        index.add_terms(index.new_doc(f"c_{n:020d}", n), ["~发票"])
    # About 22 bytes of id, 8 + 8 of offsets and hash, up to 16 of slots: no dict, no str.
    assert index.ids.nbytes / len(index) < 60
    assert index.ids[index.get("c_00000000000000012345")] == "c_00000000000000012345"


# Run in a fresh interpreter: in a process that has run other tests, a free heap chunk of 4 MiB
# or more may already exist, and glibc then serves the block from it whatever the threshold.
_CHECK = """
import ctypes, ctypes.util, sys
import numpy as np
from gateway.textsearch.postings import map_large_blocks

class Mallinfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Mallinfo2
mapped = lambda: libc.mallinfo2().hblkhd
if sys.argv[1] == "fixed":
    assert map_large_blocks()
big = np.ones(24 << 20, dtype=np.uint8)
del big
before = mapped()
block = np.ones(4 << 20, dtype=np.uint8)
grew = mapped() - before
del block
print(grew, mapped() - before)
"""


def _block_after_a_larger_one(mode: str) -> tuple[int, int]:
    """(mapped bytes added by a 4 MiB block after a 24 MiB one was freed, left once freed)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHECK, mode], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    grew, left = out.stdout.split()
    return int(grew), int(left)


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"), reason="glibc 2.33+"
)
def test_large_blocks_stay_mapped_after_a_larger_one_was_freed():
    """glibc's default: freeing a 24 MiB mapped block raises the threshold, and the next 4 MiB
    block comes from the heap (where it stays resident once freed). With the fixed threshold
    the Indexer sets, it is mapped (and unmapped when freed)."""
    grew, left = _block_after_a_larger_one("default")
    assert grew < 4 << 20  # the behaviour the fix is for: from the heap
    grew, left = _block_after_a_larger_one("fixed")
    assert grew >= 4 << 20 and left < 4 << 20  # mapped, and given back
