"""Long loops on the event loop give the rest of the process a turn.

Everything a worker serves shares one event loop: while one step of a task runs, every
request, reply and offer waits. A search poll that read 60 new contacts and analysed them in
one step held the loop for 3-22 ms, several times a second at 200 messages per second, and
that was the end-to-end benchmark's slowest 1% (docs/performance.md). A loop that may run
long takes a ``Turns`` and awaits ``share()`` between items: each slice runs at most about
``budget`` seconds (plus one item) before the others get the loop."""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.001


class Turns:
    def __init__(self, budget: float = SLICE_SECONDS) -> None:
        self.budget = budget
        self._since = time.perf_counter()

    async def share(self) -> None:
        """Lets the other tasks run once this slice has used its budget (else returns at once,
        without giving up the loop)."""
        if time.perf_counter() - self._since >= self.budget:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
