"""QQ (official QQ Bot API v2): private chats (C2C), group @-mentions, and guild (频道)
@-mentions and direct messages.

Receiving, either way the platform offers:
  WebSocket  one connection per bot across every gateway process and host, held by whoever
             holds the channel's lease (gateway.lease.run_while_leased); session id and seq in
             Redis so the next holder resumes.
  Webhook    POST /channels/{id}/qq: op 13 URL validation; every event's Ed25519 signature
             checked; answered {"op": 12, "d": 0} once the message is in the inbox.

Replying: a passive reply (``msg_id`` of the customer's latest message + a ``msg_seq`` unique per
``msg_id``) while the platform's window is open (60 min private, 5 min group, 5 replies per
message); after it an active message only when the channel allows it (the platform stopped
them on 2025-04-21 for most bots). Images go through the rich-media upload (a URL the platform
fetches: our public media URL), then msg_type 7. Guild channels and guild direct messages take
``content`` / ``image`` (a URL) and ``msg_id``, no msg_seq, within 5 minutes (send.html).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import time
from typing import Any, ClassVar, Literal, cast

import aiohttp
from aiohttp import web
from pydantic import Field

from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterRoute,
    PermanentSendError,
    TransientSendError,
    VerifyError,
    read_capped_body,
)
from adapters.language import ChannelLanguage
from adapters.media_download import fetch_attachments
from adapters.qq import sign
from adapters.qq.api import (
    DEFAULT_API_BASE,
    DEFAULT_TOKEN_URL,
    SANDBOX_API_BASE,
    AccessTokens,
    ApiError,
    QQApi,
)
from adapters.qq.errors import (
    ACTIVE_OFF,
    DUPLICATE_SEQ,
    FRIEND_REMOVED,
    GROUP_REMOVED,
    HELD_FOR_AUDIT,
    PASSIVE_EXPIRED,
    WINDOW_CLOSED,
    describe,
    send_error,
)
from adapters.qq.parse import (
    C2C,
    DMS,
    GROUP,
    GUILD,
    MESSAGE_EVENTS,
    MalformedEvent,
    QQEvent,
    escape_guild,
    normalize,
    split_thread_key,
    user_thread_key,
)
from adapters.qq.ws import GROUP_AND_C2C_EVENT, GatewayClient
from gateway.api.http import InvalidJSON, loads
from gateway.lease import Lease, run_while_leased
from gateway.models import Attachment, Channel, InboundMessage, OutboundMessage, now_ms
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# send.html: "单聊 被动消息（回复类）有效时间为 60 分钟 ... 群聊 ... 5 分钟，每个消息最多回复 5 次"
C2C_WINDOW_SECONDS = 60 * 60
GROUP_WINDOW_SECONDS = 5 * 60
REPLIES_PER_MESSAGE = 5
WINDOW_MARGIN_SECONDS = 10  # a reply sent this close to the end may arrive after it
MAX_WEBHOOK_BYTES = 256 * 1024
ACK = {"op": 12, "d": 0}  # HTTP Callback ACK (event-emit.html, opcode 12)
FILE_TYPE_IMAGE = 1  # rich-media.html: 1 图片 (png/jpg)
MSG_TYPE_TEXT = 0
MSG_TYPE_MEDIA = 7

# Atomic msg_seq of one part of one reply, and the 5-replies budget (send.html: "每个消息最多回复
# 5 次"). msg_seq is only a de-duplication number ("相同的 msg_id + msg_seq 重复发送会失败"), with
# no cap: the same part keeps its number on a retry (so a copy the platform already accepted is
# refused as a duplicate, not shown twice), a new part, or a part the platform refused outright,
# takes the next number. The budget counts the parts the platform ACCEPTED (a set of part ids,
# _ACCEPTED): a part not accepted yet goes passively only while fewer than 5 are. Two parts in
# flight at once may both pass with 4 accepted; the platform refuses the second, whose retry
# then finds the budget used. KEYS: the msg_id's counter, the part's number, the msg_id's
# accepted parts. ARGV: ttl, the part's id, replies allowed. Returns the msg_seq, 0 if none.
_PART_SEQ = """
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0
    and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then
  return 0
