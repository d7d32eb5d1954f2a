"""The index's own rules, without Redis: postings across base and delta and compaction,
documents re-indexed and dropped, filters and order, the query rule (required terms), the
partial terms of short fields."""

from __future__ import annotations

import asyncio

import numpy as np

from gateway.search.index import DocIndex
from gateway.textsearch import Analyzer
from gateway.textsearch.postings import Base, Postings
from gateway.textsearch.terms import index_terms, partial_terms, required_terms


def test_postings_answer_the_same_before_and_after_compaction():
    postings = Postings()
    postings.add(0, ["a", "b"])
    postings.add(1, ["b", "c"])
    postings.add(1, ["b"])  # a document's new text repeats a term: counted once
    assert postings.docs("b").tolist() == [0, 1]
    alive = np.array([True, True, True])
    base, keys, docs = postings.snapshot()
    postings.swap(Postings.compact(base, keys, docs, alive), len(keys))
    assert postings.pending == 0
    assert postings.docs("b").tolist() == [0, 1] and postings.docs("c").tolist() == [1]
    assert postings.docs("missing").tolist() == []
    postings.add(2, ["c"])  # delta on top of the base
    assert postings.docs("c").tolist() == [1, 2]
    # A compaction leaves dropped documents out, and keeps pairs added meanwhile.
    base, keys, docs = postings.snapshot()
    postings.add(3, ["c"])
    alive = np.array([True, False, True, True])
    postings.swap(Postings.compact(base, keys, docs, alive), len(keys))
    assert postings.docs("c").tolist() == [2, 3] and postings.docs("b").tolist() == [0]


def test_base_build_sorts_and_removes_duplicate_pairs():
    base = Base.build(np.array([5, 3, 5, 3, 5]), np.array([2, 1, 2, 0, 1], dtype=np.int32))
    assert base.keys.tolist() == [3, 5]
    assert base.lookup(3).tolist() == [0, 1] and base.lookup(5).tolist() == [1, 2]
    assert base.lookup(4).tolist() == []


def test_doc_index_reindexes_drops_filters_and_orders_newest_first():
    index = DocIndex()
    a = index.new_doc("conv-a", 100, "ch-1", "wechat_oa")
    index.add_terms(a, ["~发票", "refund"])
    b = index.new_doc("conv-b", 300, "ch-2", "email")
    index.add_terms(b, ["~发票"])
    c = index.new_doc("conv-c", 200, "ch-1", "wechat_oa")
    index.add_terms(c, ["~发票", "refund"])
    ids = lambda docs: [index.ids[d] for d in docs]  # noqa: E731
    assert ids(index.match(["~发票"])) == ["conv-b", "conv-c", "conv-a"]
    assert ids(index.match(["~发票", "refund"])) == ["conv-c", "conv-a"]
    assert ids(index.match(["~发票"], channels=[index.channel_code("email")])) == ["conv-b"]
    assert ids(index.match(["~发票"], channels=[index.channel_code("ch-1")])) == [
        "conv-c", "conv-a",
    ]  # fmt: skip
    assert ids(index.match(["~发票"], since=150, until=250)) == ["conv-c"]
    # Indexed again (a redaction): the old text is gone with the old document.
    again = index.new_doc("conv-a", 400, "ch-1", "wechat_oa")
    index.add_terms(again, ["~已删"])
    assert ids(index.match(["refund"])) == ["conv-c"]
    assert ids(index.match(["~已删"])) == ["conv-a"]
    index.drop("conv-b")
    assert ids(index.match(["~发票"])) == ["conv-c"]
    asyncio.run(_compact(index))
    assert ids(index.match(["~发票"])) == ["conv-c"] and ids(index.match(["~已删"])) == ["conv-a"]
    assert index.ids[a] == index.ids[b] == ""  # dropped documents' ids forgotten
    assert index.get("conv-a") == again and index.get("conv-b") is None
    assert index.match([]).tolist() == []


async def _compact(index: DocIndex) -> None:
    async def inline(work):
        return work()

    await index.maybe_compact(inline, force=True)
    assert index.postings.pending == 0


def test_required_terms():
    analyzer = Analyzer()
    # Bigrams and non-Chinese terms are required; Chinese words only without any bigram.
    terms = required_terms(analyzer.tokens("發票 invoice"))
    assert "~发票" in terms and "invoic" in terms and "发票" not in terms
    assert required_terms(analyzer.tokens("票")) == ["票"]
    assert required_terms(analyzer.tokens("的")) == []  # a stop word alone asks nothing
    # What documents keep: no multi-character Chinese word (its bigrams serve).
    kept = index_terms(analyzer.tokens("我要开发票"))
    assert "~发票" in kept and "发票" not in kept


def test_partial_terms_of_short_fields():
    analyzer = Analyzer()
    terms = partial_terms(analyzer.tokens("張偉 13800138000 alice"))
    assert {"张", "伟", "138", "1380013", "8000", "al", "ali"} <= terms
    assert "13800138000" not in terms  # the whole token is the analyzer's own
    assert "38000" not in terms  # endings: the last four digits only
