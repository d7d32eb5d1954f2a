"""Copying a message's attachments from the platform into the gateway's media store before the
message goes in. A file that cannot be had never holds the message back: its attachment says
why it is missing, and agents still get the text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.models import Attachment


async def fetch_attachments(
    pending: list[Attachment],
    fetch_one: Callable[[Attachment], Awaitable[None]],
    budget_seconds: float,
    storage_available: bool,
) -> None:
    """Fetch each of ``pending`` in turn (``fetch_one`` sets its ``url`` or ``meta["error"]``)
    within one time budget for them all."""
    if not pending:
        return
    if not storage_available:
        for a in pending:
            a.meta["error"] = "media storage is not available"
        return
    try:
        async with asyncio.timeout(budget_seconds):
            for a in pending:
                await fetch_one(a)
    except TimeoutError:
        for a in pending:
            if not a.url:
                a.meta.setdefault("error", "media download timed out")
