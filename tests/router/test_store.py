"""The routing properties through the real Redis store and worker, with a test-driven clock:
deadline order, eligibility, weights, stickiness with fallback, missed offers, escalation steps
logged on the conversation, SLA pauses, atomic claims under concurrent routers."""

from __future__ import annotations

import asyncio
import json

from router.peers import RoundRobinPolicy
from router.sla import sla_to_doc
from tests.router.conftest import Router, make_router

HOUR = 3600


async def test_queue_is_ordered_by_deadline(router: Router):
    email = await router.message("hello", channel="email")
    router.clock.advance(1)
    chat = await router.message("hello", channel="webchat")
    router.clock.advance(1)
    low = await router.message("a suggestion", channel="webchat")
    router.clock.advance(1)
    wechat = await router.message("你好", channel="wechat_oa")
    router.clock.advance(1)
    urgent = await router.message("我的充电器冒烟了", channel="email")
    head = [c for c, _ in await router.store.queue_head(10)]
    # Urgent first; chats by their 3-minute deadline whatever the channel; the low-priority
    # chat (1 h); the email (1 business hour: the office opens at 09:00).
    assert head == [urgent, chat, wechat, low, email]
    fields = await router.conv(urgent)
    assert (fields["priority"], fields["priority_rule"]) == ("urgent", "safety-hazard")
    assert int(fields["first_response_due"]) == router.clock.now + 900_000


async def test_a_more_urgent_message_moves_a_conversation_forward(router: Router):
    first = await router.message("hello", channel="email", customer="c", thread="t")
    other = await router.message("hello", channel="webchat")
    assert [c for c, _ in await router.store.queue_head(5)] == [other, first]
    router.clock.advance(10)
    again = await router.message("it caught fire!", channel="email", customer="c", thread="t")
    assert again == first
    assert [c for c, _ in await router.store.queue_head(5)] == [first, other]
    assert (await router.conv(first))["priority"] == "urgent"


async def test_offers_follow_the_deadline_and_the_least_loaded_agent(router: Router):
    await router.agent("a", capacity=1)
    await router.agent("b", capacity=2)
    late = await router.message("hello", channel="email")
    early = await router.message("hello")
    assert await router.worker.sweep() == 2
    offered = router.offered()
    assert offered[early] == "a"  # both idle: a wins the tie on id; b then has the lower ratio
    assert offered[late] == "b"
    assert float((await router.store.agent_raw("b"))["load"]) == 0.5  # an email weighs 0.5


async def test_ineligible_agents_get_nothing(router: Router):
    await router.agent("zh-only", languages=("zh",))
    await router.agent("away", status="away")
    await router.policies.put_rules(
        {"rules": [{"name": "english", "patterns": ["^[a-z ?]+$"], "language": "en"}]}
    )
    english = await router.message("where is my order?")
    assert (await router.conv(english))["language"] == "en"
    assert await router.worker.sweep() == 0
    await router.agent("bilingual", languages=("zh", "en"))
    assert await router.worker.sweep() == 1
    assert router.offered() == {english: "bilingual"}


async def test_weights_let_an_email_in_where_a_chat_does_not_fit(router: Router):
    await router.agent("a", capacity=1)
    first = await router.message("hi", channel="email")
    await router.worker.sweep()
    assert await router.store.accept(first, "a") == "ok"
    email = await router.message("hi", channel="email")
    await router.worker.sweep()
    assert router.offered()[email] == "a"  # 0.5 + 0.5 fits a capacity of 1
    agent = await router.store.agent_raw("a")
    assert (float(agent["load"]), int(agent["open"])) == (1.0, 2)
    chat = await router.message("hi", channel="webchat")
    await router.worker.sweep()
    assert chat not in router.offered()


async def test_a_lighter_conversation_does_not_overtake_into_the_room_of_an_earlier_one(
    router: Router,
):
    await router.agent("a", capacity=1)
    first = await router.message("hi", channel="email")
    await router.worker.sweep()
    await router.store.accept(first, "a")
    chat = await router.message("hi", channel="webchat")  # due in 3 min, needs a whole unit
    email = await router.message("hi", channel="email")  # due in 1 business hour, fits 0.5
    await router.worker.sweep()
    assert router.offered() == {first: "a"}  # a keeps its room for the chat
    assert await router.store.resolve(first) == "ok"
    await router.worker.sweep()
    assert router.offered()[chat] == "a" and email not in router.offered()


