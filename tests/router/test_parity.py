"""Channel parity credits (router/parity.py) and how our policy orders the queue with them."""

from __future__ import annotations

import pytest

from gateway.settings import config_dir
from router.parity import ChannelWaits
from router.peers import TaskRouterPolicy
from router.policy import ConversationView, DeadlinePolicy
from router.sla import SlaConfigError, load_sla, parse_sla, sla_to_doc

T = 1_773_360_000_000
MIN = 60_000


def group(priority: str, channel: str) -> tuple[str, int]:
    return priority, 3600 if channel == "email" else 180


def waits(**kwargs) -> ChannelWaits:
    kwargs.setdefault("gain", 1.0)
    return ChannelWaits(window_ms=kwargs.pop("window_ms", 60 * MIN), min_samples=5, **kwargs)


def fill(tracker: ChannelWaits, channel: str, wait_ms: int, n: int = 10, at: int = T,
         priority: str = "normal") -> None:  # fmt: skip
    for i in range(n):
        tracker.record(priority, channel, at + i, wait_ms)


def test_the_channel_behind_gets_the_gap_as_credit_and_the_best_gets_none():
    tracker = waits()
    fill(tracker, "webchat", 10_000)
    fill(tracker, "api", 40_000)
    fill(tracker, "wechat_oa", 25_000)
    assert tracker.credits(T + MIN, group) == {
        ("normal", "api"): 30_000,
        ("normal", "wechat_oa"): 15_000,
    }


def test_credit_scales_with_the_gain_and_is_capped():
    half = waits(gain=0.5)
    capped = waits(max_credit_ms=20_000)
    for tracker in (half, capped):
        fill(tracker, "webchat", 0)
        fill(tracker, "api", 60_000)
    assert half.credits(T, group) == {("normal", "api"): 30_000}
    assert capped.credits(T, group) == {("normal", "api"): 20_000}


def test_the_percentile_is_the_tail_not_the_typical_wait():
    tracker = waits()
    fill(tracker, "webchat", 5_000, n=20)
    fill(tracker, "api", 5_000, n=16)
    fill(tracker, "api", 50_000, n=4)  # a fifth of the API waited long: its p90 is 50 s
    assert tracker.credits(T, group) == {("normal", "api"): 45_000}


def test_only_channels_of_the_same_class_and_target_are_compared():
    tracker = waits()
    fill(tracker, "webchat", 10_000)
    fill(tracker, "email", 900_000)  # an hour's target: long queue waits are by design
    fill(tracker, "api", 90_000, priority="low")
    assert tracker.credits(T, group) == {}


def test_too_few_samples_neither_get_nor_set_a_credit():
    tracker = waits()
    fill(tracker, "webchat", 0, n=4)  # under min_samples: not the "best" either
    fill(tracker, "api", 30_000)
    fill(tracker, "x", 10_000)
    assert tracker.credits(T, group) == {("normal", "api"): 20_000}


def test_old_waits_leave_the_window():
    tracker = waits(window_ms=10 * MIN)
    fill(tracker, "webchat", 0)
    fill(tracker, "api", 60_000)  # at T
    fill(tracker, "api", 0, at=T + 8 * MIN)
    fill(tracker, "webchat", 0, at=T + 8 * MIN)
    assert tracker.credits(T + 9 * MIN, group) == {("normal", "api"): 60_000}
    # Ten minutes on, the slow API waits are gone: even again.
    assert tracker.credits(T + 11 * MIN, group) == {}
    # Recording drops what left the window too, so memory stays bounded without reads.
    fill(tracker, "x", 0, at=T + 30 * MIN)
    assert len(tracker._waits[("normal", "api")].sorted_ms) == 10
    tracker.record("normal", "api", T + 30 * MIN, 0)
    assert len(tracker._waits[("normal", "api")].sorted_ms) == 1


def test_off_records_nothing():
    for tracker in (waits(window_ms=0), waits(gain=0)):
        fill(tracker, "webchat", 0)
        fill(tracker, "api", 60_000)
        assert tracker.credits(T, group) == {}


def view(cid: str, channel: str, priority: str = "normal") -> ConversationView:
    return ConversationView(id=cid, channel_type=channel, priority=priority)


def test_a_credited_channel_goes_first_among_conversations_due_within_the_credit():
    ours = DeadlinePolicy()
    chat, api = view("chat", "webchat"), view("api", "api")
    credits = {("normal", "api"): 30_000}

    def order(policy, credits, *items):
        return [v.id for v in policy.order(list(items), credits)]

    assert order(ours, credits, (chat, T), (api, T + 20_000)) == ["api", "chat"]
    # Due more than the credit later: the deadline rules.
    assert order(ours, credits, (chat, T), (api, T + 40_000)) == ["chat", "api"]
    # The credit is per class: an urgent conversation due earlier is not overtaken.
    urgent = view("urgent", "webchat", "urgent")
    assert order(ours, credits, (urgent, T), (api, T + 1)) == ["urgent", "api"]
    # No credit, or a peer's policy: the queue order as stored.
    assert order(ours, {}, (chat, T), (api, T + 20_000)) == ["chat", "api"]
    assert order(TaskRouterPolicy(), credits, (chat, T), (api, T + 20_000)) == ["chat", "api"]


def test_the_parity_settings_come_from_the_sla_policy_and_are_checked():
    sla = load_sla(config_dir() / "sla.toml")
    assert (sla.parity_window_minutes, sla.parity_gain, sla.parity_max_credit_seconds) == (
        1440, 2.0, 60)  # fmt: skip
    doc = sla_to_doc(sla)
    doc["routing"].update(parity_window_minutes=60, parity_gain=0.5, parity_max_credit_seconds=20)
    changed = parse_sla(doc)
    assert (changed.parity_window_minutes, changed.parity_gain) == (60, 0.5)
    assert changed.parity_max_credit_seconds == 20
    for name, bad in (
        ("parity_gain", -1),
        ("parity_gain", "lots"),
        ("parity_window_minutes", 1.5),
        ("parity_window_minutes", 20_000),
        ("parity_max_credit_seconds", True),
    ):
        broken = sla_to_doc(sla)
        broken["routing"][name] = bad
        with pytest.raises(SlaConfigError, match=rf"routing\.{name}"):
            parse_sla(broken)
