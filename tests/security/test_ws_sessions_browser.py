"""The console, in a real Chromium, goes to its sign-in page when its session is revoked while
it is open (the socket closes with 4001), instead of reconnecting with a dead token."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.console.test_browser import _sign_in, _user

pytestmark = pytest.mark.browser


async def test_console_signs_out_when_its_session_is_revoked(gateway: Harness, new_page):
    user_id = await _user(gateway, "agent@example.com", "Agent")
    bp = await new_page()
    sockets: list[str] = []
    bp.page.on("websocket", lambda ws: sockets.append(ws.url))
    page = await _sign_in(bp, gateway, "agent@example.com")

    await gateway.call("PATCH", f"/api/v1/users/{user_id}", json_body={"role": "supervisor"})

    await page.wait_for_selector("#login:not([hidden])", timeout=5000)
    await page.wait_for_selector("#app", state="hidden")
    await page.wait_for_selector("#toast:has-text('session revoked: role changed')")
    assert await page.evaluate("() => localStorage.getItem('gw.console')") is None
    await page.wait_for_timeout(2500)  # longer than the first reconnect delay
    assert len(sockets) == 1, sockets
    assert bp.errors == [] and bp.dialogs == []
