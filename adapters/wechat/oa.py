"""WeChat Official Account (公众号): webhook in, customer-service message API out.

GET  /channels/{id}/wechat  URL verification (signature over token, timestamp, nonce; echostr).
POST /channels/{id}/wechat  messages and events, plain / compatible / safe (AES) mode.

Every POST is answered "success" as soon as the message is in the inbox; the reply leaves
later through /cgi-bin/message/custom/send, within WeChat's 48-hour window.

A follower's unionid (when the account is bound to a WeChat Open Platform account) is asked of
/cgi-bin/user/info once and kept in Redis: the message carries it as a verified claim that links
the customer to their other WeChat identities (WeCom customer service; gateway/contacts/).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Literal, cast

from aiohttp import web
from pydantic import Field, model_validator

from adapters.base import (
    AdapterContext,
    AdapterRoute,
    PermanentSendError,
    SendParts,
    VerifyError,
)
from adapters.language import ChannelLanguage
from adapters.wechat import crypto
from adapters.wechat.api import AccessTokens, ApiError, WeChatApi, stable_token_fetcher
from adapters.wechat.errors import PERMANENT, UNSUBSCRIBED, describe, send_error
from adapters.wechat.parse import OaEvent, normalize_oa, parse_oa_xml
from adapters.wechat.safexml import MalformedXML, parse_xml
from adapters.wechat.shared import MAX_TEXT_BYTES, WeChatAdapterBase, split_utf8
from adapters.wechat.webhook import bad_request, forbidden, read_body, success
from gateway.models import Channel, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)

DEFAULT_GREETING = "感谢关注！有任何问题请直接留言，客服会尽快回复您。"
EVENT_MEMORY_SECONDS = 24 * 3600  # longer than WeChat's retry span (three tries within ~15 s)
# user/info is waited for this long beside the media (WeChat wants its answer within 5 s); a
# slower answer is kept for the customer's next message.
UNIONID_WAIT_SECONDS = 1.5
UNIONID_SECONDS = 7 * 24 * 3600  # asked again after a week
NO_UNIONID_SECONDS = 3600  # none (not bound, or a refusal that will not change): after an hour
# The lookup failed (WeChat busy or rate-limiting, unreachable): asked again after 5 minutes, so
# a short outage does not leave every customer who wrote meanwhile unlinked for an hour.
FAILED_UNIONID_SECONDS = 300


class OaConfig(ChannelLanguage):
    app_id: str = Field(min_length=1, description="AppID (开发者ID)")
    app_secret: str = Field(min_length=1, repr=False, description="AppSecret (开发者密码)")
    token: str = Field(min_length=1, repr=False, description="Token of the server configuration")
    encoding_aes_key: str | None = Field(
        default=None, repr=False, description="EncodingAESKey (43 characters); compatible/safe"
    )
    mode: Literal["plain", "compatible", "safe"] = Field(
        default="plain", description="Message encryption mode (明文 / 兼容 / 安全模式)"
    )
    greeting: str = Field(
        default=DEFAULT_GREETING, description="Sent when someone follows; empty: no greeting"
    )
    api_base: str = "https://api.weixin.qq.com"
    # The AppSecret goes to api_base (https only, unless loopback); a new one needs it again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"api_base"})
    account_fields: ClassVar[tuple[str, ...]] = ("app_id",)
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"api_base"})
    max_clock_skew_seconds: int = Field(default=300, ge=1, le=86_400)
    # WeChat gives up on an answer after 5 s: the media budget must leave time to answer.
    media_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=4.5,
        description="Budget to fetch media before answering WeChat (below its 5 s limit)",
    )

    @model_validator(mode="after")
    def _key_for_encryption(self) -> OaConfig:
        if self.mode != "plain":
            if not self.encoding_aes_key:
                raise ValueError(f"mode {self.mode!r} needs encoding_aes_key")
            crypto.aes_key(self.encoding_aes_key)  # raises ValueError with a reason
        return self


class OfficialAccountAdapter(WeChatAdapterBase):
    channel_type = Channel.WECHAT_OA
    Config = OaConfig
    secret_fields = frozenset({"app_secret", "token", "encoding_aes_key"})
    max_text_length = MAX_TEXT_BYTES  # custom send: 2048 UTF-8 bytes per text message
    supports_attachments = True
    reply_window_seconds = 48 * 3600

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config = cast(OaConfig, ctx.config)
        cfg = self.config
        self.tokens = AccessTokens(
            ctx.redis,
            ctx.state_key("access_token"),
            ctx.keys.lease(f"{ctx.channel_id}:access_token"),
            stable_token_fetcher(ctx.http, cfg.api_base.rstrip("/"), cfg.app_id, cfg.app_secret),
            self.token_failed,
        )
        self.api = WeChatApi(ctx.http, cfg.api_base, self.tokens)
        self.unsubscribed_key = ctx.state_key("unsubscribed")

    def routes(self) -> list[AdapterRoute]:
        return [
            AdapterRoute("GET", "/wechat", self.handle_verify),
            AdapterRoute("POST", "/wechat", self.handle_post),
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "webhook_url": f"{self.ctx.webhook_base}/wechat",
            "mode": self.config.mode,
        }

    async def verify(self) -> None:
        try:
            await self.tokens.fetch(False)
        except ApiError as exc:
            raise VerifyError(describe(exc)) from None

    # --- inbound -------------------------------------------------------------------------

    def _check_fresh(self, request: web.Request) -> None:
        crypto.check_timestamp(
            request.query.get("timestamp", ""), self.config.max_clock_skew_seconds
        )

    async def handle_verify(self, request: web.Request) -> web.StreamResponse:
        """WeChat's URL check when the admin saves the server configuration."""
        q = request.query
        try:
            self._check_fresh(request)
            crypto.check_signature(
                q.get("signature", ""),
                self.config.token,
                q.get("timestamp", ""),
                q.get("nonce", ""),
            )
        except crypto.AuthError as exc:
            return forbidden(str(exc))
        return web.Response(text=q.get("echostr", ""), content_type="text/plain")

    async def handle_post(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        try:
            self._check_fresh(request)
            xml = self._authenticate(request, body)
            msg = parse_oa_xml(xml)
            result = normalize_oa(msg, self.ctx.channel_id)
        except crypto.AuthError as exc:
            return forbidden(str(exc))
        except MalformedXML as exc:
            return bad_request(str(exc))
        if isinstance(result, InboundMessage):
            await self.ctx.redis.srem(self.unsubscribed_key, result.contact.external_id)
            await asyncio.gather(
                self._attach_media(result, self.config.media_timeout_seconds),
                self._add_unionid(result),
            )
            await self.ctx.deliver(result)
        elif isinstance(result, OaEvent):
            await self._on_event(result)
        return success()

    async def _add_unionid(self, msg: InboundMessage) -> None:
        """The follower's unionid into the message's meta, from Redis or user/info (waited for
        at most UNIONID_WAIT_SECONDS; the lookup goes on and keeps its answer)."""
        key = self.ctx.state_key(f"unionid:{msg.contact.external_id}")
        known = await self.ctx.redis.get(key)
        if known is None:
            lookup = self._spawn(self._look_up_unionid(msg.contact.external_id, key), "user/info")
            try:  # shielded: a lookup that outlasts the wait still keeps its answer
                known = await asyncio.wait_for(asyncio.shield(lookup), UNIONID_WAIT_SECONDS)
            except TimeoutError:
                return
        unionid = known.decode() if isinstance(known, bytes) else known
        if unionid:
            msg.meta["unionid"] = unionid

    async def _look_up_unionid(self, openid: str, key: str) -> str:
        """The follower's unionid from user/info ('' when WeChat has none), kept in Redis."""
        unionid, failed = "", False
        try:
            info = await self.api.call(
                "GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"}
            )
            found = info.get("unionid")
            unionid = found[:128] if isinstance(found, str) else ""
        except ApiError as exc:
            log.warning("channel %s: user/info failed: %s", self.ctx.channel_id, describe(exc))
            failed = exc.errcode not in PERMANENT  # busy, rate-limited, unreachable
        ttl = (UNIONID_SECONDS if unionid
               else FAILED_UNIONID_SECONDS if failed else NO_UNIONID_SECONDS)  # fmt: skip
        await self.ctx.redis.set(key, unionid, ex=ttl)
        return unionid

    def _authenticate(self, request: web.Request, body: bytes) -> bytes | str:
        """Check the signature for the configured mode; the message XML, decrypted if needed."""
        q, cfg = request.query, self.config
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if cfg.mode == "plain" or (cfg.mode == "compatible" and not encrypted):
            # Plain mode signs only (token, timestamp, nonce): prefer safe mode in production.
            crypto.check_signature(q.get("signature", ""), cfg.token, timestamp, nonce)
            return body
        if not encrypted:
            raise crypto.AuthError("safe mode accepts only encrypted messages (encrypt_type=aes)")
        envelope = parse_xml(body)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise MalformedXML("encrypted message without an Encrypt field")
        crypto.check_signature(q.get("msg_signature", ""), cfg.token, timestamp, nonce, encrypt)
        assert cfg.encoding_aes_key is not None  # the config validator requires it
        return crypto.decrypt(cfg.encoding_aes_key, cfg.app_id, encrypt)

    async def _on_event(self, event: OaEvent) -> None:
        redis = self.ctx.redis
        if event.kind == "unsubscribe":
            await redis.sadd(self.unsubscribed_key, event.openid)
            if self.ctx.close_thread is not None:
                await self.ctx.close_thread(event.openid, "The customer unfollowed the account.")
            return
        # subscribe: WeChat may deliver the event up to three times; greet once.
        await redis.srem(self.unsubscribed_key, event.openid)
        first = await redis.set(
            self.ctx.state_key(f"event:{event.external_id}"), 1, nx=True, ex=EVENT_MEMORY_SECONDS
        )
        if first and self.config.greeting.strip():
            self._spawn(self._greet(event.openid), "follow greeting")

    async def _greet(self, openid: str) -> None:
        for part in split_utf8(self.config.greeting):
            await self._custom_send(
                {"touser": openid, "msgtype": "text", "text": {"content": part}}
            )

    # --- outbound ------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        openid = message.thread_key or message.contact_external_id
        if await self.ctx.redis.sismember(self.unsubscribed_key, openid):
            raise PermanentSendError(UNSUBSCRIBED)

        async def send_one(body: dict[str, Any], _parts: SendParts, _n: int) -> str:
            await self._custom_send({"touser": openid, **body})
            return ""  # the custom-send API returns no message id

        return await self._send_parts(message, send_one)

    async def _custom_send(self, payload: dict[str, Any]) -> None:
        try:
            await self.api.call("POST", "/cgi-bin/message/custom/send", json_body=payload)
        except ApiError as exc:
            raise send_error(exc) from exc
