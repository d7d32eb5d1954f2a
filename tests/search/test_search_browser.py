"""The header search in a real Chromium, in Chinese and in English: customers and
conversations found as the agent types (發票 by 发票), customer-written text shown as text,
the filters, a result opening its conversation or contact, and an agent never shown a
conversation they may not open. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from gateway.keys import Keys
from tests.conftest import Harness, MakeGateway
from tests.console.conftest import ARTIFACTS, BrowserPage
from tests.console.test_browser import XSS, _sign_in, _user
from tests.search.helpers import assigned_to, found, say

pytestmark = pytest.mark.browser


async def _type(page, text: str) -> None:
    await page.fill("#search-q", text)
    await page.wait_for_selector("#search-panel:not([hidden])")


async def test_header_search_in_chinese(gateway: Harness, new_page):
    h = gateway
    channel = await h.api_channel()
    invoice = await say(h, channel, "c1", f"我的發票還沒收到 {XSS}", name=XSS)
    other = await say(h, channel, "c2", "请问发货时间", name="王芳")
    await found(h, invoice, q="发票")
    await found(h, other, q="发货")
    await _user(h, "li@example.com", "李丽")
    bp: BrowserPage = await new_page(locale="zh-CN")
    page = await _sign_in(bp, h, "li@example.com")
    assert await page.get_attribute("#search-q", "placeholder") == "搜索客户、会话…"
    await _type(page, "发票")  # Simplified finds the Traditional message
    hits = page.locator("#search-results [data-kind=conversation]")
    await expect(hits).to_have_count(1)
    assert await hits.first.get_attribute("data-id") == invoice
    text = await hits.first.inner_text()
    assert "我的發票還沒收到" in text and XSS in text  # shown as text, never as HTML
    assert await page.locator("#search-results img").count() == 0
    assert "客户" in await page.locator("#search-results").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "search-header-zh.png"))
    await hits.first.click()
    await page.wait_for_selector("#search-panel", state="hidden")
    assert page.url.endswith(f"#/inbox/{invoice}")
    await page.locator("#log", has_text="我的發票還沒收到").wait_for()
    # A customer by name (partial, one character): the contact page opens.
    await _type(page, "王")
    customer = page.locator("#search-results [data-kind=customer]")
    await expect(customer).to_have_count(1)
    assert await customer.inner_text() == "王芳"
    await customer.click()
    await page.wait_for_selector("#page-contacts:not([hidden])")
    assert "#/contacts/" in page.url
    await page.locator("#contact-profile", has_text="王芳").wait_for()
    assert bp.errors == [] and bp.dialogs == [], (bp.errors, bp.dialogs)


async def test_header_search_in_english_with_filters_and_visibility(gateway: Harness, new_page):
    h = gateway
    channel = await h.api_channel()
    ann, ann_token = await h.agent_online("ann@example.com")
    hers = await say(h, channel, "c0", "refund for the broken kettle", name="Ann's customer")
    await assigned_to(h, ann_token, ann, hers)
    # Away: Ann keeps hers (an agent gone offline would give a waiting customer back) and
    # is offered nothing new.
    await h.call("PUT", "/api/v1/agents/me/status", ann_token, {"status": "away"})
    resolved = await say(h, channel, "c1", "I want a refund for order SO-5521", name="Emma Stone",
                         email="emma@example.com")  # fmt: skip
    waiting = await say(h, channel, "c2", "Refunds take how long?", name="David")
    await h.call("POST", f"/api/v1/conversations/{resolved}/resolve", json_body={})
    await found(h, waiting, q="refund")
    await _user(h, "bob@example.com", "Bob")
    bp: BrowserPage = await new_page(locale="en-US")
    page = await _sign_in(bp, h, "bob@example.com")
    placeholder = await page.get_attribute("#search-q", "placeholder")
    assert placeholder == "Search customers, conversations…"
    await _type(page, "refund")
    hits = page.locator("#search-results [data-kind=conversation]")
    await expect(hits).to_have_count(2)  # not Ann's: Bob may not open it
    assert {await hits.nth(i).get_attribute("data-id") for i in range(2)} == {resolved, waiting}
    await page.screenshot(path=str(ARTIFACTS / "search-header-en.png"))
    await page.select_option("#search-panel select[name=status]", "resolved")
    await expect(hits).to_have_count(1)
    assert await hits.first.get_attribute("data-id") == resolved
    await page.select_option("#search-panel select[name=status]", "")
    await page.fill("#search-panel input[name=to]", "2020-01-01")
    await (
        page.locator("#search-results .search-section", has_text="Conversations")
        .locator(".search-none", has_text="Nothing found")
        .wait_for()
    )
    await page.fill("#search-panel input[name=to]", "")
    # A customer by email; Enter searches at once.
    await page.fill("#search-q", "emma@example.com")
    await page.press("#search-q", "Enter")
    customer = page.locator("#search-results [data-kind=customer]")
    await expect(customer).to_have_count(1)
    assert "Emma Stone" in await customer.inner_text()
    await page.press("#search-q", "Escape")
    await page.wait_for_selector("#search-panel", state="hidden")
    assert bp.errors == [] and bp.dialogs == [], (bp.errors, bp.dialogs)


async def test_search_says_when_the_index_is_moving_and_asks_again(
    make_gateway: MakeGateway, redis: Redis, keys: Keys, new_page
):
    """The process holding the index died (its lease not expired yet): the panel says so in
    Chinese and runs the search again by itself until the next holder answers; no error is
    shown and nothing is typed again."""
    await redis.set(keys.lease("search"), "dead-process", px=60_000)
    h = await make_gateway()
    h.gw.search.desk.ask_seconds = 0.5
    channel = await h.api_channel()
    invoice = await say(h, channel, "m1", "我的發票還沒收到")
    await _user(h, "li@example.com", "李丽")
    bp: BrowserPage = await new_page(locale="zh-CN")
    page = await _sign_in(bp, h, "li@example.com")
    assert not h.gw.search.holding
    await _type(page, "发票")
    note = page.locator("#search-results .search-note")
    await expect(note).to_have_text("搜索索引正在转移到另一个进程，暂时无法搜索；正在自动重试…")
    await page.screenshot(path=str(ARTIFACTS / "search-moving-zh.png"))
    await redis.pexpire(keys.lease("search"), 300)  # the dead holder's lease runs out
    hits = page.locator("#search-results [data-kind=conversation]")
    await expect(hits).to_have_count(1, timeout=20_000)
    assert await hits.first.get_attribute("data-id") == invoice
    assert await page.locator("#search-results .search-error").count() == 0
    assert all("503" in e for e in bp.errors), bp.errors  # Chromium logs each refused fetch
    assert bp.dialogs == []
