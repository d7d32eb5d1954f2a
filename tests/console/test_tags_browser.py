"""Tags in the console, in a real Chromium (issue 17): an agent adds tags to a conversation in
its side panel with autocompletion from the tags in use (Chinese ones too), removes one, the
conversation's product is kept, and the list filters by tag. Desktop 1440x900 and phone
390x844 (on a phone the side panel is its own pane)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Harness
from tests.console.uxkit import DESKTOP, PHONE, customer_says, sign_in, user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_add_remove_autocomplete_and_filter_by_tag(
    gateway: Harness, new_page, artifacts: Path, size
):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    channel, secret = await h.api_channel()
    other = await customer_says(h, channel, secret, "m-1", "Parcel lost", "c-1", "Wang Fang")
    conv = await customer_says(h, channel, secret, "m-2", "I want my money back", "c-2", "Li Na")
    await h.call("PUT", f"/api/v1/conversations/{other}/tags", None, {"tags": ["物流"]})
    await h.call("PUT", f"/api/v1/conversations/{conv}/tags", None, {"tags": [], "product": "Pro"})

    bp = await new_page()
    console = await sign_in(bp, h, "sue@example.com", size)
    await console.select_option("#filters select[name=view]", "all")
    await console.locator(f"#conversations .row[data-id='{conv}']").click()
    await console.locator("#log .msg.in", has_text="I want my money back").wait_for()
    if size == PHONE:
        await console.locator("#pane-customer").click()
    block = console.locator("#conv-tags")
    await block.locator("text=No tags yet").wait_for()
    tag_input = block.locator("#tag-input")
    await tag_input.click()
    # The tags in use are offered as the agent types.
    await console.locator("#tags-in-use option[value='物流']").wait_for(state="attached")
    assert await tag_input.get_attribute("list") == "tags-in-use"
    await tag_input.fill("退款")
    await tag_input.press("Enter")
    await block.locator(".tag[data-tag='退款']").wait_for()
    await block.locator("#tag-input").fill("VIP")
    await block.locator("#tag-input").press("Enter")
    await block.locator(".tag[data-tag='vip']").wait_for()
    await console.locator("#toast", has_text="Tags saved").wait_for()
    stored = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert stored["tags"] == '["退款", "vip"]' and stored["product"] == "Pro"
    await console.locator("#tags-in-use option[value='退款']").wait_for(state="attached")
    await console.screenshot(path=str(artifacts / f"ux-tags-{size['width']}.png"))

    await block.locator("button[aria-label='Remove tag vip']").click()
    await block.locator(".tag[data-tag='vip']").wait_for(state="detached")
    stored = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert stored["tags"] == '["退款"]'

    # The list filtered by a tag.
    if size == PHONE:
        await console.locator("#pane-back").click()
    else:
        await console.evaluate("() => { location.hash = '#/inbox'; }")
    tag_filter = console.locator("#filters input[name=tag]")
    await tag_filter.fill("退款")
    await tag_filter.press("Enter")
    await console.locator(f"#conversations .row[data-id='{other}']").wait_for(state="detached")
    assert await console.locator("#conversations .row").count() == 1
    await tag_filter.fill("物流")
    await tag_filter.press("Enter")
    await console.locator(f"#conversations .row[data-id='{other}']").wait_for()
    assert await console.locator("#conversations .row").count() == 1
    await tag_filter.fill("")
    await tag_filter.press("Enter")
    await console.locator(f"#conversations .row[data-id='{conv}']").wait_for()
    assert await console.locator("#conversations .row").count() == 2
    assert bp.errors == [] and bp.dialogs == []
