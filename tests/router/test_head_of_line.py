"""No head-of-line blocking: a queue head full of conversations only a busy supervisor may take
does not keep an idle agent from the web chat behind them (real Redis store and worker)."""

from __future__ import annotations

from router.store import routing_group
from tests.router.conftest import Router


async def _busy_supervisor(router: Router) -> None:
    await router.agent("boss", capacity=1, supervisor=True)
    first = await router.message("hi")
    await router.worker.sweep()
    assert router.offered() == {first: "boss"}
    assert await router.store.accept(first, "boss") == "ok"


async def test_a_web_chat_behind_60_supervisor_only_conversations_is_offered(router: Router):
    await _busy_supervisor(router)
    sensitive = [await router.message("我要找律师起诉你们") for _ in range(60)]
    assert (await router.conv(sensitive[0]))["priority"] == "sensitive"
    router.clock.advance(1)
    chat = await router.message("hello", channel="webchat")
    await router.agent("idle", capacity=3)
    head = [c for c, _ in await router.store.queue_head(router.worker.config.batch)]
    assert chat not in head  # all 50 of the head are for the supervisor
    await router.worker.sweep()
    assert router.offered().get(chat) == "idle"
    assert not set(sensitive) & set(router.offered())  # they still wait for a supervisor


async def test_a_scan_skips_only_the_groups_nobody_available_may_take(router: Router):
    await _busy_supervisor(router)
    for _ in range(60):
        await router.message("我要找律师起诉你们")
    chats = []
    for _ in range(5):
        router.clock.advance(1)  # distinct deadlines: a stable order
        chats.append(await router.message("hello", channel="webchat"))
    emails = []
    for _ in range(2):
        router.clock.advance(1)
        emails.append(await router.message("hello", channel="email"))
    await router.agent("idle", capacity=4)
    await router.worker.sweep()
    # Four units of room: the four earliest chats, in deadline order; nothing else fits.
    assert [c for c in chats + emails if c in router.offered()] == chats[:4]
    found, nxt = await router.store.scan_queue(0, set(), 100)
    assert len(found) == 60 + 1 + 2 and nxt == -1
    sensitive_group = routing_group({"priority": "sensitive", "channel_type": "webchat"})
    found, _ = await router.store.scan_queue(0, {sensitive_group}, 100)
    # The emails' deadlines tie (business hours open after T0: both are due an hour after the
    # opening), and Redis orders a tie by member, so only the chat's place is fixed.
    assert [c for c, _ in found][:1] == chats[4:]
    assert sorted(c for c, _ in found[1:]) == sorted(emails)
    found, nxt = await router.store.scan_queue(0, {sensitive_group}, 100, budget=30)
    assert found == [] and nxt == 30  # the budget bounds the work of one scan
