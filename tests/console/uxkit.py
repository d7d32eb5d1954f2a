"""Helpers of the agent-console browser tests of issue 17 part A (test_notify_browser,
test_list_browser, test_tags_browser, test_keyboard_browser, test_phone_browser): users with a
known password, signing in at a given window size, customer messages through an API channel,
and stand-ins for the browser's notification and audio (what the page asked of them)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.console.conftest import BrowserPage
from tests.console.test_browser import PASSWORD, XSS, _sign_in
from tests.console.test_browser import _user as user

__all__ = ["PASSWORD", "XSS", "user"]  # the console tests' own, for these tests

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}

# Records what the page asks of the browser: Notification's permission requests and shown
# notifications (Chromium headless shows none; a granted permission is kept like the browser's),
# and each tone (oscillators started).
RECORDER = """
(() => {
  window.__asked = 0; window.__shown = []; window.__tones = 0;
  class FakeNotification {
    static get permission() { return localStorage.getItem("fake.permission") || "default"; }
    static requestPermission() {
      window.__asked += 1; localStorage.setItem("fake.permission", "granted");
      return Promise.resolve("granted");
    }
    constructor(title, options) {
      window.__shown.push({ title, body: (options || {}).body || "" });
    }
    close() {}
  }
  window.Notification = FakeNotification;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
})();
"""


async def sign_in(
    bp: BrowserPage, h: Harness, email: str, viewport: dict[str, int] = DESKTOP
) -> Any:
    await bp.page.set_viewport_size(viewport)
    return await _sign_in(bp, h, email)


async def go_online(page: Any) -> None:
    await page.select_option("#presence", "online")
    await page.wait_for_selector("#toast:has-text('You are online')")


async def customer_says(
    h: Harness, channel: str, secret: str, msg_id: str, text: str, who: str = "c-1", name: str = ""
) -> str:
    payload = {"message_id": msg_id, "sender": {"id": who, "name": name or who}, "text": text}
    status, body = await h.post_api_message(channel, secret, payload)
    assert status == 202, body
    return str(body["conversation_id"])


async def inside_viewport(page: Any, selector: str) -> bool:
    """The element's whole box is in the window, and it is what a click at its centre hits."""
    return bool(await page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel);
          if (!el) return false;
          const r = el.getBoundingClientRect();
          const inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
            && r.right <= innerWidth && r.bottom <= innerHeight;
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return inside && !!hit && (hit === el || el.contains(hit));
        }""",
        selector,
    ))  # fmt: skip
