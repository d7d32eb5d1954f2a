"""Chinese typed through an input method, in a real Chromium: the Enter that commits a
composition (pinyin letters, a candidate) is the input method's, so neither the widget nor the
console's canned-response picker acts on it; the Enter after it sends as usual. Chromium marks
that key ``isComposing``; Safari reports it with keyCode 229 after the composition ended."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness, wait_for
from tests.console.conftest import CustomerSite
from tests.webchat.widget_page import widget_on_site

pytestmark = pytest.mark.browser

# The composition's keys as the browser reports them to the page's handlers.
IME_ENTER = {
    "chromium": "{key: 'Enter', code: 'Enter', isComposing: true, bubbles: true, cancelable: true}",
    "safari": "{key: 'Enter', code: 'Enter', keyCode: 229, bubbles: true, cancelable: true}",
}


async def _ime_enter(element: Any, kind: str) -> bool:
    """Dispatches the input method's Enter on ``element`` (a locator); True when a handler
    cancelled it."""
    return await element.evaluate(
        f"(el) => !el.dispatchEvent(new KeyboardEvent('keydown', {IME_ENTER[kind]}))"
    )


@pytest.mark.parametrize("kind", list(IME_ENTER))
async def test_the_widget_sends_nothing_on_the_input_methods_enter(
    gateway: Harness, new_page, customer_site: CustomerSite, kind: str
):
    h = gateway
    visitor, site, channel = await widget_on_site(h, new_page, customer_site)
    box = site.locator(".composer textarea")

    await box.fill("wo de ding dan")  # pinyin still being composed
    assert not await _ime_enter(box, kind)
    await box.fill("我的订单还没到")  # the candidate chosen; now the customer's own Enter
    await box.press("Enter")
    await site.locator(".msg.visitor", has_text="我的订单还没到").wait_for()

    async def logged() -> list[str] | None:
        found = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        if not found["conversations"]:
            return None
        conv = found["conversations"][0]["id"]
        messages = (await h.call("GET", f"/api/v1/conversations/{conv}/messages"))["messages"]
        return [m["text"] for m in messages if m["direction"] == "in"] or None

    assert await wait_for(logged) == ["我的订单还没到"]  # nothing sent before it
    assert await site.locator(".msg.visitor").count() == 1
    assert visitor.errors == []