async def test_a_mention_closes_a_gap_so_the_next_chat_still_fits(router: Router):
    await router.agent("a", capacity=1)
    await router.agent("b", capacity=1)
    email = await router.message("hi", channel="email")
    await router.worker.sweep()
    assert router.offered()[email] == "a" and await router.store.accept(email, "a") == "ok"
    # a has half a unit left (no chat fits it), b a whole one: the mention takes a's half ...
    mention = await router.message("hi", channel="x")
    await router.worker.sweep()
    assert router.offered()[mention] == "a"
    # ... so b still has room for a chat (least loaded would have split b's unit instead).
    chat = await router.message("hi", channel="webchat")
    await router.worker.sweep()
    assert router.offered()[chat] == "b"


async def test_with_a_look_ahead_a_chat_goes_before_a_mention_due_a_little_earlier(
    router: Router,
):
    await router.agent("a", capacity=1)
    mention = await router.message("hi", channel="x")  # due in 3 min, fits half a unit
    router.clock.advance(5)
    chat = await router.message("hi", channel="webchat")  # due 5 s later, needs a whole unit
    # The default is plain deadline order; an admin turns the look-ahead on.
    doc = sla_to_doc(await router.policies.sla())
    assert doc["routing"]["light_lookahead_seconds"] == 0
    doc["routing"]["light_lookahead_seconds"] = 30
    await router.policies.put_sla(doc)
    await router.worker.sweep()
    assert router.offered() == {chat: "a"}  # the chat first; the mention waits for room
    assert await router.store.accept(chat, "a") == "ok"
    router.clock.advance(40)
    later = await router.message("hi", channel="webchat")  # due 45 s after the mention
    assert await router.store.resolve(chat) == "ok"
    await router.worker.sweep()
    # Beyond the 30-second look-ahead the deadline rules: the mention goes first, and the
    # chat is not offered the half unit left (no overtaking either way).
    assert router.offered()[mention] == "a" and later not in router.offered()


async def _serve(router: Router, channel: str, count: int, waited_s: float) -> None:
    """``count`` conversations on ``channel`` offered after ``waited_s`` in the queue, then
    answered and resolved (agent "a", offline while they wait)."""
    await router.store.set_status("a", "offline")
    ids = [await router.message("hi", channel=channel) for _ in range(count)]
    router.clock.advance(waited_s)
    await router.store.set_status("a", "online")
    await router.worker.sweep()
    for cid in ids:
        assert router.offered()[cid] == "a" and await router.store.accept(cid, "a") == "ok"
        assert await router.store.resolve(cid) == "ok"


async def test_a_channel_that_waited_longer_lately_goes_first_among_equals(router: Router):
    await router.agent("a", capacity=25)
    await _serve(router, "api", 20, waited_s=50)  # the API's customers waited 50 s
    await _serve(router, "webchat", 20, waited_s=0)  # web chat's none
    await router.agent("a", capacity=1)  # room for one more now
    chat = await router.message("hi", channel="webchat")
    router.clock.advance(10)
    api = await router.message("hi", channel="api")  # due 10 s after the chat
    await router.worker.sweep()
    # The API's credit (2 x its p90 gap of 50 s, capped at 60) puts it ahead of the chat.
    assert api in router.offered() and chat not in router.offered()

    # With the parity gain at 0 (an admin's choice), plain deadline order again.
    doc = sla_to_doc(await router.policies.sla())
    assert doc["routing"]["parity_gain"] == 2.0
    doc["routing"]["parity_gain"] = 0
    await router.policies.put_sla(doc)
    assert await router.store.accept(api, "a") == "ok"
    assert await router.store.resolve(api) == "ok"
    later = await router.message("hi", channel="api")
    await router.worker.sweep()
    assert router.offered()[chat] == "a" and later not in router.offered()


