"""X (API v2): mentions of the account, an optional keyword watch, public replies.

- Mentions: ``GET /2/users/:id/mentions`` with ``since_id`` (kept the same on every page of one
  poll), ``pagination_token``, ``expansions=author_id`` (authors come from ``includes.users``).
  The newest id (``meta.newest_id`` of the first page) becomes the cursor after the last page.
  A poll that reaches ``max_pages`` with a ``next_token`` left keeps the cursor and notes the
  oldest id it read: the next poll goes on below it (``until_id``) until the gap is read.
- A long post's ``text`` is cut: its whole text is ``note_tweet.text`` (with its own entities).
- A 200 may carry ``errors`` beside ``data`` (those count); ``errors`` alone fail the call.
- Keyword watch: ``GET /2/tweets/search/recent`` (``next_token`` pages), same cursor rule.
- Rate limits: ``x-rate-limit-remaining`` / ``x-rate-limit-reset`` (epoch seconds) per endpoint;
  a 429 waits until the reset. A 429 whose ``x-user-limit-24hour-remaining`` or
  ``x-app-limit-24hour-remaining`` is 0 is a 24-hour cap (``-reset``: epoch seconds): a reply
  fails at once saying until when (waiting would hold it up to a day), a poll waits until then.
- Text: X sends a post's text with ``&``, ``<`` and ``>`` HTML-escaped (``&amp;``, ``&lt;``,
  ``&gt;``; nothing else) and every link wrapped in t.co; the agent reads it as written, each t.co
  link replaced by the ``entities.urls[].expanded_url`` it stands for.
- Reply: ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``; length as X counts it.
- Auth: OAuth 1.0a user context (API key and secret + access token and secret, which do not
  expire); or OAuth 2.0 user context: a client id and a refresh token, which the gateway keeps
  renewing (``adapters/oauth2.py``), or a bare access token (it expires in two hours).
  A call refused with 401 under OAuth 2.0 refreshes the token once and is tried again.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from adapters.base import AdapterContext, PermanentSendError, VerifyError
from adapters.oauth2 import Client, OAuth2Token, TokenError, channel_token, with_fresh_token
from adapters.social import oauth1
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
    MAX_DAILY_WAIT,
    ApiError,
    ApiResponse,
    DailyLimitReached,
    HttpApi,
    PermanentApiError,
    RateInfo,
    RateLimited,
    TransientApiError,
    default_classify,
)
from adapters.social.textlen import X_MAX_WEIGHTED_LENGTH, x_weighted_length
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage, OutboundMessage

TWEET_FIELDS = (
    "created_at,conversation_id,author_id,in_reply_to_user_id,referenced_tweets,lang,entities,"
    "note_tweet"
)
EXPANSIONS = "author_id,attachments.media_keys"
USER_FIELDS = "username,name"
MEDIA_FIELDS = "type,url,preview_image_url"

log = logging.getLogger(__name__)


class XConfig(SocialConfig):
    api_base_url: str = Field("https://api.x.com", description="X API base URL.")
    # Tokens go to api_base_url (https only, unless loopback); a new one needs them again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"api_base_url"})
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"api_base_url"})
    web_url: str = Field("https://x.com", description="Base of public post links.")
    user_id: str | None = Field(
        None, description="Numeric id of the account; taken from the access token when empty."
    )
    api_key: str | None = Field(None, description="OAuth 1.0a consumer (API) key.")
    api_key_secret: str | None = None
    access_token: str | None = Field(None, description="OAuth 1.0a access token of the account.")
    access_token_secret: str | None = None
    bearer_token: str | None = Field(
        None, description="OAuth 2.0 user-context access token (instead of OAuth 1.0a)."
    )
    client_id: str | None = Field(
        None, description="OAuth 2.0 client id of the app; with refresh_token, tokens renew."
    )
    client_secret: str | None = Field(
        None, description="OAuth 2.0 client secret (confidential clients only)."
    )
    refresh_token: str | None = Field(
        None,
        description="OAuth 2.0 refresh token (scope offline.access); the gateway rotates it.",
    )
    keywords: list[str] = Field(
        default_factory=list, description="Watch these words too (recent search), e.g. brand names."
    )
    page_size: int = Field(100, ge=10, le=100)

    @model_validator(mode="after")
    def _credentials(self) -> XConfig:
        oauth1_fields = (
            self.api_key,
            self.api_key_secret,
            self.access_token,
            self.access_token_secret,
        )
        if self.refresh_token and not self.client_id:
            raise ValueError("refresh_token needs the client_id of the app it was issued to")
        if all(oauth1_fields) or self.bearer_token or self.refresh_token:
            return self
        raise ValueError(
            "give either api_key, api_key_secret, access_token and access_token_secret "
            "(OAuth 1.0a), or client_id and refresh_token (OAuth 2.0, renewed by the gateway), "
            "or bearer_token (an OAuth 2.0 access token)"
        )


# --- pure parsing ---------------------------------------------------------------------------

# The only three entities X writes into a post's text. One pass, so "&amp;lt;" (someone typed
# "&lt;") becomes "&lt;", not "<".
_ESCAPED = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def parse_time(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def error_reason(body: Any, status: int) -> str:
    """X's problem details (``detail``/``title``) or v1-style ``errors[].message``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        detail = body.get("detail") or body.get("title")
        first = errors[0] if isinstance(errors, list) and errors else None
        specific = (
            (first.get("message") or first.get("detail")) if isinstance(first, dict) else None
        )
        if specific and detail and specific != detail:
            detail = f"{detail} ({specific})"  # which parameter was invalid, and why
        elif specific:
            detail = specific
        if detail:
            return f"X answered {status}: {detail}"
    return f"X answered HTTP {status}"


