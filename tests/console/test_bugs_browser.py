"""Issue 17's bugs, each in a real Chromium: a transfer to an offline agent is refused and the
console says why; resolving while the customer's last message is unanswered asks first; a
channel with another's name is refused in the channel form, and a channel created there is
started (and logged) once; a 2,600-character widget message is refused with too_long and the
draft kept; a widget on an origin the channel does not allow tells the visitor and the site
owner why instead of reconnecting forever. Desktop and phone sizes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite
from tests.console.uxkit import DESKTOP, PASSWORD, PHONE, customer_says, sign_in, user

pytestmark = pytest.mark.browser


async def _held_in_console(
    h: Harness,
    new_page,
    viewport: dict[str, int],
    role: str = "agent",
    channel: tuple[str, str] | None = None,
) -> tuple[Any, Any, str]:
    """Alice (online, of `role`) holds a customer's conversation, open in her console."""
    channel_id, secret = channel or await h.api_channel()
    alice = await user(h, "alice@example.com", "Alice", role=role)
    token = await h.login("alice@example.com", PASSWORD)
    await h.call("PUT", "/api/v1/agents/me/status", token, {"status": "online"})
    conv = await customer_says(
        h, channel_id, secret, "m1", "My order #12 never arrived", name="Mei"
    )

    async def offered() -> bool:
        got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return got.get("offered_to") == alice

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    bp = await new_page()
    page = await sign_in(bp, h, "alice@example.com", viewport)
    await page.goto(page.url.split("#")[0] + f"#/inbox/{conv}")
    await page.locator("#log .msg.in", has_text="never arrived").wait_for()
    return bp, page, conv


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_transfer_to_offline_is_refused_and_resolve_asks_when_unanswered(
    gateway: Harness, new_page, artifacts: Path, viewport: dict[str, int]
):
    h = gateway
    bob = await user(h, "bob@example.com", "Bob")  # never signed in: offline
    bp, page, conv = await _held_in_console(h, new_page, viewport)
    alice = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]["assignee"]

    head = page.locator("#conv-head")
    await head.locator("select[aria-label='Transfer to agent']").select_option(bob)
    await head.locator("button", has_text="Transfer").click()
    toast = page.locator("#toast.error")
    await toast.wait_for()
    assert await toast.text_content() == (
        "That agent is offline and would not see the conversation; choose someone online or "
        "away, or a team."
    )
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["assignee"] == alice  # still Alice's, not nobody's

    # The customer's message has no answer: Resolve asks; Cancel keeps it open.
    await head.locator("button.resolve").click()
    ask = head.locator(".resolve-confirm")
    await ask.wait_for()
    assert await ask.locator(".resolve-question").text_content() == (
        "The customer's last message has no answer yet. Resolve anyway?"
    )
    await page.screenshot(path=str(artifacts / f"resolve-confirm-{viewport['width']}.png"))
    await ask.locator("button.cancel").click()
    assert await ask.count() == 0
    assert (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"][
        "status"
    ] == "open"

    # Answered (a note is no answer): Resolve goes through without asking.
    await page.locator("#reply-text").fill("It ships today, sorry for the wait.")
    await page.locator("#composer button[type=submit]").click()
    await page.locator("#log .msg.out", has_text="It ships today").wait_for()
    await head.locator("button.resolve").click()

    async def resolved() -> bool:
        got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return got["status"] == "resolved"

    await wait_for(resolved)
    assert await page.locator(".resolve-confirm").count() == 0
    assert [e for e in bp.errors if "status of 409" not in e] == [] and bp.dialogs == []


async def test_resolve_anyway_resolves_an_unanswered_conversation(gateway: Harness, new_page):
    h = gateway
    bp, page, conv = await _held_in_console(h, new_page, DESKTOP)
    await page.locator("#conv-head button.resolve").click()
    await page.locator(".resolve-confirm button.confirm", has_text="Resolve anyway").click()

    async def resolved() -> bool:
        got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return got["status"] == "resolved"

    await wait_for(resolved)
    assert bp.errors == []