async def test_sticky_to_the_previous_agent_then_fallback_after_the_wait(router: Router):
    await router.agent("a-prev", capacity=1)
    await router.agent("b-other", capacity=3)
    first = await router.message("hi", customer="wang")
    await router.worker.sweep()
    assert router.offered()[first] == "a-prev"
    assert await router.store.accept(first, "a-prev") == "ok"
    assert await router.store.resolve(first) == "ok"

    router.clock.advance(60)
    second = await router.message("me again", customer="wang")
    assert (await router.conv(second))["sticky_agent"] == "a-prev"
    await router.worker.sweep()
    # Sticky, although "b-other" has been idle longer at the same load.
    assert router.offered()[second] == "a-prev"
    await router.store.accept(second, "a-prev")

    busy = await router.message("hello", customer="li")
    await router.worker.sweep()
    assert router.offered()[busy] == "b-other"  # "a-prev" is full
    await router.store.accept(busy, "b-other")  # nobody idle now: holds are allowed

    third = await router.message("one more thing", customer="wang", thread="other-thread")
    await router.worker.sweep()
    assert third not in router.offered()  # held for "prev", who is full
    router.clock.advance(29)
    await router.worker.sweep()
    assert third not in router.offered()
    router.clock.advance(2)  # past the 30 s sticky wait
    await router.worker.sweep()
    assert router.offered()[third] == "b-other"


async def test_missed_offers_set_the_agent_away(router: Router):
    await router.agent("sleepy", capacity=5)
    for _ in range(3):
        await router.message("hi")
    await router.worker.sweep()
    assert len(router.offered()) == 3
    router.clock.advance(31)
    await router.worker.sweep()
    assert [e["status"] for e in router.of_kind("agent.status")] == ["away"]
    assert (await router.store.agent_raw("sleepy"))["status"] == "away"
    assert len(router.of_kind("conversation.offer_expired")) == 3
    assert await router.store.queue_length() == 3  # back in the queue for someone else


async def test_breach_escalates_step_by_step_and_logs_each_step(router: Router):
    await router.policies.put_rules({"channel_defaults": {"webchat": {"team": "care"}}})
    await router.agent("social-agent", teams=("social",))
    conv = await router.message("hello")
    assert (await router.conv(conv))["team"] == "care"
    await router.worker.sweep()
    assert router.offered() == {}

    router.clock.advance(180)  # first-response deadline
    await router.worker.sweep()
    fields = await router.conv(conv)
    assert (fields["priority"], fields["priority_rule"]) == ("high", "escalation:first_response")
    alerts = [(d, r) for k, d, _, r in router.events if k == "sla.breached"]
    assert alerts[0][0]["conversation_id"] == conv and "supervisor" in alerts[0][1]
    assert router.offered() == {}  # still only the care team

    router.clock.advance(120)  # widen, two minutes after the breach
    await router.worker.sweep()
    assert (await router.conv(conv))["widened"] == "1"
    assert router.offered() == {conv: "social-agent"}

    log = await router.redis.hgetall(router.keys.messages(conv))
    ordered = [json.loads(log[seq]) for seq in sorted(log, key=int)]
    lines = [m["text"] for m in ordered if m["direction"] == "event"]
    assert lines == [
        "SLA breached (first response): priority raised from normal to high",
        "SLA breached (first response): supervisors alerted",
        "SLA breached (first response): offered to every team",
    ]
    router.clock.advance(600)  # nothing repeats
    await router.worker.sweep()
    assert len(await router.redis.hvals(router.keys.messages(conv))) == len(log)


async def test_sensitive_waits_for_a_supervisor(router: Router):
    await router.agent("agent")
    conv = await router.message("我要找律师起诉你们")
    await router.worker.sweep()
    assert router.offered() == {}
    await router.agent("boss", supervisor=True)
    await router.worker.sweep()
    assert router.offered() == {conv: "boss"}


async def test_snooze_pauses_the_sla_clocks(router: Router):
    await router.agent("a")
    conv = await router.message("hello")
    await router.worker.sweep()
    await router.store.accept(conv, "a")
    before = await router.conv(conv)
    key = router.keys.conversation(conv)
    wake = router.clock.now + 600_000
    await router.redis.hset(key, mapping={"status": "snoozed", "snoozed_until": wake})
    await router.redis.zadd(router.keys.snoozed(), {conv: wake})
    await router.store.pause(conv)
    router.clock.advance(600)
    await router.worker.sweep()
    after = await router.conv(conv)
    assert after["status"] == "open" and "paused_at" not in after
    for field in ("first_response_due", "resolution_due"):
        assert int(float(after[field])) == int(float(before[field])) + 600_000
    assert router.of_kind("sla.breached") == []  # 10 minutes passed, none counted


