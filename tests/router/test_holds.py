"""A hold for the customer's previous agent never takes the team's last room: near saturation,
the room it passes up is capacity the queue behind needs (real Redis store and worker)."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import wait_for
from tests.router.conftest import Router


async def _returning_customer(router: Router, other_capacity: float) -> str:
    """``a-prev`` answered ``wang`` before and is full now; ``b-other`` holds one chat and has
    ``other_capacity - 1`` units of room. Returns wang's new conversation, queued."""
    await router.agent("a-prev", capacity=1)
    await router.agent("b-other", capacity=other_capacity)
    first = await router.message("hi", customer="wang")
    await router.worker.sweep()
    assert router.offered()[first] == "a-prev"
    assert await router.store.accept(first, "a-prev") == "ok"
    assert await router.store.resolve(first) == "ok"
    for customer in ("li", "zhao"):  # one chat each: a-prev full, b-other partly busy
        router.clock.advance(1)
        conv = await router.message("hello", customer=customer)
        await router.worker.sweep()
        agent = router.offered()[conv]
        assert await router.store.accept(conv, agent) == "ok"
    assert {router.offered()[c] for c in router.offered()} == {"a-prev", "b-other"}
    router.clock.advance(60)
    again = await router.message("me again", customer="wang", thread="second")
    assert (await router.conv(again))["sticky_agent"] == "a-prev"
    return again


async def test_no_hold_when_the_room_it_passes_up_is_the_team_s_last(router: Router):
    # b-other has room for exactly one chat: holding wang for a-prev would leave it unused
    # (or give it to a later chat) while the team has no other room. Offered at once.
    again = await _returning_customer(router, other_capacity=2)
    await router.worker.sweep()
    assert router.offered().get(again) == "b-other"


async def test_a_hold_while_the_team_has_room_to_spare(router: Router):
    # Room for two more chats besides: the hold costs nobody, wang waits for a-prev.
    again = await _returning_customer(router, other_capacity=3)
    await router.worker.sweep()
    assert again not in router.offered()
    router.clock.advance(31)  # past the 30 s sticky wait
    await router.worker.sweep()
    assert router.offered()[again] == "b-other"


async def test_the_router_looks_again_when_the_hold_ends_not_a_sweep_later(router: Router):
    # A held conversation is offered the moment its hold ends: the router's sleep is cut to
    # the end of the earliest hold of its last round. It used to wait for the next periodic
    # sweep (up to 5 s later; here 120 s), which on a suite day made a VIP's reply 3 s late.
    again = await _returning_customer(router, other_capacity=3)
    waiting_since = int((await router.conv(again))["waiting_since"])
    router.worker.config = replace(router.worker.config, sweep_seconds=120)
    router.clock.now = waiting_since + 29_500  # half a second of the 30 s wait left
    before = router.worker.sweeps
    await router.worker.start()
    try:

        async def swept() -> bool:
            return router.worker.sweeps > before

        async def offered() -> bool:
            return router.offered().get(again) == "b-other"

        await wait_for(swept, timeout=5)
        assert again not in router.offered()  # held for a-prev
        assert router.worker.hold_ends_at == waiting_since + 30_000
        router.clock.advance(1)  # the router's clock passes the hold's end meanwhile
        await wait_for(offered, timeout=5)
    finally:
        await router.worker.stop()


async def test_no_hold_end_without_a_hold(router: Router):
    again = await _returning_customer(router, other_capacity=2)  # offered at once
    await router.worker.sweep()
    assert router.offered().get(again) == "b-other"
    assert router.worker.hold_ends_at is None
