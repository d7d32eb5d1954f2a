"""A local aiohttp server playing the WeChat APIs the adapters call, by their documented contract.

Official Account (api.weixin.qq.com):
  GET  /cgi-bin/token            classic token; a new one invalidates the previous classic one
  POST /cgi-bin/stable_token     stable token; normal mode returns the current one while valid,
                                 force_refresh issues a new one and invalidates the old
  POST /cgi-bin/message/custom/send
  GET  /cgi-bin/user/info        a follower: subscribe, openid, and unionid when the account is
                                 bound to an Open Platform account (no nickname since 2021-12)
WeCom (qyapi.weixin.qq.com):
  GET  /cgi-bin/gettoken         corpid + corpsecret
  POST /cgi-bin/kf/sync_msg      pages of msg_list with next_cursor / has_more
  POST /cgi-bin/kf/send_msg, /cgi-bin/kf/send_msg_on_event
                                 send_msg takes an optional caller-chosen "msgid" (at most 32
                                 bytes of [0-9a-zA-Z_-]) and answers it back. The docs: "若指定
                                 msgid，开发者需确保客服账号内唯一，否则接口返回错误": a msgid
                                 already used in the kf account is refused (not deduplicated)
                                 with an error whose code they do not give; the fake answers
                                 DUPLICATE_MSGID (its choice) and never sends the message again
  POST /cgi-bin/kf/customer/batchget  1-100 external_userids: customer_list (nickname, unionid
                                 when the corp bound a developer account) and the invalid ones
Both: GET /cgi-bin/media/get (bytes; JSON error; a video answers {"video_url"}),
      POST /cgi-bin/media/upload (multipart "media").

Errors come back as HTTP 200 with {"errcode", "errmsg"}, as WeChat does: 40001/40014 for an
unknown token, 42001 for an expired one, 45015 outside the 48 h window, 45047 past 5 replies
per customer message (95002 / 95001 on WeCom). Tests can inject an error for a path (``inject``) or
for its Nth call from now (``fail_nth``, e.g. -1 "system busy" for part 2 of a reply), hold
the Nth call until released (``stall``: a process dying mid-send), run a hook after WeCom
accepted a kf/send_msg and before its answer leaves (``after_kf_accept``: Redis stalling, or
the sender vanishing, once the message is out), expire every token (``expire_tokens``), and
read everything received (``received``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WINDOW_SECONDS = 48 * 3600
# kf/send_msg msgid: "不多于32字节, 字符串取值范围(正则表达式):[0-9a-zA-Z_-]*".
KF_MSGID = re.compile(r"[0-9a-zA-Z_-]{0,32}")
# The docs say a repeated msgid "returns an error" without naming it: these are the fake's.
DUPLICATE_MSGID = (40058, "msgid already used in this kf account (the fake's error code)")
INVALID_MSGID = (40058, "invalid msgid (the fake's error code)")


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)


REC = web.RequestKey("rec", Received)


@dataclass
class _Token:
    kind: str  # "oa" or "corp"
    expires_at: float


@dataclass
class Stall:
    """A held call: ``arrived`` is set when it comes in; after ``release`` it answers -1
    "system busy" (WeChat never accepted it)."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Window:
    wrote_at: float
    sent: int = 0