async def test_a_customer_writing_ends_pending_and_its_pause(router: Router):
    await router.agent("a")
    conv = await router.message("hello", customer="c", thread="t")
    await router.worker.sweep()
    await router.store.accept(conv, "a")
    await router.reply(conv)
    due = int(float((await router.conv(conv))["resolution_due"]))
    await router.redis.hset(router.keys.conversation(conv), "status", "pending")
    await router.store.pause(conv)
    router.clock.advance(HOUR)
    await router.message("any news?", customer="c", thread="t")
    fields = await router.conv(conv)
    assert fields["status"] == "open" and "paused_at" not in fields
    assert int(float(fields["resolution_due"])) == due + HOUR * 1000
    # The customer waits again: the next-response clock runs from now.
    assert int(fields["next_response_due"]) == router.clock.now + 180_000


async def test_repeat_complainer_is_raised(router: Router):
    for n in range(2):
        conv = await router.message("still broken", customer="angry", thread=f"t{n}")
        assert (await router.conv(conv))["priority"] == "normal"
    third = await router.message("still broken!!", customer="angry", thread="t3")
    fields = await router.conv(third)
    assert (fields["priority"], fields["priority_rule"]) == ("high", "repeat-complainer")


async def test_concurrent_routers_never_offer_twice_nor_overfill(router: Router, redis, keys):
    for name in ("a", "b", "c"):
        await router.agent(name, capacity=2)
    convs = [await router.message("hi") for _ in range(10)]
    other = await make_router(redis, keys, policy=RoundRobinPolicy())  # a second process
    other.clock.now = router.clock.now
    await asyncio.gather(*(w.assign_round() for w in (router.worker, other.worker) * 3))
    offers = [
        data["conversation_id"]
        for r in (router, other)
        for kind, data, _, _ in r.events
        if kind == "conversation.offered"
    ]
    assert len(offers) == len(set(offers)) == 6  # capacity 3 x 2, each conversation once
    for name in ("a", "b", "c"):
        assert float((await router.store.agent_raw(name))["load"]) == 2.0
    assert await router.store.queue_length() == len(convs) - 6


async def test_candidates_are_one_bounded_window_least_loaded_first(router: Router):
    for n in range(80):
        await router.agent(f"a{n:02d}", capacity=4)
    for n in range(0, 80, 2):
        conv = await router.message("hi")
        await router.store.offer(conv, f"a{n:02d}", router.clock.now + 30_000, 1.0)
    window = await router.store.candidates(0, 64)
    assert len(window) == 64
    assert all(a.load == 0 for a in window[:40]) and window[-1].load == 1.0
    # Agents routed before routing cards existed are read from their hash.
    await router.redis.delete(router.keys.agent_cards())
    again = await router.store.candidates(0, 64)
    assert [a.id for a in again] == [a.id for a in window]
    assert [a.load for a in again] == [a.load for a in window]


async def test_parsed_cards_are_reused_until_the_card_changes(router: Router, monkeypatch):
    from router import store

    monkeypatch.setattr(store, "_CARD_CACHE", {})
    monkeypatch.setattr(store, "CARD_CACHE_SIZE", 3)
    for name in ("a", "b"):
        await router.agent(name, capacity=4, teams=("sales",), languages=("en", "zh"))
    first = {a.id: a for a in await router.store.candidates(0, 64)}
    again = {a.id: a for a in await router.store.candidates(0, 64)}
    assert again["a"] is first["a"] and again["b"] is first["b"]  # same card: not parsed again
    # An offer rewrites a's card: the next window has a's new load, b's view is unchanged.
    conv = await router.message("hi")
    await router.store.offer(conv, "a", router.clock.now + 30_000, 1.0)
    after = {a.id: a for a in await router.store.candidates(0, 64)}
    assert (after["a"].load, after["a"].open_count) == (1.0, 1)
    assert after["a"].teams == {"sales"} and after["a"].languages == {"en", "zh"}
    assert after["b"] is first["b"]
    # Full (3 cards held): emptied, then filled again with what is read.
    await router.store.set_status("b", "away")
    away = await router.store.agents(["b"])
    assert away["b"].status == "away" and len(store._CARD_CACHE) == 1
