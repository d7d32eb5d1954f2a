"""The email channel: IMAP in (one leased poller per mailbox), SMTP out, threads that hold."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import urllib.parse
from typing import Any, ClassVar

import aiohttp
from redis.exceptions import RedisError

from adapters.base import (
    Adapter,
    AdapterContext,
    PermanentSendError,
    SendError,
    TransientSendError,
    VerifyError,
)
from adapters.email.autoreply import MailKind, bounce_details, classify
from adapters.email.compose import OutFile, build_reply, display_from
from adapters.email.config import EmailConfig
from adapters.email.htmltext import sanitize_html
from adapters.email.imap import ImapConnection
from adapters.email.mime import MimeAttachment, ParsedMail, parse_message
from adapters.email.normalize import Extras, address_of, build_inbound, contact_of
from adapters.email.poller import FetchedMail, MailboxPoller
from adapters.email.senderauth import verdict
from adapters.email.smtp import longest_send, send_mail, verify_smtp
from adapters.email.threads import (
    ThreadIndex,
    find_tokens,
    outbound_message_id,
    synthetic_message_id,
    thread_token,
)
from adapters.oauth2 import Client, OAuth2Token, channel_token
from gateway.lease import Lease, keep_renewed, run_while_leased
from gateway.models import Attachment, Channel, OutboundMessage
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_PARSE_IN_THREAD = 512 * 1024  # bytes
_SENT_TTL = 30 * 24 * 3600  # how long a sent reply is remembered (outbox retries are hours)
SENDING_TTL_MS = 60_000  # a sender's claim on a reply, renewed every third of it while it sends


class EmailAdapter(Adapter):
    channel_type = Channel.EMAIL
    Config = EmailConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"imap_password", "smtp_password", "oauth2_client_secret", "oauth2_refresh_token"}
    )
    max_text_length = None
    supports_attachments = True

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        config = ctx.config
        if not isinstance(config, EmailConfig):
            config = EmailConfig.model_validate(config.model_dump())
        self.config: EmailConfig = config
        self.index = ThreadIndex(ctx.redis, ctx.state_key)
        self.oauth2 = self._oauth2_token() if config.auth == "oauth2" else None
        self.token = self.oauth2.get if self.oauth2 is not None else None
        self.poller = MailboxPoller(
            config, ctx.redis, ctx.state_key("imap"), self.handle_mail, ctx.report_health,
            token=self.token,
        )  # fmt: skip
        self._task: asyncio.Task[None] | None = None

    def _oauth2_token(self) -> OAuth2Token:
        cfg = self.config
        assert cfg.oauth2_token_url and cfg.oauth2_client_id
        client = Client(
            token_url=cfg.oauth2_token_url,
            client_id=cfg.oauth2_client_id,
            client_secret=cfg.oauth2_client_secret,
            scope=cfg.oauth2_scope,
            basic_auth=False,  # Google and Microsoft take the secret in the form
            refresh_field="oauth2_refresh_token",
        )
        return channel_token(self.ctx, client, refresh_token=cfg.oauth2_refresh_token)

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        lease = Lease(self.ctx.redis, self.ctx.keys.lease(f"email-imap:{self.ctx.channel_id}"))
        self._task = asyncio.create_task(run_while_leased(lease, self.poller.run))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # Cancel until it is done: redis-py can swallow a cancellation that lands inside a
        # command, and the leased loop would then carry on.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()

    async def verify(self) -> None:
        conn = ImapConnection(self.config, self.token)
        try:
            await conn.open()
            await conn.select(self.config.imap_folder)
        except Exception as exc:
            raise VerifyError(f"IMAP: {_reason(exc)}") from None
        finally:
            await conn.close()
        try:
            await verify_smtp(self.config, self.token)
        except SendError as exc:
            raise VerifyError(f"SMTP: {exc.reason}") from None

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        return {
            **super().describe(),
            "address": cfg.from_address,
            "reply_address": cfg.reply_address_for("<token>"),
            "imap_folder": cfg.imap_folder,
            "max_message_bytes": cfg.max_message_bytes,
            "max_attachment_bytes": cfg.max_attachment_bytes,
            "poller": dict(self.poller.status),
        }

    # --- inbound -----------------------------------------------------------------------------
    async def handle_mail(self, fetched: FetchedMail) -> None:
        """One message from the mailbox: deliver it, or count why not. Raises only when the
        inbox could not take it (the poller then retries the same UID)."""
        cfg = self.config
        if len(fetched.raw) > _PARSE_IN_THREAD:  # megabytes of MIME: keep the event loop free
            mail = await asyncio.to_thread(
                parse_message, fetched.raw, max_attachment_bytes=cfg.max_attachment_bytes
            )
        else:
            mail = parse_message(fetched.raw, max_attachment_bytes=cfg.max_attachment_bytes)
        kind = classify(mail)
        if kind is MailKind.HUMAN and self._is_own(mail):
            kind = MailKind.AUTO_REPLY  # our own mail coming back (Bcc, loops): never answer it
        if kind is not MailKind.HUMAN:
            if kind is MailKind.BOUNCE:
                await self._bounce(mail)
            await self.ctx.redis.hincrby(self.ctx.state_key("ignored"), kind.value, 1)
            return
        message_id = mail.message_id or synthetic_message_id(mail.fingerprint)
        known = await self.index.message(message_id)
        if known is not None and known.direction == "in":
            return  # delivered before (a rescan after UIDVALIDITY changed)
        auth = verdict(mail.from_addr, mail.auth_results, cfg.auth_servers)
        # An unverified sender is a contact of its own: its threads are looked up under that
        # identity, so neither a plus token nor References can put it into the real customer's.
        contact = contact_of(mail, auth).external_id
        tokens = find_tokens(mail.recipients, cfg.local_part, cfg.domain)
        refs = mail.in_reply_to + list(reversed(mail.references))
        thread_key, via = await self.index.resolve(message_id, contact, tokens, refs)
        extras = Extras(message_id=message_id, thread_key=thread_key, thread_via=via,
                        uid=fetched.uid, truncated=fetched.truncated,
                        sender_auth=auth)  # fmt: skip
        if fetched.truncated:
            for part in mail.attachments:  # cut off mid-way: a stored copy would be corrupt
                part.data, part.skipped = None, "message over the size limit"
            extras.notices.append(
                f"This email is {_mb(fetched.size)}, over the {_mb(cfg.max_message_bytes)} limit: "
                "only its beginning was read and its attachments were not downloaded."
            )
        cid_urls = await self._store_attachments(mail, extras)
        if mail.html:
            extras.html = self._sanitize(mail.html, cid_urls)
        await self.ctx.deliver(build_inbound(mail, extras, channel_id=self.ctx.channel_id))
        await self.index.remember_message(message_id, thread_key, contact, direction="in")

    def _is_own(self, mail: ParsedMail) -> bool:
        sender = (mail.from_addr or "").lower()
        cfg = self.config
        local, _, domain = sender.partition("@")
        own_local = cfg.local_part.lower()
        if sender == cfg.from_address.lower():
            return True
        return domain == cfg.domain and local.split("+", 1)[0] == own_local

    async def _bounce(self, mail: ParsedMail) -> None:
        bounce = bounce_details(mail)
        if not bounce.failed or self.ctx.mark_failed is None:
            return
        for original in bounce.original_message_ids:
            entry = await self.index.message(original)
            if entry is not None and entry.direction == "out" and entry.outbound_id:
                # It did not arrive: an agent's retry must really send it again.
                await self.ctx.redis.delete(self._send_key(original))
                await self.ctx.mark_failed(entry.outbound_id, bounce.reason)

    async def _store_attachments(self, mail: ParsedMail, extras: Extras) -> dict[str, str]:
        """Store each attachment through the gateway; returns Content-ID -> URL for inline
        images. A storage failure other than the disk (which is retried) becomes a notice."""
        cid_urls: dict[str, str] = {}
        for part in mail.attachments:
            url = None
            if part.data is not None and self.ctx.store_media is not None:
                try:
                    url = await self.ctx.store_media(part.data, part.name, part.content_type)
                except OSError:
                    raise
                except Exception as exc:
                    log.warning("storing %s failed: %s", part.name, exc)
                    extras.notices.append(f"The attachment {part.name} could not be stored.")
            elif part.skipped == "too large":
                extras.notices.append(
                    f"The attachment {part.name} ({_mb(part.size)}) is over the "
                    f"{_mb(self.config.max_attachment_bytes)} limit and was not downloaded."
                )
            if url and part.content_id:
                cid_urls[part.content_id] = url
            extras.attachments.append(_attachment(part, url))
        return cid_urls

    def _sanitize(self, html: str, cid_urls: dict[str, str]) -> str | None:
        def image_url(src: str) -> str | None:
            if src.lower().startswith("cid:"):
                return cid_urls.get(urllib.parse.unquote(src[4:]).strip("<>"))
            return None

        try:
            return sanitize_html(html, image_url=image_url)
        except Exception as exc:  # sanitizing is for display only; never lose the mail over it
            log.warning("HTML sanitizing failed: %s", exc)
            return None

    # --- outbound ----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> str:
        cfg = self.config
        context = message.reply_context or {}
        to = str(context.get("reply_to") or address_of(message.contact_external_id))
        domain = to.rpartition("@")[2].lower()
        if not domain or domain == "invalid" or domain.endswith(".invalid"):  # RFC 2606
            raise PermanentSendError(f"the sender left no address to reply to ({to})")
        contact = message.contact_external_id.lower()
        mid = outbound_message_id(self.ctx.channel_id, message.message_id, cfg.domain)
        token = thread_token(self.ctx.channel_id, message.thread_key, contact)
        try:
            # Indexed first, so that an answer or a bounce arriving at once finds its thread.
            await self.index.remember_token(token, message.thread_key, contact)
            await self.index.remember_message(
                mid, message.thread_key, contact, direction="out", outbound_id=message.message_id
            )
        except RedisError as exc:
            raise TransientSendError(f"Redis unavailable: {exc}") from exc
        files = [await self._load(a) for a in message.attachments]
        email_message = build_reply(
            from_name=display_from(message.author_name, cfg.from_name),
            from_address=cfg.from_address,
            reply_to=cfg.reply_address_for(token),
            to=to,
            message_id=mid,
            text=message.text,
            context=context,
            files=files,
            quote_customer=cfg.quote_customer,
            # No author: a greeting or notice the gateway sent by itself (RFC 3834).
            automatic=not message.author_name,
            thread_root=message.thread_key,  # the thread's first Message-ID
            language=cfg.language,  # of the quote line
        )
        await self._send_once(mid, email_message, to)
        return mid

    def _send_key(self, mid: str) -> str:
        return self.ctx.state_key("sent:" + hashlib.sha1(mid.encode()).hexdigest())

    async def _send_once(self, mid: str, email_message: Any, to: str) -> None:
        """SMTP has no idempotency: a message the server accepted is sent again if we send it
        again. The outbox sends a reply again when another process claims it because this one
        stalled past ``claim_idle_ms`` mid-send (a live sender renews its claim), or after a
        crash before it recorded the send:
        a record by Message-ID keeps both from reaching the customer twice. While sending it is
        a lease renewed every few seconds (a crashed sender's expires within SENDING_TTL_MS, and
        the retry sends), then "sent" for 30 days."""
        key = self._send_key(mid)
        lease = Lease(self.ctx.redis, key, ttl_ms=SENDING_TTL_MS)
        try:
            for _ in range(2):  # a lease that expired between SET NX and GET: once more
                if await lease.acquire():
                    break
                state = await self.ctx.redis.get(key)
                if state in (b"sent", "sent"):
                    return  # the server took it already: do not send it twice
                if state is not None:
                    raise TransientSendError(
                        "this reply is being sent by another process",
                        retry_after=SENDING_TTL_MS / 1000,
                    )
            else:
                raise TransientSendError("this reply is being sent by another process")
        except RedisError as exc:
            raise TransientSendError(f"Redis unavailable: {exc}") from exc
        renewing = asyncio.create_task(keep_renewed(lease))
        limit = longest_send(self.config)
        try:
            async with asyncio.timeout(limit):
                await send_mail(self.config, email_message, [to], self.token)
        except TimeoutError as exc:
            with contextlib.suppress(RedisError):
                await lease.release()
            raise TransientSendError(f"SMTP send took over {limit:.0f} s") from exc
        except BaseException:
            with contextlib.suppress(RedisError):
                await lease.release()
            raise
        finally:
            await cancel_and_wait(renewing)
        try:
            await self.ctx.redis.set(key, "sent", ex=_SENT_TTL)
        except RedisError as exc:  # sent all the same: the outbox must record it as sent
            log.warning("recording the send of %s failed: %s", mid, exc)

    async def _load(self, attachment: Attachment) -> OutFile:
        """The bytes of an attachment the agent added (stored by the gateway or remote)."""
        url = attachment.url or ""
        name = attachment.name or url.rsplit("/", 1)[-1] or "attachment"
        ctype = attachment.content_type or "application/octet-stream"
        limit = self.config.max_attachment_bytes
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            data = base64.b64decode(payload) if header.endswith(";base64") else payload.encode()
        elif self.ctx.load_media is not None and (local := await self.ctx.load_media(url)):
            data = local
        elif url:
            data = await self._download(urllib.parse.urljoin(self.ctx.public_url + "/", url))
        else:
            raise PermanentSendError(f"attachment {name} has no URL")
        if len(data) > limit:
            raise PermanentSendError(f"attachment {name} is over the {_mb(limit)} email limit")
        return OutFile(name=name, content_type=ctype, data=data)

    async def _download(self, url: str) -> bytes:
        limit = self.config.max_attachment_bytes
        try:
            async with self.ctx.http.get(url) as resp:
                if resp.status in (404, 410):
                    raise PermanentSendError(f"attachment {url} is gone ({resp.status})")
                if resp.status >= 400:
                    raise TransientSendError(f"attachment {url}: HTTP {resp.status}")
                data = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"attachment {url}: {exc}") from exc
        return data


def _attachment(part: MimeAttachment, url: str | None) -> Attachment:
    major = part.content_type.split("/", 1)[0]
    kind = {"image": "image", "video": "video"}.get(major, "file")
    meta: dict[str, Any] = {}
    if part.inline:
        meta["inline"] = True
    if part.content_id:
        meta["content_id"] = part.content_id
    if part.skipped:
        meta["skipped"] = part.skipped
    return Attachment(kind=kind, url=url, name=part.name, content_type=part.content_type,
                      size=part.size, meta=meta)  # fmt: skip


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
