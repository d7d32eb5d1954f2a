"""The supervisors' view in a real Chromium (issue 17, part B): who holds what, each agent's
status and load, taking a conversation over and reassigning it from there; an agent does not
get the page. Desktop 1440x900 and phone 390x844."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Harness
from tests.console.test_bugs_browser import _held_in_console
from tests.console.uxkit import (
    DESKTOP,
    PASSWORD,
    PHONE,
    go_online,
    inside_viewport,
    sign_in,
    user,
)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_supervisor_sees_who_holds_what_takes_over_and_reassigns(
    gateway: Harness, new_page, artifacts: Path, viewport: dict[str, int]
):
    h = gateway
    agent_bp, agent_page, conv = await _held_in_console(h, new_page, DESKTOP)
    bob = await user(h, "bob@example.com", "Bob")
    bob_token = await h.login("bob@example.com", PASSWORD)
    await h.call("PUT", "/api/v1/agents/me/status", bob_token, {"status": "away"})
    await user(h, "carl@example.com", "Carl")  # offline (as the first admin): not offered
    sue = await user(h, "sue@example.com", "Sue", role="supervisor")

    # An agent is sent back to the inbox.
    await agent_page.goto(agent_page.url.split("#")[0] + "#/supervisor")
    await agent_page.locator("#page-inbox").wait_for()
    assert await agent_page.locator("#page-supervisor").is_hidden()

    bp = await new_page()
    page = await sign_in(bp, h, "sue@example.com", viewport)
    await go_online(page)
    await page.goto(page.url.split("#")[0] + "#/supervisor")
    board = page.locator("#supervisor-board")
    await board.wait_for()
    summary = page.locator("#supervisor-summary")
    await summary.filter(has_text="2 of 5 online").wait_for()
    assert await summary.text_content() == (
        "2 of 5 online · 1 conversation held · 0 waiting in the queue"
    )
    alice = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]["assignee"]
    alice_row = board.locator(f"tr[data-agent='{alice}']")
    assert await alice_row.locator(".presence-badge").text_content() == "Online"
    assert await alice_row.locator(".load").text_content() == "1 of 5"
    held = alice_row.locator(f"li.held[data-conversation='{conv}']")
    assert await held.locator("a").text_content() == "Mei"
    options = await held.locator("select option").all_text_contents()
    assert options == ["Reassign to…", "Bob (Away, 0/5)", "Sue (Online, 0/5)"]  # no Carl
    await page.screenshot(path=str(artifacts / f"supervisor-{viewport['width']}.png"))

    take = f"li.held[data-conversation='{conv}'] button.take-over"
    await page.locator(take).scroll_into_view_if_needed()
    assert await inside_viewport(page, take)  # on a phone too: the columns stack
    overflow = "(() => { const w = document.querySelector('#page-supervisor .table-wrap');"
    overflow += " return w.scrollWidth - w.clientWidth; })()"
    assert await page.evaluate(overflow) <= 0  # no sideways scrolling to reach a column
    await held.locator("button.take-over").click()
    await page.locator("#toast", has_text="You hold the conversation now").wait_for()
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["assignee"] == sue
    mine = board.locator(f"tr[data-agent='{sue}']").locator(f"li.held[data-conversation='{conv}']")
    await mine.wait_for()
    assert await mine.locator("button.take-over").count() == 0  # already hers

    await mine.locator("button", has_text="Reassign").click()
    await page.locator("#toast.error", has_text="Choose who takes it over first.").wait_for()
    await mine.locator("select").select_option(bob)
    await mine.locator("button", has_text="Reassign").click()
    await page.locator("#toast", has_text="Conversation reassigned").wait_for()
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["assignee"] == bob
    await (
        board.locator(f"tr[data-agent='{bob}']")
        .locator(f"li.held[data-conversation='{conv}']")
        .wait_for()
    )
    if viewport is PHONE:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
    assert bp.errors == [] and agent_bp.errors == []
