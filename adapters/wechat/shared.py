"""Plumbing both WeChat adapters share: background tasks, media in and out, text chunks, a
reply sent as several messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urljoin

import aiohttp
import regex
from redis.exceptions import RedisError

from adapters.base import Adapter, PermanentSendError, SendParts, TransientSendError
from adapters.media_download import fetch_attachments
from adapters.wechat.api import ApiError, WeChatApi, read_capped
from adapters.wechat.errors import describe, send_error
from gateway.models import Attachment, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

# kf/send_msg: text content "最长不超过2048个字节". The Official Account's custom send documents no
# figure; it refuses longer text with 45002 (content size out of limit): the same limit.
MAX_TEXT_BYTES = 2048
MAX_OUTBOUND_IMAGE_BYTES = 10 * 1024 * 1024  # temporary image media limit

# Sends one message body ({"msgtype": ..., ...}) to the reply's customer as part n of the reply
# (whose record is the SendParts); returns WeChat's id of it ("" when the API gives none).
# Raises SendError.
SendOne = Callable[[dict[str, Any], SendParts, int], Awaitable[str]]

# How long the record of a part WeChat accepted is retried (Redis stalling, failing over)
# before the attempt fails: a failed attempt is retried, and the retry sends that part again.
RECORD_SECONDS = 5.0


# One user-perceived character (Unicode extended grapheme cluster): an emoji family joined by
# ZWJ, a letter with its combining marks, an emoji with a skin tone or variation selector, a
# flag (two regional indicators).
_GRAPHEME = regex.compile(r"\X")

TOO_LONG = (
    "This reply is {length} bytes in UTF-8; WeChat allows {limit} bytes per message (a Chinese "
    "character counts 3 bytes, an emoji 4). Shorten it by {over} bytes. / "
    "这条回复按 UTF-8 计 {length} 字节，微信每条消息最多 {limit} 字节（汉字计 3 字节，表情计 4 "
    "字节），请删减 {over} 字节。"
)


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def split_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-8 bytes, never inside a character as
    the customer sees it (a grapheme cluster), so no piece starts with a lone skin tone,
    combining mark or half of a flag."""
    if not text:
        return []
    parts, current, size = [], [], 0
    for unit in _units(text, limit):
        n = utf8_length(unit)
        if size + n > limit and current:
            parts.append("".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    parts.append("".join(current))
    return parts


def _units(text: str, limit: int) -> Iterator[str]:
    """Grapheme clusters; one larger than ``limit`` on its own (hundreds of stacked combining
    marks) is cut between code points, as nothing else fits."""
    for match in _GRAPHEME.finditer(text):
        cluster = match.group()
        if utf8_length(cluster) <= limit:
            yield cluster
        else:
            yield from cluster


class WeChatAdapterBase(Adapter):
    api: WeChatApi

    # WeChat counts a text message in UTF-8 bytes, not characters. The console's limit
    # (max_text_length, set per API) is one message: a reply never spends two of the 5 replies
    # per customer message.
    def text_length(self, text: str) -> int:
        return utf8_length(text)

    def length_problem(self, text: str, reply_context: dict[str, Any] | None = None) -> str | None:
        """Why the reply would not fit in one WeChat message; None when it does (the API asks
        before queueing a reply)."""
        length, limit = self.text_length(text), int(self.max_text_length or MAX_TEXT_BYTES)
        if length <= limit:
            return None
        return TOO_LONG.format(length=length, limit=limit, over=length - limit)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def token_failed(self, exc: ApiError) -> None:
        """An access-token refresh failed (bad secret, IP not whitelisted, WeChat down)."""
        log.warning("channel %s: access token refresh failed: %s", self.ctx.channel_id, exc)
        self.ctx.report_health("token_error", 1)

    def _spawn(self, coro: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T | None]:
        """Work that must not delay WeChat's "success" (it retries after 5 s). The task's
        result is the work's, or None when it failed (logged)."""

        async def guarded() -> T | None:
            try:
                return await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel %s: %s failed", self.ctx.channel_id, what)
                return None

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Cancelled before it ever ran: close the coroutine (no "never awaited" warning).
        task.add_done_callback(lambda _: coro.close())
        return task

    async def start(self) -> None:
        self._stopping.clear()

    async def _pause(self, seconds: float) -> bool:
        """Sleep for a loop; False once stop() was called. An event as well as cancellation,
        because redis-py can swallow a CancelledError that lands while it connects
        (redis/redis-py#2028, #2551): the loop must still end."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    async def stop(self) -> None:
        self._stopping.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task that swallowed its cancellation must not hang a reload.
            await asyncio.wait(tasks, timeout=10)

    async def _attach_media(self, msg: InboundMessage, budget_seconds: float) -> None:
        """Download each ``media_id`` through the media API and store it for agents
        (``fetch_attachments``)."""
        pending = [a for a in msg.attachments if a.meta.get("media_id") and not a.url]
        await fetch_attachments(
            pending, self._fetch_one, budget_seconds, self.ctx.store_media is not None
        )

    async def _fetch_one(self, a: Attachment) -> None:
        media_id = str(a.meta["media_id"])
        try:
            data, ctype, filename = await self.api.download_media(media_id)
        except ApiError as exc:
            a.meta["error"] = describe(exc)
            return
        ctype = ctype or mimetypes.guess_type(filename or "")[0]
        name = filename or f"{media_id[:32]}{mimetypes.guess_extension(ctype or '') or ''}"
        assert self.ctx.store_media is not None
        a.url = await self.ctx.store_media(data, name, ctype)
        a.name, a.content_type, a.size = name, ctype, len(data)

    async def _load_outbound(self, a: Attachment) -> tuple[bytes, str, str | None]:
        """Bytes of an agent's attachment: from the gateway's disk when it stored it, else
        fetched from its URL (relative URLs are the gateway's)."""
        if not a.url:
            raise PermanentSendError("the attachment has no URL to send")
        stored = await self.ctx.load_media(a.url) if self.ctx.load_media is not None else None
        if stored is not None:  # an agent's upload, on this gateway's disk
            if len(stored) > MAX_OUTBOUND_IMAGE_BYTES:
                raise PermanentSendError("WeChat accepts images up to 10 MB")
            name = a.name or a.url.rsplit("/", 1)[-1]
            return stored, name, a.content_type or mimetypes.guess_type(name)[0]
        url = urljoin(self.ctx.public_url.rstrip("/") + "/", a.url)
        try:
            async with self.ctx.http.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                if 400 <= resp.status < 500:
                    raise PermanentSendError(
                        f"the attachment is not available (HTTP {resp.status})"
                    )
                if resp.status != 200:
                    raise TransientSendError(f"could not load the attachment (HTTP {resp.status})")
                try:
                    data = await read_capped(resp, MAX_OUTBOUND_IMAGE_BYTES)
                except ApiError:
                    raise PermanentSendError("WeChat accepts images up to 10 MB") from None
                ctype = a.content_type or resp.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"could not load the attachment: {exc!r}") from None
        name = a.name or url.rsplit("/", 1)[-1].split("?")[0] or "image.jpg"
        return data, name, ctype

    async def _send_parts(self, message: OutboundMessage, send_one: SendOne) -> str:
        """Send a reply as WeChat messages: its text in 2,048-byte parts, then each image.
        Parts are numbered in that order (the same text splits the same way every time), and
        those WeChat accepted on an earlier attempt are skipped. Returns the last part's id."""
        text, images = self._outbound_text(message.text, message.attachments)
        texts = split_utf8(text)
        parts = await self.ctx.parts(message.message_id, len(texts) + len(images))
        for n, content in enumerate(texts, start=1):
            if not parts.is_done(n):
                body = {"msgtype": "text", "text": {"content": content}}
                await self._accepted(parts, n, await send_one(body, parts, n))
        for n, image in enumerate(images, start=len(texts) + 1):
            if parts.is_done(n):
                continue  # not even uploaded again
            data, name, ctype = await self._load_outbound(image)
            try:
                media_id = await self.api.upload_image(data, name, ctype)
            except ApiError as exc:
                raise send_error(exc) from exc
            body = {"msgtype": "image", "image": {"media_id": media_id}}
            await self._accepted(parts, n, await send_one(body, parts, n))
        return parts.last_id()

    async def _accepted(self, parts: SendParts, n: int, platform_id: str) -> None:
        """Record part n, which WeChat accepted. A Redis error is retried for a few seconds,
        with a growing pause: once the part is out, giving up means sending it again."""
        deadline = time.monotonic() + RECORD_SECONDS
        pause = 0.05
        while True:
            try:
                await parts.done(n, platform_id)
                return
            except RedisError as exc:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "channel %s: recording accepted part %d of %s failed (%r); retrying",
                    self.ctx.channel_id, n, parts.key, exc,
                )  # fmt: skip
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _outbound_text(
        self, text: str, attachments: list[Attachment]
    ) -> tuple[str, list[Attachment]]:
        """Images go as images; other attachments as links appended to the text."""
        images, links = [], []
        for a in attachments:
            if a.kind == "image" or (a.content_type or "").startswith("image/"):
                images.append(a)
            elif a.url:
                links.append(f"{a.name or a.kind}: {self.ctx.public_link(a.url)}")
        return "\n".join([text, *links]).strip(), images
