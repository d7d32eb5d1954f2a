"""The console on a phone (390x844) and a tablet (768x1024), in a real Chromium (issue 17):
on a phone one pane at a time (list -> conversation -> customer panel) with back controls, the
Send button and the last message inside the window, and nothing wider than the window; on a
tablet the list beside the conversation, the customer panel in the conversation's place; on a
desktop (1440x900) all three side by side and no pane bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Harness, wait_for
from tests.console.uxkit import (
    DESKTOP,
    PHONE,
    TABLET,
    customer_says,
    inside_viewport,
    sign_in,
    user,
)

pytestmark = pytest.mark.browser


async def _shown(page, selector: str) -> bool:
    return await page.locator(selector).is_visible()


async def _fits(page) -> bool:
    """Nothing sticks out sideways: the page is no wider than the window."""
    return await page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")


async def _conversation(h: Harness) -> str:
    channel, secret = await h.api_channel()
    conv = ""
    for n in range(25):
        text = f"Message {n}: " + "the parcel has not arrived yet " * (n % 3 + 1)
        conv = await customer_says(h, channel, secret, f"m-{n}", text, "c-1", "Wang Fang")
    return conv


async def test_phone_shows_one_pane_at_a_time(gateway: Harness, new_page, artifacts: Path):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    conv = await _conversation(h)
    bp = await new_page()
    page = await sign_in(bp, h, "sue@example.com", PHONE)
    await page.select_option("#filters select[name=view]", "all")
    row = page.locator(f"#conversations .row[data-id='{conv}']")
    await row.wait_for()
    assert not await _shown(page, "#conversation") and not await _shown(page, "#pane-bar")
    assert await _fits(page)
    await page.screenshot(path=str(artifacts / "ux-phone-list.png"))

    await row.click()
    last = page.locator("#log .msg.in", has_text="Message 24:")
    await last.wait_for()
    assert not await _shown(page, "#conversations") and await _shown(page, "#pane-back")
    assert not await _shown(page, "#conv-side")
    assert await inside_viewport(page, "#composer button[type=submit]")
    # The log sticks to its end once the header above it has its final size (a resize
    # observer, a frame or so after the messages render on a loaded machine).
    await wait_for(lambda: inside_viewport(page, "#log .msg:last-child"), timeout=5)
    assert await _fits(page)
    await page.screenshot(path=str(artifacts / "ux-phone-conversation.png"))
    await page.locator("#reply-text").fill("Checking with the courier")
    await page.locator("#composer button[type=submit]").click()
    await page.locator("#log .msg.out", has_text="Checking with the courier").wait_for()
    await wait_for(lambda: inside_viewport(page, "#log .msg:last-child"), timeout=5)

    await page.locator("#pane-customer").click()
    await page.locator("#conv-side").wait_for()
    assert not await _shown(page, "#log") and await _shown(page, "#conv-tags")
    assert await _fits(page)
    await page.screenshot(path=str(artifacts / "ux-phone-customer.png"))
    await page.locator("#pane-conversation").click()
    await page.locator("#log").wait_for()
    assert not await _shown(page, "#conv-side")

    await page.locator("#pane-back").click()
    await row.wait_for()
    assert page.url.endswith("#/inbox") and not await _shown(page, "#conversation")
    assert bp.errors == []


async def test_tablet_shows_the_list_beside_the_conversation(
    gateway: Harness, new_page, artifacts: Path
):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    conv = await _conversation(h)
    bp = await new_page()
    page = await sign_in(bp, h, "sue@example.com", TABLET)
    await page.select_option("#filters select[name=view]", "all")
    await page.locator(f"#conversations .row[data-id='{conv}']").click()
    await page.locator("#log .msg.in", has_text="Message 24:").wait_for()
    lst = await page.locator(".list-pane").bounding_box()
    pane = await page.locator("#conversation").bounding_box()
    assert lst and pane and lst["width"] >= 250 and pane["x"] >= lst["x"] + lst["width"] - 1
    assert pane["width"] >= 400
    assert not await _shown(page, "#pane-back") and not await _shown(page, "#conv-side")
    assert await inside_viewport(page, "#composer button[type=submit]")
    await wait_for(lambda: inside_viewport(page, "#log .msg:last-child"), timeout=5)
    assert await _fits(page)
    await page.screenshot(path=str(artifacts / "ux-tablet.png"))
    await page.locator("#pane-customer").click()
    await page.locator("#conv-side").wait_for()
    assert await _shown(page, ".list-pane") and not await _shown(page, "#log")
    await page.locator("#pane-conversation").click()
    await page.locator("#log").wait_for()
    assert bp.errors == []


async def test_desktop_shows_all_three_panes(gateway: Harness, new_page):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    conv = await _conversation(h)
    bp = await new_page()
    page = await sign_in(bp, h, "sue@example.com", DESKTOP)
    await page.select_option("#filters select[name=view]", "all")
    await page.locator(f"#conversations .row[data-id='{conv}']").click()
    await page.locator("#log .msg.in", has_text="Message 24:").wait_for()
    for selector in (".list-pane", "#log", "#conv-side", "#composer button[type=submit]"):
        assert await _shown(page, selector), selector
    assert not await _shown(page, "#pane-bar")
    await wait_for(lambda: inside_viewport(page, "#log .msg:last-child"), timeout=5)
    assert await _fits(page)
    assert bp.errors == []
