"""Search as one service object. One process of the deployment holds the search lease and
with it the index (gateway/search/feed.py), kept current by the message events and by polling
the change feeds every ``poll_seconds``; it answers every search, its own and those the other
processes hand over through Redis (gateway/search/desk.py). The others neither index nor poll."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from redis.asyncio import Redis

from gateway.conversations import Viewer, may_view
from gateway.failurelog import FailureLog
from gateway.keys import Keys
from gateway.lease import Lease, run_while_leased
from gateway.models import Role
from gateway.search.desk import ASK_SECONDS, Desk
from gateway.search.feed import Indexer
from gateway.search.idtable import IdTable
from gateway.search.results import (
    Filters,
    Page,
    add_snippets,
    needles,
    page_of,
    visible_conversations,
)
from gateway.tasks import cancel_and_wait
from gateway.textsearch.terms import required_terms

log = logging.getLogger(__name__)

MAX_SCAN = 5_000  # matches read from Redis (visibility, filters) for one page at most
CONTACT_CONVS = 50  # a contact's latest conversations looked at for the one to open
# The index's holder renews every third of this; when it dies, another process takes the
# index over (and builds it) within this long.
LEASE_MS = 6_000


class Search:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        poll_seconds: float = 0.3,
        ask_seconds: float = ASK_SECONDS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.poll_seconds = poll_seconds
        self.indexer = Indexer(redis, keys)
        self.lease = Lease(redis, keys.lease("search"), ttl_ms=LEASE_MS)
        self.desk = Desk(redis, keys, ask_seconds=ask_seconds)
        self.holding = False  # this process holds the deployment's index
        self._task: asyncio.Task[None] | None = None
        self.last_poll_seconds = 0.0
        self._failures = FailureLog(log, "search index poll")

    @property
    def ready(self) -> bool:
        """This process holds the deployment's index, and has built it."""
        return self.holding and self.indexer.state.rebuilt

    async def on_event(self, event: dict[str, Any]) -> None:
        """A listener of the process's event bus: messages go into the index at once."""
        if self.holding:
            self.indexer.receive(event)

    def on_subscribed(self) -> None:
        """The bus (re)subscribed: what was published meanwhile is checked by the next poll."""
        self.indexer.missed_events()

    async def start(self) -> None:
        self._task = asyncio.create_task(
            run_while_leased(self.lease, self._hold, retry_seconds=1), name="search"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self.indexer.close()

    async def _hold(self) -> None:
        """While this process holds the lease: build the index, keep it current, answer."""
        self.holding = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll())
                group.create_task(self.desk.serve(self._answer))
        finally:
            # The lease is lost (or we stop): the index would go stale unseen. Drop it, so its
            # memory goes back; should the lease come back, the first poll builds it again.
            self.holding = False
            self.indexer.close()
            self.indexer = Indexer(self.redis, self.keys)

    async def _poll(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.indexer.poll()
                self._failures.worked()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the next poll catches up (the feeds keep it all)
                self._failures.failed(exc)
            self.last_poll_seconds = time.monotonic() - started
            await asyncio.sleep(self.poll_seconds)

    # --- the searches: here when this process holds the index, else by the holder ---------
    async def conversations(
        self, viewer: Viewer, query: str, filters: Filters, *, limit: int, offset: int
    ) -> Page:
        """Conversations whose messages hold every term of ``query``, newest activity
        first, only those ``viewer`` may open, within ``filters``. SearchUnavailable when the
        holder of the index does not answer in time."""
        if self.holding:
            return await self._conversations(viewer, query, filters, limit=limit, offset=offset)
        return await self._ask({
            "kind": "conversations", "viewer": _viewer_json(viewer), "query": query,
            "filters": dataclasses.asdict(filters), "limit": limit, "offset": offset,
        })  # fmt: skip

    async def customers(self, viewer: Viewer, query: str, *, limit: int, offset: int) -> Page:
        """Contacts whose name, email, phone, identities or attributes hold every term (a
        prefix of a word or number is enough; the last four digits of a number too), latest
        activity first. Every user may open every contact (the contacts API's rule; the
        profile then lists only the conversations they may open), so every match is shown,
        with the newest of its conversations the viewer may open."""
        if self.holding:
            return await self._customers(viewer, query, limit=limit, offset=offset)
        return await self._ask({
            "kind": "customers", "viewer": _viewer_json(viewer), "query": query,
            "limit": limit, "offset": offset,
        })  # fmt: skip

    async def _ask(self, request: dict[str, Any]) -> Page:
        answer = await self.desk.ask(request)
        return Page(answer["items"], answer["has_more"], answer["truncated"], answer["indexing"])

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Another process's search, run here (a request of our own code's making)."""
        who = request["viewer"]
        viewer = Viewer(str(who["user_id"]), Role(who["role"]))
        limit, offset = int(request["limit"]), int(request["offset"])
        if request["kind"] == "customers":
            page = await self._customers(viewer, request["query"], limit=limit, offset=offset)
        else:
            filters = Filters(**request["filters"])
            page = await self._conversations(
                viewer, request["query"], filters, limit=limit, offset=offset
            )
        return dataclasses.asdict(page)

    def terms(self, query: str) -> list[str]:
        return required_terms(self.indexer.analyzer.tokens(query))

    async def _conversations(
        self, viewer: Viewer, query: str, filters: Filters, *, limit: int, offset: int
    ) -> Page:
        indexer = self.indexer
        index = indexer.conversations
        terms = self.terms(query)
        channels = None
        if filters.channel:
            code = index.channel_code(filters.channel, create=False)
            if code < 0:
                return Page([], False, False, not indexer.state.rebuilt)
            channels = [code]
        docs = index.match(terms, channels=channels, since=filters.since, until=filters.until)
        ids = Ids(index.ids, docs[: offset + MAX_SCAN + 1])
        page = await visible_conversations(
            self.redis, self.keys, viewer, ids, filters,
            offset=offset, limit=limit, max_scan=MAX_SCAN,
        )  # fmt: skip
        await add_snippets(self.redis, self.keys, page.items, needles(terms))
        page.indexing = not indexer.state.rebuilt
        return page

    async def _customers(self, viewer: Viewer, query: str, *, limit: int, offset: int) -> Page:
        indexer = self.indexer
        index = indexer.contacts
        docs = index.match(self.terms(query))
        ids = Ids(index.ids, docs[: offset + MAX_SCAN + 1])

        async def accepted(chunk: Sequence[str]) -> list[dict[str, Any]]:
            found = await self._contacts_for(viewer, list(chunk))
            return [_contact(contact_id, row, latest) for contact_id, row, latest in found]

        page = await page_of(ids, accepted, offset=offset, limit=limit, max_scan=MAX_SCAN)
        page.indexing = not indexer.state.rebuilt
        return page

    async def _contacts_for(
        self, viewer: Viewer, ids: list[str]
    ) -> list[tuple[str, dict[str, str], str | None]]:
        """(id, hash, latest conversation the viewer may open) of those not merged away."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in ids:
            pipe.hgetall(self.keys.contact(contact_id))
            pipe.zrevrange(self.keys.contact_conversations(contact_id), 0, CONTACT_CONVS - 1)
        answers = await pipe.execute()
        rows = [(ids[i], answers[2 * i], answers[2 * i + 1]) for i in range(len(ids))]
        pipe = self.redis.pipeline(transaction=False)
        for _, _, convs in rows:
            for conv_id in convs:
                pipe.hmget(self.keys.conversation(conv_id), ["assignee", "offered_to"])
        facts = iter(await pipe.execute())
        out = []
        for contact_id, row, convs in rows:
            latest = None
            for conv_id in convs:
                assignee, offered = next(facts)
                seen = {"assignee": assignee or None, "offered_to": offered or None}
                if latest is None and may_view(viewer, seen):
                    latest = conv_id
            if row and not row.get("merged_into"):
                out.append((contact_id, row, latest))
        return out

    def memory(self) -> dict[str, int]:
        return {
            "conversations": len(self.indexer.conversations),
            "conversation_bytes": self.indexer.conversations.nbytes(),
            "contacts": len(self.indexer.contacts),
            "contact_bytes": self.indexer.contacts.nbytes(),
        }


class Ids(Sequence[str]):
    """Record ids of matched documents, looked up as they are read (a page reads few)."""

    def __init__(self, names: IdTable, docs: np.ndarray) -> None:
        self.names = names
        self.docs = docs

    def __len__(self) -> int:
        return len(self.docs)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self.names[d] for d in self.docs[i].tolist()]
        return self.names[int(self.docs[i])]


def _viewer_json(viewer: Viewer) -> dict[str, str]:
    return {"user_id": viewer.user_id, "role": viewer.role.value}


def _json(raw: str | None) -> Any:
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    return raw


def _contact(contact_id: str, row: dict[str, str], latest: str | None) -> dict[str, Any]:
    identities = _json(row.get("identities"))
    if isinstance(identities, str):  # one "<channel id>:<external id>" a line
        identities = [line for line in identities.splitlines() if line]
    attrs = _json(row.get("attrs"))
    return {
        "id": contact_id,
        "name": row.get("name") or None,
        "email": row.get("email") or None,
        "phone": row.get("phone") or None,
        "tier": row.get("tier") or None,
        "identities": identities if isinstance(identities, list) else [],
        "attrs": attrs if isinstance(attrs, dict) else {},
        "latest_conversation_id": latest,
    }
