"""WeCom customer service (微信客服): encrypted callback, then pull with kf/sync_msg.

The callback (event ``kf_msg_or_event``) only says "something new for kf account X" and carries
a short-lived token. The messages are pulled with ``/cgi-bin/kf/sync_msg`` from a cursor kept in
Redis per kf account, advanced only after a page's messages are in the inbox, so a crash
re-reads a page (the inbox dedupes by msgid) and never skips one. The callback is answered only
once the account is marked pending (WeCom will not call back for those messages again), and the
mark goes only with a complete pull that began after it: a pull that fails, is cancelled or dies
with its process leaves it for the retry loop of any process. One process pulls an account at a
time (a lease); a callback arriving meanwhile changes the mark, so the puller pulls once more.
Each customer's WeChat nickname (the contact's name) and unionid (a verified claim that links
them to the company's Official Account: gateway/contacts/claims.py) come from
kf/customer/batchget, asked once per page for those not known yet and kept in Redis.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any, ClassVar, cast

from aiohttp import web
from pydantic import Field, field_validator

from adapters.base import AdapterContext, AdapterRoute, PermanentSendError, SendParts, VerifyError
from adapters.language import ChannelLanguage
from adapters.wechat import crypto
from adapters.wechat.api import AccessTokens, ApiError, WeChatApi, corp_token_fetcher
from adapters.wechat.errors import PERMANENT, SYNC_PERMANENT, describe, send_error
from adapters.wechat.parse import KfEvent, normalize_kf, split_kf_thread_key
from adapters.wechat.safexml import MalformedXML, parse_xml
from adapters.wechat.shared import MAX_TEXT_BYTES, WeChatAdapterBase, split_utf8
from adapters.wechat.webhook import bad_request, forbidden, read_body, success
from gateway.lease import Lease
from gateway.models import Channel, InboundMessage, OutboundMessage
from gateway.scripts import load_script

log = logging.getLogger(__name__)

DEFAULT_GREETING = "您好，请问有什么可以帮您？"
CALLBACK_TOKEN_SECONDS = 600  # "valid for 10 minutes"
SYNC_LEASE_MS = 60_000
INVALID_MSG_TOKEN = 95007
EVENT_MEMORY_SECONDS = 3 * 24 * 3600  # sync_msg returns at most the last 3 days
SEND_FAIL = "WeCom accepted the reply but could not deliver it (msg_send_fail, fail_type {})"
CUSTOMER_ORIGIN = 3  # sync_msg "origin": a message the customer wrote
CUSTOMERS_PATH = "/cgi-bin/kf/customer/batchget"
CUSTOMERS_PER_CALL = 100  # it takes 1 to 100 ids
CUSTOMER_SECONDS = 7 * 24 * 3600  # a nickname and unionid are asked again after a week
UNKNOWN_CUSTOMER_SECONDS = 3600  # an id WeCom did not answer for is asked again after an hour
MAX_RETRY_SECONDS = 600  # a failing pull waits twice as long each time, up to 10 minutes
RETRY_MEMORY_SECONDS = 24 * 3600
SEND_PATH = "/cgi-bin/kf/send_msg"
REPEAT_REFUSED = (
    "WeCom refused this part when it was sent again ({error}). The answer to an earlier attempt "
    "was lost (a crash or a timeout), and WeCom refuses a repeated msgid: it may have reached "
    "the customer already. Retry to send it once more."
)


class KfConfig(ChannelLanguage):
    corp_id: str = Field(min_length=1, description="CorpID (企业ID)")
    secret: str = Field(min_length=1, repr=False, description="The 微信客服 Secret")
    token: str = Field(min_length=1, repr=False, description="Token of the callback settings")
    encoding_aes_key: str = Field(repr=False, description="EncodingAESKey of the callback")
    greeting: str = Field(
        default=DEFAULT_GREETING,
        description="Welcome message when a customer enters a session; empty: none",
    )
    api_base: str = "https://qyapi.weixin.qq.com"
    # The Secret goes to api_base (https only, unless loopback); a new one needs it again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"api_base"})
    account_fields: ClassVar[tuple[str, ...]] = ("corp_id",)
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"api_base"})
    max_clock_skew_seconds: int = Field(default=300, ge=1, le=86_400)
    media_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    retry_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How soon a failed pull (WeChat or Redis down) is first retried; the "
        "pause doubles at each failure, up to 10 minutes",
    )

    @field_validator("encoding_aes_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        crypto.aes_key(value)
        return value


class WeComKfAdapter(WeChatAdapterBase):
    channel_type = Channel.WECOM_KF
    Config = KfConfig
    secret_fields = frozenset({"secret", "token", "encoding_aes_key"})
    max_text_length = MAX_TEXT_BYTES  # kf/send_msg: 2048 UTF-8 bytes per text message
    supports_attachments = True
    reply_window_seconds = 48 * 3600

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config = cast(KfConfig, ctx.config)
        cfg = self.config
        self.tokens = AccessTokens(
            ctx.redis,
            ctx.state_key("access_token"),
            ctx.keys.lease(f"{ctx.channel_id}:access_token"),
            corp_token_fetcher(ctx.http, cfg.api_base.rstrip("/"), cfg.corp_id, cfg.secret),
            self.token_failed,
        )
        self.api = WeChatApi(ctx.http, cfg.api_base, self.tokens)
        self._callback_script = load_script(ctx.redis, __file__, "kf_callback")
        self._pending_done = load_script(ctx.redis, __file__, "kf_pending_done")

    def routes(self) -> list[AdapterRoute]:
        return [
            AdapterRoute("GET", "/wecom-kf", self.handle_verify),
            AdapterRoute("POST", "/wecom-kf", self.handle_post),
        ]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "webhook_url": f"{self.ctx.webhook_base}/wecom-kf"}

    async def verify(self) -> None:
        try:
            await self.tokens.fetch(False)
        except ApiError as exc:
            raise VerifyError(describe(exc)) from None

    async def start(self) -> None:
        await super().start()
        self._spawn(self._retry_pending(), "kf pending pulls")

    async def _retry_pending(self) -> None:
        """Pull what is still marked pending: left by a stopped process (its callback was
        already answered) or by a pull that failed, once its pause is over. At start, then
        every retry_seconds; a failed pass (Redis down) does not end the loop."""
        while not self._stopping.is_set():
            try:
                await self._retry_due()
            except Exception:
                log.exception("channel %s: kf retry pass failed", self.ctx.channel_id)
            if not await self._pause(self.config.retry_seconds):
                return

    async def _retry_due(self) -> None:
        redis = self.ctx.redis
        for open_kfid in await redis.smembers(self._key("accounts")):
            kfid = open_kfid.decode() if isinstance(open_kfid, bytes) else open_kfid
            if await redis.exists(self._key("pending", kfid)) and await self._retry_is_due(kfid):
                await self.sync(kfid)

    async def _retry_is_due(self, open_kfid: str) -> bool:
        """No failure recorded, or its pause ends before the next pass would come (half a
        pass early rather than a whole pass late)."""
        at = await self.ctx.redis.hget(self._key("retry", open_kfid), "at")
        return at is None or float(at) <= time.time() + self.config.retry_seconds / 2

    def _key(self, *parts: str) -> str:
        return self.ctx.state_key(":".join(("kf", *parts)))

    # --- inbound -------------------------------------------------------------------------

    def _decrypt(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        cfg = self.config
        crypto.check_timestamp(timestamp, cfg.max_clock_skew_seconds)
        crypto.check_signature(signature, cfg.token, timestamp, nonce, encrypted)
        return crypto.decrypt(cfg.encoding_aes_key, cfg.corp_id, encrypted, corp=True)

    async def handle_verify(self, request: web.Request) -> web.StreamResponse:
        """WeCom's URL check: echostr is encrypted; the answer is its plaintext."""
        q = request.query
        try:
            plain = self._decrypt(
                q.get("msg_signature", ""),
                q.get("timestamp", ""),
                q.get("nonce", ""),
                q.get("echostr", ""),
            )
        except crypto.AuthError as exc:
            return forbidden(str(exc))
        return web.Response(text=plain, content_type="text/plain")

    async def handle_post(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        q = request.query
        try:
            crypto.check_timestamp(q.get("timestamp", ""), self.config.max_clock_skew_seconds)
            envelope = parse_xml(body)
            encrypted = envelope.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                raise MalformedXML("callback without an Encrypt field")
            inner = parse_xml(
                self._decrypt(
                    q.get("msg_signature", ""),
                    q.get("timestamp", ""),
                    q.get("nonce", ""),
                    encrypted,
                )
            )
        except crypto.AuthError as exc:
            return forbidden(str(exc))
        except MalformedXML as exc:
            return bad_request(str(exc))
        event = str(inner.get("Event") or "").lower()
        open_kfid = inner.get("OpenKfId")
        if event == "kf_msg_or_event" and isinstance(open_kfid, str) and open_kfid:
            token = inner.get("Token")
            await self._callback_script(
                keys=[
                    self._key("token", open_kfid),
                    self._key("accounts"),
                    self._key("pending", open_kfid),
                ],
                args=[open_kfid, token if isinstance(token, str) else "", CALLBACK_TOKEN_SECONDS],
            )
            self._spawn(self.sync(open_kfid), f"kf sync {open_kfid}")
        return success()

    async def sync(self, open_kfid: str) -> None:
        """Pull everything new for one kf account, unless another process is doing it. Only a
        complete pull removes the pending mark, and only the value it began with."""
        redis = self.ctx.redis
        pending = self._key("pending", open_kfid)
        lease = Lease(
            redis,
            self.ctx.keys.lease(f"{self.ctx.channel_id}:kf_sync:{open_kfid}"),
            ttl_ms=SYNC_LEASE_MS,
        )
        while True:
            if not await lease.acquire():
                return  # the holder will see our pending mark
            try:
                while (mark := await redis.get(pending)) is not None:
                    try:
                        pulled = await self._pull(open_kfid, lease)
                    except ApiError as exc:
                        if exc.errcode not in SYNC_PERMANENT:
                            await self._back_off(open_kfid, str(exc))
                            return
                        # The account rests, unless a callback during the pull changed the
                        # mark: then the loop tries once more for it.
                        await self._stop_account(open_kfid, exc)
                    except Exception as exc:
                        log.exception(
                            "channel %s: kf pull for %s failed", self.ctx.channel_id, open_kfid
                        )
                        await self._back_off(open_kfid, repr(exc))
                        return
                    else:
                        if not pulled:  # lost the lease: whoever holds it now sees the mark
                            return
                    # Its pages are in the inbox and the cursor saved: the mark may go.
                    await self._pending_done(keys=[pending], args=[mark])
            finally:
                await lease.release()
            # A callback may have marked pending after our last look, and failed to take the
            # lease we still held: look once more.
            if not await redis.exists(pending):
                return

    async def _pull(self, open_kfid: str, lease: Lease) -> bool:
        """Page through sync_msg from the stored cursor. False if we must stop."""
        redis = self.ctx.redis
        cursor_key = self._key("cursor", open_kfid)
        raw_cursor = await redis.get(cursor_key)
        cursor = raw_cursor.decode() if isinstance(raw_cursor, bytes) else (raw_cursor or "")
        token_key = self._key("token", open_kfid)
        raw_token = await redis.get(token_key)
        token = raw_token.decode() if isinstance(raw_token, bytes) else (raw_token or "")
        newest_ms = 0  # WeCom's send_time of the newest message this pull delivered
        while True:
            body = {
                "cursor": cursor,
                "token": token,
                "limit": 1000,
                "voice_format": 0,
                "open_kfid": open_kfid,
            }
            try:
                page = await self.api.call("POST", "/cgi-bin/kf/sync_msg", json_body=body)
            except ApiError as exc:
                if exc.errcode == INVALID_MSG_TOKEN and token:
                    # The callback token expired (10 min): pull without it (rate-limited).
                    await redis.delete(token_key)
                    token = ""
                    continue
                raise  # sync() decides: stop the account, or retry later
            items = [item for item in page.get("msg_list") or [] if isinstance(item, dict)]
            customers = await self._customers(items)
            for item in items:
                newest_ms = max(newest_ms, await self._handle_item(item, customers))
            next_cursor = page.get("next_cursor")
            if isinstance(next_cursor, str) and next_cursor:
                cursor = next_cursor
                await redis.set(cursor_key, cursor)  # only now: the page is in the inbox
            if not await lease.renew():
                log.warning(
                    "channel %s: lost the kf sync lease for %s", self.ctx.channel_id, open_kfid
                )
                return False
            if not page.get("has_more"):
                await self._pulled(open_kfid, newest_ms)
                return True

    async def _pulled(self, open_kfid: str, newest_ms: int) -> None:
        """A complete pull: the account is healthy again (no pause, not stopped), and the
        channel's health is reported."""
        now = time.time()
        async with self.ctx.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self._key("retry", open_kfid))
            pipe.hdel(self._key("stopped"), open_kfid)
            pipe.hset(self._key("pulled"), open_kfid, now)
            pipe.sadd(self._key("accounts"), open_kfid)
            pipe.hvals(self._key("stopped"))
            stopped = (await pipe.execute())[-1]
        self._report_pull(now, newest_ms, [float(t) for t in stopped])

    def _report_pull(self, now: float, newest_ms: int, stopped: list[float]) -> None:
        """A complete pull: its time, and how old the newest message it delivered was by
        WeCom's send_time (0 when it delivered nothing new). An account stopped for a
        permanent error holds the success time at its own last one, so the stale-poller alert
        sees it even while the channel's other accounts are pulled."""
        self.ctx.report_health("poll_ok", min([now, *stopped]))
        self.ctx.report_health("poll_lag", max(0.0, now - newest_ms / 1000) if newest_ms else 0.0)

    async def _back_off(self, open_kfid: str, reason: str) -> None:
        """A pull that may work later (WeCom busy or rate-limiting, network, Redis): the
        account stays pending (a failed pull keeps the mark) and listed, for the retry loop
        after a pause that doubles at each failure (reset by a complete pull). Nothing is
        lost: the cursor stays."""
        redis = self.ctx.redis
        key = self._key("retry", open_kfid)
        last = await redis.hget(key, "delay")
        first, cap = self.config.retry_seconds, max(MAX_RETRY_SECONDS, self.config.retry_seconds)
        delay = min(float(last) * 2, cap) if last is not None else first
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"delay": delay, "at": time.time() + delay})
            pipe.expire(key, RETRY_MEMORY_SECONDS)
            pipe.sadd(self._key("accounts"), open_kfid)  # e.g. a stopped account called back
            await pipe.execute()
        log.warning(
            "channel %s: kf/sync_msg for %s failed (%s); next try in %.0f s",
            self.ctx.channel_id, open_kfid, reason, delay,
        )  # fmt: skip

    async def _stop_account(self, open_kfid: str, exc: ApiError) -> None:
        """WeCom refuses to read this kf account for good (95000 invalid open_kfid, ...): no
        more retries until WeCom calls back for it (handle_post marks it again)."""
        redis = self.ctx.redis
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._key("pulled"), open_kfid)
            pipe.srem(self._key("accounts"), open_kfid)
            pipe.delete(self._key("retry", open_kfid))
            last_ok = (await pipe.execute())[0]
        # Its last complete pull (0: never) is what the channel's poll_ok shows from now on.
        since = float(last_ok) if last_ok is not None else 0.0
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key("stopped"), open_kfid, since)
            # Forgotten after 3 days without a new stop: sync_msg keeps no older messages.
            pipe.expire(self._key("stopped"), EVENT_MEMORY_SECONDS)
            await pipe.execute()
        self.ctx.report_health("poll_ok", since)
        log.warning(
            "channel %s: kf account %s is no longer pulled: WeCom refused kf/sync_msg with %d "
            "(%s: %s); pulling resumes at its next callback",
            self.ctx.channel_id, open_kfid, exc.errcode, SYNC_PERMANENT[exc.errcode], exc.errmsg,
        )  # fmt: skip

    async def _customers(self, items: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """The nickname and unionid of the customers who wrote these entries, from Redis or
        kf/customer/batchget; a failed lookup leaves them out (the messages are filed
        without, and the next page asks again)."""
        ids = list(
            dict.fromkeys(
                item["external_userid"]
                for item in items
                if item.get("origin") == CUSTOMER_ORIGIN
                and isinstance(item.get("external_userid"), str)
            )
        )
        if not ids:
            return {}
        redis = self.ctx.redis
        cached = await redis.mget([self._key("customer", i) for i in ids])
        found = {i: json.loads(raw) for i, raw in zip(ids, cached, strict=True) if raw is not None}
        missing = [i for i in ids if i not in found]
        for start in range(0, len(missing), CUSTOMERS_PER_CALL):
            chunk = missing[start : start + CUSTOMERS_PER_CALL]
            body = {"external_userid_list": chunk, "need_enter_session_context": 0}
            try:
                answer = await self.api.call("POST", CUSTOMERS_PATH, json_body=body)
            except ApiError as exc:
                log.warning("channel %s: kf/customer/batchget failed: %s", self.ctx.channel_id, exc)
                break
            known = {
                c["external_userid"]: {
                    field: c[field][:200]
                    for field in ("nickname", "unionid")
                    if isinstance(c.get(field), str) and c[field]
                }
                for c in answer.get("customer_list") or []
                if isinstance(c, dict) and isinstance(c.get("external_userid"), str)
            }
            async with redis.pipeline(transaction=False) as pipe:
                for i in chunk:
                    found[i] = known.get(i, {})
                    ttl = CUSTOMER_SECONDS if i in known else UNKNOWN_CUSTOMER_SECONDS
                    pipe.set(self._key("customer", i), json.dumps(found[i]), ex=ttl)
                await pipe.execute()
        return found

    async def _handle_item(self, item: dict[str, Any], customers: dict[str, dict[str, str]]) -> int:
        """Deliver one sync_msg entry; returns its send_time (ms) when it was new, else 0."""
        result = normalize_kf(item, self.ctx.channel_id)
        if isinstance(result, InboundMessage):
            profile = customers.get(result.contact.external_id, {})
            result.contact.name = result.contact.name or profile.get("nickname")
            if "unionid" in profile:
                result.meta["unionid"] = profile["unionid"]
            await self._attach_media(result, self.config.media_timeout_seconds)
            if not (await self.ctx.deliver(result)).duplicate:
                return result.sent_at
        elif isinstance(result, KfEvent):
            await self._on_event(result)
        return 0

    async def _on_event(self, event: KfEvent) -> None:
        if event.kind == "send_fail":
            await self._on_send_fail(event)
            return
        if event.kind != "enter_session" or not event.welcome_code:
            return
        greeting = self.config.greeting.strip()
        first = await self.ctx.redis.set(
            self._key("event", event.external_id), 1, nx=True, ex=EVENT_MEMORY_SECONDS
        )
        if not first or not greeting:
            return
        # A welcome code allows one message within 20 seconds of entering the session.
        body = {
            "code": event.welcome_code,
            "msgtype": "text",
            "text": {"content": split_utf8(greeting)[0]},
        }
        try:
            await self.api.call("POST", "/cgi-bin/kf/send_msg_on_event", json_body=body)
        except ApiError as exc:
            log.warning("channel %s: kf welcome message failed: %s", self.ctx.channel_id, exc)

    async def _on_send_fail(self, event: KfEvent) -> None:
        """WeCom accepted a part of a reply, then could not deliver it: the part is no longer
        recorded as accepted, so the agent's retry sends it again (with a new msgid: WeCom
        refuses a repeated one), and the reply is marked failed for the agent."""
        redis = self.ctx.redis
        sent_key = self._key("sent", event.fail_msgid)
        # "<message id>|<part>"; a record written before parts were named has no "|<part>".
        message_id, _, part = _text(await redis.get(sent_key) or "").partition("|")
        log.warning(
            "channel %s: WeCom could not deliver %s part %s (fail_type %s)",
            self.ctx.channel_id, message_id or event.fail_msgid, part or "?", event.fail_type,
        )  # fmt: skip
        if not message_id or self.ctx.mark_failed is None:
            return
        if part.isdigit():
            conversation_id, _, seq = message_id.rpartition(":")
            parts_key = self.ctx.keys.send_parts(conversation_id, seq)
            await redis.hdel(parts_key, part, _msgid_field(int(part)))
        await self.ctx.mark_failed(message_id, SEND_FAIL.format(event.fail_type or "?"))
        await redis.delete(sent_key)  # done: the page read again does not fail it again

    # --- outbound ------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        try:
            open_kfid, user = split_kf_thread_key(message.thread_key)
        except ValueError as exc:
            raise PermanentSendError(str(exc)) from None
        open_kfid = str(message.reply_context.get("open_kfid") or open_kfid)

        async def send_one(body: dict[str, Any], parts: SendParts, n: int) -> str:
            payload = {"touser": user, "open_kfid": open_kfid, **body}
            return await self._send_msg(message.message_id, parts, n, payload)

        return await self._send_parts(message, send_one)

    async def _send_msg(
        self, message_id: str, parts: SendParts, n: int, payload: dict[str, Any]
    ) -> str:
        """Send part n with its own msgid, kept across attempts: after an attempt whose answer
        was lost (a crash, a timeout) WeCom refuses the repeat, since "the msgid must be unique
        in the kf account, or the API returns an error"; the customer never gets it twice."""
        msgid, repeated = await self._msgid(parts.key, message_id, n)
        try:
            result = await self.api.call("POST", SEND_PATH, json_body={**payload, "msgid": msgid})
        except ApiError as exc:
            error = send_error(exc)
            if error.permanent:
                # Only the agent retries it now: with a new msgid, in case WeCom keeps refused
                # ones too (its docs do not say).
                await self.ctx.redis.hdel(parts.key, _msgid_field(n))
                if repeated and exc.errcode not in PERMANENT:
                    # Most likely the refusal of a repeated msgid, for which WeCom documents
                    # no code: the agent decides.
                    error = PermanentSendError(REPEAT_REFUSED.format(error=describe(exc)))
            raise error from exc
        return str(result.get("msgid") or msgid)

    async def _msgid(self, parts_key: str, message_id: str, n: int) -> tuple[str, bool]:
        """Part n's msgid, chosen at its first attempt and kept in the reply's part record
        (dropped with it once the reply is sent); True when an earlier attempt used it."""
        redis, field = self.ctx.redis, _msgid_field(n)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hsetnx(parts_key, field, secrets.token_urlsafe(16))  # 22 of [0-9a-zA-Z_-]
            pipe.hget(parts_key, field)
            created, msgid = await pipe.execute()
        msgid = _text(msgid)
        # For msg_send_fail, which names the msgid. Written before the send: a part WeCom
        # accepts is known even if we die before its answer, and if this write fails, nothing
        # was sent.
        record = f"{message_id}|{n}"
        await redis.set(self._key("sent", msgid), record, ex=EVENT_MEMORY_SECONDS)
        return msgid, not created


def _msgid_field(n: int) -> str:
    """The part record's field holding part n's msgid (SendParts reads only the digit ones)."""
    return f"kf_msgid:{n}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
