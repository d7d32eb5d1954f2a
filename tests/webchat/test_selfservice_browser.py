"""Self-service in the widget, in a real Chromium: the visitor's question gets the bot's
answer at once, shown as the bot's with "已解决" / "转人工" buttons; 转人工 brings a person,
who sees the answer; 已解决 on another chat resolves it as self-service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite

pytestmark = pytest.mark.browser

ARTICLE = {
    "title": "如何申请退款",
    "body": "在“我的订单”中点击“申请退款”，款项1至3个工作日原路退回。",
    "tags": ["退款", "退钱"],
}


async def _ask(h: Harness, site: Any, channel_id: str, text: str) -> str:
    await site.locator(".launcher").click()
    await site.locator(".panel .status").wait_for(state="hidden")
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
    await h.call("POST", "/api/v1/kb/articles", None, ARTICLE, expect=201)
    channel = await h.create_channel("webchat", {"allowed_origins": [customer_site.origin]})
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel['id']}", None, {"mode": "always"})
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])

    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    conversation_id = await _ask(h, site, channel["id"], "我想退钱，怎么弄")
    answer = site.locator(".msg.bot")
    await answer.wait_for()
    assert "智能客服" in (await answer.locator(".who").text_content() or "")
    assert "申请退款" in (await answer.text_content() or "")
    assert "【智能客服】" not in (await answer.text_content() or "")
    await site.screenshot(path=str(artifacts / "widget-bot-answer.png"))

    agent_id, token = await h.agent_online("lan@example.com", name="Lan")
    await site.locator(".bot-actions .bot-human").click()
    await site.locator(".msg.visitor", has_text="转人工").wait_for()
    assert await site.locator(".bot-actions").count() == 0

    async def offered() -> bool:
        return (await _conv(h, conversation_id))["offered_to"] == agent_id

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
    await h.call("POST", "/api/v1/kb/articles", None, ARTICLE, expect=201)
    channel = await h.create_channel("webchat", {"allowed_origins": [customer_site.origin]})
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel['id']}", None, {"mode": "always"})
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    conversation_id = await _ask(h, site, channel["id"], "怎么申请退款")
    await site.locator(".bot-actions .bot-solved").click()

    async def resolved() -> bool:
        conv = await _conv(h, conversation_id)
        return conv["status"] == "resolved" and conv["resolved_by"] == "self-service"

    await wait_for(resolved)
