"""Frames for visitor sockets, across gateway processes.

A visitor's socket lives in one process; the reply may be sent by another. Every frame is
pushed at once to the sockets this process holds for that session, and published on the
channel's Redis pub/sub channel for the others: ``<origin> {"session": ..., "frame": ...}``,
where ``origin`` names this process's fan-out, which skips its own publications unread (a bare
JSON payload, as published before, is accepted too). A frame is encoded once. Pub/sub may drop
a frame (a process restarting): the widget catches up by seq when it reconnects, so nothing is
lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from redis.asyncio import Redis

from gateway.events import subscribe_forever
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class VisitorSockets:
    """The visitor sockets of one channel held by this process, by session id."""

    def __init__(
        self, redis: Redis, channel: str, commands: Callable[..., Awaitable[list[Any]]]
    ) -> None:
        self.redis = redis
        self.channel = channel
        # How the PUBLISH is sent (``AdapterContext.commands``: the gateway's group commit).
        self._commands = commands
        self.by_session: dict[str, set[web.WebSocketResponse]] = {}
        self.origin = secrets.token_hex(8)  # names this process's publications
        self._own = self.origin + " "
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    # --- local sockets ---------------------------------------------------------------------
    def attach(self, session_id: str, ws: web.WebSocketResponse) -> None:
        self.by_session.setdefault(session_id, set()).add(ws)

    def detach(self, session_id: str, ws: web.WebSocketResponse) -> bool:
        """Forget a socket; True when it was the session's last one here."""
        sockets = self.by_session.get(session_id)
        if sockets is None:
            return True
        sockets.discard(ws)
        if sockets:
            return False
        del self.by_session[session_id]
        return True

    async def push_local(self, session_id: str, frame: dict[str, Any]) -> None:
        await self._push_text(session_id, json.dumps(frame, ensure_ascii=False))

    async def _push_text(self, session_id: str, text: str) -> None:
        sockets = list(self.by_session.get(session_id, ()))
        if not sockets:
            return
        data = text.encode()  # once for every tab of the session
        for ws in sockets:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_frame(data, WSMsgType.TEXT)

    async def close_all(self) -> None:
        """Close every socket at once (each waits for the browser's close frame)."""
        sockets = [ws for group in self.by_session.values() for ws in group]
        self.by_session.clear()
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"reconnect") for ws in sockets),
            return_exceptions=True,
        )

    # --- across processes ------------------------------------------------------------------
    async def publish(
        self, session_id: str, frame: dict[str, Any], *also: tuple[Any, ...]
    ) -> list[Any]:
        """To every other process, then to the session's sockets here; ``also``: commands sent
        in the same round trip, whose answers are returned. Published first: when Redis
        refuses, no socket got the frame yet, and the outbox's retry sends it once."""
        text = json.dumps(frame, ensure_ascii=False)
        session = json.dumps(session_id, ensure_ascii=False)
        payload = f'{self._own}{{"session": {session}, "frame": {text}}}'
        answers = await self._commands(("PUBLISH", self.channel, payload), *also)
        await self._push_text(session_id, text)
        return answers[1:]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"webchat-fanout {self.channel}")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        await subscribe_forever(self.redis, self.channel, self._on_message, self._ready)

    async def _on_message(self, raw: str) -> None:
        if raw.startswith(self._own):
            return  # ours: pushed here when published
        if not raw.startswith("{"):  # another process's: "<origin> {...}"
            raw = raw.partition(" ")[2]
        try:
            data = json.loads(raw)
            session_id, frame = str(data["session"]), dict(data["frame"])
        except (TypeError, ValueError, KeyError):
            return
        await self.push_local(session_id, frame)
