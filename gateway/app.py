"""The aiohttp application factory: routes, middlewares, and the gateway's lifecycle."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway.accesslog import quiet_refused_requests
from gateway.api import (
    admin_api,
    agents_api,
    auth_api,
    canned_api,
    contacts_api,
    conversations_api,
    reports_api,
    search_api,
    sla_api,
    survey_api,
    unread_api,
)
from gateway.api.http import SESSION, body_deadline, error
from gateway.api.openapi import openapi_document
from gateway.appkeys import DRAINING, GATEWAY, HUB
from gateway.bootstrap import announce, ensure_admin
from gateway.console import pages as console_pages
from gateway.i18n import api as i18n_api
from gateway.incidents import api as incidents_api
from gateway.kb import api as kb_api
from gateway.media import served_type
from gateway.models import now_ms
from gateway.redis_client import connect, reach, unavailable
from gateway.redis_server import make_private
from gateway.reports_store import queue_stats
from gateway.services import Gateway
from gateway.settings import Settings
from gateway.ws import WebSocketHub, websocket

log = logging.getLogger(__name__)

PUBLIC_API = {"/api/v1/auth/login", "/api/v1/openapi.json", "/api/v1/ws"}


@web.middleware
async def errors_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        if not unavailable(exc):
            raise
        # Backpressure: nothing was accepted, so the platform retries later.
        log.warning("redis unavailable while serving %s: %s", request.path, exc)
        raise error(503, "unavailable", "storage unavailable; retry later") from None


@web.middleware
async def auth_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith("/api/v1/") and path not in PUBLIC_API:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        sess = await request.app[GATEWAY].users.authenticate(token) if token else None
        if sess is None:
            raise error(401, "unauthorized", "missing, expired or revoked token")
        request[SESSION] = sess
    return await handler(request)


async def channel_endpoint(request: web.Request) -> web.StreamResponse:
    if request.app[DRAINING]["on"]:
        raise error(503, "shutting_down", "the gateway is shutting down; retry")
    return await request.app[GATEWAY].channels.dispatch(request)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAINING]["on"]:
        return web.json_response({"status": "draining"}, status=503)
    try:
        gw = request.app[GATEWAY]
        # The node serving this deployment's slot (on a cluster, the others do not matter).
        await asyncio.wait_for(reach(gw.redis, gw.keys.queue()), 2)
    except Exception as exc:
        return web.json_response({"status": "redis unavailable", "error": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    token = gw.settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(
                status=401,
                text="metrics_token required: Authorization: Bearer <token>\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return web.Response(
        body=gw.metrics.render(await queue_stats(gw.redis, gw.keys, now_ms())),
        content_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def media(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    path = gw.media.file(request.match_info["channel"], request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    # A customer's file is never a page of ours: downloaded, typed by its bytes where it matters
    # (served_type), and sandboxed should a browser render it anyway.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": served_type(path),
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


def create_app(settings: Settings, redis_url: str) -> web.Application:
    quiet_refused_requests()  # a client's malformed request is no server error
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # body_deadline first: a too slow body is 408 whichever handler was reading it.
        middlewares=[body_deadline, errors_middleware, auth_middleware],
    )
    app[DRAINING] = {"on": False}
    app[HUB] = WebSocketHub()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Media and the secret key live here: private, whatever Redis the gateway uses.
        make_private(Path(settings.data_dir))
        client = connect(redis_url, health_check_interval=30)
        gw = Gateway(settings, client)
        gw.events.listen(app[HUB].on_event)
        app[GATEWAY] = gw
        await gw.start()
        # `gateway serve` creates it before any worker starts; this covers embedding the app.
        announce(await ensure_admin(gw))
        yield
        await gw.stop()
        await client.aclose()

    async def on_shutdown(app: web.Application) -> None:
        app[DRAINING]["on"] = True
        await app[HUB].close_all()
        for adapter in list(app[GATEWAY].channels.running.values()):
            close_sockets = getattr(adapter, "close_sockets", None)  # web chat visitors
            if close_sockets is not None:
                await close_sockets()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    for module in (
        auth_api,
        conversations_api,
        admin_api,
        agents_api,
        canned_api,
        console_pages,
        contacts_api,
        sla_api,
        reports_api,
        survey_api,
        incidents_api,
        kb_api,
        search_api,
        i18n_api,
        unread_api,
    ):
        app.add_routes(module.routes)
    app.router.add_get("/api/v1/ws", websocket)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_route("*", "/channels/{channel_id}/{tail:.*}", channel_endpoint)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/media/{channel}/{name}", media)
    return app
