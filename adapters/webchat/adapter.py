"""The web chat channel: the widget's visitor WebSocket at ``/channels/{id}/webchat/ws``.

Inbound: each visitor message is delivered with ``external_id = "<session>:<client id>"``, so a
resend after a dropped connection is deduplicated by the inbox and never shown twice. Outbound:
``send()`` publishes the reply to every process (see fanout.py); the visitor's widget gets it
now, or replays it by seq from the conversation log when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterRoute,
    PermanentSendError,
)
from adapters.webchat import session as tokens
from adapters.webchat.config import WebchatConfig
from adapters.webchat.fanout import VisitorSockets
from adapters.webchat.protocol import (
    MAX_SURVEY_TOKEN,
    FrameError,
    Hello,
    file_view,
    mark_bot,
    parse_hello,
    parse_message,
    parse_profile,
    parse_survey_answer,
    split_survey,
    visitor_view,
)
from adapters.webchat.ratelimit import LEASE_MS, RateLimiter, SocketCounter
from adapters.webchat.refusal import refuse_origin
from adapters.webchat.texts import SURVEY_TEXTS, widget_language, widget_texts
from gateway.api.http import (
    InvalidJSON,
    close_on_failure,
    close_reason,
    close_too_deep,
    error,
    loads,
    read_upload,
    setting,
)
from gateway.clientaddr import request_address
from gateway.conversations import Conversations, NotFound
from gateway.events import EventBus
from gateway.i18n import translate
from gateway.i18n.channels import language_of
from gateway.media import describe_file
from gateway.models import (
    Attachment,
    Channel,
    ContactIdentity,
    InboundMessage,
    OutboundMessage,
    now_ms,
)
from gateway.surveys import (
    MAX_COMMENT,
    Aftercare,
    LinkError,
    admin_text,
    load_settings,
    read_token,
)

log = logging.getLogger(__name__)

WS_PATH = "/webchat/ws"
UPLOAD_PATH = "/webchat/upload"
TEXTS_PATH = "/webchat/texts"
UPLOAD_TTL = 24 * 3600  # an upload must be sent in a message within this
HELLO_TIMEOUT = 15.0  # seconds a new socket may wait before saying hello
ONLINE_CACHE_SECONDS = 1.0  # how stale "is an agent online?" may be
PROFILE_TTL = 90 * 24 * 3600  # visitor name / email kept this long after the last visit
HISTORY_LIMIT = 200  # messages replayed to a freshly loaded widget
STAFF_ROLES = ["admin", "supervisor"]  # the same audience rule as gateway.services
FRAMES_PER_MINUTE = 240  # profile, typing and read frames of one session
# Close code of a socket refused because its visitor session has too many open already.
TOO_MANY_SOCKETS = 4429

# Looks up the running adapter of a channel in this process (the core may provide it as
# ``ctx.extra["adapter"]``); used to send offline replies through an email channel.
AdapterLookup = Callable[[str], Adapter | None]


class WebchatAdapter(Adapter):
    channel_type = Channel.WEBCHAT
    Config: ClassVar[type[BaseModel]] = WebchatConfig
    secret_fields = frozenset({"session_secret"})
    max_text_length = 20000
    supports_attachments = True

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.conversations = Conversations(ctx.redis, ctx.keys)
        self.events = EventBus(ctx.redis, ctx.keys)
        self.limiter = RateLimiter(ctx.redis, ctx.state_key)
        self.counter = SocketCounter(ctx.redis, ctx.state_key)
        # The (subject, socket id) leases each open socket holds in the counter.
        self._leases: dict[web.WebSocketResponse, list[tuple[str, str]]] = {}
        # The widget language of each open socket (the channel's, or the visitor's browser's).
        self._langs: dict[web.WebSocketResponse, str] = {}
        self.sockets = VisitorSockets(
            ctx.redis, ctx.keys.webchat_fanout(ctx.channel_id), ctx.commands
        )
        self.secret = self.config.session_secret
        self._refresher: asyncio.Task[None] | None = None
        self._online = False
        self._online_checked_at = float("-inf")

    @property
    def config(self) -> WebchatConfig:
        return self.ctx.config  # type: ignore[return-value]

    def routes(self) -> list[AdapterRoute]:
        return [
            AdapterRoute("GET", WS_PATH, self.visitor_socket),
            AdapterRoute("POST", UPLOAD_PATH, self.upload),
            AdapterRoute("OPTIONS", UPLOAD_PATH, self.upload_preflight),
            AdapterRoute("GET", TEXTS_PATH, self.texts),
        ]

    def describe(self) -> dict[str, Any]:
        base = self.ctx.public_url.rstrip("/")
        return {
            **super().describe(),
            "visitor_max_message_length": self.config.max_message_length,
            "allowed_origins": self.config.allowed_origins,
            "widget_snippet": (
                f'<script src="{base}/widget.js" data-channel="{self.ctx.channel_id}" async>'
                "</script>"
            ),
        }

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.secret:
            # One random secret per channel, shared by every process through Redis.
            key = self.ctx.state_key("session-secret")
            await self.ctx.redis.set(key, secrets.token_urlsafe(32), nx=True)
            self.secret = await self.ctx.redis.get(key) or ""
        await self.sockets.start()
        self._refresher = asyncio.create_task(self._refresh_live(), name="webchat-live")

    async def stop(self) -> None:
        if self._refresher:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.sockets.stop()
        await self.close_sockets()  # widgets reconnect to the reloaded channel

    async def close_sockets(self) -> None:
        """Close the visitor sockets this process holds; widgets reconnect (to another process
        when this one is shutting down)."""
        await self.sockets.close_all()

    async def _refresh_live(self) -> None:
        """Renews the leases of this process's open sockets. A session's unexpired socket
        leases (``sockets:s:<session>``, every process's together) are also what says whether
        the visitor is connected (``send``)."""
        while True:
            await asyncio.sleep(LEASE_MS / 3000)
            try:
                await self.counter.renew([h for held in self._leases.values() for h in held])
            except Exception:
                log.debug("web chat presence refresh failed", exc_info=True)

    # --- the visitor socket ----------------------------------------------------------------
    def client_ip(self, request: web.Request) -> str:
        # The gateway's one rule (trusted_proxies; right-most untrusted X-Forwarded-For hop).
        return request_address(request, trust_peer=self.config.trust_forwarded_for)

    async def visitor_socket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self.config.origin_allowed(origin):
            return await refuse_origin(request, self.config)  # says why, then closes
        # Room for a message at the limit even JSON-escaped (12 bytes a character: a surrogate
        # pair as two \uXXXX), so one over it is refused with too_long, not a closed socket.
        ws = web.WebSocketResponse(
            heartbeat=25, max_msg_size=self.config.max_message_length * 12 + 4096
        )
        if not ws.can_prepare(request).ok:
            raise error(400, "websocket_required", "connect with a WebSocket")
        ip = self.client_ip(request)
        # One address may hold only so many sockets at once, in all processes together.
        held: list[tuple[str, str]] = []
        self._leases[ws] = held
        socket_id = secrets.token_hex(8)
        try:
            limit = setting(request, "webchat_max_sockets_per_address", 20)
            if not await self.counter.acquire(f"ip:{ip}", socket_id, limit):
                refused = error(429, "too_many_connections",
                                f"at most {limit} chat connections from one address",
                                retry_after=10)  # fmt: skip
                refused.headers["Retry-After"] = "10"
                raise refused
            held.append((f"ip:{ip}", socket_id))
            return await self._serve_visitor(request, ws, ip, socket_id)
        finally:
            self._leases.pop(ws, None)
            with contextlib.suppress(Exception):
                # Shielded: aiohttp cancels the handler when the connection drops.
                await asyncio.shield(self.counter.release(held))

    async def _serve_visitor(
        self, request: web.Request, ws: web.WebSocketResponse, ip: str, socket_id: str
    ) -> web.WebSocketResponse:
        await ws.prepare(request)
        # Survey answers are recorded by the gateway's own Aftercare (same signed-token rules
        # as the survey page), handed over in the context; None without the full gateway.
        aftercare: Aftercare | None = self.ctx.extra.get("aftercare")
        session_id = None
        self._langs[ws] = widget_language(
            self.config.language, request.headers.get("Accept-Language")
        )
        try:
            hello = await self._receive_hello(ws)
            if hello is None:
                return ws
            per_session = setting(request, "webchat_max_sockets_per_session", 5)
            session_id = await self._welcome(ws, hello, ip, socket_id, per_session)
            if session_id is None:
                return ws
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await _send(ws, _error("invalid_frame", "frames are JSON text frames"))
                    continue
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_frame(ws, session_id, ip, msg.data, aftercare)
        except Exception as exc:  # e.g. Redis down: a close code, not an HTTP 503 on the socket
            await close_on_failure(ws, exc)
        finally:
            self._langs.pop(ws, None)
            if session_id is not None:
                # Its lease in sockets:s:<session> is released by visitor_socket: when no
                # process holds one any more, replies also go by email.
                self.sockets.detach(session_id, ws)
        return ws

    # --- the widget's words ----------------------------------------------------------------
    async def _texts(self, lang: str) -> dict[str, str]:
        survey = await load_settings(self.ctx.redis, self.ctx.keys)
        overrides = {name: admin_text(survey, name) for name in SURVEY_TEXTS.values()}
        return widget_texts(self.config, lang, overrides)

    async def texts(self, request: web.Request) -> web.Response:
        """``GET``: the widget's texts in its language, before the socket opens (the launcher's
        label, "Connecting…"). Readable by the sites that may embed the widget."""
        origin = request.headers.get("Origin")
        if not self.config.origin_allowed(origin):
            raise error(403, "origin_not_allowed", f"origin {origin!r} may not use this chat")
        lang = widget_language(self.config.language, request.headers.get("Accept-Language"))
        headers = {
            "Access-Control-Allow-Origin": origin or "*",
            "Vary": "Origin, Accept-Language",
            "Cache-Control": "no-cache",
        }
        return web.json_response(
            {"language": lang, "texts": await self._texts(lang)},
            headers=headers,
            dumps=lambda v: json.dumps(v, ensure_ascii=False),
        )

    # --- visitors' files -------------------------------------------------------------------
    def _cors(self, request: web.Request) -> dict[str, str]:
        """The widget uploads from the customer's site: another origin, so CORS."""
        origin = request.headers.get("Origin")
        if not self.config.origin_allowed(origin):
            raise error(403, "origin_not_allowed", f"origin {origin!r} may not use this chat")
        return {
            "Access-Control-Allow-Origin": origin or "*",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    async def upload_preflight(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204, headers=self._cors(request))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """A visitor's file: ``POST ?name=`` with the session token as a bearer token. The
        answer's ``url`` goes in the next message frame's ``attachments``."""
        cors = self._cors(request)
        try:
            return await self._upload(request, cors)
        except web.HTTPException as exc:  # the widget must be able to read why
            exc.headers.update(cors)
            raise

    async def _upload(self, request: web.Request, cors: dict[str, str]) -> web.Response:
        cfg = self.config
        if cfg.max_upload_bytes == 0:
            raise error(403, "uploads_off", "this chat does not take files")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        session_id = tokens.session_of(self.secret, self.ctx.channel_id, bearer)
        if session_id is None:
            raise error(401, "invalid_token", "send the chat's session token")
        verdict = await self.limiter.hit([
            (f"s:{session_id}", cfg.messages_per_minute_per_session),
            (f"ip:{self.client_ip(request)}", cfg.messages_per_minute_per_ip),
        ])  # fmt: skip
        if not verdict.allowed:
            raise error(429, "rate_limited", "you are sending too fast",
                        retry_after=verdict.retry_after)  # fmt: skip
        name, data = await read_upload(request, cfg.max_upload_bytes)
        assert self.ctx.store_media is not None
        # The declared type is a claim: an image only when its leading bytes are one.
        described = describe_file("", name, request.headers.get("Content-Type"), len(data), data)
        url = await self.ctx.store_media(data, name, described.content_type)
        stored = described.model_copy(update={"url": url}).model_dump(exclude_none=True)
        key = self._uploads_key(session_id)
        pipe = self.ctx.redis.pipeline(transaction=True)  # one trip; never a key without TTL
        pipe.hset(key, url, json.dumps(stored))
        pipe.expire(key, UPLOAD_TTL)
        await pipe.execute()
        view = file_view(stored, self.ctx.public_link)
        return web.json_response({"attachment": {**view, "url": url, "link": view["url"]}},
                                 status=201, headers=cors)  # fmt: skip

    async def _uploaded(self, session_id: str, urls: tuple[str, ...]) -> list[Attachment]:
        """The files of a message: each must be an upload of this session."""
        if not urls:
            return []
        found = await self.ctx.redis.hmget(self._uploads_key(session_id), list(urls))
        if any(raw is None for raw in found):
            raise FrameError("invalid_attachment", "attachments: upload each file first")
        return [Attachment(**json.loads(raw)) for raw in found]

    def _uploads_key(self, session_id: str) -> str:
        return self.ctx.state_key(f"uploads:{session_id}")

    async def _receive_hello(self, ws: web.WebSocketResponse) -> Hello | None:
        try:
            msg = await ws.receive(timeout=HELLO_TIMEOUT)
        except TimeoutError:
            await ws.close(code=4408, message=b"say hello first")
            return None
        if msg.type == WSMsgType.BINARY:
            return await _refuse_hello(ws, "invalid_json", "the first frame must be a text frame")
        if msg.type != WSMsgType.TEXT:  # closed or broken before saying anything
            await ws.close(code=4400, message=b"the first frame must be hello")
            return None
        try:
            frame = _json(msg.data)
        except InvalidJSON as exc:
            if exc.too_deep:
                await close_too_deep(ws)
                return None
            return await _refuse_hello(ws, "invalid_json", f"the first frame is no JSON: {exc}")
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind != "hello":
            got = f"type {kind!r}"[:40] if isinstance(kind, str) else "no type"
            reason = f'the first frame must be {{"type": "hello"}}, not {got}'
            return await _refuse_hello(ws, "hello_expected", reason)
        return parse_hello(frame)

    async def _welcome(
        self, ws: web.WebSocketResponse, hello: Hello, ip: str, socket_id: str, per_session: int
    ) -> str | None:
        """Resume the token's session (or start one), then replay what the widget missed. A
        session with ``per_session`` sockets open already is refused (closed with 4429)."""
        cfg = self.config
        session_id = tokens.session_of(self.secret, self.ctx.channel_id, hello.token)
        if session_id is None:
            verdict = await self.limiter.hit([(f"new:{ip}", cfg.messages_per_minute_per_ip)])
            if not verdict.allowed:
                await _send(ws, _error("rate_limited", "too many new chats", verdict.retry_after))
                await ws.close(code=4429, message=b"rate limited")
                return None
            session_id = tokens.new_session_id()
        if not await self.counter.acquire(f"s:{session_id}", socket_id, per_session):
            await _send(ws, _error("too_many_connections",
                                   f"at most {per_session} open chats per visitor"))  # fmt: skip
            await ws.close(code=TOO_MANY_SOCKETS, message=b"too many connections")
            return None
        self._leases.get(ws, []).append((f"s:{session_id}", socket_id))
        self.sockets.attach(session_id, ws)
        profile = await self._profile(session_id)
        if hello.page:
            await self._save_profile(session_id, {"page": hello.page})
        online = await self._agents_online()
        conversation_id = await self._conversation_of(session_id)
        lang = self._langs.get(ws, "zh-CN")
        texts = await self._texts(lang)
        # Promise an answer by email only when an email channel can carry it.
        by_email = bool(await self._email_channel_id())
        offline = texts["offline_message" if by_email else "offline_message_chat_only"]
        await _send(ws, {
            "type": "welcome",
            "token": tokens.issue(self.secret, self.ctx.channel_id, session_id),
            "language": lang,
            "texts": texts,
            "title": texts["title"],
            "color": cfg.color,
            "greeting": texts["greeting"],
            "online": online,
            "offline_message": offline,
            "email_capture": by_email,
            "prechat": cfg.prechat_form and not profile.get("name"),
            "profile": {"name": profile.get("name"), "email": profile.get("email")},
            "conversation_id": conversation_id,
            "max_message_length": cfg.max_message_length,
            "max_upload_bytes": cfg.max_upload_bytes,
            "survey": {"comment_prompt": texts["survey_comment"],
                       "send": texts["survey_send"], "thanks": texts["survey_thanks"],
                       "max_comment": MAX_COMMENT},
        })  # fmt: skip
        await self._replay(ws, hello, conversation_id)
        return session_id

    async def _replay(
        self, ws: web.WebSocketResponse, hello: Hello, conversation_id: str | None
    ) -> None:
        if conversation_id is None:
            await _send(ws, {"type": "history", "conversation_id": None, "reset": True,
                             "messages": [], "read_seq": 0})  # fmt: skip
            return
        reset = hello.conversation_id != conversation_id
        after = 0 if reset else hello.last_seq
        last = (await self.conversations.get(conversation_id)).get("last_seq") or 0
        after = max(after, last - HISTORY_LIMIT)
        logged = await self.conversations.messages(conversation_id, after, HISTORY_LIMIT)
        link = self.ctx.public_link
        views = [
            await self._with_survey(view)
            for view in (visitor_view(m, link) for m in logged)
            if view is not None
        ]
        read = await self.ctx.redis.hget(self._read_key(conversation_id), "agent")
        await _send(ws, {"type": "history", "conversation_id": conversation_id, "reset": reset,
                         "messages": views, "read_seq": int(read or 0)})  # fmt: skip

    async def _on_frame(
        self,
        ws: web.WebSocketResponse,
        session_id: str,
        ip: str,
        data: str,
        aftercare: Aftercare | None = None,
    ) -> None:
        try:
            frame = _json(data)
        except InvalidJSON as exc:
            if exc.too_deep:
                await close_too_deep(ws)
                return
            # With a message's client_id when it can be read, so that the widget marks that
            # message failed (e.g. a lone surrogate in its text) instead of resending it.
            refused = _error("invalid_json", f"frames are JSON objects: {exc}")
            await _send(ws, {**refused, "client_id": _client_id_in(data)})
            return
        if frame is None:
            await _send(ws, _error("invalid_json", "frames are JSON objects"))
            return
        kind = frame.get("type")
        if kind in ("profile", "typing", "read", "survey_answer"):
            # Their own, looser budget: never eats the message budget, but bounds the writes.
            verdict = await self.limiter.hit([(f"frames:{session_id}", FRAMES_PER_MINUTE)])
            if not verdict.allowed:
                await _send(ws, _error("rate_limited", "too many frames", verdict.retry_after))
                return
        try:
            if kind == "message":
                await self._on_message(ws, session_id, ip, frame)
            elif kind == "profile":
                await self._on_profile(ws, session_id, frame)
            elif kind == "typing":
                await self._on_typing(session_id, bool(frame.get("on", True)))
            elif kind == "read":
                await self._on_read(session_id, frame.get("seq"))
            elif kind == "survey_answer":
                await self._on_survey_answer(ws, session_id, frame, aftercare)
            elif kind == "ping":
                await _send(ws, {"type": "pong"})
            else:
                await _send(ws, _error("unknown_type", f"unknown frame type {kind!r}"))
        except FrameError as exc:
            await _send(ws, {**_error(exc.code, str(exc)), "client_id": frame.get("client_id")})

    async def _on_message(
        self, ws: web.WebSocketResponse, session_id: str, ip: str, frame: dict[str, Any]
    ) -> None:
        cfg = self.config
        message = parse_message(frame, cfg.max_message_length)
        profile = await self._profile(session_id)
        if cfg.prechat_form and not profile.get("name"):
            raise FrameError("prechat_required", "tell us your name first")
        verdict = await self.limiter.hit([
            (f"s:{session_id}", cfg.messages_per_minute_per_session),
            (f"ip:{ip}", cfg.messages_per_minute_per_ip),
        ])  # fmt: skip
        if not verdict.allowed:
            refused = _error("rate_limited", "you are writing too fast", verdict.retry_after)
            await _send(ws, {**refused, "client_id": message.client_id})
            return
        files = await self._uploaded(session_id, message.attachment_urls)
        inbound = InboundMessage(
            channel_id=self.ctx.channel_id,
            channel_type=Channel.WEBCHAT,
            external_id=f"{session_id}:{message.client_id}",
            contact=ContactIdentity(
                external_id=session_id,
                name=profile.get("name") or None,
                email=profile.get("email") or None,
            ),
            thread_key=session_id,
            text=message.text,
            attachments=files,
            meta={"client_id": message.client_id, "page": profile.get("page") or None},
        )
        result = await self.ctx.deliver(inbound)
        await _send(ws, {
            "type": "ack", "client_id": message.client_id, "seq": result.seq,
            "conversation_id": result.conversation_id, "duplicate": result.duplicate,
            "online": await self._agents_online(),
        })  # fmt: skip
        if not result.duplicate:
            view = {"seq": result.seq, "conversation_id": result.conversation_id,
                    "from": "visitor", "client_id": message.client_id,
                    "text": message.text, "created_at": now_ms()}  # fmt: skip
            if files:
                view["attachments"] = [self._file_view(a) for a in files]
            await self.sockets.publish(session_id, {"type": "message", "message": view})

    async def _on_profile(
        self, ws: web.WebSocketResponse, session_id: str, frame: dict[str, Any]
    ) -> None:
        profile = parse_profile(frame)
        changes = {k: v for k, v in (("name", profile.name), ("email", profile.email)) if v}
        await self._save_profile(session_id, changes)
        conversation_id = await self._conversation_of(session_id)
        if conversation_id and changes:
            # Agents see what the visitor told us at once, not only from the next message.
            contact_id = (await self.conversations.raw(conversation_id, "contact_id"))[0]
            if contact_id:
                pipe = self.ctx.redis.pipeline(transaction=False)
                for field, value in changes.items():
                    pipe.hsetnx(self.ctx.keys.contact(contact_id), field, value)
                await pipe.execute()
        saved = await self._profile(session_id)
        await self.sockets.publish(session_id, {
            "type": "profile", "profile": {"name": saved.get("name"), "email": saved.get("email")},
        })  # fmt: skip

    async def _on_survey_answer(
        self,
        ws: web.WebSocketResponse,
        session_id: str,
        frame: dict[str, Any],
        aftercare: Aftercare | None,
    ) -> None:
        """A rating from the widget's survey card: recorded once, like an answer on the survey
        page. Refusals come back as survey_result with the page's status (403 forged or not
        this visitor's, 410 expired, 409 already answered)."""
        token = frame.get("token")
        token = token[:MAX_SURVEY_TOKEN] if isinstance(token, str) else None
        try:
            if aftercare is None:
                raise LinkError(503, "unavailable", "surveys cannot be answered right now")
            try:
                answer = parse_survey_answer(frame)
            except FrameError as exc:
                raise LinkError(400, exc.code, str(exc)) from None
            link = await aftercare.peek(answer.token)
            if not await self._owns(session_id, link.conversation_id):
                raise LinkError(403, "forged", "this survey link is not valid")
            await aftercare.answer(answer.token, answer.score, answer.comment)
        except LinkError as exc:
            refused = {"type": "survey_result", "token": token, "ok": False,
                       "status": exc.status, "code": exc.code, "message": str(exc)}  # fmt: skip
            await _send(ws, refused)
            return
        thanks = (await self._texts(self._langs.get(ws, "zh-CN")))["survey_thanks"]
        # Every tab of this visitor turns its card into the thanks.
        await self.sockets.publish(session_id, {
            "type": "survey_result", "token": answer.token, "ok": True, "score": answer.score,
            "message": thanks,
        })  # fmt: skip

    async def _owns(self, session_id: str, conversation_id: str) -> bool:
        """The conversation is this visitor's chat on this channel."""
        channel_id, thread_key = await self.conversations.raw(
            conversation_id, "channel_id", "thread_key"
        )
        return channel_id == self.ctx.channel_id and thread_key == session_id

    async def _with_survey(self, view: dict[str, Any]) -> dict[str, Any]:
        """A system message carrying a survey link becomes a rating card (see protocol.py)."""
        if view.get("from") != "system":
            return view
        text, token = split_survey(view.get("text") or "")
        link = read_token(token) if token else None
        if link is None or link.conversation_id != view.get("conversation_id"):
            return view
        if await self.ctx.redis.exists(self.ctx.keys.survey_used(link.nonce)):
            state = "answered"
        elif now_ms() >= link.expires_at:
            state = "expired"
        else:
            state = "pending"
        survey = {"token": token, "state": state, "expires_at": link.expires_at}
        return {**view, "text": text, "survey": survey}

    async def _on_typing(self, session_id: str, on: bool) -> None:
        conversation_id = await self._conversation_of(session_id)
        if conversation_id:
            await self._tell_agents(
                conversation_id,
                "conversation.typing",
                {"conversation_id": conversation_id, "who": "customer", "on": on},
            )

    async def _on_read(self, session_id: str, seq: object) -> None:
        conversation_id = await self._conversation_of(session_id)
        if not conversation_id or not isinstance(seq, int) or seq < 1:
            return
        key = self._read_key(conversation_id)
        before = int(await self.ctx.redis.hget(key, "customer") or 0)
        if seq <= before:
            return
        await self.ctx.redis.hset(key, "customer", seq)
        await self.ctx.redis.expire(key, PROFILE_TTL)
        await self._tell_agents(
            conversation_id,
            "conversation.read",
            {"conversation_id": conversation_id, "seq": seq, "by": "customer"},
        )

    async def _tell_agents(self, conversation_id: str, event: str, data: dict[str, Any]) -> None:
        assignee, offered = await self.conversations.raw(conversation_id, "assignee", "offered_to")
        users = [u for u in (assignee, offered) if u]
        roles = list(STAFF_ROLES) if users else [*STAFF_ROLES, "agent"]
        await self.events.publish(event, data, users, roles)

    # --- signals from the agent console (gateway/ws.py) ------------------------------------
    async def agent_signal(
        self, conversation: dict[str, Any], agent_name: str, command: dict[str, Any]
    ) -> None:
        """An agent typing in, or reading, a conversation of this channel."""
        if conversation.get("channel_id") != self.ctx.channel_id:
            return
        session_id = conversation.get("thread_key") or ""
        if command.get("type") == "typing":
            frame = {"type": "typing", "on": bool(command.get("on", True)), "name": agent_name}
            await self.sockets.publish(session_id, frame)
        elif command.get("type") == "read":
            seq = command.get("seq")
            if not isinstance(seq, int) or seq < 1:
                return
            key = self._read_key(conversation["id"])
            if seq <= int(await self.ctx.redis.hget(key, "agent") or 0):
                return
            await self.ctx.redis.hset(key, "agent", seq)
            await self.ctx.redis.expire(key, PROFILE_TTL)
            await self.sockets.publish(session_id, {"type": "read", "seq": seq})

    # --- outbound --------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> str:
        session_id = message.thread_key
        seq = int(message.message_id.rpartition(":")[2])
        view: dict[str, Any] = {
            "seq": seq,
            "conversation_id": message.conversation_id,
            "text": message.text,
            "created_at": now_ms(),
            "from": "agent" if message.author_name else "system",
        }
        if message.author_name:
            view["author_name"] = message.author_name
        else:  # a system message: the bot's answer is flagged as in the replayed history
            mark_bot(view, await self._meta(message.conversation_id, seq))
        if message.attachments:
            view["attachments"] = [self._file_view(a) for a in message.attachments]
        view = await self._with_survey(view)
        # Connected: a socket of this session open in any process (an unexpired lease in the
        # cross-process registry; a process that died stops counting when its leases run out).
        # The read goes with the publish, in one round trip.
        (live,) = await self.sockets.publish(
            session_id,
            {"type": "message", "message": view},
            ("ZCOUNT", self._sockets_key(session_id), f"({now_ms()}", "+inf"),
        )
        if int(live or 0):
            return f"webchat:{message.message_id}"
        email = (await self._profile(session_id)).get("email")
        if email and message.author_name:
            return await self._send_email(message, email)
        # The widget shows it from the log when the visitor comes back.
        return f"webchat:{message.message_id}"

    async def _meta(self, conversation_id: str, seq: int) -> dict[str, Any]:
        try:
            logged = await self.conversations.message(conversation_id, seq)
        except NotFound:
            return {}
        return logged.get("meta") or {}

    async def _send_email(self, message: OutboundMessage, address: str) -> str:
        """The visitor left and gave an email address: the reply also goes by email."""
        lookup: AdapterLookup | None = self.ctx.extra.get("adapter")
        channel_id = await self._email_channel_id()
        adapter = lookup(channel_id) if lookup and channel_id else None
        if adapter is None:
            log.info("no email channel for offline web chat replies; kept in the chat only")
            return f"webchat:{message.message_id}"
        if adapter.channel_type != Channel.EMAIL:
            raise PermanentSendError(f"offline_email_channel_id {channel_id} is not email")
        # In the channel's language ("auto": no visitor to ask now, zh-CN), with its title.
        lang = language_of({"language": self.config.language})
        title = (await self._texts(lang))["title"]
        subject = translate(lang, "customer.email.chat_reply_subject", title=title)
        emailed = message.model_copy(
            update={
                "channel_id": channel_id,
                "contact_external_id": address,
                "reply_context": {"subject": subject, "reply_to": address},
            }
        )
        return "email:" + await adapter.send(emailed)

    async def _email_channel_id(self) -> str:
        """The configured offline email channel, else the first email channel, else ''."""
        if self.config.offline_email_channel_id:
            return self.config.offline_email_channel_id
        ids = sorted(await self.ctx.redis.smembers(self.ctx.keys.channels()))
        for channel_id in ids:
            kind = await self.ctx.redis.hget(self.ctx.keys.channel(channel_id), "type")
            if kind == Channel.EMAIL.value:
                return channel_id
        return ""

    # --- state -----------------------------------------------------------------------------
    def _file_view(self, attachment: Attachment) -> dict[str, Any]:
        return file_view(attachment.model_dump(exclude_none=True), self.ctx.public_link)

    def _sockets_key(self, session_id: str) -> str:
        """The session's open sockets in every process (ratelimit.SocketCounter's leases)."""
        return self.ctx.state_key(f"sockets:s:{session_id}")

    def _read_key(self, conversation_id: str) -> str:
        return self.ctx.state_key(f"read:{conversation_id}")

    async def _profile(self, session_id: str) -> dict[str, str]:
        return await self.ctx.redis.hgetall(self.ctx.state_key(f"visitor:{session_id}"))

    async def _save_profile(self, session_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        key = self.ctx.state_key(f"visitor:{session_id}")
        pipe = self.ctx.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=values)
        pipe.expire(key, PROFILE_TTL)
        await pipe.execute()

    async def _conversation_of(self, session_id: str) -> str | None:
        return await self.ctx.redis.get(self.ctx.keys.thread(self.ctx.channel_id, session_id))

    async def _agents_online(self) -> bool:
        """Is any agent online (not away)? Looks at the most recent heartbeats only. Kept for
        a second: every welcome and every acknowledgement asks, and a crowd of visitors would
        otherwise read hundreds of agents' status each time."""
        now = time.monotonic()
        if now - self._online_checked_at < ONLINE_CACHE_SECONDS:
            return self._online
        keys = self.ctx.keys
        ids = await self.ctx.redis.zrevrange(keys.agents_presence(), 0, 199)
        online = False
        if ids:
            pipe = self.ctx.redis.pipeline(transaction=False)
            for agent_id in ids:
                pipe.hget(keys.agent(agent_id), "status")
            online = any(status == "online" for status in await pipe.execute())
        self._online, self._online_checked_at = online, time.monotonic()
        return online


def _json(data: object) -> dict[str, Any] | None:
    """A frame as a JSON object; None when it is not one. InvalidJSON for a frame that is no
    valid JSON (``too_deep``: nested too deeply, which closes the socket with 1007)."""
    value = loads(data) if isinstance(data, str) else None
    return value if isinstance(value, dict) else None


_CLIENT_ID_IN = re.compile(r'"client_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def _client_id_in(data: str) -> str | None:
    """The client_id of a message frame that could not be parsed, if it has a valid one."""
    found = _CLIENT_ID_IN.search(data)
    return found.group(1) if found else None


async def _refuse_hello(ws: web.WebSocketResponse, code: str, reason: str) -> None:
    """An error frame saying what was wrong with the first frame, then close 4400 with the
    same reason."""
    await _send(ws, _error(code, reason))
    await ws.close(code=4400, message=close_reason(reason))


def _error(code: str, message: str, retry_after: float | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(json.dumps(frame, ensure_ascii=False))
