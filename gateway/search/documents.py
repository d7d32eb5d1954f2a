"""What of a record is searchable, as terms: a conversation's messages (read from the log or
taken from their events), a contact's name, email, phone, identities and custom attributes
(pure functions, no Redis)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

from gateway.textsearch import Analyzer
from gateway.textsearch.terms import index_terms, partial_terms

# Messages whose text is searched: the customer's, the agents' replies and notes (an event
# line, "assigned to ...", is the gateway's own).
SEARCHED_DIRECTIONS = frozenset({"in", "out", "note"})
CONTACT_FIELDS = ("name", "email", "phone")


def searched_text(body: Any) -> str:
    """The text of a stored message (as a dict) that is searched; "" for an event line."""
    if not isinstance(body, dict) or body.get("direction") not in SEARCHED_DIRECTIONS:
        return ""
    text = body.get("text")
    return text if isinstance(text, str) else ""


def message_text(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return searched_text(json.loads(raw))
    except ValueError:
        return ""


def text_terms(analyzer: Analyzer, texts: Iterable[str]) -> set[str]:
    terms: set[str] = set()
    for text in texts:
        if text:
            terms.update(index_terms(analyzer.tokens(text)))
    return terms


def message_terms(analyzer: Analyzer, raws: Iterable[str | None]) -> set[str]:
    return text_terms(analyzer, map(message_text, raws))


def _strings(value: Any) -> Iterable[str]:
    """Every string and number inside a JSON value (keys left out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _json_or_text(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # an identity as the inbox first writes it: "<channel>:<external id>"


def contact_texts(row: dict[str, str]) -> list[str]:
    """The searchable texts of a contact hash (empty for a merged-away contact)."""
    if row.get("merged_into"):
        return []
    texts = [row[f] for f in CONTACT_FIELDS if row.get(f)]
    for field in ("identities", "attrs"):
        texts.extend(_strings(_json_or_text(row.get(field))))
    return texts


def contact_terms(analyzer: Analyzer, texts: list[str]) -> set[str]:
    tokens: list[str] = []
    for text in texts:
        tokens.extend(analyzer.tokens(text))
    return set(tokens) | partial_terms(tokens)


def fingerprint(texts: list[str]) -> int:
    """Cheap change check of a contact's searchable texts (the feed re-reads contacts often)."""
    return zlib.crc32("\x00".join(texts).encode()) or 1
