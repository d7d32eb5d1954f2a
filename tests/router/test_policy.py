"""The pure routing policy: deadline order, eligibility, weights, choice, stickiness with
fallback, no overtaking, and the peers' policies."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.settings import config_dir
from router.peers import BalancedPolicy, RoundRobinPolicy, TaskRouterPolicy
from router.policy import (
    AgentView,
    ConversationView,
    DeadlinePolicy,
    choose_agent,
    conversation_view,
    fill_gaps,
    is_eligible,
    short_of_room,
    stranded_room,
)
from router.sla import QUEUE_FIRST_MS, SlaConfigError, load_sla, parse_sla, sla_to_doc

T = 1_773_360_000_000  # 2026-03-13 08:00 Asia/Shanghai (Friday)
SLA = load_sla(config_dir() / "sla.toml")


def agent(agent_id: str, **kw: object) -> AgentView:
    return AgentView(id=agent_id, **{"capacity": 3.0, **kw})  # type: ignore[arg-type]


def conv(**kw: object) -> ConversationView:
    return ConversationView(id=str(kw.pop("id", "c1")), **kw)  # type: ignore[arg-type]


# --- deadline order ---------------------------------------------------------------------------
def test_queue_deadlines_order_urgent_then_chat_then_email():
    urgent = SLA.queue_due("first_response", "urgent", "email", T)
    chat = SLA.queue_due("first_response", "normal", "webchat", T)
    wechat = SLA.queue_due("first_response", "normal", "wechat_oa", T)
    email = SLA.queue_due("first_response", "normal", "email", T)
    low_chat = SLA.queue_due("first_response", "low", "webchat", T)
    # queue_target 0 and queue_first: ahead of everything, overdue or not.
    assert urgent == T - QUEUE_FIRST_MS
    # A media threat is served first too (issue 14: a senior within 30 minutes).
    assert SLA.queue_due("first_response", "sensitive", "webchat", T) == T - QUEUE_FIRST_MS
    assert chat == wechat == T + 180_000  # the same class waits the same on every chat channel
    assert email == T + 7_200_000  # an hour of business time: opens 09:00, due 10:00
    assert urgent < chat < low_chat <= email
    # The SLA deadline itself stays the class's target.
    assert SLA.first_response_due("urgent", "email", T) == T + 900_000


def test_view_is_queued_by_next_response_once_answered():
    row = {
        "channel_type": "webchat",
        "first_response_due": str(T + 180_000),
        "next_response_due": str(T + 900_000),
        "waiting_since": str(T + 700_000),
    }
    assert conversation_view("c", row, SLA).due == T + 180_000
    answered = {**row, "first_response_at": str(T + 60_000)}
    assert conversation_view("c", answered, SLA).due == T + 900_000


def test_view_reads_class_needs_and_routing_fields():
    row = {
        "channel_type": "x",
        "priority": "sensitive",
        "priority_rank": "1",
        "weight": "0.5",
        "team": "social",
        "skills": '["refunds"]',
        "language": "en",
        "excluded": "a1,a2",
        "sticky_agent": "a9",
        "advisor": "v1",
        "widened": "1",
    }
    view = conversation_view("c", row, SLA)
    assert view.needs_supervisor and view.widened and view.weight == 0.5
    assert view.skills == {"refunds"} and view.excluded == {"a1", "a2"}
    assert (view.preferred_agent, view.advisor, view.team) == ("a9", "v1", "social")


# --- eligibility and weights ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "what", "eligible"),
    [
        (agent("a"), conv(), True),
        (agent("a", status="away"), conv(), False),
        (agent("a", status="offline"), conv(), False),
        (agent("a"), conv(excluded=frozenset({"a"})), False),
        (agent("a", load=2.0), conv(), True),
        (agent("a", load=2.5), conv(weight=1.0), False),  # a chat needs a whole unit
        (agent("a", load=2.5), conv(weight=0.5), True),  # an email or a mention fits
        (agent("a", teams=frozenset({"care"})), conv(team="social"), False),
        (agent("a", teams=frozenset({"care"})), conv(team="social", widened=True), True),
        (agent("a", skills=frozenset({"refunds"})), conv(skills=frozenset({"refunds"})), True),
        (agent("a"), conv(skills=frozenset({"refunds"})), False),
        (agent("a", languages=frozenset({"zh"})), conv(language="en"), False),
        (agent("a"), conv(language="en"), True),  # no languages listed: speaks any
        (agent("a"), conv(needs_supervisor=True), False),
        (agent("a", supervisor=True), conv(needs_supervisor=True), True),
        (agent("a"), conv(needs_supervisor=True, widened=True), True),
    ],
)
def test_eligibility(who: AgentView, what: ConversationView, eligible: bool):
    assert is_eligible(who, what) is eligible


def test_choice_lowest_load_ratio_then_longest_idle():
    agents = [
        agent("busy", load=2.0),
        agent("big", load=2.4, capacity=6.0),  # ratio 0.4
        agent("recent", load=1.0, last_assigned_at=T),
        agent("idle", load=1.0, last_assigned_at=T - 600_000),
    ]
    assert choose_agent(agents, conv()).id == "idle"
    assert choose_agent(agents[:2], conv()).id == "big"
    assert choose_agent([agent("x", status="away")], conv()) is None


# --- stickiness with fallback -----------------------------------------------------------------
def test_previous_agent_preferred_when_eligible():
    agents = [agent("other"), agent("prev", load=2.0)]
    assert choose_agent(agents, conv(preferred_agent="prev")).id == "prev"


def test_busy_previous_agent_holds_then_falls_back():
    agents = [agent("other", load=1.0), agent("prev", load=3.0)]
    c = conv(preferred_agent="prev", waiting_since=T, due=T + 180_000)
    assert choose_agent(agents, c, T + 10_000, sticky_wait_ms=30_000) is None  # held
    assert choose_agent(agents, c, T + 30_000, sticky_wait_ms=30_000).id == "other"
    # Never held past a third of the time to the deadline, whatever the configured wait.
    assert choose_agent(agents, c, T + 59_000, sticky_wait_ms=600_000) is None
    assert choose_agent(agents, c, T + 60_000, sticky_wait_ms=600_000).id == "other"


def test_no_hold_while_another_eligible_agent_is_idle():
    c = conv(preferred_agent="prev", waiting_since=T, due=T + 180_000)
    idle = [agent("other"), agent("prev", load=3.0)]
    assert choose_agent(idle, c, T + 10_000, sticky_wait_ms=30_000).id == "other"
    vip = conv(advisor="prev", waiting_since=T, due=T + 120_000)
    assert choose_agent(idle, vip, T + 10_000, advisor_wait_ms=30_000).id == "other"


def test_no_hold_when_the_room_it_passes_up_is_the_team_s_last():
    c = conv(preferred_agent="prev", waiting_since=T, due=T + 180_000)
    last = [agent("other", load=2.0), agent("prev", load=3.0)]
    assert choose_agent(last, c, T + 10_000, sticky_wait_ms=30_000).id == "other"
    vip = conv(advisor="prev", waiting_since=T, due=T + 120_000)
    assert choose_agent(last, vip, T + 10_000, advisor_wait_ms=30_000).id == "other"
    spare = [*last, agent("third", load=2.0)]  # room for two chats besides: held
    assert choose_agent(spare, c, T + 10_000, sticky_wait_ms=30_000) is None
    # Counted in conversations of its weight: one unit of room fits two emails.
    mail = replace(c, weight=0.5, due=T + 3_600_000)
    assert choose_agent(last, mail, T + 10_000, sticky_wait_ms=30_000) is None
    half = [agent("other", load=2.5), agent("prev", load=3.0)]
    assert choose_agent(half, mail, T + 10_000, sticky_wait_ms=30_000).id == "other"


def test_no_hold_for_an_absent_or_unfit_previous_agent():
    c = conv(preferred_agent="prev", waiting_since=T, due=T + 180_000, team="care")
    away = [agent("other", teams=frozenset({"care"})), agent("prev", status="away", load=3.0)]
    assert choose_agent(away, c, T, sticky_wait_ms=30_000).id == "other"
    unfit = [agent("other", teams=frozenset({"care"})), agent("prev", load=3.0)]
    assert choose_agent(unfit, c, T, sticky_wait_ms=30_000).id == "other"
    declined = replace(c, excluded=frozenset({"prev"}), team=None)
    assert choose_agent([agent("other"), agent("prev")], declined, T, 30_000).id == "other"


def test_dedicated_advisor_comes_before_the_previous_agent():
    agents = [agent("other"), agent("prev"), agent("vip-advisor", load=2.0)]
    c = conv(preferred_agent="prev", advisor="vip-advisor")
    assert choose_agent(agents, c).id == "vip-advisor"
    full = [agent("other", load=1.0), agent("prev", load=1.0), agent("vip-advisor", load=3.0)]
    c = replace(c, waiting_since=T, due=T + 120_000)
    assert choose_agent(full, c, T + 1_000, 30_000, advisor_wait_ms=60_000) is None
    assert choose_agent(full, c, T + 40_000, 30_000, advisor_wait_ms=60_000).id == "prev"
    # Not held for the busy advisor while the previous agent sits idle: they take it.
    idle_prev = [agent("other", load=1.0), agent("prev"), agent("vip-advisor", load=3.0)]
    assert choose_agent(idle_prev, c, T + 1_000, 30_000, advisor_wait_ms=60_000).id == "prev"


def test_no_overtaking_keeps_room_for_the_earlier_deadline():
    agents = [agent("a", load=2.5), agent("b", load=2.5), agent("c", teams=frozenset({"x"}))]
    chat = conv(weight=1.0)
    assert choose_agent(agents[:2], chat) is None
    # a and b could take the chat once they have room: a later, lighter conversation must not
    # take that room; c never could, so it is not kept.
    assert short_of_room(agents, replace(chat, team=None)) == {"a", "b"}
    assert short_of_room(agents, conv(weight=5.0)) == set()  # nobody could ever take it
    assert DeadlinePolicy().reserve(agents, chat) == {"a", "b"}
    assert RoundRobinPolicy().reserve(agents, chat) == set()


# --- gaps and the light look-ahead (channel parity) -----------------------------------------
def test_stranded_room_is_what_only_a_lighter_conversation_can_use():
    assert stranded_room(agent("a", load=2.5)) == pytest.approx(0.5)
    assert stranded_room(agent("a", load=1.5)) == pytest.approx(0.5)
    assert stranded_room(agent("a", load=2.0)) == pytest.approx(0.0)
    assert stranded_room(agent("a", load=0.0)) == pytest.approx(0.0)
    assert stranded_room(agent("a", load=3.5)) == 0.0  # over capacity: no room at all
    assert stranded_room(agent("a", load=1.0), unit=2.0) == pytest.approx(0.0)  # 2 is a unit
    assert stranded_room(agent("a", load=0.0, capacity=3.0), unit=2.0) == pytest.approx(1.0)


def test_a_light_conversation_closes_a_gap_before_opening_one():
    gap = agent("gap", load=2.5)  # 0.5 of room: no chat can ever use it
    idle = agent("idle", load=0.0)
    mention = conv(weight=0.5)
    assert choose_agent([gap, idle], mention).id == "gap"
    # ... so a whole unit stays free for the chat that comes next.
    assert choose_agent([with_load(gap, 3.0), idle], conv(weight=1.0)).id == "idle"
    # No gap anywhere: the least loaded, as for a chat; a chat never looks for gaps.
    assert choose_agent([agent("two", load=2.0), idle], mention).id == "idle"
    assert choose_agent([agent("half", load=0.5), idle], conv(weight=1.0)).id == "idle"
    # Among gaps, the least loaded; an agent the mention does not fit is not a gap for it.
    gaps = [gap, agent("low-gap", load=0.5), agent("a", load=2.75)]
    assert [a.id for a in fill_gaps(gaps, mention)] == ["gap", "low-gap"]
    assert choose_agent(gaps, mention).id == "low-gap"
    # The sticky agent still comes first.
    assert choose_agent([gap, idle], replace(mention, preferred_agent="idle")).id == "idle"


def with_load(a: AgentView, load: float) -> AgentView:
    return replace(a, load=load)


def test_order_lets_a_chat_ahead_of_a_mention_due_a_little_earlier():
    ours = DeadlinePolicy(light_lookahead_ms=30_000)
    chat, mention, email = conv(id="chat"), conv(id="mention", weight=0.5), conv(id="email")
    email = replace(email, weight=0.5)

    def order(policy, *items):
        return [v.id for v in policy.order(list(items), {})]

    # Due 10 s later, the chat still goes first: the mention would fit room the chat cannot.
    assert order(ours, (mention, T), (chat, T + 10_000)) == ["chat", "mention"]
    # Due 40 s later, it does not: deadlines still rule beyond the look-ahead.
    assert order(ours, (mention, T), (chat, T + 40_000)) == ["mention", "chat"]
    # Between conversations of the same weight: plain deadline order (stable).
    assert order(ours, (email, T + 5), (mention, T + 5)) == ["email", "mention"]
    assert order(ours, (mention, T + 9), (email, T)) == ["email", "mention"]
    # An urgent mention (queued at its start) stays ahead of normal chats due minutes later.
    assert order(ours, (chat, T + 180_000), (mention, T)) == ["mention", "chat"]
    # Off (the default), or a peer: the queue order as stored.
    assert order(DeadlinePolicy(), (mention, T), (chat, T + 1)) == [
        "mention",
        "chat",
    ]
    assert order(TaskRouterPolicy(), (mention, T), (chat, T + 1)) == ["mention", "chat"]


def test_look_ahead_and_unit_come_from_the_sla_policy():
    policy = DeadlinePolicy.from_sla(SLA)
    assert (policy.light_lookahead_ms, policy.unit) == (0, 1.0)  # defaults: off; chat weighs 1
    doc = sla_to_doc(SLA)
    doc["routing"]["light_lookahead_seconds"] = 30
    doc["weights"] = {**doc["weights"], "webchat": 2.0}
    changed = DeadlinePolicy.from_sla(parse_sla(doc))
    assert (changed.light_lookahead_ms, changed.unit) == (30_000, 2.0)
    doc["routing"]["light_lookahead_seconds"] = "soon"
    with pytest.raises(SlaConfigError, match=r"routing\.light_lookahead_seconds"):
        parse_sla(doc)


# --- the peers ------------------------------------------------------------------------------
def test_round_robin_rotates_below_the_cap():
    policy = RoundRobinPolicy()
    agents = [agent("a"), agent("b"), agent("c", load=3.0)]
    picks = [policy.choose(agents, conv(), T).id for _ in range(4)]
    assert picks == ["a", "b", "a", "b"]  # c is at its cap


def test_balanced_takes_fewest_open_conversations_whatever_their_weight():
    agents = [agent("a", open_count=2, load=1.0), agent("b", open_count=1, load=1.0)]
    assert BalancedPolicy().choose(agents, conv(), T).id == "b"


def test_taskrouter_priority_then_fifo_to_longest_idle():
    policy = TaskRouterPolicy()
    urgent_late = policy.queue_score(conv(priority_rank=0, created_at=T + 60_000))
    normal_early = policy.queue_score(conv(priority_rank=3, created_at=T))
    normal_late = policy.queue_score(conv(priority_rank=3, created_at=T + 1))
    assert urgent_late < normal_early < normal_late
    agents = [agent("a", last_assigned_at=T), agent("b", last_assigned_at=T - 1, load=2.0)]
    assert policy.choose(agents, conv(), T).id == "b"  # idle longest, whatever the load
    assert DeadlinePolicy().queue_score(conv()) is None  # ours: the running deadline