async def test_duplicate_channel_name_refused_and_a_new_channel_started_once(
    gateway: Harness, new_page, caplog: pytest.LogCaptureFixture
):
    h = gateway
    caplog.set_level(logging.INFO, logger="gateway.channels")
    await h.create_channel("api", {"secret": "s" * 32}, name="Shop front")
    await user(h, "root@example.com", "Root", role="admin")
    bp = await new_page()
    page = await sign_in(bp, h, "root@example.com")
    await page.click("#nav a[data-page=channels]")
    await page.select_option("#new-channel-type", "webchat")
    await page.click("#new-channel")
    form = page.locator("#channel-form")
    await form.locator("input[name=channel_name]").fill("  shop FRONT ")
    await form.locator("textarea[name=allowed_origins]").fill("https://shop.example.com")
    await form.locator("button[type=submit]").click()
    error = form.locator("p.error")
    await error.filter(has_text="name").wait_for()
    assert await error.text_content() == "Another channel has this name; choose another."
    assert len((await h.call("GET", "/api/v1/channels"))["channels"]) == 1

    await form.locator("input[name=channel_name]").fill("Shop chat")
    await form.locator("button[type=submit]").click()
    card = page.locator("#channel-list .channel", has_text="Shop chat")
    await card.locator(".state", has_text="running").wait_for()
    channel_id = await card.get_attribute("data-channel")
    await asyncio.sleep(0.5)  # the change event has come back by now
    starts = [
        r.getMessage()
        for r in caplog.records
        if r.name == "gateway.channels" and r.getMessage().startswith(f"channel {channel_id} ")
    ]
    assert starts == [f"channel {channel_id} (webchat) started"]
    assert [e for e in bp.errors if "status of 409" not in e] == []  # the refusal's own line


async def _widget(new_page, site: CustomerSite, viewport: dict[str, int], **ctx: Any) -> Any:
    visitor = await new_page(**ctx)
    await visitor.page.set_viewport_size(viewport)
    await visitor.page.goto(site.url)
    return visitor


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_widget_refuses_a_message_over_the_limit_and_keeps_the_draft(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path, viewport
):
    h = gateway
    config = {"allowed_origins": [customer_site.origin], "language": "en"}
    channel = await h.create_channel("webchat", config, name="Tea shop")
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await _widget(new_page, customer_site, viewport)
    site = visitor.page
    await site.locator(".launcher").click()
    await site.locator(".panel .status").wait_for(state="hidden")
    box = site.locator(".composer textarea")
    draft = "茶" * 2600
    await box.fill(draft)
    await box.press("Enter")
    status = site.locator(".panel .status")
    await status.wait_for()
    assert await status.text_content() == (
        "Your message has 2600 characters; at most 2000 can be sent. Shorten it and send again."
    )
    assert await box.input_value() == draft  # kept, not cut
    assert await site.locator(".msg.visitor").count() == 0  # nothing shown as sent
    await site.screenshot(path=str(artifacts / f"widget-too-long-{viewport['width']}.png"))
    found = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
    assert found["conversations"] == []

    await box.fill("茶" * 2000)
    await box.press("Enter")
    await site.locator(".msg.visitor[data-seq]").wait_for()
    await status.wait_for(state="hidden")

    async def filed() -> list:
        got = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return got["conversations"]

    conv = (await wait_for(filed))[0]["id"]
    messages = (await h.call("GET", f"/api/v1/conversations/{conv}/messages"))["messages"]
    assert [len(m["text"]) for m in messages] == [2000]
    assert visitor.errors == []


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("en-US", "This chat is not enabled on this website. The site owner must add this "
         "address to the chat's allowed origins."),
        ("zh-TW", "此網站尚未啟用本聊天。網站管理員需要在聊天頻道的允許來源中加入本網址。"),
    ],
)  # fmt: skip
async def test_widget_on_a_disallowed_origin_says_why_and_stops(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path, locale, text
):
    h = gateway
    config = {"allowed_origins": ["https://elsewhere.example.com"], "language": "auto"}
    channel = await h.create_channel("webchat", config, name="Elsewhere")
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    visitor = await _widget(new_page, customer_site, PHONE, locale=locale)
    site = visitor.page
    sockets: list[str] = []
    site.on("websocket", lambda ws: sockets.append(ws.url))
    await site.locator(".launcher").click()
    status = site.locator(".panel .status")
    await status.filter(has_text=text[:8]).wait_for()
    assert await status.text_content() == text
    await site.screenshot(path=str(artifacts / f"widget-origin-refused-{locale}.png"))
    await asyncio.sleep(4)  # the old widget retried within ~1 s and said "Connection lost"
    assert await status.text_content() == text
    assert len(sockets) == 1
    owner_notes = [e for e in visitor.errors if e.startswith("GatewayChat:")]
    assert owner_notes == [
        f"GatewayChat: this chat is not enabled on {customer_site.origin}: add the origin to "
        "the channel's allowed_origins (console: Admin > Channels)"
    ]