def rate_info(headers: Mapping[str, str]) -> RateInfo:
    def num(name: str) -> float | None:
        try:
            return float(headers[name])
        except (KeyError, ValueError):
            return None

    remaining = num("x-rate-limit-remaining")
    return RateInfo(
        remaining=int(remaining) if remaining is not None else None,
        reset_at=num("x-rate-limit-reset"),
    )


# X's 24-hour caps (POST /2/tweets and a few others), beside the 15-minute x-rate-limit-* window:
# whose cap it is, and the prefix of its -limit/-remaining/-reset headers.
DAILY_HEADERS = (("account", "x-user-limit-24hour"), ("app", "x-app-limit-24hour"))


class XDailyLimit(DailyLimitReached):
    """A 24-hour cap of X used up; ``scope`` says whose: "account" or "app"."""

    def __init__(self, scope: str, *, retry_at: float, status: int | None = None) -> None:
        super().__init__(
            f"X's 24-hour limit for this {scope} is used up until {utc_minute(retry_at)}",
            retry_at=retry_at,
            status=status,
        )
        self.scope = scope


LOOKUP_PAGES = 3  # of 100 posts: how far back a retried reply looks for its earlier attempt


def utc_minute(epoch: float) -> str:
    """``2026-12-08 09:00 UTC``, rounded up so that "after that" is really after the reset."""
    return datetime.fromtimestamp(math.ceil(epoch / 60) * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")


def daily_limit(headers: Mapping[str, str], now: float | None = None) -> tuple[str, float] | None:
    """(whose cap, reset epoch) of a used-up 24-hour cap, None when none is. With both used up,
    the later reset. A missing or absurd reset counts as the longest a day's window can last."""
    now = time.time() if now is None else now
    found: tuple[str, float] | None = None
    for scope, prefix in DAILY_HEADERS:
        try:
            remaining = int(float(headers[f"{prefix}-remaining"]))
        except (KeyError, ValueError):
            continue
        if remaining > 0:
            continue
        try:
            reset = float(headers[f"{prefix}-reset"])
        except (KeyError, ValueError):
            reset = now + MAX_DAILY_WAIT
        reset = min(max(reset, now), now + MAX_DAILY_WAIT)
        if found is None or reset > found[1]:
            found = (scope, reset)
    return found


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ApiError | None:
    if status == 429 and (daily := daily_limit(headers)):
        # The 15-minute window may still be open: its reset would only fetch the same 429.
        return XDailyLimit(daily[0], retry_at=daily[1], status=status)
    if 200 <= status < 300 and isinstance(body, dict) and body.get("errors"):
        # Partial errors come beside data; errors alone (no data, no meta) are a failed call.
        if "data" not in body and "meta" not in body:
            return PermanentApiError(error_reason(body, status), status=status)
    return default_classify(
        status, error_reason(body, status), retry_at=rate_info(headers).reset_at
    )


def post_text(post: Mapping[str, Any]) -> str:
    """A post's text as its author wrote it: unescaped, and each t.co link replaced by the URL
    it stands for (``entities.urls``; without them the t.co link stays, which still works).
    A long post's ``text`` is cut at 280: its whole text and entities are in ``note_tweet``."""
    note = post.get("note_tweet")
    if isinstance(note, dict) and note.get("text"):
        post = note
    text = _ESCAPED.sub(lambda m: _UNESCAPED[m.group(1)], str(post.get("text") or ""))
    links: dict[str, str] = {}
    entities = post.get("entities")
    urls = entities.get("urls") if isinstance(entities, dict) else None
    for item in urls if isinstance(urls, list) else []:
        if isinstance(item, dict) and item.get("url") and item.get("expanded_url"):
            links.setdefault(str(item["url"]), str(item["expanded_url"]))
    if not links:
        return text
    # One pass over the text: an expanded URL is never rewritten again, a link that appears
    # twice is expanded twice, and a t.co code is not taken for the start of a longer one.
    alternatives = "|".join(re.escape(u) for u in sorted(links, key=len, reverse=True))
    pattern = re.compile(f"(?:{alternatives})(?![A-Za-z0-9])")
    return pattern.sub(lambda m: links[m.group(0)], text)


def posts_to_messages(
    body: Mapping[str, Any],
    *,
    channel_id: str,
    web_url: str,
    source: str,
    own_user_id: str | None = None,
) -> list[InboundMessage]:
    """One page of ``/mentions`` or ``/search/recent`` as inbound messages (the account's own
    posts left out)."""
    includes = body.get("includes") or {}
    users = {u.get("id"): u for u in includes.get("users") or [] if isinstance(u, dict)}
    media = {m.get("media_key"): m for m in includes.get("media") or [] if isinstance(m, dict)}
    out = []
    for post in body.get("data") or []:
        if not isinstance(post, dict) or not post.get("id"):
            continue
        author_id = str(post.get("author_id") or "")
        if own_user_id and author_id == own_user_id:
            continue
        out.append(
            post_to_message(
                post,
                users.get(author_id, {}),
                media,
                channel_id=channel_id,
                web_url=web_url,
                source=source,
            )
        )
    return out


def post_to_message(
    post: Mapping[str, Any],
    author: Mapping[str, Any],
    media: Mapping[str, Mapping[str, Any]],
    *,
    channel_id: str,
    web_url: str,
    source: str,
) -> InboundMessage:
    post_id = str(post["id"])
    author_id = str(post.get("author_id") or author.get("id") or "unknown")
    username = author.get("username")
    handle = f"@{username}" if username else None
    url = f"{web_url.rstrip('/')}/{username or 'i/web'}/status/{post_id}"
    replied_to = next(
        (
            str(ref.get("id"))
            for ref in post.get("referenced_tweets") or []
            if isinstance(ref, dict) and ref.get("type") == "replied_to"
        ),
        None,
    )
    attachments = []
    for key in (post.get("attachments") or {}).get("media_keys") or []:
        item = media.get(key) or {}
        link = item.get("url") or item.get("preview_image_url")
        if link:
            kind = "image" if item.get("type") == "photo" else str(item.get("type") or "file")
            attachments.append(Attachment(kind=kind, url=link, meta={"media_key": key}))
    meta = {
        "platform": "x",
        "source": source,  # "mention" or "keyword"
        "post_id": post_id,
        "author_id": author_id,
        "author_handle": handle,
        "author_name": author.get("name"),
        "url": url,
        "conversation_id": str(post.get("conversation_id") or post_id),
        "in_reply_to_post_id": replied_to,
        "lang": post.get("lang"),
        "public": True,
    }
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.X,
        external_id=post_id,
        contact=ContactIdentity(external_id=author_id, name=author.get("name") or handle),
        thread_key=str(post.get("conversation_id") or post_id),
        text=post_text(post),
        attachments=attachments,
        sent_at=parse_time(post.get("created_at")) or 0,
        meta={k: v for k, v in meta.items() if v is not None},
        raw={**post, "author": dict(author)},
    )


