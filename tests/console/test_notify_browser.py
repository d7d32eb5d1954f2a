"""Notifications and unread counts in a real Chromium (issue 17): a tone, a desktop
notification (permission asked on a click, never on load) and a count in the tab title for an
offer and for a customer message in a conversation not on screen; the unread badge clears when
the conversation is opened, stays cleared after a reload and on the agent's other device, and
the tone can be turned off (kept across reloads). Desktop 1440x900 and phone 390x844."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness
from tests.console.uxkit import (
    DESKTOP,
    PHONE,
    RECORDER,
    XSS,
    customer_says,
    go_online,
    sign_in,
    user,
)  # fmt: skip

pytestmark = pytest.mark.browser


async def _tones(page) -> int:
    return int(await page.evaluate("() => window.__tones"))


async def _tools(page: Any) -> None:
    """On a phone the top bar's tools are behind its menu: open it."""
    button = page.locator("#topmenu-button")
    if await button.is_visible() and await button.get_attribute("aria-expanded") != "true":
        await button.click()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_offer_and_message_notify_and_unread_clears_everywhere(
    gateway: Harness, new_page, artifacts: Path, size
):
    h = gateway
    await user(h, "alice@example.com", "Alice")
    channel, secret = await h.api_channel()
    first = await new_page()
    await first.page.add_init_script(RECORDER)
    console = await sign_in(first, h, "alice@example.com", size)
    title = await console.title()
    assert await console.evaluate("() => window.__asked") == 0  # never asked on load
    await _tools(console)
    await console.locator("#desktop-notify").click()
    assert await console.evaluate("() => window.__asked") == 1
    await console.locator("#desktop-notify").wait_for(state="detached")  # granted
    await go_online(console)

    # An offer: a tone, a notification and the tab title counts it.
    conv = await customer_says(h, channel, secret, "m-1", "Is my order shipped?", name="Wang Fang")
    offer = console.locator(".offer")
    await offer.wait_for()
    await console.wait_for_function("() => window.__shown.length === 1")
    shown = await console.evaluate("() => window.__shown[0]")
    assert shown["title"] == "New conversation offered" and "Wang Fang" in shown["body"]
    assert await _tones(console) > 0
    await console.wait_for_function("(t) => document.title === `(1) ${t}`", arg=title)
    await offer.locator("button.accept").click()
    await console.locator("#log .msg.in", has_text="Is my order shipped?").wait_for()
    await console.wait_for_function("(t) => document.title === t", arg=title)

    # Back to the list: a new customer message is not on screen, so it counts.
    await console.evaluate("() => { location.hash = '#/inbox'; }")
    tones = await _tones(console)
    await customer_says(h, channel, secret, "m-2", f"Hello? {XSS}", name="Wang Fang")
    row = console.locator(f"#conversations .row[data-id='{conv}']")
    await row.locator(".unread-badge", has_text="1").wait_for()
    await console.wait_for_function("(t) => document.title === `(1) ${t}`", arg=title)
    await console.wait_for_function("() => window.__shown.length === 2")
    shown = await console.evaluate("() => window.__shown[1]")
    assert shown["title"] == "New message from Wang Fang" and shown["body"] == f"Hello? {XSS}"
    assert await _tones(console) > tones
    assert await console.locator("#conversations img").count() == 0
    await console.screenshot(path=str(artifacts / f"ux-unread-{size['width']}.png"))

    # The agent's other device (another browser) sees the same count ...
    second = await new_page()
    other = await sign_in(second, h, "alice@example.com", size)
    other_row = other.locator(f"#conversations .row[data-id='{conv}']")
    await other_row.locator(".unread-badge", has_text="1").wait_for()
    # ... and it clears there when the agent reads it here.
    await row.click()
    await console.locator("#log .msg.in", has_text="Hello?").wait_for()
    await row.locator(".unread-badge").wait_for(state="detached")
    await console.wait_for_function("(t) => document.title === t", arg=title)
    await other_row.locator(".unread-badge").wait_for(state="detached")
    await other.reload()
    await other.locator(f"#conversations .row[data-id='{conv}']").wait_for()
    assert await other.locator(".unread-badge").count() == 0

    # While the conversation is on screen, its new messages are read at once: no count, no tone.
    tones = await _tones(console)
    await customer_says(h, channel, secret, "m-3", "Thanks!", name="Wang Fang")
    await console.locator("#log .msg.in", has_text="Thanks!").wait_for()
    await console.wait_for_timeout(500)
    assert await _tones(console) == tones and await console.title() == title
    await console.reload()
    await console.locator(f"#conversations .row[data-id='{conv}']").wait_for(state="attached")
    assert await console.locator(".unread-badge").count() == 0

    # The tone turned off stays off after a reload; the count still shows.
    await console.evaluate("() => { location.hash = '#/inbox'; }")
    await _tools(console)
    await console.locator("#sound-toggle", has_text="Sound on").click()
    await console.locator("#sound-toggle", has_text="Sound off").wait_for()
    assert await console.locator("#keys-button").count() == 1  # the toggle keeps "?" beside it
    await console.reload()
    await console.locator("#sound-toggle", has_text="Sound off").wait_for(state="attached")
    await console.locator(f"#conversations .row[data-id='{conv}']").wait_for()
    tones = await _tones(console)
    await customer_says(h, channel, secret, "m-4", "One more thing", name="Wang Fang")
    await row.locator(".unread-badge", has_text="1").wait_for()
    await console.wait_for_function("() => window.__shown.length >= 1")
    assert await _tones(console) == tones
    assert first.errors == [] and second.errors == []
