"""The conversation list in a real Chromium (issue 17): each row shows the last message (the
customer's or ours, as text, one line), its time, the assignee and the SLA countdown; the list
sorts by latest activity or by SLA due (kept across reloads); a new admin's empty inbox says to
create a channel and links to it; an offer arriving while the agent writes never covers Send;
toasts say what happened. Desktop 1440x900 and phone 390x844."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Harness
from tests.console.uxkit import (
    DESKTOP,
    PASSWORD,
    PHONE,
    XSS,
    customer_says,
    go_online,
    inside_viewport,
    sign_in,
    user,
)

pytestmark = pytest.mark.browser
# The list's rows, in order, are the ones wanted (their ids joined with commas).
ORDER = "(want) => [...document.querySelectorAll('#conversations .row')]" + (
    ".map(r => r.dataset.id).join() === want"
)
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


async def _ids(page) -> list[str]:
    return await page.locator("#conversations .row").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )


@SIZES
async def test_rows_show_the_last_message_time_assignee_and_sort_by_sla(
    gateway: Harness, new_page, artifacts: Path, size
):
    h = gateway
    alice_id = await user(h, "alice@example.com", "Alice")
    await user(h, "sue@example.com", "Sue", role="supervisor")
    alice = await h.login("alice@example.com", PASSWORD)
    channel, secret = await h.api_channel()
    await h.call("PUT", "/api/v1/agents/me/status", alice, {"status": "online"})
    first = await customer_says(
        h, channel, secret, "m-1", "Is my\norder   shipped?", "c-1", "Wang Fang"
    )

    async def offered() -> bool:
        got = await h.call("GET", f"/api/v1/conversations/{first}")
        return got["conversation"]["offered_to"] == alice_id

    for _ in range(100):
        if await offered():
            break
        await h.gw.kick_router()
    await h.call("POST", f"/api/v1/conversations/{first}/accept", alice)
    await h.call("PUT", "/api/v1/agents/me/status", alice, {"status": "away"})
    second = await customer_says(h, channel, secret, "m-2", XSS, "c-2", "Li Na")

    bp = await new_page()
    console = await sign_in(bp, h, "sue@example.com", size)
    await console.select_option("#filters select[name=view]", "all")
    row_a = console.locator(f"#conversations .row[data-id='{first}']")
    row_b = console.locator(f"#conversations .row[data-id='{second}']")
    await row_b.wait_for()
    assert await row_a.locator(".preview").text_content() == "Is my order shipped?"
    assert await row_b.locator(".preview").text_content() == XSS  # text, never markup
    assert await console.locator("#conversations img").count() == 0
    assert await row_a.locator(".assignee").text_content() == "Alice"
    assert await row_b.locator(".assignee").text_content() == "Unassigned"
    assert (await row_b.locator(".sla").text_content() or "").startswith("SLA ")
    assert await row_a.locator("time.when").text_content()
    assert await _ids(console) == [second, first]  # latest activity first

    # Sorted by SLA due: the older unanswered conversation is due first; the choice is kept.
    await console.select_option("#filters select[name=sort]", "sla")
    await console.wait_for_function(
        ORDER,
        arg=f"{first},{second}",
    )  # fmt: skip
    await console.screenshot(path=str(artifacts / f"ux-list-{size['width']}.png"))
    await console.reload()
    await console.select_option("#filters select[name=view]", "all")
    await row_a.wait_for()
    assert await console.locator("#filters select[name=sort]").input_value() == "sla"
    assert await _ids(console) == [first, second]

    # Alice answers: the row shows her reply, live, and it is no longer due.
    await h.call(
        "POST", f"/api/v1/conversations/{first}/messages", alice, {"text": "On its way"}, expect=201
    )
    await row_a.locator(".preview", has_text="Alice: On its way").wait_for()
    await console.wait_for_function(
        ORDER,
        arg=f"{second},{first}",
    )  # fmt: skip
    assert bp.errors == [] and bp.dialogs == []


@SIZES
async def test_a_new_admin_is_told_to_create_a_channel(gateway: Harness, new_page, size):
    h = gateway
    bp = await new_page()
    page = bp.page
    await page.set_viewport_size(size)
    await page.goto(f"{h.base_url}/console")
    await page.fill("#login-form input[name=email]", ADMIN_EMAIL)
    await page.fill("#login-form input[name=password]", ADMIN_PASSWORD)
    await page.click("#login-form button[type=submit]")
    hint = page.locator("#conversations .empty-hint")
    await hint.wait_for()
    assert "No channels yet" in (await hint.text_content() or "")
    assert "Nothing here" not in (await page.locator("#conversations").text_content() or "")
    await hint.locator("a", has_text="Create a channel").click()
    await page.locator("#page-channels").wait_for()
    assert page.url.endswith("#/channels")
    # With a channel, an empty list says that nothing matches, not to create one.
    await h.api_channel()
    await page.evaluate("() => { location.hash = '#/inbox'; location.reload(); }")
    empty = page.locator("#conversations .empty")
    await empty.wait_for()
    assert await empty.text_content() == "No conversations match these filters."
    assert bp.errors == []


@SIZES
async def test_an_offer_while_writing_leaves_send_clickable_and_toasts_say_what_happened(
    gateway: Harness, new_page, artifacts: Path, size
):
    h = gateway
    await user(h, "alice@example.com", "Alice")
    channel, secret = await h.api_channel()
    bp = await new_page()
    console = await sign_in(bp, h, "alice@example.com", size)
    await go_online(console)
    await customer_says(h, channel, secret, "m-1", "First question", "c-1", "Wang Fang")
    await console.locator(".offer button.accept").click()
    await console.locator("#log .msg.in", has_text="First question").wait_for()
    await console.locator("#reply-text").fill("Let me look that up for you")

    await customer_says(h, channel, secret, "m-2", "Second customer here", "c-2", "Li Na")
    await console.locator(".offer").wait_for()
    await console.screenshot(path=str(artifacts / f"ux-offer-while-writing-{size['width']}.png"))
    assert await inside_viewport(console, "#composer button[type=submit]")
    assert await inside_viewport(console, ".offer button.accept")
    await console.locator("#composer button[type=submit]").click(trial=True, timeout=2000)
    await console.locator("#composer button[type=submit]").click()
    await console.locator("#log .msg.out", has_text="Let me look that up for you").wait_for()
    assert await console.locator(".offer").count() == 1

    await console.locator("#conv-head button.resolve").click()
    await console.locator("#toast", has_text="Conversation resolved").wait_for()
    assert "Done:" not in (await console.locator("#toast").text_content() or "")
    assert bp.errors == []


async def test_older_conversations_load_below_the_first_hundred(gateway: Harness, new_page):
    """The list shows 100 at a time; "更早的会话" below it loads the next ones (by the API's
    cursor) until none are left, each conversation once."""
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    channel, secret = await h.api_channel()
    for n in range(103):
        await customer_says(h, channel, secret, f"m-{n}", f"question {n}", f"c-{n}")
    bp = await new_page(locale="zh-CN")
    page = await sign_in(bp, h, "sue@example.com", DESKTOP)
    await page.select_option("#filters select[name=view]", "all")
    more = page.locator("#list-more")
    await more.wait_for()
    assert await more.inner_text() == "更早的会话"
    assert len(await _ids(page)) == 100
    await more.click()
    await more.wait_for(state="hidden")
    ids = await _ids(page)
    assert len(ids) == 103 == len(set(ids))
    assert not bp.errors, bp.errors
