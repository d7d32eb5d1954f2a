"""A missed or declined offer never strands a conversation: it goes to another eligible agent
first, and back to the same agents when nobody else may take it (real Redis store and worker,
test-driven clock; the offer timeout is the worker's 30 s)."""

from __future__ import annotations

from tests.router.conftest import Router


def _offers_of(router: Router, conversation_id: str) -> list[str]:
    return [
        users[0]
        for kind, data, users, _ in router.events
        if kind == "conversation.offered" and data["conversation_id"] == conversation_id
    ]


async def test_one_agent_online_is_offered_it_again_after_a_timeout(router: Router):
    await router.agent("night", capacity=3)
    conv = await router.message("hi")
    await router.worker.sweep()
    assert _offers_of(router, conv) == ["night"]
    router.clock.advance(31)  # the offer times out
    await router.worker.sweep()
    assert len(router.of_kind("conversation.offer_expired")) == 1
    # The next round offers it to the same agent: nobody else may take it, and she has room.
    assert _offers_of(router, conv) == ["night", "night"]
    assert await router.store.accept(conv, "night") == "ok"
    fields = await router.conv(conv)
    assert fields["assignee"] == "night" and "excluded" not in fields


async def test_a_declined_conversation_comes_back_when_nobody_else_may_take_it(router: Router):
    # Not the same second: the agent who just said no is asked again only once an unanswered
    # offer would have timed out (the worker's 30 s), and the router looks again right then.
    await router.agent("a", capacity=3)
    conv = await router.message("hi")
    await router.worker.sweep()
    assert await router.store.release_offer(conv, "a", "decline", 3) == "ok"
    declined_at = router.clock()
    await router.worker.sweep()
    assert _offers_of(router, conv) == ["a"]
    assert router.worker.hold_ends_at == declined_at + 30_000
    router.clock.advance(29)
    await router.worker.sweep()
    assert _offers_of(router, conv) == ["a"]
    router.clock.advance(1)
    await router.worker.sweep()
    assert _offers_of(router, conv) == ["a", "a"]
    assert await router.store.release_offer(conv, "a", "decline", 3) == "ok"
    assert (await router.conv(conv))["excluded"] == "a"  # recorded once


async def test_a_declined_conversation_goes_to_another_at_once(router: Router):
    await router.agent("a", capacity=3)
    conv = await router.message("hi")
    await router.worker.sweep()
    await router.agent("b", capacity=3)
    assert await router.store.release_offer(conv, "a", "decline", 3) == "ok"
    await router.worker.sweep()
    assert _offers_of(router, conv) == ["a", "b"]
    assert await router.store.accept(conv, "b") == "ok"
    fields = await router.conv(conv)
    assert "excluded" not in fields and "declined_at" not in fields  # taken: a fresh start


async def test_with_two_agents_a_timed_out_offer_goes_to_the_other_first(router: Router):
    await router.agent("a", capacity=3)
    await router.agent("b", capacity=3)
    conv = await router.message("hi")
    await router.worker.sweep()
    first = _offers_of(router, conv)[0]
    other = "b" if first == "a" else "a"
    router.clock.advance(31)
    await router.worker.sweep()
    assert _offers_of(router, conv) == [first, other]
    # The other misses it too: both excluded, so it goes back to whichever has room first.
    await router.store.set_status(other, "away")
    router.clock.advance(31)
    await router.worker.sweep()
    assert _offers_of(router, conv) == [first, other, first]


async def test_missing_offers_in_a_row_still_sets_the_agent_away(router: Router):
    await router.agent("sleepy", capacity=5)
    conv = await router.message("hi")
    for _ in range(3):
        await router.worker.sweep()
        router.clock.advance(31)
    await router.worker.sweep()  # the third timeout sets her away
    assert _offers_of(router, conv) == ["sleepy"] * 3
    assert (await router.store.agent_raw("sleepy"))["status"] == "away"
    assert await router.store.queue_length() == 1  # waits for someone online
