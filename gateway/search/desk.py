"""One index per deployment: the process holding the search lease answers every search; the
others hand theirs over through Redis and wait for the answer.

An asking process RPUSHes the request (JSON, with a reply token) to ``search:requests`` and
BLPOPs ``search:reply:<token>``; the holder BLPOPs the requests, runs each search on its index
(visibility and snippets are read from Redis as for its own), and RPUSHes the answer, which
expires unread if the asker has gone. An asker that gives up takes its request back out of the
list (LREM), so nobody answers it later; no deadline is compared across hosts, whose clocks
may differ. Lists rather than pub/sub: a request made while the lease is changing hands waits
in Redis for the next holder instead of being lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.failurelog import FailureLog
from gateway.keys import Keys

log = logging.getLogger(__name__)

# How long an asking process waits. Longer than a lease handover (the lease's TTL) would be
# more than a person waits for a search box: past it the caller gets a 503 to retry.
ASK_SECONDS = 5.0
POP_SECONDS = 1.0  # the holder's BLPOP, so that a lost lease stops it promptly
AT_ONCE = 16  # searches the holder answers concurrently
# Searches one process waits on at once: each wait holds a pooled connection (BLPOP), and
# while no process holds the index each lasts ASK_SECONDS, so a console full of agents
# searching must not take the connections the webhooks need.
ASKING = 8
REPLY_TTL_MS = 30_000
QUEUE_TTL_MS = 60_000  # the request list of a deployment whose every process has gone

Answer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class SearchUnavailable(Exception):
    """No answer in time: the index is changing hands, or its process is stuck."""


class Desk:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        ask_seconds: float = ASK_SECONDS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ask_seconds = ask_seconds
        self._failures = FailureLog(log, "search requests")
        self._asking = asyncio.Semaphore(ASKING)

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The holder's answer to ``request``; SearchUnavailable when none comes in time or
        the holder could not search."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.ask_seconds):
                await self._asking.acquire()
        except TimeoutError:
            raise SearchUnavailable(f"{ASKING} searches already waiting") from None
        try:
            left = max(0.1, self.ask_seconds - (time.monotonic() - started))
            return await self._ask(request, left)
        finally:
            self._asking.release()

    async def _ask(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        token = secrets.token_hex(12)
        body = json.dumps({**request, "reply": token}, ensure_ascii=False)
        queue = self.keys.search_requests()
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(queue, body)
        pipe.pexpire(queue, QUEUE_TTL_MS)
        await pipe.execute()
        popped = None
        try:
            popped = await self.redis.blpop([self.keys.search_reply(token)], timeout=seconds)
        finally:
            if popped is None:  # given up (or cancelled): nobody is to answer it any more
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.redis.lrem(queue, 1, body))
        if popped is None:
            raise SearchUnavailable(f"no answer within {self.ask_seconds:g} s")
        answer: dict[str, Any] = json.loads(popped[1])
        if "error" in answer:
            raise SearchUnavailable(str(answer["error"]))
        return answer

    async def serve(self, answer: Answer) -> None:
        """Answer the requests with ``answer`` until cancelled (while holding the lease)."""
        slots = asyncio.Semaphore(AT_ONCE)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                try:
                    popped = await self.redis.blpop(
                        [self.keys.search_requests()], timeout=POP_SECONDS
                    )
                    self._failures.worked()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis away: try again shortly
                    slots.release()
                    self._failures.failed(exc)
                    await asyncio.sleep(POP_SECONDS)
                    continue
                if popped is None:
                    slots.release()
                    continue
                task = asyncio.create_task(self._answer(popped[1], answer, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()

    async def _answer(self, raw: str, answer: Answer, slots: asyncio.Semaphore) -> None:
        try:
            request = json.loads(raw)
            token = str(request["reply"])
            try:
                body = await answer(request)
            except Exception as exc:
                log.warning("search request failed: %r", exc)
                body = {"error": f"the search failed ({type(exc).__name__})"}
            reply = self.keys.search_reply(token)
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(reply, json.dumps(body, ensure_ascii=False))
            pipe.pexpire(reply, REPLY_TTL_MS)
            try:
                await pipe.execute()
            except Exception as exc:  # the asker times out and says so
                log.warning("search answer not delivered: %r", exc)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed search request dropped: %r", exc)
        finally:
            slots.release()
