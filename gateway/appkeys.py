"""Typed application keys (one module, so every handler finds the same objects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from gateway.services import Gateway
    from gateway.ws import WebSocketHub

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
HUB: web.AppKey[WebSocketHub] = web.AppKey("hub")
DRAINING: web.AppKey[dict[str, bool]] = web.AppKey("draining")
