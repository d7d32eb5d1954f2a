"""The message events this process already receives (its own at once, the other processes'
through pub/sub: gateway/events.py), as the search index uses them.

A ``message.created`` event carries the stored message: its conversation, ``seq``,
``created_at`` and text. ``created_at`` is also the score the write gave the conversation in
``convs:by_activity`` (gateway/lua/ingest.lua and append.lua both write the same ``now`` to the
message and to the index), so once an event is applied the poll finds the score unchanged and
reads nothing. An inbound message's author is its contact; the inbox adds the channel to the
event (``channel_id``, ``channel_type``), which a new conversation's document needs.

``continuing`` keeps the events that continue what the index holds; the others are left to
the poll, which reads them from Redis as before (gateway/search/feed.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.search.documents import searched_text
from gateway.search.index import DocIndex

MESSAGE_CREATED = "message.created"


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 2x (every message)
class MessageEvent:
    conversation_id: str
    seq: int
    at: int  # created_at: the conversation's score in convs:by_activity after this message
    text: str  # the searched text ("" for an event line)
    contact_id: str  # an inbound message's author (its contact); "" for the others
    channel_id: str  # given by the inbox (a new conversation needs them); else ""
    channel_type: str


def message_event(event: dict[str, Any]) -> MessageEvent | None:
    """The index's view of a ``message.created`` event; None for any other event (or one
    without a usable conversation, seq and time)."""
    if event.get("type") != MESSAGE_CREATED:
        return None
    data = event.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        return None
    assert isinstance(data, dict)
    conversation_id = data.get("conversation_id") or message.get("conversation_id")
    seq, at = message.get("seq"), message.get("created_at")
    if not (isinstance(conversation_id, str) and conversation_id and _integer(seq)):
        return None
    if not _integer(at):
        return None
    inbound = message.get("direction") == "in"
    author = message.get("author_id") if inbound else ""
    return MessageEvent(
        conversation_id,
        seq,
        at,
        searched_text(message),
        author if isinstance(author, str) else "",
        _string(data.get("channel_id")),
        _string(data.get("channel_type")),
    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def continuing(
    index: DocIndex, events: list[MessageEvent]
) -> list[tuple[int | None, list[MessageEvent]]]:
    """The events that continue what ``index`` holds, per conversation, in order, each run
    with the conversation's document (None: a new one), so it is looked up once.

    Left out, for the poll: an event for a seq the index already has (the poll read it first:
    only its time is taken, the score it wrote); every event of a conversation from a gap on
    (seq 7 when the index holds 5: the poll reads 6 and 7); and those of a conversation the
    index does not hold, unless the first is its first message with its channel."""
    runs: dict[str, tuple[int | None, list[MessageEvent]]] = {}
    waiting: set[str] = set()  # a gap: the poll reads the rest
    for event in events:
        conversation_id = event.conversation_id
        if conversation_id in waiting:
            continue
        found = runs.get(conversation_id)
        if found:
            doc, run = found
            have = run[-1].seq
        else:
            doc = index.get(conversation_id)
            have = index.seq[doc] if doc is not None else 0
            if doc is not None and event.seq == have:
                index.activity[doc] = max(index.activity[doc], event.at)
        if event.seq <= have:
            continue
        if event.seq > have + 1 or (have == 0 and not event.channel_type):
            waiting.add(conversation_id)
            continue
        if found:
            run.append(event)
        else:
            runs[conversation_id] = (doc, [event])
    return list(runs.values())
