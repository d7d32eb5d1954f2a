"""The widget when the network or the page gets in its way, in a real Chromium on a customer's
site (another origin) with a real gateway: a too-long message queued before the welcome, a
message the gateway closes the socket over (1009), several tabs sharing one offline queue, a
connection that died silently, and a site whose Content-Security-Policy blocks the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import Harness, wait_for
from tests.webchat.netproxy import NetProxy
from tests.webchat.widget_page import open_widget

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,"></head><body><h1>Tea shop</h1>
<script src="{gateway}/widget.js" data-channel="{channel}" async></script></body></html>"""


@dataclass
class Site:
    """A shop's page on its own origin; ``headers`` go with it (a Content-Security-Policy)."""

    url: str = ""
    origin: str = ""
    gateway: str = ""
    channel: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    shop = Site()

    async def page(request: web.Request) -> web.Response:
        html = PAGE.format(gateway=shop.gateway, channel=shop.channel)
        return web.Response(text=html, content_type="text/html", headers=shop.headers)

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="localhost")
    await server.start_server()
    shop.url = str(server.make_url("/"))
    shop.origin = shop.url.rstrip("/")
    yield shop
    await server.close()


async def _channel(h: Harness, shop: Site, gateway_url: str, **config: Any) -> str:
    body = {"allowed_origins": [shop.origin], "language": "en", **config}
    channel_id = (await h.create_channel("webchat", body))["id"]
    shop.gateway, shop.channel = gateway_url, channel_id
    return channel_id


def _watch_sockets(page: Any) -> list[dict[str, Any]]:
    """Every WebSocket the page opens, with the text frames it sent."""
    sockets: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        record: dict[str, Any] = {"sent": []}
        sockets.append(record)
        ws.on("framesent", lambda payload: record["sent"].append(payload))

    page.on("websocket", on_socket)
    return sockets


def _messages_sent(sockets: list[dict[str, Any]], text: str) -> int:
    count = 0
    for record in sockets:
        for payload in record["sent"]:
            if isinstance(payload, str) and '"type":"message"' in payload and text in payload:
                count += 1
    return count


async def _stored_texts(h: Harness, channel_id: str) -> list[str]:
    found = await h.call("GET", f"/api/v1/conversations?channel={channel_id}")
    texts: list[str] = []
    for conversation in found["conversations"]:
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        messages = (await h.call("GET", path))["messages"]
        texts += [m["text"] for m in messages if m["direction"] == "in"]
    return texts


async def _send(page: Any, text: str) -> None:
    box = page.locator(".composer textarea")
    await box.fill(text)
    await box.press("Enter")


