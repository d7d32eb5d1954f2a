"""gateway/search/live.py without Redis: which message events continue what the index holds,
and the document each conversation's run goes to (looked up once per batch, issue 21: every
process applies every message, so the per-event work is paid once per process)."""

from __future__ import annotations

from gateway.search.index import DocIndex
from gateway.search.live import MessageEvent, continuing


def event(conv: str, seq: int, *, channel_type: str = "") -> MessageEvent:
    return MessageEvent(conv, seq, 1_000 + seq, f"text {seq}", "", "ch", channel_type)


def test_each_run_comes_with_its_conversations_document() -> None:
    index = DocIndex()
    known = index.new_doc("known", 1_000, "ch", "api")
    index.seq[known] = 2
    events = [
        event("known", 3),
        event("new", 1, channel_type="api"),
        event("known", 4),
        event("gap", 2),  # not held, not its first message: left to the poll
        event("new", 2),
    ]
    runs = continuing(index, events)
    assert [(doc, [(e.conversation_id, e.seq) for e in run]) for doc, run in runs] == [
        (known, [("known", 3), ("known", 4)]),
        (None, [("new", 1), ("new", 2)]),
    ]


def test_a_seq_already_held_only_raises_the_activity() -> None:
    index = DocIndex()
    doc = index.new_doc("c", 500, "ch", "api")
    index.seq[doc] = 3
    assert continuing(index, [event("c", 3)]) == []
    assert index.activity[doc] == 1_003
    runs = continuing(index, [event("c", 5)])  # a gap: the poll reads 4 and 5
    assert runs == []
