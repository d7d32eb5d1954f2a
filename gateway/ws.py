"""The agents' realtime WebSocket ``GET /api/v1/ws``: events pushed to the right users, catch-up
by seq after a reconnect, and the heartbeat that keeps an agent's presence alive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.api.http import close_on_failure
from gateway.appkeys import GATEWAY, HUB
from gateway.auth import Session
from gateway.conversations import NotFound, Viewer, may_view

log = logging.getLogger(__name__)


class WebSocketHub:
    def __init__(self) -> None:
        self.clients: dict[web.WebSocketResponse, Session] = {}

    async def on_event(self, event: dict[str, Any]) -> None:
        audience = event.get("audience") or {}
        users, roles = set(audience.get("users", [])), set(audience.get("roles", []))
        if not users and not roles:
            return
        payload = json.dumps({"type": event["type"], "data": event["data"]}, ensure_ascii=False)
        for ws, sess in list(self.clients.items()):
            if sess.user.id in users or sess.user.role.value in roles:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(payload)

    async def close_all(self) -> None:
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


async def websocket(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    token = request.query.get("token") or request.headers.get("Authorization", "")[7:]
    sess = await gw.users.authenticate(token) if token else None
    if sess is None:
        raise web.HTTPUnauthorized(text="invalid or missing token")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=256 * 1024)
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.clients[ws] = sess
    gw.metrics.websockets.labels(kind="agent").inc()
    keepalive = asyncio.create_task(_presence_keepalive(request, sess))
    try:
        await ws.send_json({"type": "hello", "data": {"user": sess.user.model_dump(mode="json")}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                command = json.loads(msg.data)
            except ValueError:
                await ws.send_json({"type": "error", "data": {"message": "invalid JSON"}})
                continue
            await _handle(request, ws, sess, command)
    except Exception as exc:
        await close_on_failure(ws, exc)
    finally:
        keepalive.cancel()
        hub.clients.pop(ws, None)
        gw.metrics.websockets.labels(kind="agent").dec()
    return ws


async def _handle(
    request: web.Request, ws: web.WebSocketResponse, sess: Session, command: Any
) -> None:
    gw = request.app[GATEWAY]
    if not isinstance(command, dict):
        return
    if command.get("type") == "ping":
        await ws.send_json({"type": "pong", "data": {}})
    elif command.get("type") == "sync":
        # {"type": "sync", "conversations": {"<id>": <last seq seen>}}: replay what was missed.
        wanted = command.get("conversations") or {}
        if not isinstance(wanted, dict):
            return
        viewer = Viewer(sess.user.id, sess.user.role)
        for conversation_id, last_seq in list(wanted.items())[:500]:
            try:
                conv = await gw.conversations.get(str(conversation_id))
            except NotFound:
                continue
            if not may_view(viewer, conv):
                continue
            after = int(last_seq) if isinstance(last_seq, int) else 0
            for message in await gw.conversations.messages(conv["id"], after, 500):
                await ws.send_json(
                    {
                        "type": "message.created",
                        "data": {"conversation_id": conv["id"], "message": message, "replay": True},
                    }
                )
        await ws.send_json({"type": "synced", "data": {}})
    elif command.get("type") in ("typing", "read"):
        await _channel_signal(request, sess, command)


async def _channel_signal(request: web.Request, sess: Session, command: dict[str, Any]) -> None:
    """An agent typing in or reading a conversation: {"type": "typing", "conversation_id", "on"}
    or {"type": "read", "conversation_id", "seq"}. Passed to the conversation's adapter when it
    has ``agent_signal`` (web chat shows it to the visitor); other channels ignore it."""
    gw = request.app[GATEWAY]
    try:
        conv = await gw.conversations.get(str(command.get("conversation_id") or ""))
    except NotFound:
        return
    if not may_view(Viewer(sess.user.id, sess.user.role), conv):
        return
    signal = getattr(gw.channels.adapter(conv["channel_id"]), "agent_signal", None)
    if signal is None:
        return
    try:
        await signal(conv, sess.user.name, command)
    except Exception:  # a signal is best effort; never drop the agent's socket over it
        log.warning("agent signal for %s failed", conv["id"], exc_info=True)


async def _presence_keepalive(request: web.Request, sess: Session) -> None:
    """While the console is connected, its agent's presence stays fresh."""
    gw = request.app[GATEWAY]
    every = max(1.0, gw.settings.agent_heartbeat_ttl_seconds / 3)
    while True:
        try:
            agent = await gw.router_store.agent_raw(sess.user.id)
            status = agent.get("status")
            if status in ("online", "away"):
                await gw.router_store.set_status(sess.user.id, status)
        except Exception:
            log.warning("presence keepalive of %s failed", sess.user.id, exc_info=True)
        # Jittered: consoles that connected together (after a restart) refresh apart.
        await asyncio.sleep(every * random.uniform(0.75, 1.0))
