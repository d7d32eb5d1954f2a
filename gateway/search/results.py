"""Turning matched documents into what a viewer may see: visibility and filters read from the
records themselves (assignment, status and tags change without moving a conversation's
activity, so the index does not hold them), and the snippet that shows why it matched."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from gateway.conversations import Viewer, conversation_from_hash, may_view
from gateway.keys import Keys
from gateway.search.documents import message_text
from gateway.textsearch import fold

SNIPPET_BEFORE, SNIPPET_AFTER = 30, 90
SNIPPET_SCAN = 40  # the newest messages looked at for the snippet
CHUNK = 200  # records read per round trip at most (the first round reads one page's worth)


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    status: str | None = None
    tag: str | None = None
    since: int | None = None  # ms, activity at or after
    until: int | None = None  # ms, activity at or before


@dataclass
class Page:
    items: list[dict[str, Any]]
    has_more: bool
    truncated: bool  # the scan limit was reached before the page filled
    indexing: bool = False  # the index was still being built: matches may be missing


def needles(terms: list[str]) -> list[str]:
    """The folded strings a matching text contains (a bigram's two characters, a stem)."""
    return [t.lstrip("~") for t in terms]


def _tags(conv: dict[str, Any]) -> list[str]:
    try:
        tags = json.loads(conv.get("tags") or "[]")
    except ValueError:
        return []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def passes(viewer: Viewer, conv: dict[str, Any], filters: Filters) -> bool:
    if not may_view(viewer, conv):
        return False
    if filters.status and conv.get("status") != filters.status:
        return False
    return not (filters.tag and filters.tag not in _tags(conv))


async def page_of(
    ids: Sequence[str],
    accepted: Callable[[Sequence[str]], Awaitable[list[Any]]],
    *,
    offset: int,
    limit: int,
    max_scan: int,
) -> Page:
    """The page of ``ids`` (best first) that ``accepted`` keeps, read in growing chunks (the
    first one page's worth, then doubling up to CHUNK) and never past ``max_scan`` ids."""
    out: list[Any] = []
    skipped = 0
    start, size = 0, offset + limit + 1
    while start < len(ids):
        if start >= max_scan:
            return Page(out, True, True)
        chunk = ids[start : start + size]
        start, size = start + size, min(CHUNK, size * 2)
        for item in await accepted(chunk):
            if skipped < offset:
                skipped += 1
                continue
            if len(out) == limit:
                return Page(out, True, False)
            out.append(item)
    return Page(out, False, False)


async def visible_conversations(
    redis: Redis,
    keys: Keys,
    viewer: Viewer,
    ids: Sequence[str],
    filters: Filters,
    *,
    offset: int,
    limit: int,
    max_scan: int,
) -> Page:
    """The page of ``ids`` (newest first) this viewer may open that pass the filters."""

    async def accepted(chunk: Sequence[str]) -> list[dict[str, Any]]:
        pipe = redis.pipeline(transaction=False)
        for conv_id in chunk:
            pipe.hgetall(keys.conversation(conv_id))
        convs = [conversation_from_hash(row) for row in await pipe.execute() if row]
        return [conv for conv in convs if passes(viewer, conv, filters)]

    return await page_of(ids, accepted, offset=offset, limit=limit, max_scan=max_scan)


def snippet(text: str, found: list[str]) -> str:
    folded = fold(text)
    at = min((i for n in found if (i := folded.find(n)) >= 0), default=0)
    if len(folded) != len(text):
        at = 0
    start = max(0, at - SNIPPET_BEFORE)
    end = min(len(text), at + SNIPPET_AFTER)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


async def add_snippets(
    redis: Redis, keys: Keys, convs: list[dict[str, Any]], found: list[str]
) -> None:
    """Each conversation's newest message holding the most of ``found`` (among its latest
    ``SNIPPET_SCAN``), as ``match``: seq, direction, created_at, an excerpt."""
    pipe = redis.pipeline(transaction=False)
    for conv in convs:
        last = int(conv.get("last_seq") or 0)
        seqs = [str(s) for s in range(max(1, last - SNIPPET_SCAN + 1), last + 1)] or ["1"]
        pipe.hmget(keys.messages(conv["id"]), seqs)
        pipe.hget(keys.contact(conv.get("contact_id") or "none"), "name")
    answers = await pipe.execute()
    for i, conv in enumerate(convs):
        raws, name = answers[2 * i], answers[2 * i + 1]
        conv["contact_name"] = name or None
        last = int(conv.get("last_seq") or 0)
        best: tuple[int, int, str, dict[str, Any]] | None = None
        first = max(1, last - SNIPPET_SCAN + 1)
        for offset in range(len(raws) - 1, -1, -1):  # newest first
            text = message_text(raws[offset])
            if not text:
                continue
            folded = fold(text)
            hits = sum(1 for n in found if n in folded)
            if hits and (best is None or hits > best[0]):
                best = (hits, first + offset, text, json.loads(raws[offset] or "{}"))
                if hits == len(found):
                    break
        conv["match"] = (
            {
                "seq": best[1],
                "direction": best[3].get("direction"),
                "created_at": best[3].get("created_at"),
                "excerpt": snippet(best[2], found),
            }
            if best
            else None
        )
