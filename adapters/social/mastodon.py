"""Mastodon: mentions of the account from its notifications, public replies.

- Mentions: ``GET /api/v1/notifications?types[]=mention&include_filtered=true`` (also those the
  account's notification policy filters, such as private mentions from strangers) paged forward
  with ``min_id``: each page holds the mentions just newer than the cursor, so the cursor moves
  after each delivered page (to the ``min_id`` of the ``rel="prev"`` Link, else the page's
  newest id).
- Threads: the conversation is keyed by the root post of the thread, found from our own index of
  posts seen and sent, else from ``GET /api/v1/statuses/:id/context``.
- Rate limits: ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (an ISO 8601 time), one window
  for all calls (the limits are per account and IP, not per endpoint); 429 waits.
- Reply: ``POST /api/v1/statuses`` with ``in_reply_to_id`` and an ``Idempotency-Key`` (the
  outbound message id), so a retried send never posts twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from adapters.base import AdapterContext, PermanentSendError, VerifyError
from adapters.social.mentions import SocialAdapter, SocialConfig, id_key, newest, send_error
from adapters.social.poller import ApiError, HttpApi, RateInfo, default_classify
from adapters.social.textlen import mastodon_length
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage, OutboundMessage

THREAD_TTL = 90 * 86400
# One rate-limit window for every call: Mastodon limits an account (and an IP) across all
# endpoints, and its headers report the limit closest to running out.
ENDPOINT = "mastodon"


class MastodonConfig(SocialConfig):
    base_url: str = Field(description="The instance, e.g. https://mastodon.social")
    # The token goes to base_url (https only, unless loopback); a new one needs it again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"base_url"})
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"base_url"})
    access_token: str = Field(
        description="User token with read:notifications read:statuses write:statuses scopes."
    )
    reply_visibility: Literal["public", "unlisted"] = Field(
        "public",
        description="Visibility of replies, narrowed to the mention's own (an unlisted, private "
        "or direct mention gets a reply no wider).",
    )
    max_characters: int = Field(
        500, ge=1, le=100_000, description="The instance's status length limit."
    )
    page_size: int = Field(40, ge=1, le=80)


# --- pure parsing ---------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Status HTML -> plain text: paragraphs and <br> become line breaks, tags go."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    # The parser has decoded the entities already (convert_charrefs): decoding again would turn
    # "&lt;b&gt;" typed by the customer into "<b>".
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse_time(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def rate_info(headers: Mapping[str, str]) -> RateInfo:
    remaining: int | None
    try:
        remaining = int(headers["X-RateLimit-Remaining"])
    except (KeyError, ValueError):
        remaining = None
    reset = headers.get("X-RateLimit-Reset")
    reset_at = None
    if reset:
        try:
            reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp()
        except ValueError:
            reset_at = None
    return RateInfo(remaining=remaining, reset_at=reset_at)


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ApiError | None:
    detail = body.get("error") if isinstance(body, dict) else None
    reason = (
        f"Mastodon answered {status}: {detail}" if detail else f"Mastodon answered HTTP {status}"
    )
    return default_classify(status, reason, retry_at=rate_info(headers).reset_at)


# "<" inside a URL is not allowed: each try stops at the next "<" (linear in the header).
_LINK_RE = re.compile(r'<([^<>]+)>\s*;\s*rel="([^"]+)"')


def link_min_id(link_header: str | None) -> str | None:
    """``min_id`` of the ``rel="prev"`` link (the newer page) of a Link header."""
    for url, rel in _LINK_RE.findall(link_header or ""):
        if rel == "prev":
            values = parse_qs(urlsplit(url).query).get("min_id")
            if values:
                return values[0]
    return None


def mention_to_message(
    notification: Mapping[str, Any], *, channel_id: str, thread_key: str
) -> InboundMessage | None:
    """A ``mention`` notification as an inbound message (None for anything else)."""
    status = notification.get("status")
    if (
        notification.get("type") != "mention"
        or not isinstance(status, dict)
        or not status.get("id")
    ):
        return None
    account = status.get("account") or notification.get("account") or {}
    acct = str(account.get("acct") or account.get("username") or "")
    text = html_to_text(str(status.get("content") or ""))
    if status.get("spoiler_text"):
        text = f"[CW: {status['spoiler_text']}]\n{text}"
    attachments = [
        Attachment(
            kind="image" if m.get("type") == "image" else str(m.get("type") or "file"),
            url=m.get("url") or m.get("remote_url"),
            meta={"description": m.get("description")} if m.get("description") else {},
        )
        for m in status.get("media_attachments") or []
        if isinstance(m, dict) and (m.get("url") or m.get("remote_url"))
    ]
    meta = {
        "platform": "mastodon",
        "source": "mention",
        "post_id": str(status["id"]),
        "notification_id": str(notification.get("id") or ""),
        "author_id": str(account.get("id") or ""),
        "author_handle": f"@{acct}" if acct else None,
        "author_acct": acct or None,
        "author_name": account.get("display_name") or None,
        "url": status.get("url") or status.get("uri"),
        "visibility": status.get("visibility"),
        "in_reply_to_post_id": status.get("in_reply_to_id"),
        "root_post_id": thread_key,
        "public": status.get("visibility") in ("public", "unlisted"),
    }
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.MASTODON,
        external_id=str(status["id"]),
        contact=ContactIdentity(
            external_id=str(account.get("id") or acct or "unknown"),
            name=account.get("display_name") or (f"@{acct}" if acct else None),
        ),
        thread_key=thread_key,
        text=text,
        attachments=attachments,
        sent_at=parse_time(status.get("created_at") or notification.get("created_at")) or 0,
        meta={k: v for k, v in meta.items() if v is not None},
        raw=dict(notification),
    )


def mentions(text: str, acct: str) -> bool:
    """Whether ``text`` mentions ``acct`` (``user`` or ``user@domain``) as Mastodon reads a
    mention: the whole handle, not the start of a longer one (``@ann`` in ``@anna``,
    ``@ann@other.example`` or ``@ann.example``)."""
    pattern = rf"(?<![\w/])@{re.escape(acct)}(?![\w@-]|\.\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def reply_text(text: str, acct: str | None) -> str:
    """Mastodon notifies only mentioned accounts: start the reply with the author's handle."""
    text = text.strip()
    if acct and not mentions(text, acct):
        text = f"@{acct} {text}"
    return text


