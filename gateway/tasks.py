"""Stopping background tasks reliably.

redis-py (up to at least 8.1) can swallow a ``CancelledError`` that lands while a command is in
flight (redis/redis-py#2028), so a single ``task.cancel()`` may leave the task running. We cancel
again until the task is really done, within a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


def raise_if_cancelled() -> None:
    """Call after awaiting Redis in a loop: re-raises a cancellation redis-py swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(task: asyncio.Task[object] | None, timeout: float = 10.0) -> None:
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait({task}, timeout=0.5)
        if loop.time() > deadline:
            log.warning("task %s did not stop within %.0fs", task.get_name(), timeout)
            return
    if not task.cancelled():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()
