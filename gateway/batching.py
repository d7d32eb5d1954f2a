"""Group commit for Redis: commands issued in the same event-loop turn go out as one pipeline.

Under load many requests reach the same ``await`` in the same turn (aiohttp runs the handlers of
every socket epoll reported ready before it yields). Sending their commands as one pipeline
costs one pooled connection, one socket write and one read for all of them instead of one each,
which is most of redis-py's cost per command. A lone call waits one loop turn, nothing more.
Each call still gets its own answer or its own error; a broken connection fails the calls of
that batch only (callers see the same ``ConnectionError`` they would have seen alone).

``merged`` goes further for items that can travel together: every item of one group submitted
before a pipeline goes out becomes one command of it (the events of a batch: one PUBLISH).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway import redis_wire
from gateway.tasks import cancel_and_wait, raise_if_cancelled


class _Group:
    """Items of one ``merged`` group waiting for the next pipeline, and their callers."""

    def __init__(self, key: Hashable, encode: Callable[[list[Any]], tuple[Any, ...]]) -> None:
        self.key = key
        self.encode = encode
        self.items: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []


# A command (or a group, encoded into one when its pipeline goes out) and who awaits it.
_Call = tuple[tuple[Any, ...] | _Group, list[asyncio.Future[Any]]]


class CommandBatcher:
    def __init__(self, redis: Redis, max_batch: int = 256) -> None:
        self.redis = redis
        # One server: a connection of its own, each batch written as one buffer
        # (gateway/redis_wire.py). A cluster or a Sentinel's primary: redis-py's pipelines.
        self._wire = redis_wire.Wire(redis) if redis_wire.usable(redis) else None
        self.max_batch = max_batch  # bounds the size of one pipeline's request and reply
        self._pending: list[_Call] = []
        self._groups: dict[Hashable, _Group] = {}  # open groups (in _pending, not yet sent)
        self._flusher: asyncio.Task[None] | None = None
        self._loading: dict[str, asyncio.Future[Any]] = {}  # scripts being loaded, by sha
        self.pipelines_sent = 0  # for tests and benchmarks: how well calls are grouped

    async def command(self, *command: Any) -> Any:
        """Any command (e.g. PUBLISH) with the others of this loop turn."""
        return await self._submit(command)

    async def commands(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in the same pipeline, their answers in order (the first error is
        raised)."""
        return list(await asyncio.gather(*(self._submit(command) for command in commands)))

    async def script(
        self, script: AsyncScript, keys: Sequence[str | bytes], args: Sequence[Any]
    ) -> Any:
        """EVALSHA ``script`` with the others of this loop turn; loads it once if Redis lost it
        (a restart or SCRIPT FLUSH)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._submit(command)
        except NoScriptError:
            await self._load(script)
            return await self._submit(command)

    async def _load(self, script: AsyncScript) -> None:
        """SCRIPT LOAD once for every caller that found it missing at the same time (after a
        restart, a whole batch of them)."""
        loading = self._loading.get(script.sha)
        if loading is None:
            loading = asyncio.ensure_future(self.redis.script_load(script.script))
            self._loading[script.sha] = loading
            loading.add_done_callback(lambda _: self._loading.pop(script.sha, None))
        await asyncio.shield(loading)

    def merged(
        self, group: Hashable, item: Any, encode: Callable[[list[Any]], tuple[Any, ...]]
    ) -> asyncio.Future[Any]:
        """``item`` joins the items of ``group`` submitted before the next pipeline goes out;
        they are sent as one command, ``encode(items)`` (in the order submitted), at the place
        of the group's first item, and every caller gets that command's answer or error."""
        future = asyncio.get_running_loop().create_future()
        entry = self._groups.get(group)
        if entry is None:
            entry = self._groups[group] = _Group(group, encode)
            self._pending.append((entry, entry.futures))
            self._start_flusher()
        entry.items.append(item)
        entry.futures.append(future)
        return future

    def _submit(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((command, [future]))
        self._start_flusher()
        return future

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            # The task's first step runs after every handler already ready in this turn.
            self._flusher = asyncio.create_task(self._flush(), name="redis-batch")

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)
        if self._wire is not None:
            await self._wire.close()

    async def _flush(self) -> None:
        # One pipeline in flight at a time: calls made meanwhile form the next, larger batch,
        # so the batch size follows the load.
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            batch = self._encode_groups(batch)
            if not batch:
                continue
            try:
                replies = await self._send([command for command, _futures in batch])
                raise_if_cancelled()
            except Exception as exc:  # the connection failed: this batch's calls fail alike
                _fail(batch, exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody will send the rest
                _fail(batch + self._pending, None)
                self._pending.clear()
                self._groups.clear()
                raise
            for (_command, futures), reply in zip(batch, replies, strict=True):
                for future in futures:
                    if future.done():  # the caller was cancelled
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)

    def _encode_groups(self, batch: list[_Call]) -> list[_Call]:
        """The groups of ``batch`` closed (later items start new ones) and made commands."""
        out: list[_Call] = []
        for command, futures in batch:
            if isinstance(command, _Group):
                del self._groups[command.key]
                try:
                    command = command.encode(command.items)
                except Exception as exc:  # fails this group's callers only
                    _fail([(command, futures)], exc)
                    continue
            out.append((command, futures))
        return out

    async def _send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        self.pipelines_sent += 1
        if self._wire is not None:
            return await self._wire.send(commands)
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)


def _fail(calls: list[_Call], exc: BaseException | None) -> None:
    """Fails each call with ``exc``, or cancels it when there is none."""
    for _command, futures in calls:
        for future in futures:
            if future.done():
                continue
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)
