"""What both WeChat webhooks share: bounded body reading and the answers WeChat expects."""

from __future__ import annotations

from aiohttp import web

from adapters.wechat.safexml import MAX_XML_BYTES

# WeChat stops retrying once it reads "success" (or an empty body) within 5 seconds.
SUCCESS = "success"


async def read_body(request: web.Request, limit: int = MAX_XML_BYTES) -> bytes:
    """The request body, refused with 413 past ``limit`` without reading the rest."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def success() -> web.Response:
    return web.Response(text=SUCCESS, content_type="text/plain")


def forbidden(reason: str) -> web.Response:
    return web.Response(status=403, text=reason, content_type="text/plain")


def bad_request(reason: str) -> web.Response:
    return web.Response(status=400, text=reason, content_type="text/plain")
