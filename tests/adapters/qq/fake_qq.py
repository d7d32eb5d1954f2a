"""A local aiohttp server playing the QQ Bot open platform, by its documented contract
(tencent-connect/bot-docs, published at bot.q.qq.com/wiki/develop/api-v2/):

  POST /app/getAppAccessToken        api-use.html: {appId, clientSecret} -> {access_token,
                                     expires_in (a string)}; the same token until its last 60 s,
                                     then a new one while the old stays valid for those 60 s
  GET  /gateway, /gateway/bot        openapi/wss/url_get.html, shard_url_get.html
  GET  /websocket                    the gateway (event-emit.html, WebSocket方式; opcode.html):
                                     Hello, Identify -> READY, Resume -> missed events + RESUMED,
                                     Heartbeat -> ACK, Reconnect (op 7), Invalid Session (op 9)
  POST /v2/users/{openid}/messages, /v2/groups/{group_openid}/messages   send.html
  POST /v2/users/{openid}/files,    /v2/groups/{group_openid}/files      rich-media.html
  POST /channels/{channel_id}/messages, /dms/{guild_id}/messages        post_messages.md,
                                     post_dms_messages.md: content / image (a URL), msg_id
  GET  /media/{name}                 where attachments of customers' messages are served

Every OpenAPI call needs ``Authorization: QQBot {token}`` (api-use.html); errors are a non-2xx
status with {"code", "message"} (error-trace/openapi.html, plus err_code and trace_id as the
platform sends them). Passive replies are checked as send.html says: a msg_id the platform
pushed, 60 minutes (private) / 5 minutes (group), at most 5 ACCEPTED replies each (a refused
call uses none; msg_seq is any number, only a de-duplication key: send.html caps the replies,
not the number), a msg_id + msg_seq only once ("相同的 msg_id + msg_seq 重复发送会失败":
answered 40054005, the platform's code for it). Active
messages (no msg_id) are refused with 40034102 unless ``active_allowed``, then 4 a month per
user or group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

C2C_WINDOW = 60 * 60
GROUP_WINDOW = 5 * 60  # groups, guild channels and guild direct messages (send.html)
SCENES = {
    "C2C_MESSAGE_CREATE": "users",
    "GROUP_AT_MESSAGE_CREATE": "groups",
    "AT_MESSAGE_CREATE": "channels",
    "MESSAGE_CREATE": "channels",  # every message of a channel (private bots)
    "DIRECT_MESSAGE_CREATE": "dms",
}
ACTIVE_PER_MONTH = 4


@dataclass
class Received:
    method: str
    path: str
    json: Any
    token: str


@dataclass
class Session:
    session_id: str
    intents: int
    log: list[dict[str, Any]] = field(default_factory=list)  # dispatches sent, with "s"
    seq: int = 0


@dataclass
class Conn:
    ws: web.WebSocketResponse
    session: Session | None = None
    heartbeats: list[Any] = field(default_factory=list)
    stuck: bool = False  # sends Hello, then nothing: a stuck node, a half-open connection


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass
class Injected:
    status: int
    code: int
    message: str
    retry_after: float | None = None
    after: bool = False  # answered after the message was accepted (a lost success)


class FakeQQ:
    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        token_ttl: int = 7200,
        heartbeat_ms: int = 45_000,
        active_allowed: bool = False,
        bot_user_id: str = "6158788878435714165",  # event-emit.html, the READY example
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.bot_user_id = bot_user_id
        self.token_ttl = token_ttl
        self.heartbeat_ms = heartbeat_ms
        self.active_allowed = active_allowed
        self.tokens: list[_Token] = []
        self.token_requests = 0
        self.received: list[Received] = []
        self.messages: list[Received] = []  # accepted messages, in order
        self.uploads: dict[str, bytes] = {}  # file_info -> the bytes fetched from the url
        self.upload_scene: dict[str, str] = {}  # file_info -> "users" / "groups"
        self.pushed: dict[str, tuple[str, float]] = {}  # msg_id -> (scene, pushed at)
        self.replies: Counter[str] = Counter()  # msg_id -> passive replies accepted
        self.seqs: set[tuple[str, int]] = set()
        self.active_sent: Counter[str] = Counter()
        self.injected: dict[str, list[Injected]] = {}  # path suffix -> errors for next calls
        self.sessions: dict[str, Session] = {}
        self.conns: list[Conn] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.connections_total = 0
        self.stuck_next = 0  # how many of the next connections get stuck after Hello
        self.max_concurrent = 0
        self.files: dict[str, tuple[bytes, str, float]] = {}  # served attachments
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeQQ:
        self._http = aiohttp.ClientSession()
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in list(self.conns):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    @property
    def token_url(self) -> str:
        return f"{self.url}/app/getAppAccessToken"

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/app/getAppAccessToken", self._token)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/bot", self._gateway_bot)
        app.router.add_get("/websocket", self._websocket)
        app.router.add_post("/v2/{scene:users|groups}/{target}/messages", self._message)
        app.router.add_post("/v2/{scene:users|groups}/{target}/files", self._file)
        app.router.add_post("/{scene:channels|dms}/{target}/messages", self._guild_message)
        app.router.add_get("/media/{name}", self._media)
        return app

    # --- test controls ---------------------------------------------------------------------

    def inject(
        self, path_suffix: str, status: int, code: int, message: str, *, times: int = 1,
        retry_after: float | None = None, after: bool = False,
    ) -> None:  # fmt: skip
        """The next ``times`` calls whose path ends with ``path_suffix`` fail so; ``after``: the
        message is accepted (shown to the customer) all the same, the answer says otherwise."""
        self.injected.setdefault(path_suffix, []).extend(
            Injected(status, code, message, retry_after, after) for _ in range(times)
        )

    def serve_file(self, name: str, data: bytes, ctype: str, delay: float = 0.0) -> str:
        self.files[name] = (data, ctype, delay)
        return f"{self.url}/media/{name}"

    def expire_tokens(self) -> None:
        for t in self.tokens:
            t.expires_at = 0

    def valid_token(self, value: str) -> bool:
        now = time.time()
        # The old token stays valid for 60 s after the new one is issued (api-use.html).
        return any(t.value == value and now < t.expires_at for t in self.tokens)

    def open_connections(self) -> int:
        return sum(1 for c in self.conns if not c.ws.closed)

    async def push(self, t: str, d: dict[str, Any], session_id: str | None = None) -> int:
        """Dispatch an event on a session (the newest by default); returns its s. Sent at once
        when the session is connected, kept for a Resume otherwise."""
        session = self.sessions[session_id] if session_id else list(self.sessions.values())[-1]
        if t in SCENES and "id" in d:
            self.note_message(d, t)
        session.seq += 1
        payload = {"op": 0, "s": session.seq, "t": t, "d": d, "id": f"{t}:{secrets.token_hex(6)}"}
        session.log.append(payload)
        for conn in self.conns:
            if conn.session is session and not conn.ws.closed:
                await conn.ws.send_json(payload)
        return session.seq

    def note_message(self, d: dict[str, Any], t: str) -> None:
        """A customer message the platform delivered (via WebSocket or webhook): replies may
        name its id."""
        self.pushed[str(d["id"])] = (SCENES[t], time.time())

    def age(self, msg_id: str, seconds: float) -> None:
        scene, at = self.pushed[msg_id]
        self.pushed[msg_id] = (scene, at - seconds)

    async def drop(self, code: int = 4009) -> None:
        """Close every connection (4009: "连接过期，请重连并执行 resume")."""
        for conn in list(self.conns):
            if not conn.ws.closed:
                await conn.ws.close(code=code, message=b"dropped by the test")

    async def send_op(self, op: int, d: Any = None) -> None:
        for conn in self.conns:
            if not conn.ws.closed:
                await conn.ws.send_json({"op": op, "d": d})

    # --- handlers --------------------------------------------------------------------------

    def _auth(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("QQBot ") if header.startswith("QQBot ") else ""
        if not token or not self.valid_token(token):
            raise _error(401, 11244, "token not exist or expire")
        return token

    def _take_injected(self, path: str, after: bool = False) -> None:
        for suffix, queue in self.injected.items():
            if path.endswith(suffix) and queue and queue[0].after == after:
                e = queue.pop(0)
                headers = {"Retry-After": str(e.retry_after)} if e.retry_after else None
                raise _error(e.status, e.code, e.message, headers)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.json()
        if body.get("appId") != self.app_id or body.get("clientSecret") != self.app_secret:
            # error-trace/openapi.html: non-2xx with {code, message}; 11251 ErrorWrongAppid.
            raise _error(401, 11251, "invalid appid or secret")
        now = time.time()
        current = self.tokens[-1] if self.tokens else None
        if current is None or current.expires_at - now <= 60:
            if current is not None and current.expires_at > now:
                current.expires_at = min(current.expires_at, now + 60)
            current = _Token(secrets.token_urlsafe(16), now + self.token_ttl)
            self.tokens.append(current)
        remaining = int(current.expires_at - now)
        return web.json_response({"access_token": current.value, "expires_in": str(remaining)})

    async def _gateway(self, request: web.Request) -> web.Response:
        self._auth(request)
        self._take_injected(request.path)
        return web.json_response({"url": self.url.replace("http", "ws", 1) + "/websocket"})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        self._auth(request)
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        return web.json_response(
            {
                "url": self.url.replace("http", "ws", 1) + "/websocket",
                "shards": 1,
                "session_start_limit": limit,
            }
        )

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws, stuck=self.stuck_next > 0)
        self.stuck_next -= conn.stuck
        self.conns.append(conn)
        self.connections_total += 1
        self.max_concurrent = max(self.max_concurrent, self.open_connections())
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                payload = msg.json()
                await self._on_ws(conn, payload)
        finally:
            with contextlib.suppress(ValueError):
                self.conns.remove(conn)
        return ws

    async def _on_ws(self, conn: Conn, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if conn.stuck:
            return
        if op == 1:
            conn.heartbeats.append(d)
            await conn.ws.send_json({"op": 11})
        elif op == 2:
            self.identifies.append(d)
            if not self._ws_token_ok(d):
                await conn.ws.close(code=4004, message=b"invalid token")
                return
            session = Session(str(uuid.uuid4()), int(d.get("intents") or 0))
            self.sessions[session.session_id] = session
            conn.session = session
            session.seq += 1
            ready = {
                "version": 1,
                "session_id": session.session_id,
                "user": {"id": self.bot_user_id, "username": "群pro测试机器人", "bot": True},
                "shard": [0, 0],
            }  # event-emit.html, the READY example
            await conn.ws.send_json({"op": 0, "s": session.seq, "t": "READY", "d": ready})
        elif op == 6:
            self.resumes.append(d)
            session = self.sessions.get(str(d.get("session_id")))
            if session is None or not self._ws_token_ok(d):
                await conn.ws.send_json({"op": 9, "d": False})
                return
            conn.session = session
            after = int(d.get("seq") or 0)
            for event in session.log:
                if event["s"] > after:
                    await conn.ws.send_json(event)
            session.seq += 1
            await conn.ws.send_json({"op": 0, "s": session.seq, "t": "RESUMED", "d": ""})

    def _ws_token_ok(self, d: Any) -> bool:
        token = str((d or {}).get("token") or "")
        return token.startswith("QQBot ") and self.valid_token(token.removeprefix("QQBot "))

    async def _message(self, request: web.Request) -> web.Response:
        token = self._auth(request)
        body = await request.json()
        self.received.append(Received("POST", request.path, body, token))
        self._take_injected(request.path)
        scene, target = request.match_info["scene"], request.match_info["target"]
        if body.get("msg_type") == 7:
            info = (body.get("media") or {}).get("file_info")
            if info not in self.uploads or self.upload_scene[info] != scene:
                raise _error(400, 304083, "convert media info fail")
        elif not body.get("content"):
            raise _error(400, 50006, "CannotSendEmptyMessage")
        msg_id = body.get("msg_id")
        if msg_id:
            if msg_id not in self.pushed or self.pushed[msg_id][0] != scene:
                raise _error(400, 40034024, "请求参数msg_id无效或越权")
            window = C2C_WINDOW if scene == "users" else GROUP_WINDOW
            if time.time() - self.pushed[msg_id][1] > window:
                raise _error(400, 304027, "MSG_EXPIRE")
            key = (msg_id, int(body.get("msg_seq") or 1))
            if key in self.seqs:
                raise _error(400, 40054005, "消息被去重，请检查请求msgseq")
            if self.replies[msg_id] >= 5:
                raise _error(400, 22009, "msg limit exceed")
            self.seqs.add(key)
            self.replies[msg_id] += 1
        else:
            if not self.active_allowed or self.active_sent[target] >= ACTIVE_PER_MONTH:
                raise _error(400, 40034102, "主动消息失败, 无权限")
            self.active_sent[target] += 1
        self.messages.append(Received("POST", request.path, body, token))
        self._take_injected(request.path, after=True)
        return web.json_response({"id": secrets.token_hex(12), "timestamp": int(time.time())})

    async def _guild_message(self, request: web.Request) -> web.Response:
        """A guild channel or guild direct message: content and/or image (a URL the platform
        fetches), passive with msg_id within 5 minutes; no msg_type, no msg_seq."""
        token = self._auth(request)
        body = await request.json()
        self.received.append(Received("POST", request.path, body, token))
        self._take_injected(request.path)
        if not body.get("content") and not body.get("image"):
            raise _error(400, 50006, "CannotSendEmptyMessage")
        msg_id = body.get("msg_id")
        if msg_id:
            if msg_id not in self.pushed or self.pushed[msg_id][0] != request.match_info["scene"]:
                raise _error(400, 40034024, "请求参数msg_id无效或越权")
            if time.time() - self.pushed[msg_id][1] > GROUP_WINDOW:
                raise _error(400, 304027, "MSG_EXPIRE")
        elif not self.active_allowed:
            raise _error(400, 40034102, "主动消息失败, 无权限")
        self.messages.append(Received("POST", request.path, body, token))
        return web.json_response({"id": secrets.token_hex(12), "channel_id": "x"})

    async def _file(self, request: web.Request) -> web.Response:
        token = self._auth(request)
        body = await request.json()
        self.received.append(Received("POST", request.path, body, token))
        self._take_injected(request.path)
        if body.get("file_type") != 1 or body.get("srv_send_msg") is not False:
            raise _error(400, 50035, "InvalidFormBody")
        assert self._http is not None
        try:
            async with self._http.get(str(body.get("url"))) as resp:
                if resp.status != 200:
                    raise _error(400, 304082, "upload media info fail")
                data = await resp.read()
        except aiohttp.ClientError:
            raise _error(400, 304082, "upload media info fail") from None
        info = secrets.token_urlsafe(24)
        self.uploads[info] = data
        self.upload_scene[info] = request.match_info["scene"]
        return web.json_response(
            {"file_uuid": secrets.token_hex(8), "file_info": info, "ttl": 3600}
        )

    async def _media(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        data, ctype, delay = found
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=data, content_type=ctype)


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.HTTPException:
    trace = secrets.token_hex(16)
    body = {"message": message, "code": code, "err_code": code, "trace_id": trace}
    # 202: "异步操作成功，虽然说成功，但是会返回一个 error body" (error-trace/openapi.html)
    cls: dict[int, type[web.HTTPException]] = {
        202: web.HTTPAccepted,
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        429: web.HTTPTooManyRequests,
    }
    exc_cls = cls.get(status, web.HTTPInternalServerError)
    return exc_cls(
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers={**(headers or {}), "X-Tps-trace-ID": trace},
    )
