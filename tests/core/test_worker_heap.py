"""A worker's startup heap is frozen once the app has started: the collector's full passes no
longer scan it (they stopped the event loop for 30-70 ms each; docs/performance.md)."""

from __future__ import annotations

import gc

from aiohttp import web

from gateway.supervisor import freeze_startup_heap


async def test_the_objects_alive_after_startup_leave_the_collector_and_garbage_does_not():
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    kept = Cycle()
    Cycle()  # garbage before the freeze: collected, not frozen for ever
    gc.unfreeze()
    try:
        await freeze_startup_heap(web.Application())
        assert gc.get_freeze_count() > 0
        assert not any(type(o) is Cycle and o is not kept for o in gc.get_objects())
        assert not _tracked(kept)  # frozen: in no generation
    finally:
        gc.unfreeze()
    assert _tracked(kept)


def _tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())
