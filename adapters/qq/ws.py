"""The QQ Bot WebSocket gateway, as documented at bot.q.qq.com/wiki/develop/api-v2/dev-prepare/
interface-framework/event-emit.html (WebSocket方式) and reference.html:

``GET /gateway`` gives the URL; the server opens with Hello (op 10, ``heartbeat_interval`` ms);
the client sends Identify (op 2: ``token`` "QQBot {access_token}", ``intents``, ``shard``) and
gets the READY dispatch (op 0, ``t`` "READY", ``d.session_id``), or, after a drop, Resume (op 6:
``token``, ``session_id``, ``seq``) and the missed events then RESUMED. Heartbeats (op 1,
``d`` the last ``s`` or null) are answered with op 11. Reconnect (op 7): connect again and
resume. Invalid Session (op 9): the session is gone, identify afresh. Close codes
(.../error-trace/websocket.html): 4009 resume; 4914 / 4915 never reconnect (bot off the shelf /
banned); 4001, 4002, 4010-4014 are errors a reconnect cannot fix; everything else identify again.

The session id and the last ``s`` handled live in Redis (channel state), written after each
event is filed: whichever process holds the channel's lease next resumes where this one stopped,
and the platform re-sends what was not filed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from adapters.qq.api import AccessTokens, ApiError, QQApi

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_RECONNECT = 7
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

GROUP_AND_C2C_EVENT = 1 << 25  # C2C_MESSAGE_CREATE, GROUP_AT_MESSAGE_CREATE, FRIEND_*, GROUP_*
PUBLIC_GUILD_MESSAGES = 1 << 30  # AT_MESSAGE_CREATE (a guild channel @-mention)
GUILD_MESSAGES = 1 << 9  # MESSAGE_CREATE (every message of a guild channel; private bots only)
DIRECT_MESSAGE = 1 << 12  # DIRECT_MESSAGE_CREATE (a guild direct message)

# Close codes after which nothing but a change on the platform helps (wrong intents, banned).
FATAL_CLOSE = frozenset({4001, 4002, 4010, 4011, 4012, 4013, 4014, 4914, 4915})
# Close codes after which the session cannot be resumed: identify again.
NO_RESUME = frozenset({4006, 4007, *range(4900, 4914)})
AUTH_FAILED = 4004  # botpy: the token was refused

# Hello comes as soon as the connection is up, READY within seconds of Identify, and after a
# Resume the missed events come one after another, then RESUMED (event-emit.html). Until then
# our heartbeat, which closes dead connections, is not running: this much silence before READY
# or RESUMED means a stuck node or a half-open connection, so connect again.
HANDSHAKE_TIMEOUT = 20.0

Dispatch = Callable[[str, Any, str], Awaitable[None]]


class GatewayClient:
    def __init__(
        self,
        *,
        api: QQApi,
        tokens: AccessTokens,
        redis: Redis,
        state_key: str,
        intents: int,
        dispatch: Dispatch,
        report: Callable[[str, float], None],
        backoff_max: float = 60.0,
        fatal_pause: float = 300.0,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self.api = api
        self.tokens = tokens
        self.redis = redis
        self.state_key = state_key  # hash: session_id, seq, bot_id
        self.intents = intents
        self.dispatch = dispatch
        self.report = report
        self.backoff_max = backoff_max
        self.fatal_pause = fatal_pause
        self.handshake_timeout = handshake_timeout  # per receive, until READY / RESUMED
        self.seq: int | None = None
        self.session_id = ""
        self.bot_id = ""  # READY's user.id: the bot's own <@!id> mention is stripped by it
        self._acked = True
        self._pause: float | None = None  # how long to wait before the next connection

    # --- session state in Redis ------------------------------------------------------------

    async def _load(self) -> None:
        raw = await self.redis.hgetall(self.state_key)
        fields = {_t(k): _t(v) for k, v in raw.items()}
        self.session_id = fields.get("session_id", "")
        self.bot_id = fields.get("bot_id", "") or self.bot_id  # a RESUME brings no READY
        seq = fields.get("seq", "")
        self.seq = int(seq) if seq.isdigit() else None

    async def _save_seq(self, seq: int) -> None:
        self.seq = seq
        await self.redis.hset(self.state_key, "seq", seq)

    async def forget_session(self) -> None:
        self.session_id, self.seq = "", None
        await self.redis.delete(self.state_key)

    # --- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect with backoff, until cancelled (the lease's work)."""
        delay = 1.0
        while True:
            self._pause = None
            established = False
            try:
                established = await self.connect_once()
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                log.warning("QQ gateway: %s", exc)
                if exc.token_refused:
                    await self.tokens.forget()
            except Exception as exc:
                log.warning("QQ gateway connection failed: %r", exc)
            if established:
                delay = 1.0
            pause = self._pause if self._pause is not None else delay
            await asyncio.sleep(pause)
            delay = min(delay * 2, self.backoff_max)

    async def connect_once(self) -> bool:
        """One connection, until it closes. True if it got to READY or RESUMED."""
        url = await self.api.gateway_url()
        await self._load()
        established = False
        async with self.api.http.ws_connect(url, heartbeat=None, autoping=True) as ws:
            hello = await self._receive(ws, established)
            payload = _payload(hello)
            if payload is None or payload.get("op") != OP_HELLO:
                raise ConnectionError(f"expected Hello (op 10), got {hello.type!r}")
            interval = _interval(payload)
            token = await self.tokens.get()
            if self.session_id:
                d: dict[str, Any] = {
                    "token": f"QQBot {token}",
                    "session_id": self.session_id,
                    "seq": self.seq or 0,
                }
                await ws.send_json({"op": OP_RESUME, "d": d})
            else:
                d = {
                    "token": f"QQBot {token}",
                    "intents": self.intents,
                    "shard": [0, 1],
                    "properties": {"$os": "linux", "$browser": "gateway", "$device": "gateway"},
                }
                await ws.send_json({"op": OP_IDENTIFY, "d": d})
            beat: asyncio.Task[None] | None = None
            try:
                while True:
                    msg = await self._receive(ws, established)
                    if msg.type in _CLOSED:
                        break
                    payload = _payload(msg)
                    if payload is None:
                        continue
                    op = payload.get("op")
                    if op == OP_DISPATCH:
                        kind = str(payload.get("t") or "")
                        if kind in ("READY", "RESUMED"):
                            established = True
                            if beat is None:
                                self._acked = True
                                beat = asyncio.create_task(self._heartbeat(ws, interval))
                        await self._on_dispatch(payload)
                    elif op == OP_HEARTBEAT_ACK:
                        self._acked = True
                        self.report("poll_ok", time.time())
                    elif op == OP_HEARTBEAT:
                        await ws.send_json({"op": OP_HEARTBEAT, "d": self.seq})
                    elif op == OP_RECONNECT:
                        log.info("QQ gateway asked to reconnect")
                        self._pause = 0.0
                        break
                    elif op == OP_INVALID_SESSION:
                        log.info("QQ gateway: invalid session; identifying afresh")
                        await self.forget_session()
                        self._pause = 1.0
                        break
            finally:
                if beat is not None:
                    beat.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await beat
            await self._on_close(ws.close_code)
        return established

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, established: bool
    ) -> aiohttp.WSMessage:
        """The next message; before READY / RESUMED within the handshake timeout (after it
        the heartbeat finds a dead connection)."""
        if established:
            return await ws.receive()
        try:
            return await ws.receive(timeout=self.handshake_timeout)
        except TimeoutError:
            raise ConnectionError(
                f"silent for {self.handshake_timeout:g} s before READY / RESUMED"
            ) from None

    async def _on_dispatch(self, payload: dict[str, Any]) -> None:
        kind = str(payload.get("t") or "")
        s = payload.get("s")
        d = payload.get("d")
        if kind == "READY" and isinstance(d, dict):
            self.session_id = str(d.get("session_id") or "")
            user = d.get("user") if isinstance(d.get("user"), dict) else {}
            self.bot_id = str((user or {}).get("id") or "") or self.bot_id
            fields = {"session_id": self.session_id, "bot_id": self.bot_id}
            await self.redis.hset(self.state_key, mapping=fields)
            log.info("QQ gateway ready (session %s)", self.session_id)
        elif kind not in ("READY", "RESUMED"):
            # Filed first, then the seq advances: a failure here closes the connection, and the
            # next one resumes from the last seq filed, so the platform sends this event again.
            await self.dispatch(kind, d, str(payload.get("id") or ""))
            self.report("poll_ok", time.time())
        if isinstance(s, int) and s > 0:
            await self._save_seq(s)

    async def _on_close(self, code: int | None) -> None:
        if code is None or code < 4000:
            return
        if code in FATAL_CLOSE:
            log.error("QQ gateway closed with %s: not retrying for %.0f s", code, self.fatal_pause)
            self._pause = self.fatal_pause
            if code in (4914, 4915):
                await self.forget_session()
        elif code in NO_RESUME:
            log.info("QQ gateway closed with %s: identifying afresh", code)
            await self.forget_session()
        elif code == AUTH_FAILED:
            await self.tokens.forget()
            await self.forget_session()

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        while not ws.closed:
            await asyncio.sleep(interval)
            if not self._acked:
                log.warning("QQ gateway missed a heartbeat ACK: reconnecting")
                await ws.close()
                return
            self._acked = False
            await ws.send_json({"op": OP_HEARTBEAT, "d": self.seq})


_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


def _t(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _payload(msg: aiohttp.WSMessage) -> dict[str, Any] | None:
    if msg.type != aiohttp.WSMsgType.TEXT:
        return None
    try:
        data = json.loads(msg.data)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _interval(hello: dict[str, Any]) -> float:
    d = hello.get("d")
    ms = d.get("heartbeat_interval") if isinstance(d, dict) else None
    if not isinstance(ms, int | float) or ms <= 0:
        return 30.0
    return max(0.05, float(ms) / 1000)
