"""The Contacts page in a real Chromium: the list, a suggested merge (a shared verified email),
merge from a suggestion and from the profile, undo from the timeline, the sidebar's link to the
profile, customer-written names shown as text. Screenshots in test-artifacts/."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import Harness
from tests.console.conftest import ARTIFACTS, BrowserPage
from tests.console.test_browser import XSS, _sign_in, _user
from tests.console.uxkit import PHONE, inside_viewport

pytestmark = pytest.mark.browser

_n = itertools.count(1)


async def _post(
    h: Harness, channel: str, secret: str, sender: dict[str, Any], verified: bool
) -> str:
    n = next(_n)
    payload: dict[str, Any] = {"message_id": f"b{n}", "sender": sender, "thread_id": f"bt{n}",
                               "text": f"message {n}"}  # fmt: skip
    if verified:
        payload["metadata"] = {"verified": ["email"]}
    status, body = await h.post_api_message(channel, secret, payload)
    assert status == 202, body
    return body["conversation_id"]


async def _two_li_wei(h: Harness) -> str:
    """Agent Ann, and two customers named 李伟 sharing a verified email (one merge suggestion)
    on an API channel; returns the channel."""
    await _user(h, "ann@example.com", "Ann")
    channel, secret = await h.api_channel()
    for who in ("shop-1", "app-7"):
        await _post(
            h, channel, secret, {"id": who, "name": "李伟", "email": "li@example.com"}, True
        )
    return channel


async def test_contacts_page_merge_and_undo(gateway: Harness, new_page):
    h = gateway
    await _user(h, "ann@example.com", "Ann")
    channel, secret = await h.api_channel()
    conv1 = await _post(
        h, channel, secret, {"id": "shop-1", "name": "李伟", "email": "li@example.com"}, True
    )
    conv2 = await _post(
        h, channel, secret, {"id": "app-7", "name": XSS, "email": "li@example.com"}, True
    )
    conv3 = await _post(
        h, channel, secret, {"id": "guest", "name": "李伟", "email": "li@example.com"}, False
    )
    ids = {}
    for conv in (conv1, conv2, conv3):
        ids[conv] = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"][
            "contact_id"
        ]

    bp: BrowserPage = await new_page(locale="en-US")
    page = await _sign_in(bp, h, "ann@example.com")
    await page.click("#nav a[data-page=contacts]")
    await page.wait_for_selector("#page-contacts:not([hidden])")
    await expect(page.locator("#contact-list .contact-row")).to_have_count(3)
    # One suggestion: the verified email, not the unverified guest with the same name.
    suggestions = page.locator("#contact-suggestions .suggestion")
    assert await suggestions.count() == 1
    assert "li@example.com" in await suggestions.inner_text()
    assert XSS in await page.locator("#contact-list").inner_text()  # shown as text
    await page.screenshot(path=str(ARTIFACTS / "contacts-list.png"))

    # Merge from the suggestion: one contact, both conversations, the merge in the timeline.
    await page.click("#contact-suggestions button.merge-suggested")
    await page.wait_for_selector("#toast:has-text('Merged')")
    await expect(page.locator("#contact-conversations li")).to_have_count(2)
    await expect(page.locator("#contact-list .contact-row")).to_have_count(2)
    assert await page.locator("#contact-timeline li[data-type=merge]").count() == 1
    assert await page.locator("#contact-suggestions .suggestion").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "contacts-merged.png"))

    # Undo from the timeline: the other contact is back with its conversation.
    await page.click("#contact-timeline button.undo-merge")
    await page.wait_for_selector("#toast:has-text('Merge undone')")
    await expect(page.locator("#contact-conversations li")).to_have_count(1)
    await expect(page.locator("#contact-list .contact-row")).to_have_count(3)
    assert await page.locator("#contact-timeline li[data-type=undo]").count() == 1
    assert await page.locator("#contact-timeline button.undo-merge").count() == 0
    await page.wait_for_selector("#contact-suggestions .suggestion")

    # Merge from the profile form (the guest, by id), then undo on the tombstone's page.
    target = await page.locator("#contact-profile dd").first.inner_text()
    guest = ids[conv3]
    await page.fill("#merge-source", guest)
    await page.click("#merge-button")
    await expect(page.locator("#contact-conversations li")).to_have_count(2)
    merged = {
        await row.get_attribute("data-id")
        for row in await page.locator("#contact-conversations li").all()
    }
    assert conv3 in merged
    await page.goto(f"{h.base_url}/console#/contacts/{guest}")
    await page.wait_for_selector("#contact-profile .merged")
    await page.click("#undo-merge")
    await page.wait_for_selector("#toast:has-text('Merge undone')")
    await expect(page.locator("#contact-conversations li")).to_have_count(1)
    assert await page.locator("#contact-profile .merged").count() == 0
    assert target in ids.values()

    # The conversation sidebar links to the customer's profile.
    await page.goto(f"{h.base_url}/console#/inbox/{conv2}")
    await page.click("#contact-profile-link")
    await page.wait_for_selector(f"#contact-profile dd:has-text('{ids[conv2]}')")
    assert await page.locator("img[src=x]").count() == 0 and not bp.dialogs
    assert not bp.errors, bp.errors


async def test_contacts_page_in_chinese(gateway: Harness, new_page):
    """The page's words come from contacts.po: a browser in Chinese gets them in Chinese."""
    h = gateway
    channel = await _two_li_wei(h)
    bp: BrowserPage = await new_page(locale="zh-CN")
    page = await _sign_in(bp, h, "ann@example.com")
    assert await page.locator("#nav a[data-page=contacts]").inner_text() == "客户"
    await page.click("#nav a[data-page=contacts]")
    suggestion = page.locator("#contact-suggestions .suggestion")
    await expect(suggestion).to_contain_text("相同的已验证邮箱 li@example.com")
    await expect(suggestion.locator("button.merge-suggested")).to_have_text("将 李伟 合并到 李伟")
    await suggestion.locator("button.merge-suggested").click()
    await page.wait_for_selector("#toast:has-text('已合并')")
    await expect(page.locator("#contact-timeline li[data-type=merge]")).to_contain_text("合并进来")
    await page.click("#contact-timeline button.undo-merge")
    await page.wait_for_selector("#toast:has-text('已撤销合并')")
    # Each identity names its channel as agents know it (badge and name), not by its id.
    identity = page.locator("#contact-identities li").first
    await expect(identity.locator(".chan")).to_have_text("API")
    await expect(identity).to_contain_text("test channel · ")
    assert channel not in await identity.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "contacts-zh.png"))
    assert not bp.errors, bp.errors