def search_query(keywords: list[str]) -> str:
    """Recent-search query for the watched words: any of them, no retweets."""
    terms = " OR ".join('"' + k.replace('"', "") + '"' for k in keywords if k.strip())
    return f"({terms}) -is:retweet"


def _unauthorized(exc: Exception) -> bool:
    return isinstance(exc, PermanentApiError) and exc.status == 401


# --- the adapter ----------------------------------------------------------------------------


class XAdapter(SocialAdapter):
    channel_type: ClassVar[Channel] = Channel.X
    Config: ClassVar[type[XConfig]] = XConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "api_key_secret",
            "access_token",
            "access_token_secret",
            "bearer_token",
            "client_secret",
            "refresh_token",
        }
    )
    max_text_length: ClassVar[int | None] = X_MAX_WEIGHTED_LENGTH
    length_rule: ClassVar[str | None] = (
        "Chinese, Japanese and Korean characters and emoji count 2, every link 23"
    )

    def text_length(self, text: str) -> int:
        return x_weighted_length(text)

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.config: XConfig = ctx.config  # type: ignore[assignment]
        self.api = HttpApi(
            ctx.http,
            rate_info=rate_info,
            classify=classify,
            timeout=self.config.request_timeout_seconds,
        )
        self.user_id = self.config.user_id or self._user_id_from_token()
        self.tokens = self._refreshing_token() if self.config.refresh_token else None

    def _refreshing_token(self) -> OAuth2Token:
        cfg = self.config
        assert cfg.client_id and cfg.refresh_token
        client = Client(self._url("/2/oauth2/token"), cfg.client_id, cfg.client_secret)
        return channel_token(
            self.ctx, client, refresh_token=cfg.refresh_token, access_token=cfg.bearer_token
        )

    def _user_id_from_token(self) -> str | None:
        # An OAuth 1.0a access token starts with the numeric id of its user: "<id>-<secret part>".
        token = self.config.access_token or ""
        prefix = token.split("-", 1)[0]
        return prefix if "-" in token and prefix.isdigit() else None

    def _url(self, path: str) -> str:
        return f"{self.config.api_base_url.rstrip('/')}{path}"

    async def _request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        wait: bool = True,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> ApiResponse:
        """One API call, signed as the channel's credentials say. Under a refreshing OAuth 2.0
        token, a 401 (revoked or expired early) refreshes it and tries once more."""
        if self.tokens is None:
            headers = self._auth(method, url, params or {})
            return await self.api.call(
                method, url, endpoint=endpoint, wait=wait, params=params, json_body=json_body,
                headers=headers,
            )  # fmt: skip

        async def bearer(token: str) -> ApiResponse:
            return await self.api.call(
                method, url, endpoint=endpoint, wait=wait, params=params, json_body=json_body,
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip

        return await with_fresh_token(self._token, bearer, _unauthorized)

    async def _token(self, rejected: str | None) -> str:
        assert self.tokens is not None
        try:
            return await self.tokens.get(rejected)
        except TokenError as exc:
            kind = TransientApiError if exc.transient else PermanentApiError
            raise kind(f"X: {exc.reason}", status=exc.status) from None

    def _auth(
        self, method: str, url: str, query: Mapping[str, str]
    ) -> Callable[[], dict[str, str]]:
        cfg = self.config
        if cfg.api_key and cfg.api_key_secret and cfg.access_token and cfg.access_token_secret:
            key, key_secret = cfg.api_key, cfg.api_key_secret
            token, token_secret = cfg.access_token, cfg.access_token_secret
            return lambda: {
                "Authorization": oauth1.authorization_header(
                    method,
                    url,
                    query,
                    consumer_key=key,
                    consumer_secret=key_secret,
                    token=token,
                    token_secret=token_secret,
                )
            }
        bearer = {"Authorization": f"Bearer {cfg.bearer_token}"}
        return lambda: bearer

    async def _me(self, *, wait: bool) -> dict[str, Any]:
        resp = await self._request("GET", self._url("/2/users/me"), endpoint="users/me", wait=wait)
        data = resp.body.get("data") if isinstance(resp.body, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise VerifyError("X answered /2/users/me without a user")
        return data

    async def verify(self) -> None:
        try:
            me = await self._me(wait=False)
        except ApiError as exc:
            raise VerifyError(exc.reason) from exc
        if self.config.user_id and str(me["id"]) != self.config.user_id:
            raise VerifyError(
                f"the credentials belong to @{me.get('username')} (id {me['id']}), "
                f"not to user id {self.config.user_id}"
            )

    async def prepare(self) -> None:
        if self.user_id is None:
            self.user_id = str((await self._me(wait=True))["id"])

    def pollers(self) -> list[tuple[str, Any]]:
        loops: list[tuple[str, Any]] = [("mentions", self.poll_mentions)]
        if any(k.strip() for k in self.config.keywords):
            loops.append(("keywords", self.poll_keywords))
        return loops

    async def poll_mentions(self) -> None:
        assert self.user_id is not None
        await self._poll(
            cursor="mentions",
            url=self._url(f"/2/users/{self.user_id}/mentions"),
            endpoint="mentions",
            params={},
            token_param="pagination_token",
            source="mention",
        )

    async def poll_keywords(self) -> None:
        await self._poll(
            cursor="keywords",
            url=self._url("/2/tweets/search/recent"),
            endpoint="search",
            params={"query": search_query(self.config.keywords)},
            token_param="next_token",
            source="keyword",
        )

    async def _poll(
        self,
        *,
        cursor: str,
        url: str,
        endpoint: str,
        params: dict[str, str],
        token_param: str,
        source: str,
    ) -> None:
        cfg = self.config
        since = await self.get_cursor(cursor)
        # A poll that ran out of pages left "<oldest id read> <newest id>": go on below the first.
        rest = (await self.get_cursor(f"{cursor}:rest") or "").split() if since else []
        if len(rest) == 2 and id_key(rest[0]) <= id_key(since):
            # Left by a poll stopped between moving the cursor and dropping its rest: all read.
            await self.clear_cursor(f"{cursor}:rest")
            rest = []
        base = {
            **params,
            "max_results": str(cfg.page_size if since else max(10, min(cfg.backfill, 100))),
            "expansions": EXPANSIONS,
            "tweet.fields": TWEET_FIELDS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }
        if since:
            base["since_id"] = since  # the same on every page of this poll
        if len(rest) == 2:
            base["until_id"] = rest[0]
        messages: list[InboundMessage] = []
        newest_id: str | None = rest[1] if len(rest) == 2 else None
        oldest_id: str | None = None
        token: str | None = None
        for _page in range(cfg.max_pages if since else 1):
            query = {**base, token_param: token} if token else base
            try:
                resp = await self._request("GET", url, endpoint=endpoint, params=query)
            except PermanentApiError as exc:
                if (
                    since
                    and exc.status == 400
                    and ("since_id" in exc.reason or "until_id" in exc.reason)
                ):
                    # Recent search only reaches 7 days back: a cursor (or the id below which a
                    # cut-short poll goes on) older than that is refused for ever. Start afresh
                    # (the next poll imports the newest few).
                    log.warning("%s: cursor %s refused (%s); starting afresh", cursor, since, exc)
                    await self.clear_cursor(cursor)
                    await self.clear_cursor(f"{cursor}:rest")
                    return
                raise
            body = resp.body if isinstance(resp.body, dict) else {}
            meta = body.get("meta") or {}
            page_ids = [
                str(p["id"]) for p in body.get("data") or [] if isinstance(p, dict) and p.get("id")
            ]
            if newest_id is None:
                newest_id = str(meta["newest_id"]) if meta.get("newest_id") else newest(page_ids)
            if page_ids:
                oldest_id = min(page_ids, key=id_key)
            messages += posts_to_messages(
                body,
                channel_id=self.ctx.channel_id,
                web_url=cfg.web_url,
                source=source,
                own_user_id=self.user_id,
            )
            token = meta.get("next_token")
            if not token:
                break
        if since is None:
            # First start: import only the newest few; the cursor remembers where "now" is.
            messages = messages[: cfg.backfill]
        await self.deliver_all(messages)
        if since and token and oldest_id and newest_id:
            # Out of pages with more to read: the cursor stays until the older rest is read.
            await self.set_cursor(f"{cursor}:rest", f"{oldest_id} {newest_id}")
            return
        if newest_id and (since is None or id_key(newest_id) > id_key(since)):
            await self.set_cursor(cursor, newest_id)
        if rest:
            await self.clear_cursor(f"{cursor}:rest")

    async def send(self, message: OutboundMessage) -> str:
        text = message.text.strip()
        if not text:
            raise PermanentSendError("An X reply needs text.")
        if message.attachments:
            raise PermanentSendError(
                "Replies on X carry text only: put a link to the file instead."
            )
        self.check_length(text)
        reply_to = str(message.reply_context.get("post_id") or message.thread_key)
        previous = await self.sent_or_found(
            message.message_id, lambda since: self._posted_reply(reply_to, text, since=since)
        )
        if previous:
            return previous
        try:
            resp = await self._request(
                "POST",
                self._url("/2/tweets"),
                endpoint="tweets",
                wait=False,
                json_body={"text": text, "reply": {"in_reply_to_tweet_id": reply_to}},
            )
        except XDailyLimit as exc:
            await self.attempt_refused(message.message_id)
            # Retrying every few minutes would hold the reply for up to a day: the agent decides.
            raise PermanentSendError(
                f"X's 24-hour post limit for this {exc.scope} is used up until "
                f"{utc_minute(exc.retry_at)}; send again after that or answer on another channel."
            ) from exc
        except ApiError as exc:
            if refused(exc):
                await self.attempt_refused(message.message_id)
            raise send_error(exc, "X did not publish the reply") from exc
        data = resp.body.get("data") if isinstance(resp.body, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise PermanentSendError("X answered without the id of the new post")
        post_id = str(data["id"])
        await self.remember_sent(message.message_id, post_id)
        return post_id

    async def _posted_reply(self, reply_to: str, text: str, *, since: float) -> str | None:
        """Our post answering ``reply_to`` with this text since ``since`` (less a minute for
        the clocks), from the account's own timeline; None when there is none. Timeline
        errors: a 4xx (the app's access has no timelines) posts anyway, with a warning; any
        other is a failed attempt, tried again later."""
        assert self.user_id is not None
        params = {
            "max_results": "100",
            "start_time": datetime.fromtimestamp(since - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tweet.fields": "referenced_tweets,note_tweet",
        }
        for _ in range(LOOKUP_PAGES):
            try:
                resp = await self._request(
                    "GET", self._url(f"/2/users/{self.user_id}/tweets"),
                    endpoint="timeline", wait=False, params=params,
                )  # fmt: skip
            except ApiError as exc:
                if not refused(exc) or isinstance(exc, RateLimited):
                    raise send_error(exc, "X did not say whether the reply was posted") from exc
                log.warning(
                    "X %s: cannot read the account's posts to check a retried reply (%s); "
                    "posting it again",
                    self.ctx.channel_id,
                    exc,
                )
                return None
            body = resp.body if isinstance(resp.body, dict) else {}
            for post in body.get("data") or []:
                replied = {
                    str(r.get("id"))
                    for r in post.get("referenced_tweets") or []
                    if r.get("type") == "replied_to"
                }
                whole = str((post.get("note_tweet") or {}).get("text") or post.get("text") or "")
                if reply_to in replied and same_text(text, whole):
                    return str(post["id"])
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                return None
            params = {**params, "pagination_token": str(token)}
        return None
