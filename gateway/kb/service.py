"""The knowledge base as one service object: articles in Redis, and this process's search
index kept in step with them.

Every write raises ``kb:version`` in the same transaction and publishes ``kb.changed``; each
process rebuilds its index when the event arrives, and also checks the version every
``poll_seconds`` (an event lost while a process was reconnecting), so a change is live in
every process within a second. The index is rebuilt off the event loop and swapped whole:
searches never wait for a rebuild."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.kb.articles import Articles
from gateway.kb.retrieval import Match, Retriever
from gateway.keys import Keys
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANGED = "kb.changed"
Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


class KnowledgeBase:
    def __init__(
        self, redis: Redis, keys: Keys, publish: Publish, *, poll_seconds: float = 0.5
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.articles = Articles(redis, keys)
        self._publish = publish
        self.poll_seconds = poll_seconds
        self.retriever = Retriever([])
        self.version = -1  # of the index in use
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll(), name="kb-version")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == CHANGED:
            await self.refresh()

    async def changed(self) -> None:
        """After a write: this process's index at once, the others' through the event."""
        await self.refresh()
        try:
            await self._publish(CHANGED, {"version": self.version})
        except Exception:  # the others' version checks still catch up within a second
            log.warning("could not announce a knowledge-base change", exc_info=True)

    async def refresh(self) -> None:
        """Rebuild the index if the stored version moved past ours."""
        async with self._lock:
            version = await self.articles.version()
            if version == self.version:
                return
            # Read the version with the data it describes (a write between is read next time).
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(self.keys.kb_version())
            pipe.hgetall(self.keys.kb_articles())
            pipe.get(self.keys.kb_synonyms())
            raw_version, rows, raw_synonyms = await pipe.execute()
            articles = [json.loads(v) for v in rows.values()]
            synonyms = json.loads(raw_synonyms) if raw_synonyms else []
            self.retriever = await asyncio.to_thread(Retriever, articles, synonyms)
            self.version = int(raw_version or 0)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            with contextlib.suppress(Exception):
                await self.refresh()

    # --- reading ---------------------------------------------------------------------------
    def search(self, question: str, k: int = 3) -> list[tuple[Match, dict[str, Any]]]:
        """The ``k`` best articles for a question, each with its match figures."""
        retriever = self.retriever
        return [(m, retriever.articles[m.article_id]) for m in retriever.search(question, k)]

    def answer(self, question: str) -> tuple[Match, dict[str, Any]] | None:
        retriever = self.retriever
        match = retriever.answer(question)
        return (match, retriever.articles[match.article_id]) if match else None
