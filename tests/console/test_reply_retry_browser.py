"""Sending a reply again after its answer was lost sends it once, in a real Chromium: the
console names each reply (client_id) and a second Send of the same words reuses that name, so
the gateway answers the reply it stored instead of storing and sending another."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from tests.conftest import CallbackServer, Harness, wait_for
from tests.console.uxkit import DESKTOP, PASSWORD, customer_says, sign_in, user

pytestmark = pytest.mark.browser


async def test_a_reply_whose_answer_was_lost_is_sent_once(
    gateway: Harness, new_page, callback_server: CallbackServer
):
    h = gateway
    agent_id = await user(h, "ann@example.com", "Ann")
    token = await h.login("ann@example.com", PASSWORD)
    await h.call("PUT", "/api/v1/agents/me/status", token, {"status": "online"})
    channel, secret = await h.api_channel(callback_server.url)
    conv = await customer_says(h, channel, secret, "m-1", "Where is my parcel?", "c-1")

    async def offered() -> bool:
        return (await h.gw.conversations.raw(conv, "offered_to"))[0] == agent_id

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conv}/accept", token)

    bp = await new_page(locale="en-US")
    page = await sign_in(bp, h, "ann@example.com", DESKTOP)
    await page.goto(f"{h.base_url}/console#/inbox/{conv}")
    await page.locator("#log .msg.in", has_text="Where is my parcel?").wait_for()

    # The first POST reaches the gateway, but its answer never reaches the page.
    bodies: list[dict[str, str]] = []

    async def lose_first_answer(route) -> None:
        bodies.append(json.loads(route.request.post_data or "{}"))
        if len(bodies) == 1:
            await route.fetch()
            await route.abort()
        else:
            await route.continue_()

    await page.route(f"**/api/v1/conversations/{conv}/messages", lose_first_answer)
    await page.fill("#reply-text", "It left the warehouse today")
    await page.click("#composer button[type=submit]")
    await page.locator("#toast.error").wait_for()
    assert await page.locator("#reply-text").input_value() == "It left the warehouse today"
    await page.click("#composer button[type=submit]")  # the agent tries again
    # (The log may show the reply before this answer: the first request's event.)
    await expect(page.locator("#reply-text")).to_have_value("")
    await page.locator("#log .msg.out", has_text="It left the warehouse today").wait_for()

    assert len(bodies) == 2 and bodies[0]["client_id"] == bodies[1]["client_id"]
    log = await h.gw.conversations.messages(conv)
    assert [m["text"] for m in log if m["direction"] == "out"] == ["It left the warehouse today"]
    await wait_for(lambda: _sent(callback_server))
    assert await page.locator("#log .msg.out").count() == 1
    # The next reply is a new one.
    await page.fill("#reply-text", "Tracking: SF123")
    await page.click("#composer button[type=submit]")
    await page.locator("#log .msg.out", has_text="Tracking: SF123").wait_for()
    assert bodies[2]["client_id"] != bodies[0]["client_id"]
    # Only the answer the test took away failed.
    assert bp.errors == ["Failed to load resource: net::ERR_FAILED"], bp.errors


async def _sent(callback: CallbackServer) -> bool:
    return len(callback.received) == 1
