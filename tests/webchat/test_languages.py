"""The widget's language: the channel's, or the visitor's browser's with "auto"; per-language
overrides; the older single-language fields; and the survey message in the channel's language."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness, wait_for
from tests.reports.flow import answered, resolve
from tests.webchat.visitor import ORIGIN, Visitor, webchat_channel


async def _texts(h: Harness, channel_id: str, accept: str, origin: str = ORIGIN) -> Any:
    resp = await h.client.get(
        f"/channels/{channel_id}/webchat/texts",
        headers={"Origin": origin, "Accept-Language": accept},
    )
    return resp.status, await resp.json()


async def test_channel_language_and_auto(gateway: Harness) -> None:
    h = gateway
    fixed = await webchat_channel(h)  # default: zh-CN whatever the browser
    status, got = await _texts(h, fixed, "en-US,en;q=0.9")
    assert status == 200 and got["language"] == "zh-CN"
    assert got["texts"]["write_message"] == "输入消息…"
    auto = await webchat_channel(h, language="auto")
    for accept, lang, placeholder in (
        ("zh-HK,zh;q=0.8", "zh-TW", "輸入訊息…"),
        ("en-GB", "en", "Write a message…"),
        ("zh-CN", "zh-CN", "输入消息…"),
        ("fr-FR", "zh-CN", "输入消息…"),
    ):
        status, got = await _texts(h, auto, accept)
        assert (got["language"], got["texts"]["write_message"]) == (lang, placeholder)
    status, got = await _texts(h, auto, "zh-CN", origin="https://evil.example.com")
    assert status == 403 and got["error"]["code"] == "origin_not_allowed"
    # the welcome frame says the same, from the socket's Accept-Language
    visitor = Visitor(h, auto)
    welcome = await visitor.connect(headers={"Accept-Language": "zh-TW"})
    assert welcome["language"] == "zh-TW"
    assert welcome["texts"]["send"] == "傳送" and welcome["title"] == "線上客服"
    await visitor.close()


async def test_overrides_per_language_and_old_fields(gateway: Harness) -> None:
    h = gateway
    channel = await webchat_channel(
        h,
        language="auto",
        greeting="Welcome!",  # an older single-language text: every language
        title="Chat with us",  # the old English default: not an override
        texts={"zh-TW": {"greeting": "歡迎光臨！", "send": "送出"}},
    )
    _, tw = await _texts(h, channel, "zh-TW")
    assert tw["texts"]["greeting"] == "歡迎光臨！" and tw["texts"]["send"] == "送出"
    assert tw["texts"]["title"] == "線上客服"
    _, cn = await _texts(h, channel, "zh-CN")
    assert cn["texts"]["greeting"] == "Welcome!" and cn["texts"]["send"] == "发送"
    bad = await h.call(
        "POST",
        "/api/v1/channels",
        json_body={
            "type": "webchat",
            "name": "x",
            "config": {"allowed_origins": [ORIGIN], "texts": {"fr": {"greeting": "Salut"}}},
        },
        expect=400,
    )
    assert bad["error"]["field"].startswith("config.texts")


async def test_survey_message_in_the_channels_language(gateway: Harness) -> None:
    """No survey text set by an admin: the catalogue's, in the channel's language (zh-TW)."""
    h = gateway
    channel_id = await webchat_channel(h, language="zh-TW")
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "我的包裹還沒到")
    agent = await h.agent_online("ann@example.com", name="Ann")
    await answered(h, agent, ack["conversation_id"], "已經寄出了")
    await resolve(h, agent[1], ack["conversation_id"])
    frame = await visitor.next(
        lambda f: f.get("type") == "message" and bool(f["message"].get("survey")), timeout=60
    )
    assert frame["message"]["text"] == "我們的服務怎麼樣？請為本次服務評分，1 分最差，5 分最好。"
    assert visitor.welcome["survey"]["send"] == "送出"


async def test_self_service_answer_in_traditional_for_a_zh_tw_channel(gateway: Harness) -> None:
    """A Chinese article answers a zh-TW channel's visitor in Traditional script (label and
    closing question); the widget gets it without the label; 已解決 resolves it."""
    h = gateway
    article = {"title": "如何申请退款", "body": "在“我的订单”中点击“申请退款”。", "tags": ["退款"]}
    await h.call("POST", "/api/v1/kb/articles", json_body=article, expect=201)
    channel_id = await webchat_channel(h, language="zh-TW")
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel_id}", json_body={"mode": "always"})
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "請問怎麼申請退款？")
    frame = await visitor.next(
        lambda f: f.get("type") == "message" and f["message"].get("bot") is True, timeout=30
    )
    shown = frame["message"]["text"]
    assert shown.startswith("如何申请退款") and shown.endswith("回覆「轉人工」聯絡真人客服。")
    logged = await h.call("GET", f"/api/v1/conversations/{ack['conversation_id']}/messages")
    assert logged["messages"][-1]["text"].startswith("【智慧客服】如何申请退款")
    await visitor.say("c2", "已解決")

    async def resolved() -> bool:
        got = await h.call("GET", f"/api/v1/conversations/{ack['conversation_id']}")
        return got["conversation"]["status"] == "resolved"

    await wait_for(resolved)


async def test_a_channel_overrides_its_survey_message_per_language(gateway: Harness) -> None:
    h = gateway
    channel_id = await webchat_channel(
        h, language="zh-TW", texts={"zh-TW": {"survey_message": "請為茶葉店評分！"}}
    )
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "謝謝")
    agent = await h.agent_online("ann@example.com", name="Ann")
    await answered(h, agent, ack["conversation_id"], "不客氣")
    await resolve(h, agent[1], ack["conversation_id"])
    frame = await visitor.next(
        lambda f: f.get("type") == "message" and bool(f["message"].get("survey")), timeout=60
    )
    assert frame["message"]["text"] == "請為茶葉店評分！"
