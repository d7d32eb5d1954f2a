"""The web chat widget in a real Chromium page of the customer's site (tests/console/conftest.py
serves the site): open it, or make a channel for the site and open its widget."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.console.conftest import BrowserPage, CustomerSite


async def open_widget(page: Any) -> None:
    """Click the launcher and wait until the widget is connected."""
    await page.locator(".launcher").click()
    await page.locator(".panel .status").wait_for(state="hidden")


async def widget_on_site(
    h: Harness, new_page: Any, site: CustomerSite
) -> tuple[BrowserPage, Any, dict[str, Any]]:
    """A web chat channel for the site, and a visitor with its widget open: (the visitor's
    browser page, the Playwright page, the channel)."""
    channel = await h.create_channel("webchat", {"allowed_origins": [site.origin]})
    site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await new_page()
    await visitor.page.goto(site.url)
    await open_widget(visitor.page)
    return visitor, visitor.page, channel