async def test_the_sidebar_shows_every_channels_history_after_a_merge(gateway: Harness, new_page):
    """The issue's first complaint: the same person on Weibo and through the API was two
    strangers ("Earlier conversations: None"). Merged, the API conversation's sidebar lists
    the Weibo one with its link; undone, it does not."""
    from gateway.models import Channel, ContactIdentity, InboundMessage

    h = gateway
    await _user(h, "sue@example.com", "Sue", role="supervisor")
    channel, secret = await h.api_channel()
    mention = InboundMessage(
        channel_id="ch-weibo", channel_type=Channel.WEIBO, external_id="wb-1",
        contact=ContactIdentity(external_id="weibo-li", name="李伟"), thread_key="wb-1",
        text="@商店 发票什么时候开？",
    )  # fmt: skip
    weibo = (await h.gw.deliver(mention)).conversation_id
    api_conv = await _post(h, channel, secret, {"id": "shop-1", "name": "李伟"}, False)
    contact_of = {
        conv: (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]["contact_id"]
        for conv in (weibo, api_conv)
    }
    bp: BrowserPage = await new_page(locale="en-US")
    page = await _sign_in(bp, h, "sue@example.com")
    history = page.locator("#conv-side ul.history a")

    async def sidebar() -> None:
        await page.goto(f"{h.base_url}/console#/inbox/{api_conv}")
        await page.reload()
        await page.wait_for_selector("#contact-profile-link")

    await sidebar()
    await expect(history).to_have_count(0)
    merge = {"source": contact_of[weibo], "target": contact_of[api_conv]}
    merged = (await h.call("POST", "/api/v1/contacts/merge", None, merge))["merge"]
    await sidebar()
    await expect(history).to_have_count(1)
    assert await history.get_attribute("href") == f"#/inbox/{weibo}"
    await page.screenshot(path=str(ARTIFACTS / "contacts-sidebar-history.png"))
    await history.click()  # the Weibo conversation opens, its history the API one
    await expect(page.locator(f"#conv-side ul.history a[href='#/inbox/{api_conv}']")).to_have_count(
        1
    )
    await h.call("POST", f"/api/v1/contacts/merges/{merged['id']}/undo", None)
    await sidebar()
    await expect(history).to_have_count(0)
    assert not bp.errors, bp.errors


async def test_contacts_page_on_a_phone(gateway: Harness, new_page):
    """At 390 px the list and the profile stack in one column (side by side the profile got a
    sliver); a tap anywhere on a row opens its contact, brought into view; nothing scrolls
    sideways."""
    h = gateway
    await _two_li_wei(h)
    bp: BrowserPage = await new_page(locale="zh-CN")
    await bp.page.set_viewport_size(PHONE)
    page = await _sign_in(bp, h, "ann@example.com")
    await page.click("#nav a[data-page=contacts]")
    await page.wait_for_selector("#contact-suggestions .suggestion")
    listed = await page.locator("#contact-list").bounding_box()
    profile = await page.locator("#contact-profile").bounding_box()
    assert listed and profile and profile["y"] > listed["y"] + listed["height"] - 1
    assert profile["width"] > 300
    row = page.locator("#contact-list .contact-row").last
    box = await row.bounding_box()
    assert box and box["height"] >= 44  # a finger's height
    await page.mouse.click(box["x"] + box["width"] - 10, box["y"] + box["height"] / 2)
    await page.wait_for_selector("#contact-name")
    assert await inside_viewport(page, "#contact-name")
    width = await page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]
    await page.screenshot(path=str(ARTIFACTS / "contacts-phone.png"))
    assert not bp.errors, bp.errors
