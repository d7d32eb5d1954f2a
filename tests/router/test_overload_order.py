"""Urgent first, always; under overload, those that can still meet their deadline before those
already late, and nobody passed over beyond their class's maximum wait: the pure order, and
through the real Redis store and worker."""

from __future__ import annotations

from dataclasses import replace

from gateway.settings import config_dir
from router.policy import ConversationView, DeadlinePolicy
from router.sla import load_sla
from tests.router.conftest import Router

T = 1_773_360_000_000
SLA = load_sla(config_dir() / "sla.toml")
OURS = DeadlinePolicy.from_sla(SLA)
MIN = 60_000


def chat(cid: str, arrived: int, priority: str = "normal") -> tuple[ConversationView, float]:
    due = SLA.first_response_due(priority, "webchat", arrived)
    rank = SLA.rank(priority)
    view = ConversationView(id=cid, priority=priority, priority_rank=rank, channel_type="webchat",
                            due=due, waiting_since=arrived)  # fmt: skip
    return view, float(SLA.queue_due("first_response", priority, "webchat", arrived))


def order(now: int, *items: tuple[ConversationView, float]) -> list[str]:
    return [v.id for v in OURS.order(sorted(items, key=lambda i: i[1]), {}, now)]


def test_while_every_deadline_can_be_met_it_is_earliest_deadline_first():
    now = T + MIN
    assert order(now, chat("b", T + 30_000), chat("a", T), chat("low", T, "low")) == [
        "a", "b", "low",
    ]  # fmt: skip


def test_under_overload_on_time_first_then_late_by_class_and_nobody_past_the_maximum():
    now = T + 20 * MIN
    fresh = chat("fresh", now - MIN)  # due in 2 minutes: can still be answered in time
    late = chat("late", now - 5 * MIN)  # 2 minutes late
    late_vip = chat("late-vip", now - 4 * MIN, "high")  # 2 minutes late, a VIP
    starved = chat("starved", now - 19 * MIN)  # past the 15-minute maximum wait of normal
    urgent = chat("urgent", now - 10_000, "urgent")
    assert order(now, fresh, late, late_vip, starved, urgent) == [
        "urgent", "starved", "fresh", "late-vip", "late",
    ]  # fmt: skip
    # Deadline order (the queue's) would have served the late ones first.
    assert [v.id for v, _ in sorted([fresh, late, starved], key=lambda i: i[1])] == [
        "starved", "late", "fresh",
    ]  # fmt: skip
    # Without a maximum wait configured: plain deadline order.
    plain = replace(OURS, late_grace=None, first_classes=frozenset())
    assert [v.id for v in plain.order([starved, late, fresh], {}, now)] == [
        "starved", "late", "fresh",
    ]  # fmt: skip


def test_past_the_maximum_wait_gets_a_share_of_the_offers_not_all_of_them():
    now = T + 20 * MIN
    fresh = chat("fresh", now - MIN)
    late = chat("late", now - 5 * MIN)
    starved = chat("starved", now - 19 * MIN)
    turn_over = replace(OURS, overdue_first=False)  # they had their share lately
    assert [v.id for v in turn_over.order([starved, late, fresh], {}, now)] == [
        "fresh", "starved", "late",
    ]  # fmt: skip


async def test_the_worker_gives_overdue_conversations_their_share(router: Router):
    worker = router.worker
    assert worker._overdue_turn(T)  # nothing offered yet
    for overdue in (True, False, False):
        worker.recent.add(T, overdue)
    assert not worker._overdue_turn(T)  # 1 of 3 >= 25%
    worker.recent.add(T, False)
    worker.recent.add(T + MIN, False)
    assert worker._overdue_turn(T + MIN)  # 1 of 5 < 25%
    # The overdue one leaves the window (with three others): 0 of 1.
    assert worker._overdue_turn(T + 30 * MIN + 1) and len(worker.recent) == 1
    worker.recent.add(T + 30 * MIN + 1, True)
    assert not worker._overdue_turn(T + 30 * MIN + 1)  # 1 of 2
    assert worker._overdue_turn(T + 62 * MIN) and len(worker.recent) == 0  # nothing recent


async def test_urgent_goes_ahead_of_overdue_chats(router: Router):
    chats = [await router.message("hello") for _ in range(3)]
    router.clock.advance(600)  # ten minutes: every chat is overdue
    urgent = await router.message("我的充电器冒烟了")
    head = [c for c, _ in await router.store.queue_head(10)]
    assert head[0] == urgent and set(head[1:]) == set(chats)
    await router.agent("a", capacity=1)
    await router.worker.sweep()
    assert router.offered() == {urgent: "a"}


async def test_a_conversation_raised_to_urgent_joins_the_urgent_ones(router: Router):
    await router.agent("busy", capacity=1)
    await router.store.set_status("busy", "away")
    vip = await router.message("hello", tier="vip")  # high: 2 minutes
    assert (await router.conv(vip))["priority"] == "high"
    router.clock.advance(100)
    chat_ = await router.message("hello")
    router.clock.advance(30)  # the VIP breaches: raised to urgent
    await router.worker.sweep()
    assert (await router.conv(vip))["priority"] == "urgent"
    head = [c for c, _ in await router.store.queue_head(5)]
    assert head == [vip, chat_]
    score = dict(await router.store.queue_head(5))[vip]
    assert score < router.clock.now - 10**11  # in the urgent band


async def test_under_overload_the_round_reads_and_serves_those_still_on_time(router: Router):
    late = [await router.message("hello") for _ in range(60)]
    router.clock.advance(240)  # the 60 are a minute late
    fresh = await router.message("hello")  # due in 3 minutes
    await router.agent("a", capacity=1)
    await router.worker.sweep()
    assert router.offered() == {fresh: "a"}  # the one that can still be answered in time
    assert not set(late) & set(router.offered())
    # Once they pass the 15-minute maximum wait of their class, they go first again.
    assert await router.store.resolve(fresh) == "ok"
    router.clock.advance(15 * 60)
    newer = await router.message("hello")
    await router.worker.sweep()
    assert set(router.offered()) - {fresh} <= set(late) and newer not in router.offered()
