"""The agents' realtime WebSocket ``GET /api/v1/ws``: events pushed to the right users, catch-up
by seq after a reconnect, and the heartbeat that keeps an agent's presence alive.

A socket lives no longer than its session: a revocation (logout, password or role change, user
deleted) published by any process closes it at once with 4001, its expiry closes it on time,
and it re-checks its token before each command and every ``session_recheck_seconds`` (a lost
pub/sub message then only delays the close)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.api.http import InvalidJSON, close_on_failure, close_reason, close_too_deep, loads
from gateway.appkeys import GATEWAY, HUB
from gateway.auth import SESSION_REVOKED, Session
from gateway.conversations import NotFound, Viewer, may_view
from gateway.events import encode_event
from gateway.models import now_ms
from gateway.wsqueue import MAX_BEHIND, SocketQueue, TurnWriter, text_frame

log = logging.getLogger(__name__)

# Close code of a socket whose session ended (revoked or expired): the console goes to its
# sign-in page instead of reconnecting.
SESSION_ENDED = 4001
# The socket's subprotocol, and the prefix of the subprotocol entry carrying the bearer token
# (tokens are URL-safe base64: valid subprotocol characters).
PROTOCOL = "gateway.v1"
TOKEN_PROTOCOL = "bearer."


class WebSocketHub:
    """The agent sockets of this process. An event's frame is JSON-encoded once for all the
    sockets it goes to (``events.encode_event``: a stored message's own text spliced in), and
    a socket's frames are written together: those of one loop turn, and those for its whole
    role within 20 ms (``gateway/wsqueue.py``)."""

    def __init__(self, max_behind: int = MAX_BEHIND) -> None:
        self.clients: dict[web.WebSocketResponse, Session] = {}
        self.max_behind = max_behind  # bytes a socket may have waiting before it is closed
        self._queues: dict[web.WebSocketResponse, SocketQueue] = {}
        self._writer = TurnWriter()
        self._closing: dict[web.WebSocketResponse, asyncio.Task[None]] = {}
        # The sockets by user and by role: an event visits its audience's sockets only, not
        # every agent's (a thousand agents online, two events per reply).
        self._by_user: dict[str, set[web.WebSocketResponse]] = {}
        self._by_role: dict[str, set[web.WebSocketResponse]] = {}

    def add(self, ws: web.WebSocketResponse, sess: Session, transport: asyncio.Transport) -> None:
        """A prepared socket of ``sess``: it gets the events of its audience from now on."""
        self.clients[ws] = sess
        self._queues[ws] = SocketQueue(ws, transport, self._behind, self.max_behind)
        self._by_user.setdefault(sess.user.id, set()).add(ws)
        self._by_role.setdefault(sess.user.role.value, set()).add(ws)

    def _forget(self, ws: web.WebSocketResponse) -> tuple[Session | None, SocketQueue | None]:
        """The socket gets no further event; its session and queue, if it still had them."""
        sess = self.clients.pop(ws, None)
        if sess is not None:
            role = sess.user.role.value
            for index, key in ((self._by_user, sess.user.id), (self._by_role, role)):
                sockets = index.get(key)
                if sockets is not None:
                    sockets.discard(ws)
                    if not sockets:
                        del index[key]
        return sess, self._queues.pop(ws, None)

    async def send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        """A frame for this socket only (hello, pong, replays), after the events queued for it:
        the order of a socket's frames is the order they were sent."""
        queue = self._queues.get(ws)
        if queue is not None:
            queue.flush()
        await ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == SESSION_REVOKED:
            self.revoke(event.get("data") or {})
            return
        audience = event.get("audience") or {}
        users, roles = audience.get("users") or (), audience.get("roles") or ()
        if not users and not roles:
            return
        targets: dict[web.WebSocketResponse, bool] = {}  # socket: named in the audience
        for role in roles:
            targets.update(dict.fromkeys(self._by_role.get(role, ()), False))
        for user in users:
            targets.update(dict.fromkeys(self._by_user.get(user, ()), True))
        frame: bytes | None = None
        now = now_ms()
        for ws, named in targets.items():
            sess = self.clients.get(ws)
            queue = self._queues.get(ws)
            if sess is None or queue is None:
                continue
            if sess.expires_at <= now:
                self.end(ws, "session expired")
                continue
            if frame is None:  # made once, for every socket it goes to
                text = encode_event({"type": event["type"], "data": event["data"]})
                frame = text_frame(text.encode())
            self._writer.put(queue, frame, named=named)

    def _behind(self, queue: SocketQueue) -> None:
        """A socket over its limit: it gets nothing more (wsqueue closes it)."""
        self._forget(queue.ws)

    def revoke(self, data: dict[str, Any]) -> None:
        """A ``session.revoked`` event: close the sockets of those sessions on this process."""
        hashes = data.get("token_hashes")
        reason = f"session revoked: {str(data.get('reason') or 'revoked')[:60]}"
        for ws, sess in list(self.clients.items()):
            if sess.user.id == data.get("user_id") and (
                hashes is None or sess.token_hash in hashes
            ):
                self.end(ws, reason)

    def end(self, ws: web.WebSocketResponse, reason: str) -> None:
        """The socket's session is over: it gets no further event from this moment, and is
        closed with SESSION_ENDED and ``reason``."""
        sess, queue = self._forget(ws)
        if sess is None:
            return
        if queue is not None:
            queue.flush()  # what it was sent before its session ended
        log.info("closing an agent WebSocket: %s", reason)
        task = asyncio.create_task(_close(ws, reason))
        self._closing[ws] = task
        task.add_done_callback(lambda _: self._closing.pop(ws, None))

    async def finish(self, ws: web.WebSocketResponse) -> None:
        """The socket's handler is done: forget it, after the close ``end`` began, if any."""
        self._forget(ws)
        task = self._closing.get(ws)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 10)

    async def close_all(self) -> None:
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


