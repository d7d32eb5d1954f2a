"""Group commit for Redis: commands issued in the same event-loop turn go out as one pipeline.

Under load many requests reach the same ``await`` in the same turn (aiohttp runs the handlers of
every socket epoll reported ready before it yields). Sending their commands as one pipeline
costs one pooled connection, one socket write and one read for all of them instead of one each,
which is most of redis-py's cost per command. A lone call waits one loop turn, nothing more.
Each call still gets its own answer or its own error; a broken connection fails the calls of
that batch only (callers see the same ``ConnectionError`` they would have seen alone).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway.tasks import cancel_and_wait, raise_if_cancelled

_Call = tuple[tuple[Any, ...], asyncio.Future[Any]]


class CommandBatcher:
    def __init__(self, redis: Redis, max_batch: int = 256) -> None:
        self.redis = redis
        self.max_batch = max_batch  # bounds the size of one pipeline's request and reply
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self.pipelines_sent = 0  # for tests and benchmarks: how well calls are grouped

    async def command(self, *command: Any) -> Any:
        """Any command (e.g. PUBLISH) with the others of this loop turn."""
        return await self._submit(command)

    async def script(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA ``script`` with the others of this loop turn; loads it once if Redis lost it
        (a restart or SCRIPT FLUSH)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._submit(command)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self._submit(command)

    def _submit(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((command, future))
        if self._flusher is None or self._flusher.done():
            # The task's first step runs after every handler already ready in this turn.
            self._flusher = asyncio.create_task(self._flush(), name="redis-batch")
        return future

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)

    async def _flush(self) -> None:
        # One pipeline in flight at a time: calls made meanwhile form the next, larger batch,
        # so the batch size follows the load.
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                replies = await self._send(batch)
                raise_if_cancelled()
            except Exception as exc:  # the connection failed: this batch's calls fail alike
                _fail(batch, exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody will send the rest
                _fail(batch + self._pending, None)
                self._pending.clear()
                raise
            for (_command, future), reply in zip(batch, replies, strict=True):
                if future.done():  # the caller was cancelled
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _send(self, batch: list[_Call]) -> list[Any]:
        self.pipelines_sent += 1
        pipe = self.redis.pipeline(transaction=False)
        for command, _future in batch:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)


def _fail(calls: list[_Call], exc: BaseException | None) -> None:
    """Fails each call with ``exc``, or cancels it when there is none."""
    for _command, future in calls:
        if future.done():
            continue
        if exc is None:
            future.cancel()
        else:
            future.set_exception(exc)
