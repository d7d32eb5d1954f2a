"""Suggested answers for the agent of one conversation: the three articles and canned
responses that best match the customer's latest messages, and what is known of the customer
from earlier conversations (their tags and products)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from gateway.kb.service import KnowledgeBase
from gateway.keys import Keys
from gateway.textsearch import SearchIndex

LATEST = 3  # customer messages read
EARLIER = 20  # earlier conversations read for tags and products


async def latest_customer_text(
    redis: Redis, keys: Keys, conversation_id: str, last_seq: int
) -> str:
    """The customer's latest few messages, joined (what the agent is answering)."""
    seqs = list(range(max(1, last_seq - 30), last_seq + 1))
    raw = await redis.hmget(keys.messages(conversation_id), seqs) if seqs else []
    texts = []
    for item in reversed(raw):
        if not item:
            continue
        message = json.loads(item)
        if message.get("direction") == "in" and message.get("text"):
            texts.append(message["text"])
            if len(texts) == LATEST:
                break
    return "\n".join(reversed(texts))


def rank_canned(kb: KnowledgeBase, canned: list[dict[str, Any]], text: str) -> list[dict]:
    """The canned responses that match ``text`` best (BM25 over title and text), best first."""
    if not canned or not text:
        return []
    index = SearchIndex(
        kb.retriever.analyzer, [(c["id"], [(c["title"], 2), (c["text"], 1)]) for c in canned]
    )
    by_id = {c["id"]: c for c in canned}
    return [{**by_id[hit.id], "score": round(hit.score, 4)} for hit in index.search(text, 3)]


async def customer_profile(
    redis: Redis, keys: Keys, contact_id: str, conversation_id: str
) -> dict[str, list[str]]:
    """Tags and products of the customer's earlier conversations, most recent first."""
    ids = await redis.zrevrange(keys.contact_conversations(contact_id), 0, EARLIER)
    pipe = redis.pipeline(transaction=False)
    others = [i for i in ids if i != conversation_id]
    for other in others:
        pipe.hmget(keys.conversation(other), ["tags", "product"])
    tags: list[str] = []
    products: list[str] = []
    for raw_tags, product in await pipe.execute() if others else []:
        for tag in json.loads(raw_tags) if raw_tags else []:
            if tag not in tags:
                tags.append(tag)
        if product and product not in products:
            products.append(product)
    return {"tags": tags, "products": products}