async def _close(ws: web.WebSocketResponse, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=SESSION_ENDED, message=close_reason(reason))


def socket_token(request: web.Request) -> str:
    """The bearer token of a socket request: the ``Sec-WebSocket-Protocol`` entry
    ``bearer.<token>`` beside ``PROTOCOL`` (what a browser can send; the console does), or an
    ``Authorization: Bearer`` header (other clients). Never ``?token=``: proxies and access logs
    write URLs down."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    for entry in (p.strip() for p in offered.split(",")):
        if entry.startswith(TOKEN_PROTOCOL):
            return entry[len(TOKEN_PROTOCOL) :]
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return ""


async def websocket(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    token = socket_token(request)
    sess = await gw.users.authenticate(token) if token else None
    if sess is None:
        raise web.HTTPUnauthorized(text="invalid or missing token")
    # Answers PROTOCOL when the client offered it (a browser requires one of its offers back);
    # the token entry is never echoed.
    # No permessage-deflate: the hub writes each event's frame as encoded once for every
    # socket (gateway/wsqueue.py), not deflated again per socket.
    ws = web.WebSocketResponse(
        heartbeat=30, max_msg_size=256 * 1024, protocols=(PROTOCOL,), compress=False
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the client went away during the handshake
        return ws
    hub = request.app[HUB]
    hub.add(ws, sess, transport)
    gw.metrics.websockets.labels(kind="agent").inc()
    keepalive = asyncio.create_task(_presence_keepalive(request, sess))
    # Its first check also covers a revocation published between authenticate() and now.
    watch = asyncio.create_task(_watch_session(request, ws, token, sess))
    try:
        await hub.send(ws, {"type": "hello", "data": {"user": sess.user.model_dump(mode="json")}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                command = loads(msg.data)
            except InvalidJSON as exc:
                if exc.too_deep:
                    await close_too_deep(ws)
                    break
                await hub.send(ws, {"type": "error", "data": {"message": "invalid JSON"}})
                continue
            if isinstance(command, dict) and command.get("type") != "ping":
                # Nothing is read for a session that has ended, even if its event was lost.
                if not await _session_valid(request, ws, token, sess):
                    break
            await _handle(request, ws, sess, command)
    except Exception as exc:
        await close_on_failure(ws, exc)
    finally:
        keepalive.cancel()
        watch.cancel()
        await hub.finish(ws)
        gw.metrics.websockets.labels(kind="agent").dec()
    return ws


async def _handle(
    request: web.Request, ws: web.WebSocketResponse, sess: Session, command: Any
) -> None:
    gw = request.app[GATEWAY]
    hub = request.app[HUB]
    if not isinstance(command, dict):
        return
    if command.get("type") == "ping":
        await hub.send(ws, {"type": "pong", "data": {}})
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
                await hub.send(
                    ws,
                    {
                        "type": "message.created",
                        "data": {"conversation_id": conv["id"], "message": message, "replay": True},
                    },
                )
        await hub.send(ws, {"type": "synced", "data": {}})
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


async def _session_valid(
    request: web.Request, ws: web.WebSocketResponse, token: str, sess: Session
) -> bool:
    """Whether the socket's session still stands (token known, same role, not expired);
    otherwise the socket is ended (closed with SESSION_ENDED)."""
    hub = request.app[HUB]
    reason = ""
    if now_ms() >= sess.expires_at:
        reason = "session expired"
    else:
        current = await request.app[GATEWAY].users.authenticate(token)
        if current is None:
            # The token's key expires with the token: gone at the end of its time is an expiry.
            reason = "session expired" if now_ms() >= sess.expires_at - 1000 else "session revoked"
        elif current.user.role != sess.user.role:
            reason = "session revoked: role changed"
    if reason:
        hub.end(ws, reason)
        return False
    return ws in hub.clients


async def _watch_session(
    request: web.Request, ws: web.WebSocketResponse, token: str, sess: Session
) -> None:
    """Ends the socket when its session expires, and re-checks the token now and then."""
    every = request.app[GATEWAY].settings.session_recheck_seconds
    while True:
        try:
            if not await _session_valid(request, ws, token, sess):
                return
        except Exception:
            log.warning("session check of %s failed", sess.user.id, exc_info=True)
        left = (sess.expires_at - now_ms()) / 1000
        await asyncio.sleep(max(0.0, min(every, left)))


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
