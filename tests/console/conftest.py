"""Browser fixtures: Debian's Chromium driven by Playwright, and a customer's site (another
origin) that embeds the widget. Browser tests skip with a reason when Chromium is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str | None:
    candidates = (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser")
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@dataclass
class BrowserPage:
    """A page plus what it said: console errors, uncaught exceptions and dialogs (alerts)."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def new_page(browser: Any):
    """Each call opens a page in its own context (its own localStorage, like another person)."""
    contexts: list[Any] = []

    async def make(**context_options: Any) -> BrowserPage:
        viewport = {"width": 1280, "height": 800}
        context = await browser.new_context(viewport=viewport, **context_options)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(20_000)
        wrapped = BrowserPage(page)
        page.on("pageerror", lambda exc: wrapped.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: wrapped.errors.append(msg.text) if msg.type == "error" else None,
        )

        async def on_dialog(dialog: Any) -> None:
            wrapped.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        return wrapped

    return make


@dataclass
class CustomerSite:
    """A shop's web page on its own origin, embedding the widget of ``channel_id``."""

    url: str
    origin: str
    settings: dict[str, str]


HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
<style>
  /* Hostile host styles: the widget must look the same anyway. */
  * {{ color: #b91c1c !important; font-family: serif !important; }}
  button {{ background: yellow !important; border: 5px dashed black !important; }}
  div {{ padding: 30px !important; }}
</style></head>
<body><h1>Tea shop</h1><p>Green tea, oolong, pu-erh.</p>
<script src="{gateway}/widget.js" data-channel="{channel}" async></script>
</body></html>"""


@pytest.fixture
async def customer_site() -> AsyncIterator[CustomerSite]:
    settings: dict[str, str] = {"gateway": "", "channel": ""}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=HOST_PAGE.format(**settings), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="localhost")
    await server.start_server()
    url = str(server.make_url("/"))
    yield CustomerSite(url, url.rstrip("/"), settings)
    await server.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
