"""Self-service through the real gateway and the API channel: a confident answer at once (a
bot message, no agent's first response, the conversation off the queue), solved -> resolved
as self-service, 转人工 -> a person who sees the bot's answer, and the cases it never answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.kb.api import KbReport, SelfServiceModes
from gateway.settings import SettingsError, load_settings
from tests.conftest import CallbackServer, Harness, wait_for
from tests.redis_monitor import CommandCounter

REFUND = {
    "title": "如何申请退款",
    "body": "在“我的订单”中点击“申请退款”，款项1至3个工作日原路退回。",
    "tags": ["退款", "退钱"],
}


async def _setup(h: Harness, callback: CallbackServer, mode: str = "always") -> tuple[str, str]:
    await h.call("POST", "/api/v1/kb/articles", None, REFUND, expect=201)
    channel_id, secret = await h.api_channel(callback.url)
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel_id}", None, {"mode": mode})
    return channel_id, secret


async def _say(h: Harness, channel: str, secret: str, n: int, text: str, **sender) -> str:
    status, body = await h.post_api_message(
        channel, secret,
        {"message_id": f"m{n}", "sender": {"id": "cust-1", "name": "Wang", **sender},
         "thread_id": "t1", "text": text},
    )  # fmt: skip
    assert status == 202, body
    return body["conversation_id"]


def _texts(callback: CallbackServer) -> list[str]:
    return [json.loads(body)["text"] for _, body in callback.received]


async def _received(callback: CallbackServer, n: int) -> None:
    async def enough() -> bool:
        return len(callback.received) >= n

    await wait_for(enough)


async def _until(h: Harness, conv: str, check) -> None:
    async def done() -> bool:
        got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return check(got)

    await wait_for(done)


async def test_confident_answer_then_solved(gateway: Harness, callback_server: CallbackServer):
    h = gateway
    channel, secret = await _setup(h, callback_server)
    conv = await _say(h, channel, secret, 1, "请问怎么申请退款？")
    await _received(callback_server, 1)
    answer = _texts(callback_server)[0]
    assert answer.startswith("【智能客服】如何申请退款") and "转人工" in answer
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["status"] == "pending" and got["bot_state"] == "answered"
    assert not got.get("first_response_at")  # the bot is no agent's first response
    assert await h.gw.redis.zscore(h.gw.keys.queue(), conv) is None
    messages = (await h.call("GET", f"/api/v1/conversations/{conv}/messages"))["messages"]
    assert messages[-1]["meta"]["bot"] is True and messages[-1]["meta"]["article_id"]
    # Nobody is offered it, even an agent coming online.
    await h.agent_online("ann@example.com")
    await _say(h, channel, secret, 2, "已解决")
    await _until(h, conv, lambda c: c["status"] == "resolved")
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["resolved_by"] == "self-service" and not got.get("assignee")
    stats = await h.call("GET", "/api/v1/kb/reports")
    assert stats["by_channel"]["api"]["solved"] == 1
    assert stats["articles"][0]["helpful"] == 1


async def test_human_after_the_answer_sees_it(gateway: Harness, callback_server: CallbackServer):
    h = gateway
    channel, secret = await _setup(h, callback_server)
    conv = await _say(h, channel, secret, 1, "我要退钱")
    await _received(callback_server, 1)
    agent, token = await h.agent_online("ann@example.com")
    await _say(h, channel, secret, 2, "转人工")
    await _until(h, conv, lambda c: c["offered_to"] == agent)
    await h.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    messages = (await h.call("GET", f"/api/v1/conversations/{conv}/messages", token))["messages"]
    assert any(m["meta"].get("bot") for m in messages)
    assert any("handed this to a person: asked_for_person" in m["text"] for m in messages)
    # The agent's reply is the first response; the bot stays out from now on.
    await h.call("POST", f"/api/v1/conversations/{conv}/messages", token, {"text": "您好"}, 201)
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["first_response_at"] and got["bot_state"] == "handed_off"
    await _say(h, channel, secret, 3, "怎么申请退款")
    assert len(callback_server.received) <= 2 + 1  # the agent's reply, never a second answer
    stats = await h.call("GET", "/api/v1/kb/reports")
    assert stats["handoffs"]["asked_for_person"] == 1


async def test_never_answers_urgent_vip_or_unknown(
    gateway: Harness, callback_server: CallbackServer
):
    h = gateway
    channel, secret = await _setup(h, callback_server)
    agent, _ = await h.agent_online("ann@example.com", capacity=10)
    cases = [
        ("a", "退款怎么申请？打印机冒烟了", {}),  # urgent
        ("b", "怎么申请退款", {"tier": "vip"}),  # VIP
        ("c", "你们老板是谁", {}),  # no article
        ("d", "我要投诉，怎么申请退款", {}),  # complaint
    ]
    for n, (who, text, extra) in enumerate(cases):
        status, body = await h.post_api_message(
            channel, secret,
            {"message_id": f"x{n}", "sender": {"id": f"cust-{who}", **extra},
             "thread_id": who, "text": text},
        )  # fmt: skip
        assert status == 202
        conv = body["conversation_id"]
        await _until(h, conv, lambda c: c["offered_to"] == agent)
    assert callback_server.received == []
    stats = await h.call("GET", "/api/v1/kb/reports")
    assert stats["handoffs"] == {"urgent": 1, "vip": 1, "no_article": 1, "complaint": 1}
    assert stats["gaps"][0]["question"] == "你们老板是谁"
    KbReport.model_validate(stats)  # the documented answer schema


async def test_off_and_not_chat_channels(gateway: Harness, callback_server: CallbackServer):
    h = gateway
    channel, secret = await _setup(h, callback_server, mode="off")
    agent, _ = await h.agent_online("ann@example.com")
    conv = await _say(h, channel, secret, 1, "怎么申请退款")
    await _until(h, conv, lambda c: c["offered_to"] == agent)
    assert callback_server.received == []
    listed = await h.call("GET", "/api/v1/kb/selfservice")
    SelfServiceModes.model_validate(listed)
    assert listed["channels"] == [
        {"channel_id": channel, "name": "test channel", "type": "api", "mode": "off"}
    ]
    _, agent_token = await h.create_user("bob@example.com")
    await h.call(
        "PUT", f"/api/v1/kb/selfservice/{channel}", agent_token, {"mode": "always"}, expect=403
    )
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel}", None, {"mode": "x"}, expect=400)


async def _business_hours(h: Harness, *, open_today: bool) -> None:
    """The SLA policy's business calendar open all day every day, or closed today (a holiday)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    policy = (await h.call("GET", "/api/v1/sla/classes"))["policy"]
    business = policy["calendars"]["business"]
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    business["hours"] = {d: "00:00-24:00" for d in days}
    today = datetime.now(ZoneInfo(business["timezone"])).date().isoformat()
    business["holidays"] = [] if open_today else [today]
    await h.call("PUT", "/api/v1/sla/classes", json_body=policy)


