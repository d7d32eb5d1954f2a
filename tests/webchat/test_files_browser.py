"""Files in the widget, in a real Chromium on a customer's site (another origin): the visitor
picks a photo, it is uploaded (CORS, session token) and sent; the agent's file comes back as a
link. File names stay text. Screenshots land in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite
from tests.webchat.visitor import MANUAL, reply_with_manual
from tests.webchat.widget_page import widget_on_site

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_visitor_and_agent_exchange_files_in_the_widget(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    visitor, site, channel = await widget_on_site(h, new_page, customer_site)

    name = f"lid {XSS}.png"
    attach = site.locator(".composer button.attach")
    await attach.wait_for()
    await site.locator(".composer input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": PHOTO}]
    )
    sent = site.locator(".msg.visitor[data-seq] .files a")
    await sent.wait_for()
    assert await sent.text_content() == name

    async def conversation() -> str | None:
        found = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return found["conversations"][0]["id"] if found["conversations"] else None

    conv = await wait_for(conversation)
    messages = (await h.call("GET", f"/api/v1/conversations/{conv}/messages"))["messages"]
    [stored] = messages[0]["attachments"]
    assert (stored["name"], stored["size"]) == (name, len(PHOTO))

    attachment = await reply_with_manual(h, conv, "The manual:")
    link = site.locator(".msg.agent .files a")
    await link.wait_for()
    assert await link.text_content() == "manual.pdf"
    href = await link.get_attribute("href")
    assert href == h.base_url + attachment["url"]
    async with aiohttp.ClientSession() as session, session.get(href) as fetched:
        assert await fetched.read() == MANUAL
    await site.screenshot(path=str(artifacts / "widget-files.png"))
    shadow_img = (
        "() => !!document.querySelector('[data-gateway-chat]').shadowRoot.querySelector('img')"
    )
    assert not await site.evaluate(shadow_img)
    assert visitor.errors == [] and visitor.dialogs == []
