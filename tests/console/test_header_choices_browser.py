"""What an agent has half picked in the conversation header (a transfer target, a team, a snooze
length) survives the live updates that redraw the header: a customer writing again while the
agent chooses must not leave the Transfer button acting on nothing."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.console.test_bugs_browser import _held_in_console
from tests.console.uxkit import DESKTOP, PASSWORD, PHONE, customer_says, user

pytestmark = pytest.mark.browser

AGENT = "select[aria-label='Transfer to agent']"
TEAM = "input[aria-label='Transfer to team']"
SNOOZE = "select[aria-label='Snooze for']"


async def test_a_half_made_transfer_survives_a_redraw_and_goes_through(gateway: Harness, new_page):
    h = gateway
    channel, secret = await h.api_channel()
    dora = await user(h, "dora@example.com", "Dora")
    dora_token = await h.login("dora@example.com", PASSWORD)
    await h.call("PUT", "/api/v1/agents/me/status", dora_token, {"status": "away"})
    # A supervisor: the transfer event reaches her console after the conversation leaves her.
    _, page, conv = await _held_in_console(h, new_page, DESKTOP, "supervisor", (channel, secret))
    head = page.locator("#conv-head")
    await head.locator(AGENT).select_option(dora)
    await head.locator(SNOOZE).select_option("240")
    await head.locator(TEAM).fill("billing")
    # Mark this header's nodes: a redraw replaces them.
    await page.locator(f"#conv-head {AGENT}").evaluate("el => { el.dataset.old = '1'; }")

    await customer_says(h, channel, secret, "m2", "Hello? Anyone there?", name="Mei")
    await page.locator("#log .msg.in", has_text="Anyone there").wait_for()
    await page.locator(f"#conv-head {AGENT}:not([data-old])").wait_for(state="attached")

    assert await head.locator(AGENT).input_value() == dora
    assert await head.locator(SNOOZE).input_value() == "240"
    assert await head.locator(TEAM).input_value() == "billing"
    await head.locator("button", has_text="Transfer").click()
    await page.locator("#log .msg.event", has_text="Transferred to Dora").wait_for()
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["assignee"] == dora


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_an_agent_who_transfers_a_conversation_away_is_back_at_the_list(
    gateway: Harness, new_page, viewport: dict[str, int]
):
    """Once it is Dora's, Alice (an agent) may no longer see it nor gets its events: the pane
    closes, with the toast saying it went, rather than keep a log that no longer moves; on a
    phone she is back at the list, not at an empty pane with a "back" button."""
    h = gateway
    dora = await user(h, "dora@example.com", "Dora")
    dora_token = await h.login("dora@example.com", PASSWORD)
    await h.call("PUT", "/api/v1/agents/me/status", dora_token, {"status": "away"})
    _, page, conv = await _held_in_console(h, new_page, viewport)
    head = page.locator("#conv-head")
    await head.locator(AGENT).select_option(dora)
    await head.locator("button", has_text="Transfer").click()
    await page.locator("#toast", has_text="Conversation transferred").wait_for()
    await page.locator("#conversation .empty").wait_for(state="attached")
    assert await page.locator("#conv-head").count() == 0
    assert await page.evaluate("() => location.hash") == "#/inbox"
    if viewport is PHONE:
        await page.locator("#page-inbox[data-pane='list']").wait_for(state="attached")
        assert await page.locator("#conversations").is_visible()
        assert not await page.locator("#pane-back").is_visible()
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["assignee"] == dora
