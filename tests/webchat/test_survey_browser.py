"""The rating card in the widget, in a real Chromium: after the agent resolves the chat the
visitor clicks a rating, writes a comment (markup stays text), sends, and the rating is recorded
where reports read it; a reload shows the card answered. Screenshots land in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite
from tests.reports.flow import answered, resolve
from tests.webchat.widget_page import open_widget

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


async def test_visitor_rates_the_chat_inside_the_widget(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    await h.call(
        "PUT",
        "/api/v1/reports/settings",
        None,
        {"survey_webchat_text": "How did the tea shop do?", "survey_send_label": "Rate"},
    )
    # English texts (the default of system messages is zh-CN)
    config = {"allowed_origins": [customer_site.origin], "language": "en"}
    channel = await h.create_channel("webchat", config)
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    await open_widget(site)
    await site.locator(".composer textarea").fill("My tea order is late")
    await site.locator(".composer textarea").press("Enter")
    await site.locator(".msg.visitor[data-seq]").wait_for()

    async def conversation() -> str | None:
        found = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return found["conversations"][0]["id"] if found["conversations"] else None

    conversation_id = await wait_for(conversation)
    agent = await h.agent_online("lan@example.com", name="Lan")
    await answered(h, agent, conversation_id, "It ships today, sorry for the wait.")
    await resolve(h, agent[1], conversation_id)

    card = site.locator(".survey[data-survey-state=pending]")
    await card.wait_for(timeout=60_000)
    await site.locator(".msg.system", has_text="How did the tea shop do?").wait_for()
    assert "/survey/" not in (await site.locator(".log").text_content() or "")
    send = card.locator(".survey-send")
    assert await send.text_content() == "Rate"
    assert await send.is_disabled()  # a rating first
    await card.locator(".rate[data-score='4']").click()
    assert await card.locator(".rate[data-score='4']").get_attribute("aria-pressed") == "true"
    await card.locator("textarea").fill(f"Quick answer {XSS}")
    await site.screenshot(path=str(artifacts / "widget-survey.png"))
    await send.click()

    done = site.locator(".survey[data-survey-state=answered]")
    await done.wait_for()
    assert await done.locator(".survey-note").text_content() == (
        "Thank you, your answer was recorded."
    )
    assert await done.locator(".rate").count() == 0
    await site.screenshot(path=str(artifacts / "widget-survey-answered.png"))

    conv = await h.gw.conversations.get(conversation_id)
    assert (conv["csat_score"], conv["csat_comment"]) == ("4", f"Quick answer {XSS}")
    report = await h.call("GET", "/api/v1/reports/summary?by=channel")
    row = next(r for r in report["rows"] if r["key"] == "webchat")
    assert (row["csat_average"], row["csat_response_rate"]) == (4.0, 1.0)

    # A reload shows the same card, answered; nothing to click again.
    await site.reload()
    await open_widget(site)
    await site.locator(".survey[data-survey-state=answered]").wait_for()
    assert await site.locator(".survey .rate").count() == 0
    has_img = (
        "() => !!document.querySelector('[data-gateway-chat]').shadowRoot.querySelector('img')"
    )
    assert not await site.evaluate(has_img)
    assert visitor.dialogs == [] and visitor.errors == []