# Narrowest last: a reply is never seen by more people than the post it answers.
_VISIBILITY_ORDER = ("public", "unlisted", "private", "direct")


def reply_visibility(mention: str | None, configured: str) -> str:
    """The more restrictive of the mention's visibility and the configured one, as Mastodon's
    composer picks for a reply. A visibility we do not know is taken as ``direct``."""
    if not mention:
        return configured
    rank = _VISIBILITY_ORDER.index
    mention = mention if mention in _VISIBILITY_ORDER else "direct"
    return max(mention, configured, key=rank)


# --- the adapter ----------------------------------------------------------------------------


class MastodonAdapter(SocialAdapter):
    channel_type: ClassVar[Channel] = Channel.MASTODON
    Config: ClassVar[type[MastodonConfig]] = MastodonConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_token"})
    max_text_length: ClassVar[int | None] = 500
    length_rule: ClassVar[str | None] = "the author's @handle included, every link 23"
    limit_owner: ClassVar[str | None] = "this server"

    def text_length(self, text: str) -> int:
        return mastodon_length(text)

    def published_text(self, text: str, reply_context: dict[str, Any]) -> str:
        return reply_text(text, reply_context.get("author_acct"))

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config: MastodonConfig = ctx.config  # type: ignore[assignment]
        self.api = HttpApi(
            ctx.http,
            rate_info=rate_info,
            classify=classify,
            timeout=self.config.request_timeout_seconds,
        )
        self.headers = {"Authorization": f"Bearer {self.config.access_token}"}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_text_length": self.config.max_characters}

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}{path}"

    async def verify(self) -> None:
        try:
            await self.api.call(
                "GET",
                self._url("/api/v1/accounts/verify_credentials"),
                endpoint=ENDPOINT,
                wait=False,
                headers=self.headers,
            )
        except ApiError as exc:
            raise VerifyError(exc.reason) from exc

    def pollers(self) -> list[tuple[str, Any]]:
        return [("mentions", self.poll_mentions)]

    # --- threads ---------------------------------------------------------------------------
    def _root_key(self, status_id: str) -> str:
        return self.ctx.state_key(f"root:{status_id}")

    async def _remember_root(self, status_id: str, root: str) -> None:
        await self.ctx.redis.set(self._root_key(status_id), root, ex=THREAD_TTL)

    async def thread_root(self, status: Mapping[str, Any]) -> str:
        """The root post of a status's thread: itself, a post we know, or the first ancestor."""
        status_id = str(status["id"])
        parent = status.get("in_reply_to_id")
        if not parent:
            return status_id
        known = await self.ctx.redis.get(self._root_key(str(parent)))
        if known is not None:
            return known.decode() if isinstance(known, bytes) else str(known)
        try:
            resp = await self.api.call(
                "GET",
                self._url(f"/api/v1/statuses/{status_id}/context"),
                endpoint=ENDPOINT,
                headers=self.headers,
            )
            ancestors = resp.body.get("ancestors") if isinstance(resp.body, dict) else None
            if ancestors and isinstance(ancestors[0], dict) and ancestors[0].get("id"):
                return str(ancestors[0]["id"])
        except ApiError as exc:
            if exc.transient:
                raise  # retry the poll; guessing now would split the thread
        return str(parent)

    # --- polling ---------------------------------------------------------------------------
    async def poll_mentions(self) -> None:
        cfg = self.config
        url = self._url("/api/v1/notifications")
        cursor = await self.get_cursor("notifications")
        for _page in range(cfg.max_pages if cursor else 1):
            # Filtered notifications (NotificationPolicy, 4.3+: by default private mentions from
            # accounts we do not follow) are left out unless asked for: a customer is a stranger.
            params: list[tuple[str, str]] = [("types[]", "mention"), ("include_filtered", "true")]
            if cursor:
                params += [("min_id", cursor), ("limit", str(cfg.page_size))]
            else:
                params += [("limit", str(max(1, min(cfg.backfill, 80))))]
            resp = await self.api.call(
                "GET", url, endpoint=ENDPOINT, params=params, headers=self.headers
            )
            items = (
                [n for n in resp.body if isinstance(n, dict)] if isinstance(resp.body, list) else []
            )
            if not items:
                return
            messages = []
            # Oldest first, indexing each post's root at once: a reply later in the same page
            # finds its parent's thread without asking the server.
            for notification in sorted(items, key=lambda n: id_key(str(n.get("id") or ""))):
                status = notification.get("status")
                if notification.get("type") != "mention" or not isinstance(status, dict):
                    continue
                if not status.get("id"):
                    continue
                root = await self.thread_root(status)
                await self._remember_root(str(status["id"]), root)
                msg = mention_to_message(
                    notification, channel_id=self.ctx.channel_id, thread_key=root
                )
                if msg is not None:
                    messages.append(msg)
            if cursor is None:
                messages = messages[-cfg.backfill :] if cfg.backfill else []
            await self.deliver_all(messages)
            page_newest = newest([str(n.get("id")) for n in items if n.get("id")])
            cursor = link_min_id(resp.headers.get("Link")) or page_newest
            if cursor:
                await self.set_cursor("notifications", cursor)
            if len(items) < cfg.page_size:
                return

    # --- replies ---------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> str:
        ctx = message.reply_context
        if message.attachments:
            raise PermanentSendError(
                "Replies on Mastodon carry text only: put a link to the file instead."
            )
        if not message.text.strip():
            raise PermanentSendError("A Mastodon reply needs text.")
        self.check_length(message.text, ctx)
        text = self.published_text(message.text, ctx)
        previous = await self.sent_before(message.message_id)
        if previous:
            return previous
        body = {
            "status": text,
            "in_reply_to_id": str(ctx.get("post_id") or message.thread_key),
            "visibility": reply_visibility(ctx.get("visibility"), self.config.reply_visibility),
        }
        try:
            resp = await self.api.call(
                "POST",
                self._url("/api/v1/statuses"),
                endpoint=ENDPOINT,
                wait=False,
                json_body=body,
                headers={**self.headers, "Idempotency-Key": message.message_id},
            )
        except ApiError as exc:
            raise send_error(exc, "Mastodon did not publish the reply") from exc
        status_id = resp.body.get("id") if isinstance(resp.body, dict) else None
        if not status_id:
            raise PermanentSendError("Mastodon answered without the id of the new post")
        # A customer answering our reply continues the same conversation.
        await self._remember_root(str(status_id), message.thread_key)
        await self.remember_sent(message.message_id, str(status_id))
        return str(status_id)
