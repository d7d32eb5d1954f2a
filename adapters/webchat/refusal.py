"""A widget on a page whose origin the channel does not allow: the socket is accepted only to
say why (a frame the widget shows in the visitor's language and logs for the site owner), then
closed with code 4403, which the widget takes as final (no reconnecting). Nothing else is sent
or read on it. A client that is no WebSocket gets the plain 403."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.http import error
from gateway.i18n import pick, translate

CLOSE_REFUSED = 4403  # the widget does not reconnect after it


def refusal_frame(origin: str | None, language: str) -> dict[str, Any]:
    return {
        "type": "error",
        "code": "origin_not_allowed",
        "text": translate(language, "customer.widget.origin_not_allowed"),
        "message": f"this chat is not enabled on {origin or 'a page without an origin'}: "
        "add the origin to the channel's allowed_origins (console: Admin > Channels)",
        "origin": origin,
    }


async def refuse_origin(request: web.Request, config: Any) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    ws = web.WebSocketResponse()
    if not ws.can_prepare(request).ok:
        raise error(403, "origin_not_allowed", f"origin {origin!r} may not use this chat")
    await ws.prepare(request)
    language = pick(getattr(config, "language", "zh-CN"), request.headers.get("Accept-Language"))
    await ws.send_json(refusal_frame(origin, language))
    await ws.close(code=CLOSE_REFUSED, message=b"origin_not_allowed")
    return ws
