"""A round's offers go to Redis together (one pipeline, not a round trip each), and an offer the
agent can no longer take leaves its conversation queued for the next round, nothing else lost
(real Redis store and worker)."""

from __future__ import annotations

from tests.router.conftest import Router


async def test_the_offers_of_one_round_are_one_pipeline(router: Router):
    await router.agent("a", capacity=3)
    await router.agent("b", capacity=3)
    warm = await router.message("hello")  # the first round loads the scripts into Redis
    assert await router.worker.sweep() == 1
    assert await router.store.accept(warm, "a") == "ok"
    assert await router.store.resolve(warm) == "ok"
    # A round with one offer: its reads and its offer, each one pipeline.
    router.clock.advance(1)
    one = await router.message("hello")
    before = router.store.batch.pipelines_sent
    assert await router.worker.sweep() == 1
    one_offer = router.store.batch.pipelines_sent - before
    assert await router.store.accept(one, (await router.conv(one))["offered_to"]) == "ok"
    assert await router.store.resolve(one) == "ok"
    router.events.clear()
    chats = []
    for _ in range(6):
        router.clock.advance(1)
        chats.append(await router.message("hello"))
    before = router.store.batch.pipelines_sent
    assert await router.worker.sweep() == 6
    # Six offers cost the round no more round trips than one did.
    assert router.store.batch.pipelines_sent - before == one_offer
    offered = router.offered()
    assert sorted(offered) == sorted(chats)
    assert sorted(offered.values()) == ["a"] * 3 + ["b"] * 3
    for chat in chats:  # each offer is in Redis, not only told
        assert (await router.conv(chat))["offered_to"] == offered[chat]


async def test_an_agent_gone_since_the_round_read_them_keeps_its_conversations_queued(
    router: Router,
):
    await router.agent("a", capacity=2)
    await router.agent("b", capacity=2)
    chats = []
    for _ in range(4):
        router.clock.advance(1)
        chats.append(await router.message("hello"))
    # "b" goes away between the round's read of the candidates and its offers: its routing
    # card still says online (what the round reads), its own hash no longer (what the offer
    # script checks), as when it signs out in the middle of a round.
    await router.redis.hset(router.keys.agent("b"), "status", "away")
    assert await router.worker.sweep() == 2
    offered = router.offered()
    assert set(offered.values()) == {"a"} and len(offered) == 2
    left = [c for c in chats if c not in offered]
    for chat in left:
        row = await router.conv(chat)
        assert not row.get("offered_to")
        assert await router.redis.zscore(router.keys.queue(), chat) is not None
    # Its sign-out completes; "a" answers its two, the next round gives it the other two.
    await router.store.set_status("b", "away")
    for chat in offered:
        assert await router.store.accept(chat, "a") == "ok"
        assert await router.store.resolve(chat) == "ok"
    router.events.clear()
    assert await router.worker.sweep() == 2
    assert router.offered() == {chat: "a" for chat in left}