async def test_a_message_too_long_for_the_channel_fails_and_the_chat_goes_on(
    gateway: Harness, new_page, site: Site
):
    """Before any welcome the gateway's default limit (2000) applies; a message queued offline
    that the welcome's limit refuses is shown failed, never sent, and the chat goes on (also
    after a reload). Before: it was resent after every reconnect, closed with 1009, forever."""
    h = gateway
    channel_id = await _channel(h, site, h.base_url, max_message_length=20)
    visitor = await new_page()
    page = visitor.page
    sockets = _watch_sockets(page)
    await page.goto(site.url)
    await page.locator(".launcher").wait_for()
    await page.context.set_offline(True)  # before the widget ever connected: no welcome
    await page.locator(".launcher").click()
    status = page.locator(".panel .status")
    await wait_for(lambda: _text_is(status, "Connection lost. Reconnecting…"))

    await _send(page, "y" * 30000)  # over the default limit: refused at once, draft kept
    await wait_for(lambda: _text_contains(status, "at most 2000"))
    assert len(await page.locator(".composer textarea").input_value()) == 30000
    assert await page.locator(".msg.visitor").count() == 0

    long_one = "This is longer than twenty characters."
    await _send(page, long_one)  # under the default: queued until the welcome says 20
    await page.locator(".msg.visitor.pending").wait_for()
    await page.context.set_offline(False)
    failed = page.locator(".msg.visitor.pending.failed")
    await failed.wait_for(timeout=30_000)
    assert "at most 20" in (await failed.locator(".state").text_content() or "")
    assert await failed.locator(".state button").text_content() == "Retry"

    await _send(page, "still here?")
    await page.locator(".msg.visitor[data-seq]").wait_for()
    await page.wait_for_timeout(3000)
    assert _messages_sent(sockets, long_one) == 0
    assert len(sockets) <= 2  # no reconnect storm
    assert await _stored_texts(h, channel_id) == ["still here?"]

    await page.reload()
    await open_widget(page)
    await page.locator(".msg.visitor[data-seq]").wait_for()
    assert await page.locator(".msg.visitor.pending.failed").count() == 1  # still failed
    await page.wait_for_timeout(1500)
    assert _messages_sent(sockets, long_one) == 0
    assert await _stored_texts(h, channel_id) == ["still here?"]
    assert [e for e in visitor.errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


# Pads a message frame whose text has the marker with spaces (still valid JSON) past the
# gateway's frame limit, so the real gateway closes the socket with 1009 after that message.
PAD_OVER_LIMIT = """(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.includes("PAD-ME")) {
      data = data.slice(0, -1) + " ".repeat(100000) + "}";
    }
    return send.call(this, data);
  };
})()"""


async def test_a_message_the_gateway_closed_the_socket_over_is_failed_not_resent(
    gateway: Harness, new_page, site: Site
):
    h = gateway
    channel_id = await _channel(h, site, h.base_url)
    visitor = await new_page()
    page = visitor.page
    await page.add_init_script(PAD_OVER_LIMIT)
    sockets = _watch_sockets(page)
    await page.goto(site.url)
    await open_widget(page)

    await _send(page, "PAD-ME please")
    failed = page.locator(".msg.visitor.pending.failed")
    await failed.wait_for()
    assert (await failed.locator(".state").text_content() or "").startswith(
        "The message is too long."
    )
    await page.locator(".panel .status").wait_for(state="hidden")  # reconnected
    await _send(page, "a normal one")
    await page.locator(".msg.visitor[data-seq]").wait_for()
    await page.wait_for_timeout(2000)
    assert _messages_sent(sockets, "PAD-ME") == 1  # never resent after the reconnect
    assert await _stored_texts(h, channel_id) == ["a normal one"]

    # Retry is the visitor's choice: it is sent again (and refused again here).
    await failed.locator(".state button").click()
    await wait_for(lambda: _count_is(sockets, "PAD-ME", 2))
    await failed.wait_for()


async def test_tabs_share_one_offline_queue(gateway: Harness, new_page, site: Site):
    """A message typed offline in tab A, then A closed: tab B (same site, same visitor) shows
    it, and sends it when it reconnects. Before: B's save overwrote the queue and lost it."""
    h = gateway
    proxy = await NetProxy(h.client.server.port).start()
    try:
        channel_id = await _channel(h, site, proxy.url)
        visitor = await new_page()
        a = visitor.page
        b = await a.context.new_page()
        sockets = _watch_sockets(b)
        await a.goto(site.url)
        await open_widget(a)
        await _send(a, "hello from A")
        await a.locator(".msg.visitor[data-seq]").wait_for()
        await b.goto(site.url)
        await open_widget(b)
        await _send(b, "hello from B")
        await b.locator(".msg.visitor[data-seq] >> text=hello from B").wait_for()

        proxy.cut()
        await a.locator(".panel .status").wait_for(state="visible")
        await b.locator(".panel .status").wait_for(state="visible")
        await _send(a, "typed in A while offline")
        await a.locator(".msg.visitor.pending").wait_for()
        await _send(b, "typed in B while offline")
        # B shows A's queued message too (the storage event), and A's survives B's save.
        await b.locator(".msg.visitor.pending >> text=typed in A while offline").wait_for()
        stored = json.loads(await b.evaluate(f"localStorage.getItem('gwchat:{channel_id}')"))
        assert sorted(p["text"] for p in stored["pending"]) == [
            "typed in A while offline",
            "typed in B while offline",
        ]
        await a.close()

        proxy.heal()
        await b.evaluate("window.dispatchEvent(new Event('online'))")  # reconnect now
        sent = b.locator(".msg.visitor[data-seq]")
        await wait_for(lambda: _count_at_least(sent, 4), timeout=30)
        assert await b.locator(".msg.visitor.pending").count() == 0
        texts = sorted(await _stored_texts(h, channel_id))
        assert texts == sorted([
            "hello from A", "hello from B", "typed in A while offline", "typed in B while offline",
        ])  # fmt: skip
        assert _messages_sent(sockets, "typed in A while offline") >= 1
        stored = json.loads(await b.evaluate(f"localStorage.getItem('gwchat:{channel_id}')"))
        assert stored["pending"] == []
    finally:
        await proxy.close()


async def test_a_silently_dead_connection_is_noticed_and_replaced(
    gateway: Harness, new_page, site: Site
):
    """Every byte dropped, the connection never closed (a NAT forgot it): no pong comes, the
    widget says the connection is lost and reconnects; the message typed meanwhile is sent."""
    h = gateway
    proxy = await NetProxy(h.client.server.port).start()
    try:
        channel_id = await _channel(h, site, proxy.url)
        visitor = await new_page()
        page = visitor.page
        await page.goto(site.url)
        await open_widget(page)
        await _send(page, "before")
        await page.locator(".msg.visitor[data-seq]").wait_for()

        proxy.blackhole = True
        await _send(page, "into a dead connection")
        status = page.locator(".panel .status")
        # A ping every 20 s, a pong within 10 s.
        await wait_for(lambda: _text_is(status, "Connection lost. Reconnecting…"), timeout=45)
        assert await page.locator(".msg.visitor.pending").count() == 1

        proxy.heal()
        await wait_for(lambda: _count_at_least(page.locator(".msg.visitor[data-seq]"), 2), 40)
        await status.wait_for(state="hidden")
        assert await _stored_texts(h, channel_id) == ["before", "into a dead connection"]
    finally:
        await proxy.close()


@pytest.mark.parametrize("allowed", [True, False])
async def test_a_content_security_policy_either_allows_the_chat_or_it_says_so(
    gateway: Harness, new_page, site: Site, allowed: bool
):
    """With the directives docs/channels/webchat.md names, the chat works; without
    connect-src for the gateway, the widget says the connection is lost (in built-in words:
    the texts cannot be fetched either) instead of a blank panel."""
    h = gateway
    channel_id = await _channel(h, site, h.base_url)
    ws_url = h.base_url.replace("http", "ws", 1)
    connect = f"; connect-src {h.base_url} {ws_url}" if allowed else ""
    site.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {h.base_url}; style-src 'self'{connect}"
    )
    visitor = await new_page()
    page = visitor.page
    await page.goto(site.url)
    if allowed:
        await open_widget(page)
        await _send(page, "hello under a CSP")
        await page.locator(".msg.visitor[data-seq]").wait_for()
        assert await _stored_texts(h, channel_id) == ["hello under a CSP"]
        return
    await page.locator(".launcher").click()
    status = page.locator(".panel .status")
    await wait_for(lambda: _text_is(status, "Connection lost. Reconnecting…"), timeout=20)
    assert await page.locator(".composer button:not(.attach)").text_content() == "Send"


async def _text_is(locator: Any, text: str) -> bool:
    return await locator.is_visible() and await locator.text_content() == text


async def _text_contains(locator: Any, text: str) -> bool:
    return await locator.is_visible() and text in (await locator.text_content() or "")


async def _count_at_least(locator: Any, n: int) -> bool:
    return await locator.count() >= n


async def _count_is(sockets: list[dict[str, Any]], text: str, n: int) -> bool:
    return _messages_sent(sockets, text) == n
