"""Weibo (open API v2): posts and comments that @mention the account, answered with comments.

- ``GET /2/statuses/mentions.json`` and ``GET /2/comments/mentions.json`` with ``since_id``
  (the same on every page of one poll); each next page starts below the oldest id read
  (``max_id``), not at a page number, since pages shift as mentions arrive or are deleted
  mid-poll. A short page is not the end while ``next_cursor`` is non-zero (Weibo drops hidden
  posts from a page after counting it). The newest id becomes the cursor after the last page.
  A round that reaches ``max_pages`` with more to read keeps the cursor and notes where it
  stopped: the next round goes on below it (``max_id``) until the gap is read.
  Both are read in one round and delivered together, each comment after the post it
  comments on, so the post always opens its thread.
- A post mentioning us is its own thread; a comment mentioning us belongs to the thread of the
  post it comments on.
- Replies: a comment on the post (``comments/create``) or a reply to the comment
  (``comments/reply``), with ``rip`` (the commenting user's IP) when the channel sets it.
- Long posts: the list endpoints cut a post over 140 characters (``isLongText``, the text ending
  "...全文： <link>"); only ``statuses/show_batch`` with ``isGetLongText=1`` (50 ids a call) sends
  it whole (``longText.longTextContent``). One such call per page of mentions; when it fails
  the mention is delivered cut rather than late. Comments are at most 140 characters: never cut.
- Rate limits: Weibo answers error 10022/10023/10024 (hourly limits, no headers); the reset comes
  from ``account/rate_limit_status.json``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from adapters.base import AdapterContext, PermanentSendError, VerifyError
from adapters.social.mentions import (
    SocialAdapter,
    SocialConfig,
    id_key,
    newest,
    refused,
    same_text,
    send_error,
)
from adapters.social.poller import (
    ApiError,
    HttpApi,
    PermanentApiError,
    RateInfo,
    RateLimited,
    TransientApiError,
    default_classify,
)
from adapters.social.textlen import WEIBO_MAX_LENGTH, weibo_length
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage, OutboundMessage

RATE_LIMIT_CODES = {10022, 10023, 10024}  # IP / user / user-per-API requests out of rate limit
# System errors worth retrying: system error, service unavailable, remote service error,
# too many pending tasks, job expired, RPC error, backend timeout.
TRANSIENT_CODES = {10001, 10002, 10003, 10009, 10010, 10011, 10012, 23201}
POSTING_TOO_FAST = 20016  # "out of limit" on posting: wait a minute and try again
# Whole-API window: Weibo's user limit spans every endpoint.
ENDPOINT = "weibo"
# The long-text lookup's own gate: its failure (10024 is per API) must not hold up mention reads.
LONG_TEXT_ENDPOINT = "weibo:show_batch"
SHOW_BATCH_MAX = 50  # ids per statuses/show_batch call

log = logging.getLogger(__name__)


class WeiboConfig(SocialConfig):
    api_base_url: str = Field("https://api.weibo.com", description="Weibo API base URL.")
    # The token goes to api_base_url (https only, unless loopback); a new one needs it again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"api_base_url"})
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"api_base_url"})
    web_url: str = Field("https://m.weibo.cn", description="Base of public post links.")
    access_token: str = Field(description="OAuth 2.0 access token of the account.")
    uid: str | None = Field(None, description="The account's uid; looked up when empty.")
    rip: str | None = Field(
        None,
        description="Public IP of the people answering, sent as ``rip`` with each comment "
        "(comments/create and comments/reply ask for the commenting user's real IP).",
    )
    page_size: int = Field(50, ge=1, le=200)


# --- pure parsing ---------------------------------------------------------------------------


def parse_time(value: str | None) -> int | None:
    """Weibo times look like ``Tue May 31 17:46:55 +0800 2011``."""
    if not value:
        return None
    try:
        return int(datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").timestamp() * 1000)
    except ValueError:
        return None


def item_id(item: Mapping[str, Any]) -> str | None:
    value = item.get("idstr") or item.get("id")
    return str(value) if value else None


LOOKUP_PAGES = 3  # of 50 comments: how far back a retried reply looks for its earlier attempt
_REPLY_PREFIX = re.compile(r"^回复@[^:：]+[:：]")


def older_than(
    batch: list[Mapping[str, Any]], body: Any, count: int, since: str | None
) -> str | None:
    """The ``max_id`` of the page after ``batch``, or None when the list has nothing older.

    A short page is not the end: Weibo leaves deleted and hidden posts out of a page after
    counting it (a page of 50 may hold 48, or none) and says more follow with a non-zero
    ``next_cursor``. Stopping there would move the cursor past every mention below the page.
    A full page is never the end either, whatever ``next_cursor`` says.
    """
    ids = [i for i in map(item_id, batch) if i and i.isdigit()]
    candidates = [str(int(min(ids, key=id_key)) - 1)] if ids else []  # max_id is inclusive
    cursor = str(body.get("next_cursor") or "") if isinstance(body, dict) else ""
    if cursor.isdigit() and cursor != "0":
        candidates.append(cursor)
    elif len(batch) < count:
        return None
    below = min(candidates, key=id_key, default=None)
    if below is None or (since and id_key(below) <= id_key(since)):
        return None
    return below


def long_texts(body: Any) -> dict[str, str]:
    """Post id -> whole text, from a ``statuses/show_batch`` answer with ``isGetLongText=1``."""
    statuses = body.get("statuses") if isinstance(body, dict) else None
    found: dict[str, str] = {}
    for status in statuses if isinstance(statuses, list) else []:
        if not isinstance(status, dict):
            continue
        long_text = status.get("longText")
        text = long_text.get("longTextContent") if isinstance(long_text, dict) else None
        post_id = item_id(status)
        if post_id and isinstance(text, str) and text.strip():
            found[post_id] = text
    return found


def rate_info(headers: Mapping[str, str]) -> RateInfo:
    return RateInfo()  # Weibo sends no rate-limit headers


def next_hour(now: float) -> float:
    return (int(now) // 3600 + 1) * 3600.0


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ApiError | None:
    code = body.get("error_code") if isinstance(body, dict) else None
    if code is None:
        return default_classify(status, f"Weibo answered HTTP {status}", retry_at=None)
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = -1
    reason = f"Weibo error {code}: {body.get('error') or 'unknown'}"
    if code in RATE_LIMIT_CODES:
        # Hourly windows: until the next hour unless account/rate_limit_status says otherwise.
        return RateLimited(reason, retry_at=next_hour(time.time()), status=status)
    if code == POSTING_TOO_FAST:
        return RateLimited(reason, retry_at=time.time() + 60, status=status)
    if code in TRANSIENT_CODES:
        return TransientApiError(reason, status=status)
    return PermanentApiError(reason, status=status)


def _user_fields(user: Mapping[str, Any]) -> tuple[str, str | None]:
    uid = str(user.get("idstr") or user.get("id") or "unknown")
    return uid, user.get("screen_name") or user.get("name")


def status_to_message(
    status: Mapping[str, Any], *, channel_id: str, web_url: str
) -> InboundMessage | None:
    """A post that @mentions us: its own thread; we answer with a comment on it."""
    post_id = item_id(status)
    if not post_id:
        return None
    uid, name = _user_fields(status.get("user") or {})
    attachments = [
        Attachment(
            kind="image", url=p["original_pic"] if "original_pic" in p else p.get("thumbnail_pic")
        )
        for p in status.get("pic_urls") or []
        if isinstance(p, dict) and (p.get("original_pic") or p.get("thumbnail_pic"))
    ]
    if not attachments and status.get("original_pic"):
        attachments = [Attachment(kind="image", url=status["original_pic"])]
    meta = {
        "platform": "weibo",
        "source": "mention",
        "kind": "status",
        "post_id": post_id,
        "status_id": post_id,
        "author_id": uid,
        "author_handle": f"@{name}" if name else None,
        "author_name": name,
        "url": f"{web_url.rstrip('/')}/status/{post_id}",
        "public": True,
    }
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.WEIBO,
        external_id=post_id,
        contact=ContactIdentity(external_id=uid, name=name),
        thread_key=post_id,
        text=str(status.get("text") or ""),
        attachments=attachments,
        sent_at=parse_time(status.get("created_at")) or 0,
        meta={k: v for k, v in meta.items() if v is not None},
        raw=dict(status),
    )


def comment_to_message(
    comment: Mapping[str, Any], *, channel_id: str, web_url: str
) -> InboundMessage | None:
    """A comment that @mentions us: the thread is the post it comments on; we reply to it."""
    comment_id = item_id(comment)
    status = comment.get("status") or {}
    status_id = item_id(status) if isinstance(status, dict) else None
    if not comment_id or not status_id:
        return None
    uid, name = _user_fields(comment.get("user") or {})
    meta = {
        "platform": "weibo",
        "source": "mention",
        "kind": "comment",
        "post_id": comment_id,
        "comment_id": comment_id,
        "status_id": status_id,
        "status_text": (status.get("text") or "")[:280] or None,
        "author_id": uid,
        "author_handle": f"@{name}" if name else None,
        "author_name": name,
        "url": f"{web_url.rstrip('/')}/status/{status_id}",
        "public": True,
    }
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.WEIBO,
        external_id=comment_id,
        contact=ContactIdentity(external_id=uid, name=name),
        thread_key=status_id,
        text=str(comment.get("text") or ""),
        sent_at=parse_time(comment.get("created_at")) or 0,
        meta={k: v for k, v in meta.items() if v is not None},
        raw=dict(comment),
    )


def thread_order(messages: list[InboundMessage]) -> list[InboundMessage]:
    """Oldest first, except that a comment never comes before the post it comments on when
    both are here (same second, or a clock that disagrees): the post opens the thread."""

    def own(msg: InboundMessage) -> tuple[int, tuple[int, str]]:
        return (msg.sent_at, id_key(msg.external_id))

    posts = {m.thread_key: own(m) for m in messages if m.meta.get("kind") == "status"}

    def key(msg: InboundMessage) -> tuple[tuple[int, tuple[int, str]], int]:
        post = posts.get(msg.thread_key)
        if msg.meta.get("kind") == "comment" and post is not None:
            return max((own(msg), 1), (post, 1))
        return (own(msg), 0)

    return sorted(messages, key=key)


@dataclass
class _Fetched:
    """What one list (posts or comments) gave in this round, and its cursor to store after."""

    cursor: str
    since: str | None
    newest_id: str | None
    messages: list[InboundMessage]
    rest: str | None = None  # "<max_id> <newest id>" when pages were left for the next poll
    resumed: bool = False  # this round read such a rest


# --- the adapter ----------------------------------------------------------------------------


class WeiboAdapter(SocialAdapter):
    channel_type: ClassVar[Channel] = Channel.WEIBO
    Config: ClassVar[type[WeiboConfig]] = WeiboConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_token"})
    max_text_length: ClassVar[int | None] = WEIBO_MAX_LENGTH
    reply_noun: ClassVar[str] = "comment"
    length_rule: ClassVar[str | None] = "two half-width letters or digits count as one, a link 10"

    def text_length(self, text: str) -> int:
        return weibo_length(text)

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config: WeiboConfig = ctx.config  # type: ignore[assignment]
        self.api = HttpApi(
            ctx.http,
            rate_info=rate_info,
            classify=classify,
            timeout=self.config.request_timeout_seconds,
            reset_lookup=self._reset_time,
        )
        self.uid = self.config.uid

    def _url(self, path: str) -> str:
        return f"{self.config.api_base_url.rstrip('/')}/2/{path}"

    async def _get(self, path: str, params: dict[str, str], *, wait: bool = True) -> Any:
        resp = await self.api.call(
            "GET",
            self._url(path),
            endpoint=ENDPOINT,
            wait=wait,
            params={**params, "access_token": self.config.access_token},
        )
        return resp.body

    async def _reset_time(self, error: RateLimited) -> float | None:
        """``reset_time_in_seconds`` of account/rate_limit_status: seconds until the window
        resets (the status endpoint itself is not rate limited)."""
        resp = await self.api.call(
            "GET",
            self._url("account/rate_limit_status.json"),
            endpoint="rate_limit_status",
            wait=False,
            params={"access_token": self.config.access_token},
        )
        body = resp.body if isinstance(resp.body, dict) else {}
        seconds = body.get("reset_time_in_seconds")
        if not isinstance(seconds, int | float):
            return None
        # Some deployments answer an epoch time rather than a duration.
        return float(seconds) if seconds > 1e9 else time.time() + float(seconds)

    async def _get_uid(self, *, wait: bool) -> str:
        body = await self._get("account/get_uid.json", {}, wait=wait)
        uid = body.get("uid") if isinstance(body, dict) else None
        if not uid:
            raise VerifyError("Weibo answered get_uid without a uid")
        return str(uid)

    async def verify(self) -> None:
        try:
            uid = await self._get_uid(wait=False)
        except ApiError as exc:
            raise VerifyError(exc.reason) from exc
        if self.config.uid and uid != self.config.uid:
            raise VerifyError(f"the access token belongs to uid {uid}, not {self.config.uid}")

    async def prepare(self) -> None:
        if self.uid is None:
            self.uid = await self._get_uid(wait=True)

    def pollers(self) -> list[tuple[str, Any]]:
        return [("mentions", self.poll_mentions)]

    async def poll_mentions(self) -> None:
        """One round: the posts and the comments that mention us, delivered together in thread
        order (a comment after the post it comments on), then both cursors. Two independent
        loops could file a comment before its post: the conversation's contact would be the
        commenter, and the post, filed last, would become what the agent's reply answers."""
        fetched = [
            await self._fetch("statuses", "statuses/mentions.json", "statuses"),
            await self._fetch("comments", "comments/mentions.json", "comments"),
        ]
        for msg in thread_order([m for f in fetched for m in f.messages]):
            await self.deliver_one(msg)
        for f in fetched:
            if f.rest:
                # Out of pages with more to read: the cursor stays until the older rest is read.
                await self.set_cursor(f"{f.cursor}:rest", f.rest)
                continue
            if f.newest_id and (f.since is None or id_key(f.newest_id) > id_key(f.since)):
                await self.set_cursor(f.cursor, f.newest_id)
            if f.resumed:
                await self.clear_cursor(f"{f.cursor}:rest")

    async def _fetch(self, cursor_name: str, path: str, list_key: str) -> _Fetched:
        cfg = self.config
        since = await self.get_cursor(cursor_name)
        # A round that ran out of pages left "<max_id> <newest id>": go on from that max_id.
        rest = (await self.get_cursor(f"{cursor_name}:rest") or "").split() if since else []
        count = cfg.page_size if since else max(1, min(cfg.backfill, 200))
        items: list[Mapping[str, Any]] = []
        newest_id: str | None = rest[1] if len(rest) == 2 else None
        max_id: str | None = rest[0] if len(rest) == 2 else None
        more = False
        long_failures: list[str] = []
        for _ in range(cfg.max_pages if since else 1):
            params = {"count": str(count)}
            if since:
                params["since_id"] = since  # the same on every page of this poll
            if max_id:
                params["max_id"] = max_id
            body = await self._get(path, params)
            batch = body.get(list_key) if isinstance(body, dict) else None
            batch = [b for b in batch or [] if isinstance(b, dict)]
            if newest_id is None:
                newest_id = newest([i for i in map(item_id, batch) if i])
            if list_key == "statuses":
                batch = await self._with_long_text(batch, long_failures)
            items += batch
            # Below what was read, not page N: pages shift when mentions arrive or go mid-poll.
            next_max = older_than(batch, body, count, since)
            more = next_max is not None and (max_id is None or id_key(next_max) < id_key(max_id))
            if not more:
                break
            max_id = next_max
        left = f"{max_id} {newest_id}" if since and more and max_id and newest_id else None
        messages = []
        seen: set[str] = set()
        for item in items:
            user = item.get("user") or {}
            if self.uid and str(user.get("idstr") or user.get("id") or "") == self.uid:
                continue  # our own post or comment
            if list_key == "statuses":
                msg = status_to_message(item, channel_id=self.ctx.channel_id, web_url=cfg.web_url)
            else:
                msg = comment_to_message(item, channel_id=self.ctx.channel_id, web_url=cfg.web_url)
            # Pages shift when new mentions arrive mid-poll: the same item may come twice.
            if msg is not None and msg.external_id not in seen:
                seen.add(msg.external_id)
                messages.append(msg)
        if long_failures:
            # Once per round: the mentions go on, cut as Weibo listed them (with its link).
            log.warning(
                "Weibo %s: whole text of long posts not fetched (%s); delivered as listed",
                self.ctx.channel_id,
                "; ".join(dict.fromkeys(long_failures)),
            )
        if since is None:
            messages = messages[: cfg.backfill]
        return _Fetched(cursor_name, since, newest_id, messages, left, len(rest) == 2)

    async def _with_long_text(
        self, batch: list[dict[str, Any]], failures: list[str]
    ) -> list[dict[str, Any]]:
        """The page with each post flagged ``isLongText`` given its whole text, fetched with
        ``statuses/show_batch`` (one call per 50). A failed call leaves those posts cut and adds
        its reason to ``failures``: never waited on, never retried, so no mention is late."""
        ids = [i for i in (item_id(b) for b in batch if b.get("isLongText") is True) if i]
        found: dict[str, str] = {}
        for start in range(0, len(ids), SHOW_BATCH_MAX):
            try:
                resp = await self.api.call(
                    "GET",
                    self._url("statuses/show_batch.json"),
                    endpoint=LONG_TEXT_ENDPOINT,
                    wait=False,
                    params={
                        "ids": ",".join(ids[start : start + SHOW_BATCH_MAX]),
                        "isGetLongText": "1",
                        "access_token": self.config.access_token,
                    },
                )
            except ApiError as exc:
                failures.append(exc.reason)
                continue
            found.update(long_texts(resp.body))
        if not found:
            return batch
        return [{**b, "text": found[i]} if (i := item_id(b)) in found else b for b in batch]

    async def send(self, message: OutboundMessage) -> str:
        ctx = message.reply_context
        text = message.text.strip()
        if not text:
            raise PermanentSendError("A Weibo comment needs text.")
        if message.attachments:
            raise PermanentSendError(
                "Weibo comments carry text only: put a link to the file instead."
            )
        self.check_length(text)
        status_id = str(ctx.get("status_id") or message.thread_key)
        form = {"access_token": self.config.access_token, "id": status_id, "comment": text}
        if self.config.rip:
            form["rip"] = self.config.rip
        path = "comments/create.json"
        if ctx.get("kind") == "comment" and ctx.get("comment_id"):
            path = "comments/reply.json"
            form["cid"] = str(ctx["comment_id"])
        cid = form.get("cid")

        def look(since: float) -> Awaitable[str | None]:
            return self._posted_comment(status_id, cid, text, since=since)

        previous = await self.sent_or_found(message.message_id, look)
        if previous:
            return previous
        try:
            resp = await self.api.call(
                "POST", self._url(path), endpoint=ENDPOINT, wait=False, data=form
            )
        except ApiError as exc:
            if refused(exc):
                await self.attempt_refused(message.message_id)
            raise send_error(exc, "Weibo did not publish the comment") from exc
        comment_id = item_id(resp.body) if isinstance(resp.body, dict) else None
        if not comment_id:
            raise PermanentSendError("Weibo answered without the id of the new comment")
        await self.remember_sent(message.message_id, comment_id)
        return comment_id

    async def _posted_comment(
        self, status_id: str, cid: str | None, text: str, *, since: float
    ) -> str | None:
        """Our comment on ``status_id`` (replying to ``cid``) with this text, made since
        ``since`` (less a minute for the clocks), from ``comments/by_me``; None when there is
        none. A failed lookup is a failed attempt, tried again later."""
        max_id: str | None = None
        for _ in range(LOOKUP_PAGES):
            params = {"count": "50", **({"max_id": max_id} if max_id else {})}
            try:
                body = await self._get("comments/by_me.json", params, wait=False)
            except ApiError as exc:
                raise send_error(exc, "Weibo did not say whether the comment was posted") from exc
            comments = [c for c in (body or {}).get("comments") or [] if isinstance(c, dict)]
            for comment in comments:
                made = parse_time(comment.get("created_at"))
                if made is not None and made < (since - 60) * 1000:
                    return None  # newest first: older than the attempt from here on
                if item_id(comment.get("status") or {}) != status_id:
                    continue
                if cid and item_id(comment.get("reply_comment") or {}) != cid:
                    continue
                # A reply is shown as "回复@name:" and the text.
                shown = _REPLY_PREFIX.sub("", str(comment.get("text") or ""), count=1)
                if same_text(text, shown):
                    return item_id(comment)
            max_id = older_than(comments, body, 50, None)
            if max_id is None:
                return None
        return None