async def test_after_hours_answers_only_outside_business_hours(
    gateway: Harness, callback_server: CallbackServer
):
    h = gateway
    await _business_hours(h, open_today=True)
    channel, secret = await _setup(h, callback_server, mode="after_hours")
    agent_id, _token = await h.agent_online("ann@example.com")
    # Open: a person answers, the bot stays quiet.
    conv = await _say(h, channel, secret, 1, "请问怎么申请退款？")
    await _until(h, conv, lambda c: c.get("offered_to") == agent_id)
    assert callback_server.received == []
    # Closed (today a holiday): the bot answers a new conversation at once.
    await _business_hours(h, open_today=False)
    await h.gw.selfservice.set_mode(channel, "after_hours")  # drop the cached mode read
    status, body = await h.post_api_message(
        channel, secret,
        {"message_id": "m2", "sender": {"id": "cust-2", "name": "Li"}, "thread_id": "t2",
         "text": "请问怎么申请退款？"},
    )  # fmt: skip
    assert status == 202, body
    await _received(callback_server, 1)
    assert _texts(callback_server)[0].startswith("【智能客服】如何申请退款")


async def test_silence_after_the_answer_closes_after_the_idle_setting(
    make_gateway, callback_server: CallbackServer
):
    """selfservice_idle_seconds (here 1 s) through the real scheduler: the answered
    conversation waits that long for the customer, then is resolved as self-service."""
    h = await make_gateway(selfservice_idle_seconds=1)
    channel, secret = await _setup(h, callback_server)
    conv = await _say(h, channel, secret, 1, "请问怎么申请退款？")
    await _received(callback_server, 1)
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["status"] == "pending" and got["bot_state"] == "answered"
    await _until(h, conv, lambda c: c["status"] == "resolved")
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["resolved_by"] == "self-service" and got["bot_state"] == "closed"
    answered_at = int(await h.gw.redis.hget(h.gw.keys.conversation(conv), "bot_answered_at"))
    assert got["resolved_at"] - answered_at >= 1000  # not before the idle time
    assert len(callback_server.received) == 1  # closed without another message to the customer
    stats = await h.call("GET", "/api/v1/kb/reports")
    assert stats["by_channel"]["api"]["closed"] == 1
    assert stats["by_channel"]["api"]["rate"] == 1.0


def test_idle_setting_bounds():
    assert load_settings(environ={}).selfservice_idle_seconds == 1800
    env = {"GATEWAY_SELFSERVICE_IDLE_SECONDS": "600"}
    assert load_settings(environ=env).selfservice_idle_seconds == 600
    for bad in ("0", "-5", str(400 * 86400), "soon"):
        with pytest.raises(SettingsError, match="GATEWAY_SELFSERVICE_IDLE_SECONDS"):
            load_settings(environ={"GATEWAY_SELFSERVICE_IDLE_SECONDS": bad})


async def test_a_batch_of_messages_reads_the_mode_setting_once(gateway: Harness):
    """The setting is kept a second; the messages that find it stale in the same moment share
    one read, and a change made here is seen at once, even by a read already under way."""
    selfservice = gateway.gw.selfservice
    key = gateway.gw.keys.kb_selfservice()
    await selfservice.set_mode("ch-1", "always")
    reads = CommandCounter(
        gateway.gw.redis, key, lambda verb, rest: verb if verb == "HGETALL" else None
    )
    async with reads:
        modes = await asyncio.gather(*(selfservice.mode("ch-1") for _ in range(20)))
    assert modes == ["always"] * 20 and reads.counts["HGETALL"] == 1
    await selfservice.set_mode("ch-1", "off")  # drops the kept setting
    assert await selfservice.mode("ch-1") == "off"
    stale = asyncio.ensure_future(selfservice.mode("ch-1"))  # a read under way ...
    await asyncio.sleep(0)
    await selfservice.set_mode("ch-1", "after_hours")  # ... when the setting changes
    await stale
    assert await selfservice.mode("ch-1") == "after_hours"
