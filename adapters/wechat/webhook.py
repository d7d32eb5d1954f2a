"""What both WeChat webhooks share: bounded body reading and the answers WeChat expects."""

from __future__ import annotations

from aiohttp import web

from adapters.base import read_capped_body
from adapters.wechat.safexml import MAX_XML_BYTES

# WeChat stops retrying once it reads "success" (or an empty body) within 5 seconds.
SUCCESS = "success"


async def read_body(request: web.Request, limit: int = MAX_XML_BYTES) -> bytes:
    """The request body, refused with 413 past ``limit`` (WeChat's XML cap by default)."""
    return await read_capped_body(request, limit)


def success() -> web.Response:
    return web.Response(text=SUCCESS, content_type="text/plain")


def forbidden(reason: str) -> web.Response:
    return web.Response(status=403, text=reason, content_type="text/plain")


def bad_request(reason: str) -> web.Response:
    return web.Response(status=400, text=reason, content_type="text/plain")
