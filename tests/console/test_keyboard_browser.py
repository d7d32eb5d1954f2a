"""Keyboard shortcuts in a real Chromium (issue 17): j / k next and previous conversation, r
reply, n note, / the canned picker, e resolve (asking first when the customer's last message is
unanswered), ? a sheet listing them, Escape closing it; none fires while typing in a field.
Desktop 1440x900 in English and phone 390x844 in Chinese (the sheet and the toast in 中文)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Harness
from tests.console.uxkit import DESKTOP, PASSWORD, PHONE, customer_says, sign_in, user

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "title": "Keyboard shortcuts",
        "resolved": "Conversation resolved",
        "next": "Next conversation",
    },
    "zh-CN": {"title": "键盘快捷键", "resolved": "已解决", "next": "下一个会话"},
}


async def _hash(page) -> str:
    return await page.evaluate("() => location.hash")


@pytest.mark.parametrize(
    ("size", "lang"), [(DESKTOP, "en"), (PHONE, "zh-CN")], ids=["desktop-en", "phone-zh"]
)
async def test_shortcuts_and_their_sheet(gateway: Harness, new_page, artifacts: Path, size, lang):
    h = gateway
    words = WORDS[lang]
    sue_id = await user(h, "sue@example.com", "Sue", role="supervisor")
    sue = await h.login("sue@example.com", PASSWORD)
    await h.call(
        "POST",
        "/api/v1/canned",
        None,
        {"shortcut": "hello", "title": "Hi", "text": "Hello there"},
        expect=201,
    )
    channel, secret = await h.api_channel()
    oldest = await customer_says(h, channel, secret, "m-1", "first", "c-1", "Wang Fang")
    middle = await customer_says(h, channel, secret, "m-2", "second", "c-2", "Li Na")
    newest = await customer_says(h, channel, secret, "m-3", "third", "c-3", "Zhao Lei")

    bp = await new_page(locale=lang)
    console = await sign_in(bp, h, "sue@example.com", size)
    await console.select_option("#filters select[name=view]", "all")
    await console.locator(f"#conversations .row[data-id='{oldest}']").wait_for(state="attached")
    await console.evaluate("() => document.activeElement.blur()")  # nothing focused

    await console.keyboard.press("j")
    assert await _hash(console) == f"#/inbox/{newest}"
    await console.locator("#log .msg.in", has_text="third").wait_for()
    await console.keyboard.press("j")
    assert await _hash(console) == f"#/inbox/{middle}"
    await console.locator("#log .msg.in", has_text="second").wait_for()
    await console.keyboard.press("j")
    await console.keyboard.press("k")
    assert await _hash(console) == f"#/inbox/{middle}"
    await console.locator("#log .msg.in", has_text="second").wait_for()

    # Two hash changes handled after both happened (j then k faster than the page) leave the
    # open conversation alone: reloading it would rebuild the reply box under the agent.
    loads: list[str] = []
    console.on("request", lambda r: r.method == "GET" and loads.append(r.url))
    await console.evaluate(
        "([a, b]) => { location.hash = `#/inbox/${a}`; location.hash = `#/inbox/${b}`; }",
        [oldest, middle],
    )
    await console.evaluate("() => new Promise((done) => setTimeout(done, 100))")
    assert [url for url in loads if f"/conversations/{middle}" in url] == []

    # r: the reply box; typing j there is text, not a shortcut.
    await console.keyboard.press("r")
    assert await console.evaluate("() => document.activeElement.id") == "reply-text"
    assert await console.locator("#reply-mode").input_value() == "reply"
    await console.keyboard.type("just k")
    assert await _hash(console) == f"#/inbox/{middle}"
    assert await console.locator("#reply-text").input_value() == "just k"
    await console.locator("#reply-text").fill("")
    await console.locator("#reply-text").evaluate("(box) => box.blur()")

    # n: a note; /: the canned picker.
    await console.keyboard.press("n")
    assert await console.locator("#reply-mode").input_value() == "note"
    assert await console.evaluate("() => document.activeElement.id") == "reply-text"
    await console.locator("#reply-text").evaluate("(box) => box.blur()")
    await console.keyboard.press("/")
    assert await console.locator("#reply-mode").input_value() == "reply"
    await console.locator("#canned-picker li", has_text="/hello").wait_for()
    await console.keyboard.press("Enter")
    assert await console.locator("#reply-text").input_value() == "Hello there"
    await console.locator("#reply-text").fill("")
    await console.locator("#reply-text").evaluate("(box) => box.blur()")

    # ?: the sheet, in the agent's language; Escape closes it.
    await console.keyboard.press("?")
    sheet = console.locator("#keys-sheet")
    await sheet.wait_for()
    assert await sheet.locator("h2").text_content() == words["title"]
    assert await sheet.locator("kbd").all_text_contents() == [
        "j",
        "k",
        "r",
        "n",
        "e",
        "/",
        "?",
        "Esc",
    ]
    assert words["next"] in (await sheet.text_content() or "")
    await console.screenshot(path=str(artifacts / f"ux-keys-{size['width']}.png"))
    await console.keyboard.press("Escape")
    await sheet.wait_for(state="hidden")

    # e on an unanswered conversation asks first and resolves nothing yet.
    await console.keyboard.press("e")
    await console.locator("#conv-head .resolve-confirm").wait_for()
    assert (await h.call("GET", f"/api/v1/conversations/{middle}"))["conversation"][
        "status"
    ] == "open"
    await console.locator("#conv-head .resolve-confirm button.cancel").click()
    # Answered, e resolves, and the toast says so in words.
    await h.call(
        "POST",
        f"/api/v1/conversations/{middle}/messages",
        sue,
        {"text": "Done for you"},
        expect=201,
    )
    await console.locator("#log .msg.out", has_text="Done for you").wait_for()
    await console.evaluate("() => document.activeElement.blur()")
    await console.keyboard.press("e")
    await console.locator("#toast", has_text=words["resolved"]).wait_for()
    assert (await h.call("GET", f"/api/v1/conversations/{middle}"))["conversation"][
        "status"
    ] == "resolved"
    assert sue_id and bp.errors == [] and bp.dialogs == []