end
local seq = redis.call('GET', KEYS[2])
if seq then return tonumber(seq) end
seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], seq, 'EX', ARGV[1])
return seq
"""
# A part the platform accepted (2xx, a duplicate msg_seq, held for audit): counted once however
# often it is reported. KEYS: the msg_id's accepted parts. ARGV: the part's id, ttl.
_ACCEPTED = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class QQConfig(ChannelLanguage):
    app_id: str = Field(min_length=1, max_length=64, description="AppID (机器人ID)")
    app_secret: str = Field(
        min_length=1, max_length=256, repr=False, description="AppSecret (机器人密钥)"
    )
    receive: Literal["websocket", "webhook"] = Field(
        default="websocket",
        description="How events arrive: a WebSocket this gateway holds open, or the webhook "
        "(callback URL) set on q.qq.com",
    )
    sandbox: bool = Field(default=False, description="Use the sandbox API (sandbox bots/groups)")
    active_messages: bool = Field(
        default=False,
        description="After the reply window closes, send active messages (only bots the platform "
        "still allows; 4 per user or group a month)",
    )
    api_base: str = Field(
        default="",
        max_length=300,
        description="OpenAPI base; empty: https://api.sgroup.qq.com (sandbox: "
        "https://sandbox.api.sgroup.qq.com)",
    )
    token_url: str = Field(default=DEFAULT_TOKEN_URL, max_length=300)
    # The AppSecret goes to token_url, the token to api_base: https only, unless loopback.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"api_base", "token_url"})
    account_fields: ClassVar[tuple[str, ...]] = ("app_id",)
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"api_base", "token_url"})
    intents: int = Field(default=GROUP_AND_C2C_EVENT, ge=1, le=2**31 - 1)
    media_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=2.5,
        description="Budget to fetch a message's images and files (webhooks must be answered "
        "within 3 s)",
    )
    max_media_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    max_clock_skew_seconds: int = Field(default=300, ge=1, le=86_400)
    reconnect_max_seconds: float = Field(default=60.0, ge=1, le=3600)

    def base(self) -> str:
        if self.api_base:
            return self.api_base.rstrip("/")
        return SANDBOX_API_BASE if self.sandbox else DEFAULT_API_BASE


class QQAdapter(Adapter):
    channel_type = Channel.QQ
    Config = QQConfig
    secret_fields = frozenset({"app_secret"})
    supports_attachments = True
    reply_window_seconds = C2C_WINDOW_SECONDS

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config = cast(QQConfig, ctx.config)
        cfg = self.config
        self.tokens = AccessTokens(
            ctx.redis,
            ctx.http,
            cfg.token_url,
            cfg.app_id,
            cfg.app_secret,
            ctx.state_key("access_token"),
            ctx.keys.lease(f"{ctx.channel_id}:access_token"),
            self._token_failed,
        )
        self.api = QQApi(ctx.http, cfg.base(), self.tokens)
        self.public_key = sign.public_key(cfg.app_secret)
        self._part_seq = ctx.redis.register_script(_PART_SEQ)
        self._accepted = ctx.redis.register_script(_ACCEPTED)
        self._task: asyncio.Task[None] | None = None
        self._passed_over: set[str] = set()  # dispatch types already logged as not handled
        self.gateway = GatewayClient(
            api=self.api,
            tokens=self.tokens,
            redis=ctx.redis,
            state_key=ctx.state_key("ws_session"),
            intents=cfg.intents,
            dispatch=self._ws_dispatch,
            report=ctx.report_health,
            backoff_max=cfg.reconnect_max_seconds,
        )

    def _token_failed(self, exc: ApiError) -> None:
        log.warning("channel %s: QQ access token request failed: %s", self.ctx.channel_id, exc)
        self.ctx.report_health("token_error", 1)

    def _key(self, *parts: str) -> str:
        return self.ctx.state_key(":".join(parts))

    def routes(self) -> list[AdapterRoute]:
        return [AdapterRoute("POST", "/qq", self.handle_webhook)]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "webhook_url": f"{self.ctx.webhook_base}/qq",
            "receive": self.config.receive,
            "group_reply_window_seconds": GROUP_WINDOW_SECONDS,
            "replies_per_message": REPLIES_PER_MESSAGE,
        }

    async def verify(self) -> None:
        """A token from the credentials, then ``GET /gateway`` with it."""
        try:
            await self.tokens.refresh()
            await self.api.gateway_url()
        except ApiError as exc:
            raise VerifyError(describe(exc)) from None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.receive != "websocket":
            return
        lease = Lease(self.ctx.redis, self.ctx.keys.lease(f"qq:{self.ctx.channel_id}"))
        self._task = asyncio.create_task(run_while_leased(lease, self.gateway.run))

    async def stop(self) -> None:
        task, self._task = self._task, None
        # redis-py may swallow a cancellation mid-command: cancel_and_wait cancels until done.
        await cancel_and_wait(task)

    # --- inbound ---------------------------------------------------------------------------

    async def handle_webhook(self, request: web.Request) -> web.StreamResponse:
        body = await read_capped_body(request, MAX_WEBHOOK_BYTES)
        try:
            payload = loads(body)
        except InvalidJSON as exc:  # malformed, nested too deeply, or no valid Unicode
            return _text(400, f"the body is not JSON: {exc}")
        if not isinstance(payload, dict):
            return _text(400, "the body is not a JSON object")
        appid = request.headers.get("X-Bot-Appid")
        if appid is not None and appid != self.config.app_id:
            return _text(403, "X-Bot-Appid is not this channel's AppID")
        if payload.get("op") == 13:
            d = payload.get("d") if isinstance(payload.get("d"), dict) else {}
            assert isinstance(d, dict)
            try:
                token, event_ts = str(d.get("plain_token", "")), str(d.get("event_ts", ""))
                answer = sign.validation_answer(self.config.app_secret, token, event_ts)
            except ValueError as exc:
                return _text(400, str(exc))
            return web.json_response(answer)
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        signature = request.headers.get("X-Signature-Ed25519", "")
        if not timestamp or not signature:
            return _text(401, "missing X-Signature-Ed25519 or X-Signature-Timestamp")
        try:
            sign.verify(self.public_key, signature, timestamp, body)
        except sign.SignatureError as exc:
            return _text(403, str(exc))
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > (
            self.config.max_clock_skew_seconds
        ):
            return _text(403, "X-Signature-Timestamp is too far from now (replayed?)")
        if payload.get("op") == 0:
            try:
                await self.handle_dispatch(
                    str(payload.get("t") or ""), payload.get("d"), str(payload.get("id") or "")
                )
            except MalformedEvent as exc:
                return _text(400, str(exc))
        return web.json_response(ACK)

    async def handle_dispatch(self, event_type: str, data: Any, event_id: str) -> None:
        """One event, from the WebSocket or the webhook: filed, kept as state, or logged as
        passed over (so an admin sees events subscribed on the platform that nothing uses)."""
        result = normalize(
            event_type, data, self.ctx.channel_id, event_id, bot_id=self.gateway.bot_id
        )
        if isinstance(result, InboundMessage):
            await self._on_message(result)
        elif isinstance(result, QQEvent):
            await self._on_event(result)
        elif event_type not in MESSAGE_EVENTS:
            # INFO the first time per type in this process, DEBUG after: no flood.
            level = logging.DEBUG if event_type in self._passed_over else logging.INFO
            self._passed_over.add(event_type)
            log.log(level, "channel %s: QQ event %s not handled", self.ctx.channel_id, event_type)

    async def _ws_dispatch(self, event_type: str, data: Any, event_id: str) -> None:
        """An event from the WebSocket. A malformed one is logged and passed over: raising would
        drop the connection, and the resume would bring it back, again and again."""
        try:
            await self.handle_dispatch(event_type, data, event_id)
        except MalformedEvent as exc:
            log.warning("channel %s: %s skipped: %s", self.ctx.channel_id, event_type, exc)

    async def _on_message(self, msg: InboundMessage) -> None:
        redis = self.ctx.redis
        # The passive-reply window runs from the platform's time of the message (not from when
        # it reached us: a WebSocket resume may replay it minutes later).
        now = now_ms()
        msg.meta["received_at"] = msg.sent_at if 0 < msg.sent_at <= now else now
        if msg.meta["scene"] == C2C:
            await redis.srem(self._key("friend_removed"), msg.meta["openid"])
        elif msg.meta["scene"] == GROUP:
            group = msg.meta["group_openid"]
            await redis.srem(self._key("group_removed"), group)
            # The member threads of a group, closed together if the bot is removed from it.
            await redis.sadd(self._key("group_threads", group), msg.thread_key)
        await self._attach_media(msg)
        await self.ctx.deliver(msg)

    async def _on_event(self, event: QQEvent) -> None:
        redis = self.ctx.redis
        kind = event.kind
        if kind == "FRIEND_ADD":
            await redis.srem(self._key("friend_removed"), event.openid)
        elif kind == "FRIEND_DEL":
            await redis.sadd(self._key("friend_removed"), event.openid)
            if self.ctx.close_thread is not None:
                await self.ctx.close_thread(
                    user_thread_key(event.openid), "The customer removed the bot from QQ."
                )
        elif kind == "C2C_MSG_REJECT":
            await redis.sadd(self._key("active_off"), event.openid)
        elif kind == "C2C_MSG_RECEIVE":
            await redis.srem(self._key("active_off"), event.openid)
        elif kind == "GROUP_ADD_ROBOT":
            await redis.srem(self._key("group_removed"), event.group_openid)
        elif kind == "GROUP_DEL_ROBOT":
            await redis.sadd(self._key("group_removed"), event.group_openid)
            threads = await redis.smembers(self._key("group_threads", event.group_openid))
            if self.ctx.close_thread is not None:
                for raw in threads:
                    thread = raw.decode() if isinstance(raw, bytes) else str(raw)
                    await self.ctx.close_thread(thread, "The bot was removed from the QQ group.")
        elif kind == "GROUP_MSG_REJECT":
            await redis.sadd(self._key("active_off_groups"), event.group_openid)
        elif kind == "GROUP_MSG_RECEIVE":
            await redis.srem(self._key("active_off_groups"), event.group_openid)

    async def _attach_media(self, msg: InboundMessage) -> None:
        """Download each attachment and store it for agents (``fetch_attachments``)."""
        pending = [a for a in msg.attachments if a.meta.get("source_url") and not a.url]
        await fetch_attachments(
            pending,
            self._fetch_one,
            self.config.media_timeout_seconds,
            self.ctx.store_media is not None,
        )

    async def _fetch_one(self, a: Attachment) -> None:
        url = str(a.meta["source_url"])
        limit = self.config.max_media_bytes
        try:
            async with self.ctx.http.get(url) as resp:
                if resp.status != 200:
                    a.meta["error"] = f"QQ answered HTTP {resp.status} for the file"
                    return
                data = await _read_capped(resp, limit)
                ctype = a.content_type or resp.content_type or None
        except _TooLarge:
            a.meta["error"] = f"the file is larger than {limit} bytes"
            return
        except aiohttp.ClientError as exc:
            a.meta["error"] = f"could not download the file: {exc!r}"
            return
        if ctype == "application/octet-stream":
            ctype = mimetypes.guess_type(a.name or "")[0] or ctype
        ext = mimetypes.guess_extension(ctype or "") or ""
        name = a.name or f"qq-{a.kind}{ext}"
        assert self.ctx.store_media is not None
        a.url = await self.ctx.store_media(data, name, ctype)
        a.name, a.content_type, a.size = name, ctype, len(data)

    # --- outbound --------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        try:
            scene, target, _member = split_thread_key(message.thread_key)
        except ValueError as exc:
            raise PermanentSendError(str(exc)) from None
        redis = self.ctx.redis
        if scene == C2C and await redis.sismember(self._key("friend_removed"), target):
            raise PermanentSendError(FRIEND_REMOVED)
        if scene == GROUP and await redis.sismember(self._key("group_removed"), target):
            raise PermanentSendError(GROUP_REMOVED)
        text, images = self._outbound(message.text, message.attachments)
        texts = [text] if text else []
        parts = await self.ctx.parts(message.message_id, len(texts) + len(images))
        guild = scene in (GUILD, DMS)
        for n, content in enumerate(texts, start=1):
            if not parts.is_done(n):
                # message_format.md: a guild reads < > & in content as tags and escapes.
                body: dict[str, Any] = {"content": escape_guild(content) if guild else content}
                if not guild:
                    body["msg_type"] = MSG_TYPE_TEXT
                await parts.done(n, await self._post(scene, target, body, message, n))
        for n, image in enumerate(images, start=len(texts) + 1):
            if parts.is_done(n):
                continue  # not even uploaded again
            if guild:  # post_messages.md: "image: 图片url地址，平台会转存该图片"
                if not image.url:
                    raise PermanentSendError("the image has no URL to send")
                body = {"image": self.ctx.public_link(image.url)}
                await parts.done(n, await self._post(scene, target, body, message, n))
                continue
            file_info = await self._upload(scene, target, image)
            # send.html: with msg_type 7 "content 字段需要填入一个值，譬如一个空格".
            body = {"msg_type": MSG_TYPE_MEDIA, "content": " ", "media": {"file_info": file_info}}
            await parts.done(n, await self._post(scene, target, body, message, n))
        return parts.last_id()

    def _outbound(self, text: str, attachments: list[Attachment]) -> tuple[str, list[Attachment]]:
        """Images go as images; other attachments as links in the text."""
        images, links = [], []
        for a in attachments:
            if a.kind == "image" or (a.content_type or "").startswith("image/"):
                images.append(a)
            elif a.url:
                links.append(f"{a.name or a.kind}: {self.ctx.public_link(a.url)}")
        return "\n".join([text, *links]).strip(), images

    @staticmethod
    def _path(scene: str, target: str, what: str) -> str:
        if scene == GUILD:
            return f"/channels/{target}/{what}"
        if scene == DMS:
            return f"/dms/{target}/{what}"
        return f"/v2/users/{target}/{what}" if scene == C2C else f"/v2/groups/{target}/{what}"

    async def _upload(self, scene: str, target: str, image: Attachment) -> str:
        """Rich-media upload (rich-media.html): the platform fetches ``url`` (our public media
        URL); ``srv_send_msg`` false returns a ``file_info`` for the message."""
        if not image.url:
            raise PermanentSendError("the image has no URL to send")
        body = {
            "file_type": FILE_TYPE_IMAGE,
            "url": self.ctx.public_link(image.url),
            "srv_send_msg": False,
        }
        try:
            result = await self.api.call("POST", self._path(scene, target, "files"), body)
        except ApiError as exc:
            raise send_error(exc) from exc
        file_info = result.get("file_info")
        if not isinstance(file_info, str) or not file_info:
            raise TransientSendError("QQ's upload answer has no file_info")
        return file_info

    async def _passive_seq(
        self, message: OutboundMessage, scene: str, n: int
    ) -> tuple[str, int | None]:
        """(msg_id, msg_seq) of a passive reply for part ``n`` (msg_seq None in a guild, whose
        API has none), or ("", None) when the window is closed or the platform has accepted 5
        replies to the customer's message."""
        ctx = message.reply_context
        msg_id = str(ctx.get("msg_id") or "")
        if not msg_id or ctx.get("scene") != scene:
            return "", None
        window = _window(scene)
        received = ctx.get("received_at")
        age = time.time() - (received / 1000 if isinstance(received, int | float) else 0)
        if age > window - WINDOW_MARGIN_SECONDS:
            return "", None
        if scene in (GUILD, DMS):
            return msg_id, None  # msg_id alone: no msg_seq, no count per message
        seq = int(
            await self._part_seq(
                keys=[
                    self._key("msgseq", msg_id),
                    self._key("partseq", msg_id, message.message_id, str(n)),
                    self._key("accepted", msg_id),
                ],
                args=[_seq_ttl(scene), _part_id(message, n), REPLIES_PER_MESSAGE],
            )
        )
        return (msg_id, seq) if seq > 0 else ("", None)

    async def _forget_seq(self, msg_id: str, message: OutboundMessage, n: int) -> None:
        """The platform refused the part outright: its retry takes a new msg_seq."""
        await self.ctx.redis.delete(self._key("partseq", msg_id, message.message_id, str(n)))

    async def _count_accepted(
        self, scene: str, msg_id: str, message: OutboundMessage, n: int
    ) -> None:
        """One of the 5 replies to ``msg_id`` is used (idempotent per part)."""
        await self._accepted(
            keys=[self._key("accepted", msg_id)], args=[_part_id(message, n), _seq_ttl(scene)]
        )

    async def _post(
        self, scene: str, target: str, body: dict[str, Any], message: OutboundMessage, n: int
    ) -> str:
        path = self._path(scene, target, "messages")
        msg_id, seq = await self._passive_seq(message, scene, n)
        if not msg_id:
            return await self._post_active(scene, target, path, body)
        passive = {**body, "msg_id": msg_id}
        if seq is not None:
            passive["msg_seq"] = seq
        try:
            result = await self.api.call("POST", path, passive)
        except ApiError as exc:
            if exc.code == DUPLICATE_SEQ or exc.code in HELD_FOR_AUDIT:
                # Accepted: by an earlier attempt of this part, or held for review.
                if seq is not None:
                    await self._count_accepted(scene, msg_id, message, n)
                return ""
            if exc.code > 0 and exc.status < 500:
                await self._forget_seq(msg_id, message, n)
            if exc.code in PASSIVE_EXPIRED and self.config.active_messages:
                return await self._post_active(scene, target, path, body)
            raise send_error(exc) from exc
        if seq is not None:
            await self._count_accepted(scene, msg_id, message, n)
        return str(result.get("id") or "")

    async def _post_active(self, scene: str, target: str, path: str, body: dict[str, Any]) -> str:
        if not self.config.active_messages:
            raise PermanentSendError(WINDOW_CLOSED)
        off = {C2C: "active_off", GROUP: "active_off_groups"}.get(scene)
        if off and await self.ctx.redis.sismember(self._key(off), target):
            raise PermanentSendError(ACTIVE_OFF)
        try:
            result = await self.api.call("POST", path, body)
        except ApiError as exc:
            if exc.code in HELD_FOR_AUDIT:
                return ""
            raise send_error(exc) from exc
        return str(result.get("id") or "")


def _window(scene: str) -> int:
    return C2C_WINDOW_SECONDS if scene == C2C else GROUP_WINDOW_SECONDS


def _seq_ttl(scene: str) -> int:
    """How long a msg_id's msg_seq counter and accepted parts are kept: past its window."""
    return _window(scene) + 600


def _part_id(message: OutboundMessage, n: int) -> str:
    return f"{message.message_id}:{n}"


class _TooLarge(Exception):
    pass


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    if resp.content_length and resp.content_length > limit:
        raise _TooLarge()
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason, content_type="text/plain")
