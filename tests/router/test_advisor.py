"""A VIP reaches their dedicated advisor whenever the advisor has room within the advisor wait:
room freed in the round is not taken by a conversation served before the VIP, and the room an
earlier conversation waits for (no overtaking) is not kept from the advisor's own VIP (real
Redis store and worker)."""

from __future__ import annotations

from tests.router.conftest import Router


async def _hold(router: Router, agent: str) -> str:
    conv = await router.message("hi")
    await router.worker.sweep()
    assert router.offered()[conv] == agent and await router.store.accept(conv, agent) == "ok"
    return conv


async def test_room_freed_for_a_waiting_vip_goes_to_the_vip(router: Router):
    await router.agent("adv", capacity=1)
    await router.agent("b", capacity=2)
    first = await _hold(router, "adv")
    second = await _hold(router, "b")
    await _hold(router, "b")  # everyone is full
    chat = await router.message("hello")  # due 10 s before the VIP (3 minutes against 2)
    router.clock.advance(70)
    vip = await router.message("hello", tier="vip")
    await router.redis.hset(router.keys.conversation(vip), "advisor", "adv")
    assert (await router.conv(vip))["priority"] == "high"
    await router.store.resolve(first)  # the advisor has room: 0 of 1, least loaded
    await router.store.resolve(second)  # b: 1 of 2
    await router.worker.sweep()
    assert router.offered()[vip] == "adv"
    assert router.offered()[chat] == "b"


async def test_without_a_vip_waiting_the_advisor_is_anyone_s(router: Router):
    await router.agent("adv", capacity=1)
    await router.agent("b", capacity=2)
    await _hold(router, "adv")
    await router.store.resolve(await _hold(router, "b"))
    chat = await router.message("hello")
    await router.worker.sweep()
    assert router.offered()[chat] == "b"


async def test_room_kept_for_an_earlier_chat_is_not_kept_from_the_advisors_vip(router: Router):
    await router.agent("adv", capacity=1.5)
    await router.agent("b", capacity=1)
    await _hold(router, "adv")  # adv: 1 of 1.5, half a unit left
    await _hold(router, "b")  # b: full
    chat = await router.message("hello")  # a whole unit: nobody has it, it keeps adv and b
    router.clock.advance(120)
    vip = await router.message("hello", channel="x", tier="vip")  # half a unit
    await router.redis.hset(router.keys.conversation(vip), "advisor", "adv")
    router.events.clear()
    await router.worker.sweep()
    assert router.offered() == {vip: "adv"}
    conv = await router.conv(chat)
    assert not conv.get("offered_to")  # still waiting, first in line for the next whole unit
