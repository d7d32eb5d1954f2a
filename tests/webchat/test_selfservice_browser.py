"""Self-service in the widget, in a real Chromium: the visitor's question gets the bot's
answer at once, shown as the bot's with "已解决" / "转人工" buttons; 转人工 brings a person,
who sees the answer; 已解决 on another chat resolves it as self-service.

The widget knows a bot answer by the flag the gateway puts in the message frame (the logged
meta's ``bot``, and the answer's language), never by its text: the frame's text comes without
the bot's label, an English answer gets the English label and buttons, and an agent's or a
system message that starts with 【智能客服】 is neither styled as the bot's nor given buttons;
a reload (the replayed history) shows the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite
from tests.webchat.widget_page import open_widget

pytestmark = pytest.mark.browser

ARTICLE = {
    "title": "如何申请退款",
    "body": "在“我的订单”中点击“申请退款”，款项1至3个工作日原路退回。",
    "tags": ["退款", "退钱"],
}


async def _visitor(
    h: Harness, new_page: Any, site: CustomerSite, article: dict[str, Any] | None = ARTICLE
) -> tuple[Any, str]:
    """A web chat channel (self-service always with ``article``; off without) and a visitor's
    page on the customer's site: (the BrowserPage, the channel id)."""
    channel = await h.create_channel("webchat", {"allowed_origins": [site.origin]})
    if article is not None:
        await h.call("POST", "/api/v1/kb/articles", None, article, expect=201)
        await h.call("PUT", f"/api/v1/kb/selfservice/{channel['id']}", None, {"mode": "always"})
    site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await new_page()
    await visitor.page.goto(site.url)
    return visitor, channel["id"]


async def _ask(h: Harness, site: Any, channel_id: str, text: str) -> str:
    await open_widget(site)
    await site.locator(".composer textarea").fill(text)
    await site.locator(".composer textarea").press("Enter")
    await site.locator(".msg.visitor[data-seq]").wait_for()

    async def conversation() -> str | None:
        found = await h.call("GET", f"/api/v1/conversations?channel={channel_id}")
        return found["conversations"][0]["id"] if found["conversations"] else None

    return await wait_for(conversation)


async def _conv(h: Harness, conversation_id: str) -> dict[str, Any]:
    return (await h.call("GET", f"/api/v1/conversations/{conversation_id}"))["conversation"]


async def test_bot_answer_buttons_and_handoff(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    visitor, channel_id = await _visitor(h, new_page, customer_site)
    site = visitor.page
    conversation_id = await _ask(h, site, channel_id, "我想退钱，怎么弄")
    answer = site.locator(".msg.bot")
    await answer.wait_for()
    assert "智能客服" in (await answer.locator(".who").text_content() or "")
    assert "申请退款" in (await answer.text_content() or "")
    assert "【智能客服】" not in (await answer.text_content() or "")
    assert await site.locator(".bot-actions .bot-human").text_content() == "转人工"
    await site.screenshot(path=str(artifacts / "widget-bot-answer.png"))
    # A reload replays the history: the same answer, the same buttons.
    await site.reload()
    await open_widget(site)
    await site.locator(".msg.bot .who", has_text="智能客服").wait_for()
    assert "【智能客服】" not in (await site.locator(".msg.bot").text_content() or "")
    await site.locator(".bot-actions .bot-solved").wait_for()

    agent_id, token = await h.agent_online("lan@example.com", name="Lan")
    await site.locator(".bot-actions .bot-human").click()
    await site.locator(".msg.visitor", has_text="转人工").wait_for()
    assert await site.locator(".bot-actions").count() == 0

    async def offered() -> bool:
        return (await _conv(h, conversation_id)).get("offered_to") == agent_id

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    log = await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages", token)
    assert any(m["meta"].get("bot") for m in log["messages"])
    reply = {"text": "我来帮您"}
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/messages", token, reply, 201)
    await site.locator(".msg.agent", has_text="我来帮您").wait_for()


async def test_solved_button_resolves_as_self_service(
    gateway: Harness, new_page, customer_site: CustomerSite
):
    h = gateway
    visitor, channel_id = await _visitor(h, new_page, customer_site)
    site = visitor.page
    conversation_id = await _ask(h, site, channel_id, "怎么申请退款")
    await site.locator(".bot-actions .bot-solved").click()

    async def resolved() -> bool:
        conv = await _conv(h, conversation_id)
        return conv["status"] == "resolved" and conv["resolved_by"] == "self-service"

    await wait_for(resolved)


async def test_english_answer_is_the_bots_by_its_flag(
    gateway: Harness, new_page, customer_site: CustomerSite
):
    """An English article: the answer's text starts with "[Assistant] ", not 【智能客服】; the
    flag's language gives the English label and buttons, live and after a reload."""
    h = gateway
    article = {
        "title": "How do I get a refund",
        "body": "Open My orders and click Request refund; the money is back within 3 days.",
        "language": "en",
        "tags": ["refund", "money back"],
    }
    visitor, channel_id = await _visitor(h, new_page, customer_site, article)
    site = visitor.page
    conversation_id = await _ask(h, site, channel_id, "how do I get a refund?")
    for reloaded in (False, True):
        if reloaded:
            await site.reload()
            await open_widget(site)
        answer = site.locator(".msg.bot")
        await answer.wait_for()
        assert await answer.locator(".who").text_content() == "Assistant"
        text = await answer.locator(".text").text_content() or ""
        assert text.startswith("How do I get a refund") and "[Assistant]" not in text
        assert await site.locator(".bot-actions .bot-solved").text_content() == "Solved"
        assert await site.locator(".bot-actions .bot-human").text_content() == "Talk to a person"
    await site.locator(".bot-actions .bot-solved").click()
    await site.locator(".msg.visitor", has_text="solved").wait_for()

    async def resolved() -> bool:
        return (await _conv(h, conversation_id)).get("resolved_by") == "self-service"

    await wait_for(resolved)
    assert visitor.errors == []


async def test_the_label_in_a_text_makes_no_bot_answer(
    gateway: Harness, new_page, customer_site: CustomerSite
):
    """Self-service off: an agent's reply and a system message (a follow-up an admin wrote)
    that start with 【智能客服】 are shown as what they are, without the bot's buttons."""
    h = gateway
    agent_id, token = await h.agent_online("lan@example.com", name="Lan")
    visitor, channel_id = await _visitor(h, new_page, customer_site, article=None)
    site = visitor.page
    conversation_id = await _ask(h, site, channel_id, "我想退钱，怎么弄")

    async def offered() -> bool:
        return (await _conv(h, conversation_id)).get("offered_to") == agent_id

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    reply = {"text": "【智能客服】这是人工客服兰的回复"}
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/messages", token, reply, 201)
    await site.locator(".msg.agent", has_text="【智能客服】这是人工客服兰的回复").wait_for()
    assert await site.locator(".bot-actions").count() == 0
    # A system message (as gateway/surveys.py sends a follow-up) with the label, latest.
    await h.gw.send_system(conversation_id, "【智能客服】感谢您的耐心等待")
    for reloaded in (False, True):
        if reloaded:
            await site.reload()
            await open_widget(site)
        await site.locator(".msg.system", has_text="【智能客服】感谢您的耐心等待").wait_for()
        await site.locator(".msg.agent", has_text="【智能客服】这是人工客服兰的回复").wait_for()
        assert await site.locator(".msg.bot").count() == 0
        assert await site.locator(".bot-actions").count() == 0
    assert visitor.errors == []
