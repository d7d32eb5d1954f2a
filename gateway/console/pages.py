"""Serves the agent console (``/console``, plain HTML/CSS/JS from ./static) and the web chat
embed (``/widget.js``). No build step: the files in static/ are what the browser gets."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from gateway.i18n import negotiate

routes = web.RouteTableDef()

STATIC = Path(__file__).resolve().parent / "static"
_ASSET = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg)$")
_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}

# The console only talks to its own origin; nothing inline, nothing from elsewhere.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def html_in_language(name: str, request: web.Request) -> bytes:
    """A page whose ``<html lang>`` is the browser's language (Accept-Language): its script
    loads that catalogue, so even the sign-in form is in the browser's language."""
    lang = negotiate(request.headers.get("Accept-Language"))
    return _file(name).replace(b'<html lang="zh-CN">', f'<html lang="{lang}">'.encode(), 1)


@routes.get("/console")
@routes.get("/console/")
async def console_page(request: web.Request) -> web.Response:
    return web.Response(
        body=html_in_language("index.html", request),
        content_type="text/html",
        charset="utf-8",
        headers={
            **_COMMON,
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
            "Vary": "Accept-Language",
        },
    )


@routes.get("/console/{name}")
async def console_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _ASSET.match(name) or name == "widget.js" or not (STATIC / name).is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=_file(name),
        content_type=_TYPES[name.rsplit(".", 1)[1]],
        charset="utf-8",
        headers={**_COMMON, "Cache-Control": "no-cache"},
    )


@routes.get("/widget.js")
async def widget(request: web.Request) -> web.Response:
    """Loaded by customers' sites with <script src=".../widget.js" data-channel="ID">."""
    return web.Response(
        body=_file("widget.js"),
        content_type="text/javascript",
        charset="utf-8",
        headers={
            **_COMMON,
            "Cache-Control": "public, max-age=300",
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
