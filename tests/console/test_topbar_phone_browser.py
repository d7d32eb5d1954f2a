"""The console's top bar on a phone (390x844), in a real Chromium, in Chinese and English: at most
two rows (~100 px, so the conversation keeps its screen), presence and the live dot always shown,
and the rarely used tools (language, sound, desktop notifications, keyboard help, sign out)
behind one menu button that opens by click or keyboard and closes on Escape or a click outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness
from tests.console.uxkit import PHONE, inside_viewport, sign_in, user

pytestmark = pytest.mark.browser

TOOLS = ["#language", "#sound-toggle", "#desktop-notify", "#keys-button", "#logout"]


async def _height(page: Any) -> float:
    return float(await page.evaluate("() => document.querySelector('.topbar').offsetHeight"))


async def _fits(page: Any) -> bool:
    """Nothing sticks out sideways: the page is no wider than the window."""
    return bool(await page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"))


async def _expanded(page: Any) -> str | None:
    return await page.get_attribute("#topmenu-button", "aria-expanded")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
async def test_phone_top_bar_is_two_rows_with_a_menu(
    gateway: Harness, new_page, artifacts: Path, locale: str
):
    h = gateway
    await user(h, "ada@example.com", "Ada Lovelace", role="admin")  # an admin: the most links
    bp = await new_page(locale=locale)
    page = await sign_in(bp, h, "ada@example.com", PHONE)
    await page.wait_for_selector("#keys-button", state="attached")

    assert await _height(page) <= 100, await _height(page)
    assert await _fits(page)
    for always in ("#conn", "#presence", "#topmenu-button", "#nav", "#search-q"):
        assert await inside_viewport(page, always), always
    for tool in TOOLS:
        assert not await page.locator(tool).is_visible(), tool
    await page.screenshot(path=str(artifacts / f"ux-phone-topbar-{locale}.png"))

    # The search's results open below the bar, inside the window.
    await page.locator("#search-q").fill("parcel")
    await page.locator("#search-q").press("Enter")
    await page.locator("#search-panel").wait_for()
    box = await page.locator("#search-panel").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert await _fits(page)
    await page.locator("#search-q").press("Escape")
    await page.locator("#search-panel").wait_for(state="hidden")

    # Opened by keyboard: Enter on the button, Tab goes on into the menu; Escape closes it and
    # gives the focus back to the button.
    button = page.locator("#topmenu-button")
    await button.focus()
    await page.keyboard.press("Enter")
    assert await _expanded(page) == "true"
    for tool in TOOLS:
        assert await inside_viewport(page, tool), tool
    assert await _fits(page)
    await page.screenshot(path=str(artifacts / f"ux-phone-topmenu-{locale}.png"))
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => !!document.activeElement.closest('#topmenu-panel')")
    await page.keyboard.press("Escape")
    assert await _expanded(page) == "false"
    assert not await page.locator("#logout").is_visible()
    assert await page.evaluate("() => document.activeElement.id") == "topmenu-button"

    # A click outside closes it.
    await button.click()
    assert await page.locator("#logout").is_visible()
    await page.locator(".topbar .brand").click()
    assert await _expanded(page) == "false"
    assert not await page.locator("#logout").is_visible()

    # The keyboard help opens from the menu (which closes: the sheet covers the page).
    await button.click()
    await page.locator("#keys-button").click()
    await page.locator(".keys-sheet").wait_for()
    assert await _expanded(page) == "false"
    await page.keyboard.press("Escape")
    await page.locator(".keys-sheet").wait_for(state="hidden")

    # Sound toggles from inside the menu (which stays open to show the new state).
    await button.click()
    sound = page.locator("#sound-toggle")
    before = await sound.get_attribute("aria-pressed")
    await sound.click()
    assert await sound.get_attribute("aria-pressed") != before
    assert await _expanded(page) == "true"

    # Sign out.
    await page.locator("#logout").click()
    await page.locator("#login").wait_for()
    assert not bp.errors, bp.errors
