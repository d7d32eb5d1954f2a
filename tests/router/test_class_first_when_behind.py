"""While the team is behind (the round holds late conversations), those still on time go by
class first, then deadline: a VIP's 2 minutes before a normal chat due earlier. With nothing
late, plain deadline order as before. The pure order, and through the real Redis store and
worker."""

from __future__ import annotations

from tests.router.conftest import Router
from tests.router.test_overload_order import MIN, OURS, T, chat


def _order(now: int, *items):  # type: ignore[no-untyped-def]
    return [v.id for v in OURS.order(sorted(items, key=lambda i: i[1]), {}, now)]


def test_on_time_by_class_first_only_while_some_are_late():
    now = T + 20 * MIN
    normal = chat("normal", now - 2 * MIN)  # due in 1 minute
    vip = chat("vip", now - 30_000, "high")  # due in 90 s: later than the normal chat
    late = chat("late", now - 5 * MIN)  # 2 minutes late, within the maximum wait
    assert _order(now, normal, vip, late) == ["vip", "normal", "late"]
    # Nothing late: every deadline can still be met, so earliest deadline first.
    assert _order(now, normal, vip) == ["normal", "vip"]


async def test_the_worker_offers_the_vip_first_while_the_team_is_behind(router: Router):
    late = [await router.message("hello") for _ in range(3)]
    router.clock.advance(240)  # the three are a minute late
    normal = await router.message("hello")  # due in 3 minutes
    router.clock.advance(60)
    vip = await router.message("hello", tier="vip")  # due in 2 minutes: 60 s after `normal`
    assert (await router.conv(vip))["priority"] == "high"
    await router.agent("a", capacity=1)
    await router.worker.sweep()
    assert router.offered() == {vip: "a"}
    assert not {normal, *late} & set(router.offered())