class FakeWeChat:
    def __init__(
        self,
        *,
        app_id: str = "wx0123456789abcdef",
        app_secret: str = "app-secret",
        corp_id: str = "ww0123456789abcdef",
        kf_secret: str = "kf-secret",
        token_ttl: int = 7200,
        enforce_window: bool = True,
        quota: int = 5,
        page_size: int = 1000,
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.corp_id, self.kf_secret = corp_id, kf_secret
        self.token_ttl = token_ttl
        self.enforce_window = enforce_window
        self.quota = quota
        self.page_size = page_size
        self.tokens: dict[str, _Token] = {}
        self.stable_token: str | None = None
        self.classic_token: str | None = None
        self.token_requests: Counter[str] = Counter()
        self.received: list[Received] = []
        self.injected: dict[str, list[tuple[int, str]]] = {}
        self.calls: Counter[str] = Counter()  # calls per path so far
        self.failing: dict[tuple[str, int], tuple[int, str]] = {}  # (path, call number)
        self.stalls: dict[tuple[str, int], Stall] = {}
        self.media: dict[str, tuple[bytes, str, str]] = {}
        self.videos: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[bytes, str, str]] = {}
        self.windows: dict[str, _Window] = {}
        self.kf_messages: dict[str, list[dict[str, Any]]] = {}
        self.kf_callback_tokens: set[str] = set()
        self.kf_msgids: list[str] = []  # msgids kf/send_msg returned, in order
        self.kf_used_msgids: set[tuple[str, str]] = set()  # (open_kfid, msgid) accepted so far
        # Awaited with the request body once a kf/send_msg is accepted, before it is answered.
        self.after_kf_accept: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.kf_customers: dict[str, dict[str, Any]] = {}  # external_userid -> its profile
        self.unionids: dict[str, str] = {}  # an Official Account follower's openid -> unionid
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeWeChat:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeWeChat:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- test controls -----------------------------------------------------------------------

    def inject(self, path: str, errcode: int, errmsg: str = "injected", times: int = 1) -> None:
        """The next ``times`` calls to ``path`` answer this error (after being recorded)."""
        self.injected.setdefault(path, []).extend([(errcode, errmsg)] * times)

    def fail_nth(self, path: str, n: int, errcode: int = -1, errmsg: str = "system busy") -> None:
        """The ``n``th call to ``path`` from now (1: the next) answers this error, once."""
        self.failing[(path, self.calls[path] + n)] = (errcode, errmsg)

    def stall(self, path: str, n: int) -> Stall:
        """The ``n``th call to ``path`` from now waits for ``release``, then fails."""
        held = self.stalls[(path, self.calls[path] + n)] = Stall()
        return held

    def expire_tokens(self) -> None:
        """Every token issued so far expires now: the next use answers 42001."""
        for tok in self.tokens.values():
            tok.expires_at = time.time() - 1

    def customer_wrote(self, user: str) -> None:
        """The customer sent a message: a new 48 h window with a fresh quota."""
        self.windows[user] = _Window(time.time())

    def add_media(self, media_id: str, data: bytes, content_type: str, filename: str) -> None:
        self.media[media_id] = (data, content_type, filename)

    def add_video(self, media_id: str, data: bytes) -> None:
        self.videos[media_id] = data

    def add_kf_message(self, item: dict[str, Any]) -> None:
        open_kfid = item.get("open_kfid") or item["event"]["open_kfid"]  # events carry it inside
        self.kf_messages.setdefault(open_kfid, []).append(item)
        if item.get("origin") == 3:
            self.customer_wrote(item["external_userid"])

    def new_callback_token(self) -> str:
        token = "ENC" + secrets.token_urlsafe(24)
        self.kf_callback_tokens.add(token)
        return token

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    @property
    def custom_sends(self) -> list[dict[str, Any]]:
        """Custom-service messages WeChat accepted (errcode 0)."""
        return [
            r.json for r in self.requests_to("/cgi-bin/message/custom/send") if r.form.get("ok")
        ]

    @property
    def kf_sends(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests_to("/cgi-bin/kf/send_msg") if r.form.get("ok")]

    # --- server ------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_get("/cdn/video/{media_id}", self._video_cdn)
        app.router.add_post("/cgi-bin/kf/sync_msg", self._sync_msg)
        app.router.add_post("/cgi-bin/kf/send_msg", self._kf_send)
        app.router.add_post("/cgi-bin/kf/send_msg_on_event", self._kf_send_on_event)
        app.router.add_post("/cgi-bin/kf/customer/batchget", self._kf_customers)
        app.router.add_get("/cgi-bin/user/info", self._user_info)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        rec = Received(request.method, request.path, dict(request.query))
        if request.content_type == "application/json":
            rec.json = await request.json()
        elif request.content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    rec.form[name] = (value.file.read(), value.filename, value.content_type)
                else:
                    rec.form[name] = value
        request[REC] = rec
        self.received.append(rec)
        self.calls[request.path] += 1
        number = (request.path, self.calls[request.path])
        if (held := self.stalls.pop(number, None)) is not None:
            held.arrived.set()
            await held.release.wait()
            return _err(-1, "system busy")
        if number in self.failing:
            return _err(*self.failing.pop(number))
        queue = self.injected.get(request.path)
        if queue:
            errcode, errmsg = queue.pop(0)
            return _err(errcode, errmsg)
        return await handler(request)

    def _issue(self, kind: str) -> str:
        token = f"{kind}-{secrets.token_hex(12)}"
        self.tokens[token] = _Token(kind, time.time() + self.token_ttl)
        return token

    def _check_token(self, request: web.Request, kind: str) -> web.Response | None:
        tok = self.tokens.get(request.query.get("access_token", ""))
        if tok is None or tok.kind != kind:
            if kind == "oa":
                return _err(40001, "invalid credential, access_token is invalid or not latest")
            return _err(40014, "invalid access_token")
        if tok.expires_at <= time.time():
            return _err(42001, "access_token expired")
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests["token"] += 1
        q = request.query
        if q.get("appid") != self.app_id:
            return _err(40013, "invalid appid")
        if q.get("secret") != self.app_secret:
            return _err(40125, "invalid appsecret")
        if self.classic_token:  # a new classic token invalidates the previous one
            self.tokens.pop(self.classic_token, None)
        self.classic_token = self._issue("oa")
        return web.json_response({"access_token": self.classic_token, "expires_in": self.token_ttl})

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = request[REC].json or {}
        force = bool(body.get("force_refresh"))
        self.token_requests["stable_token_force" if force else "stable_token"] += 1
        if body.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if body.get("appid") != self.app_id:
            return _err(40013, "invalid appid")
        if body.get("secret") != self.app_secret:
            return _err(40125, "invalid appsecret")
        current = self.tokens.get(self.stable_token or "")
        if not force and current is not None and current.expires_at > time.time():
            remaining = int(current.expires_at - time.time())
            return web.json_response({"access_token": self.stable_token, "expires_in": remaining})
        if self.stable_token:
            self.tokens.pop(self.stable_token, None)
        self.stable_token = self._issue("oa")
        return web.json_response({"access_token": self.stable_token, "expires_in": self.token_ttl})

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.token_requests["gettoken"] += 1
        q = request.query
        if q.get("corpid") != self.corp_id:
            return _err(40013, "invalid corpid")
        if q.get("corpsecret") != self.kf_secret:
            return _err(40001, "invalid secret")
        token = self._issue("corp")
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        )

    def _window_error(
        self, user: str, closed: tuple[int, str], full: tuple[int, str]
    ) -> web.Response | None:
        if not self.enforce_window:
            return None
        window = self.windows.get(user)
        if window is None or time.time() - window.wrote_at > WINDOW_SECONDS:
            return _err(*closed)
        if window.sent >= self.quota:
            return _err(*full)
        window.sent += 1
        return None

    async def _custom_send(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "oa")) is not None:
            return bad
        body = request[REC].json or {}
        if not body.get("touser") or body.get("msgtype") not in ("text", "image"):
            return _err(40008, "invalid message type")
        if body["msgtype"] == "text" and len(body["text"]["content"].encode()) > 2048:
            return _err(45002, "content size out of limit")
        window = self._window_error(
            body["touser"],
            (45015, "response out of time limit or subscription is canceled"),
            (45047, "out of response count limit"),
        )
        if window is not None:
            return window
        request[REC].form["ok"] = True
        return _err(0, "ok")

    async def _media_get(self, request: web.Request) -> web.StreamResponse:
        tok = self.tokens.get(request.query.get("access_token", ""))
        kind = tok.kind if tok else "oa"
        if (bad := self._check_token(request, kind)) is not None:
            return bad
        media_id = request.query.get("media_id", "")
        if media_id in self.videos:
            return web.json_response({"video_url": f"{self.url}/cdn/video/{media_id}"})
        found = self.media.get(media_id) or self.uploads.get(media_id)
        if found is None:
            return _err(40007, "invalid media_id")
        data, ctype, filename = found
        return web.Response(
            body=data,
            content_type=ctype,
            headers={"Content-disposition": f'attachment; filename="{filename}"'},
        )

    async def _video_cdn(self, request: web.Request) -> web.Response:
        data = self.videos.get(request.match_info["media_id"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="video/mp4")

    async def _media_upload(self, request: web.Request) -> web.Response:
        tok = self.tokens.get(request.query.get("access_token", ""))
        if (bad := self._check_token(request, tok.kind if tok else "oa")) is not None:
            return bad
        media = request[REC].form.get("media")
        if request.query.get("type") != "image" or not isinstance(media, tuple):
            return _err(40004, "invalid media type")
        media_id = "up-" + secrets.token_hex(8)
        self.uploads[media_id] = (media[0], media[2] or "image/jpeg", media[1] or "image.jpg")
        return web.json_response(
            {"type": "image", "media_id": media_id, "created_at": int(time.time())}
        )

    async def _sync_msg(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "corp")) is not None:
            return bad
        body = request[REC].json or {}
        token = body.get("token") or ""
        if token and token not in self.kf_callback_tokens:
            return _err(95007, "invalid msg token")
        cursor = body.get("cursor") or ""
        if cursor and not (cursor.startswith("cur") and cursor[3:].isdigit()):
            return _err(40058, "invalid cursor")
        start = int(cursor[3:]) if cursor else 0
        msgs = self.kf_messages.get(body.get("open_kfid") or "", [])
        limit = min(int(body.get("limit") or 1000), 1000, self.page_size)
        page = msgs[start : start + limit]
        end = start + len(page)
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": f"cur{end}",
                "has_more": 1 if end < len(msgs) else 0,
                "msg_list": page,
            }
        )

    async def _kf_send(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "corp")) is not None:
            return bad
        body = request[REC].json or {}
        if not body.get("touser") or not body.get("open_kfid"):
            return _err(40003, "invalid external_userid or open_kfid")
        chosen = body.get("msgid")
        if chosen is not None and not (isinstance(chosen, str) and KF_MSGID.fullmatch(chosen)):
            return _err(*INVALID_MSGID)
        if chosen and (body["open_kfid"], chosen) in self.kf_used_msgids:
            return _err(*DUPLICATE_MSGID)
        window = self._window_error(
            body["touser"],
            (95002, "send msg time limit"),
            (95001, "send msg count limit"),
        )
        if window is not None:
            return window
        request[REC].form["ok"] = True
        msgid = chosen or secrets.token_hex(8)
        self.kf_used_msgids.add((body["open_kfid"], msgid))
        self.kf_msgids.append(msgid)
        if self.after_kf_accept is not None:
            await self.after_kf_accept(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _kf_send_on_event(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "corp")) is not None:
            return bad
        body = request[REC].json or {}
        if not body.get("code"):
            return _err(95000, "invalid code")
        request[REC].form["ok"] = True
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": secrets.token_hex(8)})

    async def _user_info(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "oa")) is not None:
            return bad
        openid = request.query.get("openid", "")
        if not openid:
            return _err(40003, "invalid openid")
        info: dict[str, Any] = {"subscribe": 1, "openid": openid, "language": "zh_CN"}
        if openid in self.unionids:
            info["unionid"] = self.unionids[openid]
        return web.json_response(info)

    async def _kf_customers(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request, "corp")) is not None:
            return bad
        ids = (request[REC].json or {}).get("external_userid_list")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            return _err(40058, "external_userid_list: 1 to 100 ids")
        found = [
            {"external_userid": i, "avatar": "", "gender": 0, **self.kf_customers[i]}
            for i in ids
            if i in self.kf_customers
        ]
        invalid = [i for i in ids if i not in self.kf_customers]
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "customer_list": found,
                "invalid_external_userid": invalid,
            }
        )


def _err(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})
