"""Local stand-ins for X, Mastodon and Weibo, following each platform's documented contract:
authentication, paging (since_id / pagination_token / min_id + Link / page), rate-limit headers
and errors, and the reply endpoints. Tests drive them (customers post, failures are injected) and
read what they received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


_LINK = re.compile(r"https?://[^\s<>\"]+")


def _wrap_links(text: str) -> tuple[str, list[dict[str, Any]]]:
    """What X does to a new post's links: each becomes a t.co link in the text, described by an
    ``entities.urls`` item (start and end in code points of the unescaped text)."""
    urls: list[dict[str, Any]] = []
    out: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        expanded = match.group(0)
        code = base64.urlsafe_b64encode(hashlib.sha256(expanded.encode()).digest())[:10]
        short = "https://t.co/" + code.decode().replace("-", "x").replace("_", "y")
        out.append(text[last : match.start()])
        start = sum(map(len, out))
        out.append(short)
        last = match.end()
        display = expanded.split("://", 1)[1]
        urls.append({
            "start": start, "end": start + len(short), "url": short,
            "expanded_url": expanded,
            "display_url": display if len(display) <= 25 else display[:24] + "\u2026",
        })  # fmt: skip
    out.append(text[last:])
    return "".join(out), urls


@dataclass
class Failure:
    """Answer the next ``count`` requests whose path contains ``path`` with ``status``."""

    path: str
    status: int
    count: int
    body: str = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    skip: int = 0  # let this many matching requests through first


@dataclass
class Window:
    """One rate-limit window: ``limit`` requests until ``reset_at`` (epoch seconds)."""

    limit: int
    seconds: float
    remaining: int = 0
    reset_at: float = 0.0

    def hit(self) -> bool:
        now = time.time()
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.seconds
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    at: float  # time.time() when received


@dataclass
class FakeBase:
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rejected: int = 0  # requests refused by a rate-limit window

    def fail_next(self, path: str, status: int = 503, count: int = 1, **kw: Any) -> None:
        self.failures.append(Failure(path, status, count, **kw))

    def _injected(self, request: web.Request) -> web.Response | None:
        for failure in self.failures:
            if failure.path in request.path and failure.count > 0:
                if failure.skip > 0:
                    failure.skip -= 1
                    continue
                failure.count -= 1
                return web.Response(
                    status=failure.status,
                    text=failure.body,
                    content_type=failure.content_type,
                    headers=failure.headers,
                )
        return None

    def _log(self, request: web.Request) -> None:
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        self.requests.append(Request(request.method, request.path, query, time.time()))

    def calls(self, path_part: str, method: str = "GET") -> list[Request]:
        return [r for r in self.requests if r.method == method and path_part in r.path]


# ============================================================================================
# X API v2
# ============================================================================================


def _full_text(post: dict[str, Any]) -> str:
    return str((post.get("note_tweet") or {}).get("text") or post["text"])


def _pct(value: str) -> str:
    return quote(value, safe="~")


def oauth1_valid(request: web.Request, consumer_secret: str, token_secret: str) -> dict[str, str]:
    """Check an OAuth 1.0a header against the request (query params signed, JSON body not).
    Returns the oauth parameters, or raises HTTPUnauthorized."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("OAuth "):
        raise web.HTTPUnauthorized()
    oauth = {}
    for part in header[6:].split(","):
        key, _, value = part.strip().partition("=")
        oauth[unquote(key)] = unquote(value.strip('"'))
    given = oauth.pop("oauth_signature", "")
    params = [(k, v) for k, v in request.query.items()] + list(oauth.items())
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in params))
    url = f"{request.url.scheme}://{request.url.host}:{request.url.port}{request.path}"
    base = f"{request.method}&{_pct(url)}&{_pct(normalized)}"
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, given):
        raise web.HTTPUnauthorized()
    return oauth


@dataclass
class FakeX(FakeBase):
    user_id: str = "2244994945"
    username: str = "acme"
    consumer_key: str = "ck-test"
    consumer_secret: str = "cs-test"
    token: str = "2244994945-tokentest"
    token_secret: str = "ts-test"
    bearer: str | None = None
    # OAuth 2.0 (authorization code flow with offline.access): the app, the refresh tokens
    # still valid (each works once: a refresh rotates it), issued access tokens -> expiry.
    client_id: str = "client-test"
    client_secret: str | None = None
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)
    token_lifetime: int = 7200
    token_requests: int = 0
    unauthorized: int = 0  # API calls refused with 401
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    windows: dict[str, Window] = field(default_factory=dict)
    # 24-hour caps per endpoint: ("user" or "app", window), sent as x-{user,app}-limit-24hour-*.
    daily: dict[str, tuple[str, Window]] = field(default_factory=dict)
    search_since_floor: str | None = None  # recent search refuses older since_ids (7 days)
    # POST /2/tweets answers lost after the post is made (the connection dropped, or a 503).
    lost_answers: list[int | None] = field(default_factory=list)  # None: dropped; else status
    _ids: Any = field(default_factory=lambda: itertools.count(1_790_000_000_000_000_000))

    def __post_init__(self) -> None:
        self.users[self.user_id] = {"id": self.user_id, "username": self.username, "name": "Acme"}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2/users/me", self.h_me)
        app.router.add_get("/2/users/{id}/mentions", self.h_mentions)
        app.router.add_get("/2/users/{id}/tweets", self.h_timeline)
        app.router.add_get("/2/tweets/search/recent", self.h_search)
        app.router.add_post("/2/tweets", self.h_create)
        app.router.add_post("/2/oauth2/token", self.h_token)
        return app

    # --- test side ----------------------------------------------------------------------
    def user(self, username: str, name: str | None = None) -> str:
        for u in self.users.values():
            if u["username"] == username:
                return u["id"]
        uid = str(1000 + len(self.users))
        self.users[uid] = {"id": uid, "username": username, "name": name or username.title()}
        return uid

    def tweet(self, username: str, text: str, *, in_reply_to: str | None = None) -> str:
        author = self.user(username)
        post_id = str(next(self._ids))
        text, urls = _wrap_links(text)
        post: dict[str, Any] = {
            "id": post_id,
            "text": text,
            "author_id": author,
            "created_at": _iso(time.time()),
            "conversation_id": post_id,
            "lang": "en",
        }
        if in_reply_to:
            parent = self.posts[in_reply_to]
            post["conversation_id"] = parent["conversation_id"]
            post["referenced_tweets"] = [{"type": "replied_to", "id": in_reply_to}]
            post["in_reply_to_user_id"] = parent["author_id"]
        if urls:
            post["entities"] = {"urls": urls}
        if len(text) > 280:
            # A long post (X Premium): ``text`` holds the start of it, the whole is in
            # ``note_tweet`` (requested with tweet.fields=note_tweet), with its own entities.
            post["note_tweet"] = {"text": text, **({"entities": post["entities"]} if urls else {})}
            post["text"] = text[:275] + "…"
            post.pop("entities", None)
        self.posts[post_id] = post
        return post_id

    def limit(self, endpoint: str, limit: int, seconds: float) -> None:
        self.windows[endpoint] = Window(limit, seconds)

    def daily_limit(
        self, endpoint: str, limit: int, *, scope: str = "user", reset_in: float = 86400.0
    ) -> None:
        """A 24-hour cap (X: POST /2/tweets per user and per app) whose window ends in
        ``reset_in`` seconds."""
        self.daily[endpoint] = (scope, Window(limit, 86400.0, limit, time.time() + reset_in))

    # --- server side --------------------------------------------------------------------
    def _problem(self, status: int, title: str, detail: str) -> web.Response:
        body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
        return web.json_response(body, status=status)

    def _auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if self.bearer and header == f"Bearer {self.bearer}":
            return
        if header.startswith("Bearer ") and self.access_tokens.get(header[7:], 0) > time.time():
            return
        oauth = oauth1_valid(request, self.consumer_secret, self.token_secret)
        if oauth.get("oauth_consumer_key") != self.consumer_key or oauth.get("oauth_token") != (
            self.token
        ):
            raise web.HTTPUnauthorized()

    async def _guard(self, request: web.Request, endpoint: str) -> web.Response | dict[str, str]:
        """Log, authenticate, inject failures, apply the endpoint's window."""
        self._log(request)
        try:
            self._auth(request)
        except web.HTTPUnauthorized:
            self.unauthorized += 1
            return self._problem(401, "Unauthorized", "Unauthorized")
        injected = self._injected(request)
        if injected is not None:
            return injected
        window = self.windows.get(endpoint)
        daily = self.daily.get(endpoint)
        if window is None and daily is None:
            return {}
        allowed = True
        headers: dict[str, str] = {}
        if daily is not None:
            # Checked first: a used-up day refuses even with the 15-minute window open.
            scope, day = daily
            allowed = day.hit()
            prefix = f"x-{scope}-limit-24hour"
            headers[f"{prefix}-limit"] = str(day.limit)
            headers[f"{prefix}-remaining"] = str(day.remaining)
            headers[f"{prefix}-reset"] = str(int(day.reset_at) + 1)
        if window is not None:
            allowed = allowed and window.hit()
            headers["x-rate-limit-limit"] = str(window.limit)
            headers["x-rate-limit-remaining"] = str(window.remaining)
            headers["x-rate-limit-reset"] = str(int(window.reset_at) + 1)
        if not allowed:
            self.rejected += 1
            resp = self._problem(429, "Too Many Requests", "Too Many Requests")
            resp.headers.update(headers)
            return resp
        return headers

    def _render(self, post: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        # X answers the text with &, < and > HTML-escaped (and only those).
        text = html.escape(post["text"], quote=False)
        out = {"id": post["id"], "text": text, "edit_history_tweet_ids": [post["id"]]}
        for name in fields:
            if name in post:
                out[name] = post[name]
        if "note_tweet" in out:
            note = out["note_tweet"]
            out["note_tweet"] = {**note, "text": html.escape(note["text"], quote=False)}
        return out

    def _page(self, request: web.Request, matched: list[dict[str, Any]], token_param: str,
              min_results: int, headers: dict[str, str]) -> web.Response:  # fmt: skip
        q = request.query
        try:
            max_results = int(q.get("max_results", "10"))
        except ValueError:
            max_results = -1
        if not min_results <= max_results <= 100:
            return self._problem(400, "Invalid Request", "max_results out of range")
        since = q.get("since_id")
        until = q.get("until_id")
        token = q.get(token_param)
        rows = sorted(matched, key=lambda p: _id_key(p["id"]), reverse=True)
        if since:
            rows = [p for p in rows if _id_key(p["id"]) > _id_key(since)]
        if until:
            rows = [p for p in rows if _id_key(p["id"]) < _id_key(until)]
        if token:
            # The token names the last post of the previous page: stable while new posts arrive.
            before = base64.urlsafe_b64decode(token.encode()).decode()
            rows = [p for p in rows if _id_key(p["id"]) < _id_key(before)]
        page, rest = rows[:max_results], rows[max_results:]
        fields = set(q.get("tweet.fields", "").split(","))
        body: dict[str, Any] = {"meta": {"result_count": len(page)}}
        if page:
            body["data"] = [self._render(p, fields) for p in page]
            body["meta"]["newest_id"] = page[0]["id"]
            body["meta"]["oldest_id"] = page[-1]["id"]
            if "author_id" in q.get("expansions", "").split(","):
                authors = {p["author_id"] for p in page}
                body["includes"] = {"users": [self.users[a] for a in sorted(authors)]}
        if page and rest:
            body["meta"]["next_token"] = base64.urlsafe_b64encode(page[-1]["id"].encode()).decode()
        return web.json_response(body, headers=headers)

    async def h_token(self, request: web.Request) -> web.Response:
        """``POST /2/oauth2/token``, grant_type=refresh_token (RFC 6749 section 6)."""
        self._log(request)
        self.token_requests += 1
        form = await request.post()
        if self.client_secret is not None:
            pair = f"{self.client_id}:{self.client_secret}".encode()
            expected = "Basic " + base64.b64encode(pair).decode()
            if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
                refused = {"error": "invalid_client", "error_description": "Bad client credentials"}
                return web.json_response(refused, status=401)
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != self.client_id:
            return web.json_response({"error": "invalid_request"}, status=400)
        old = str(form.get("refresh_token") or "")
        if old not in self.refresh_tokens:
            return web.json_response(
                {"error": "invalid_request",
                 "error_description": "Value passed for the token was invalid."},
                status=400,
            )  # fmt: skip
        self.refresh_tokens.discard(old)
        access, refresh = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
        self.refresh_tokens.add(refresh)
        self.access_tokens[access] = time.time() + self.token_lifetime
        return web.json_response(
            {"token_type": "bearer", "expires_in": self.token_lifetime, "access_token": access,
             "scope": "tweet.read tweet.write users.read offline.access", "refresh_token": refresh},
        )  # fmt: skip

    def authorize(self) -> str:
        """A user authorizes the app: a fresh refresh token, as the code exchange gives."""
        token = "rt-" + secrets.token_hex(8)
        self.refresh_tokens.add(token)
        return token

    async def h_me(self, request: web.Request) -> web.Response:
        guard = await self._guard(request, "users/me")
        if isinstance(guard, web.Response):
            return guard
        return web.json_response({"data": self.users[self.user_id]}, headers=guard)

    async def h_mentions(self, request: web.Request) -> web.Response:
        guard = await self._guard(request, "mentions")
        if isinstance(guard, web.Response):
            return guard
        if request.match_info["id"] != self.user_id:
            return self._problem(403, "Forbidden", "not your mentions")
        handle = f"@{self.username}".lower()
        matched = [p for p in self.posts.values() if handle in _full_text(p).lower()]
        return self._page(request, matched, "pagination_token", 5, guard)

    async def h_timeline(self, request: web.Request) -> web.Response:
        """``GET /2/users/:id/tweets``: the user's posts, newest first, from ``start_time``
        (ISO 8601, inclusive) when given; paged like mentions."""
        guard = await self._guard(request, "timeline")
        if isinstance(guard, web.Response):
            return guard
        uid = request.match_info["id"]
        if uid not in self.users:
            detail = "The `id` query parameter value is not valid"
            return self._problem(400, "Invalid Request", detail)
        matched = [p for p in self.posts.values() if p["author_id"] == uid]
        start = request.query.get("start_time")
        if start:
            matched = [p for p in matched if p["created_at"] >= start.replace("Z", ".000Z")]
        return self._page(request, matched, "pagination_token", 5, guard)

    async def h_search(self, request: web.Request) -> web.Response:
        guard = await self._guard(request, "search")
        if isinstance(guard, web.Response):
            return guard
        query = request.query.get("query", "")
        terms = [t.lower() for t in query.split('"')[1::2]]
        if not terms:
            return self._problem(400, "Invalid Request", "query needs a term")
        since = request.query.get("since_id")
        floor = self.search_since_floor
        if since and floor and _id_key(since) < _id_key(floor):
            body = {
                "errors": [
                    {
                        "parameters": {"since_id": [since]},
                        "message": f"Invalid 'since_id':'{since}'. 'since_id' must be a tweet id "
                        "created after the start of the last 7 days.",
                    }
                ],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            }
            return web.json_response(body, status=400)
        matched = [p for p in self.posts.values() if any(t in _full_text(p).lower() for t in terms)]
        return self._page(request, matched, "next_token", 10, guard)

    async def h_create(self, request: web.Request) -> web.Response:
        guard = await self._guard(request, "tweets")
        if isinstance(guard, web.Response):
            return guard
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._problem(400, "Invalid Request", "body is not JSON")
        text = body.get("text") or ""
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if not text:
            return self._problem(400, "Invalid Request", "text is required")
        if reply_to and reply_to not in self.posts:
            return self._problem(
                403,
                "Forbidden",
                "You attempted to reply to a Tweet that is deleted or not visible.",
            )
        self.replies.append(body)
        post_id = self.tweet(self.username, text, in_reply_to=reply_to)
        if self.lost_answers:
            lost = self.lost_answers.pop(0)
            if lost is None:
                assert request.transport is not None
                request.transport.close()  # posted; the client never hears of it
                return web.Response(status=201)
            return self._problem(lost, "Service Unavailable", "Service Unavailable")
        data = {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}
        return web.json_response({"data": data}, status=201, headers=guard)


# ============================================================================================
# Mastodon
# ============================================================================================


@dataclass
class FakeMastodon(FakeBase):
    token: str = "masto-token"
    our_acct: str = "acme"
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)  # POST /api/v1/statuses bodies
    idempotency: dict[str, str] = field(default_factory=dict)
    window: Window | None = None
    # NotificationPolicy (4.3+), as by default: private mentions from accounts we do not follow
    # are filtered, left out of GET /api/v1/notifications unless include_filtered=true.
    following: set[str] = field(default_factory=set)
    filtered: set[str] = field(default_factory=set)  # ids of filtered notifications
    # Ids cross a digit boundary (990 -> 1000) so string order would be wrong.
    _status_ids: Any = field(default_factory=lambda: itertools.count(990))
    _notification_ids: Any = field(default_factory=lambda: itertools.count(95))

    def __post_init__(self) -> None:
        self.account(self.our_acct)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/accounts/verify_credentials", self.h_verify)
        app.router.add_get("/api/v1/notifications", self.h_notifications)
        app.router.add_get("/api/v1/statuses/{id}/context", self.h_context)
        app.router.add_post("/api/v1/statuses", self.h_create)
        return app

    # --- test side ----------------------------------------------------------------------
    def account(self, acct: str) -> dict[str, Any]:
        if acct not in self.accounts:
            username = acct.split("@")[0]
            self.accounts[acct] = {
                "id": str(100 + len(self.accounts)),
                "username": username,
                "acct": acct,
                "display_name": username.title(),
                "url": f"https://social.example/@{acct}",
            }
        return self.accounts[acct]

    def toot(
        self,
        acct: str,
        text: str,
        *,
        in_reply_to: str | None = None,
        visibility: str = "public",
    ) -> str:
        account = self.account(acct)
        status_id = str(next(self._status_ids))
        html = "".join(f"<p>{line}</p>" for line in text.split("\n\n"))
        status = {
            "id": status_id,
            "uri": f"https://social.example/users/{account['username']}/statuses/{status_id}",
            "url": f"https://social.example/@{acct}/{status_id}",
            "created_at": _iso(time.time()),
            "content": html,
            "visibility": visibility,
            "spoiler_text": "",
            "in_reply_to_id": in_reply_to,
            "account": account,
            "media_attachments": [],
            "mentions": [],
        }
        self.statuses[status_id] = status
        if f"@{self.our_acct}" in text and acct != self.our_acct:
            self._notify("mention", account, status)
        return status_id

    def favourite(self, acct: str, status_id: str) -> None:
        self._notify("favourite", self.account(acct), self.statuses[status_id])

    def _notify(self, kind: str, account: dict[str, Any], status: dict[str, Any]) -> None:
        notification_id = str(next(self._notification_ids))
        self.notifications.append(
            {
                "id": notification_id,
                "type": kind,
                "created_at": status["created_at"],
                "account": account,
                "status": status,
            }
        )
        private = kind == "mention" and status["visibility"] == "direct"
        if private and account["acct"] not in self.following:
            self.filtered.add(notification_id)

    # --- server side --------------------------------------------------------------------
    async def _guard(self, request: web.Request) -> web.Response | dict[str, str]:
        self._log(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        injected = self._injected(request)
        if injected is not None:
            return injected
        if self.window is None:
            return {}
        allowed = self.window.hit()
        headers = {
            "X-RateLimit-Limit": str(self.window.limit),
            "X-RateLimit-Remaining": str(self.window.remaining),
            "X-RateLimit-Reset": datetime.fromtimestamp(self.window.reset_at, UTC).isoformat(),
        }
        if not allowed:
            self.rejected += 1
            return web.json_response({"error": "Too many requests"}, status=429, headers=headers)
        return headers

    async def h_verify(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        return web.json_response(self.accounts[self.our_acct], headers=guard)

    async def h_notifications(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        q = request.query
        types = q.getall("types[]", [])
        limit = min(int(q.get("limit", "40")), 80)
        rows = [n for n in self.notifications if not types or n["type"] in types]
        if q.get("include_filtered") != "true":
            rows = [n for n in rows if n["id"] not in self.filtered]
        rows.sort(key=lambda n: _id_key(n["id"]))
        if "max_id" in q:
            rows = [n for n in rows if _id_key(n["id"]) < _id_key(q["max_id"])]
        if "since_id" in q:
            rows = [n for n in rows if _id_key(n["id"]) > _id_key(q["since_id"])]
        if "min_id" in q:
            # Immediately newer than min_id: the oldest ``limit`` of them.
            rows = [n for n in rows if _id_key(n["id"]) > _id_key(q["min_id"])][:limit]
        else:
            rows = rows[-limit:]
        page = list(reversed(rows))  # newest first, as Mastodon answers
        headers = dict(guard)
        if page:
            base = f"{request.url.scheme}://{request.url.host}:{request.url.port}{request.path}"
            headers["Link"] = (
                f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                f'<{base}?min_id={page[0]["id"]}>; rel="prev"'
            )
        return web.json_response(page, headers=headers)

    async def h_context(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        status = self.statuses.get(request.match_info["id"])
        if status is None:
            return web.json_response({"error": "Record not found"}, status=404)
        ancestors = []
        parent = status.get("in_reply_to_id")
        while parent and parent in self.statuses:
            ancestors.insert(0, self.statuses[parent])
            parent = self.statuses[parent].get("in_reply_to_id")
        return web.json_response({"ancestors": ancestors, "descendants": []}, headers=guard)

    async def h_create(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            return web.json_response(self.statuses[self.idempotency[key]], headers=guard)
        text = str(body.get("status") or "")
        if not text:
            return web.json_response(
                {"error": "Validation failed: Text can't be blank"}, status=422
            )
        if len(text) > 500:
            return web.json_response(
                {"error": "Validation failed: Text character limit of 500 exceeded"}, status=422
            )
        reply_to = body.get("in_reply_to_id")
        if reply_to and reply_to not in self.statuses:
            return web.json_response({"error": "Record not found"}, status=404)
        self.posted.append({**body, "idempotency_key": key})
        status_id = self.toot(
            self.our_acct, text, in_reply_to=reply_to, visibility=body.get("visibility", "public")
        )
        if key:
            self.idempotency[key] = status_id
        return web.json_response(self.statuses[status_id], headers=guard)


# ============================================================================================
# Weibo
# ============================================================================================


def _weibo_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%a %b %d %H:%M:%S %z %Y")


@dataclass
class FakeWeibo(FakeBase):
    token: str = "weibo-token"
    uid: str = "5000"
    screen_name: str = "AcmeCN"
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[dict[str, str]] = field(default_factory=list)  # comments/create + reply forms
    # Each post's whole text: list endpoints send a post over 140 characters cut (isLongText),
    # only statuses/show(_batch) with isGetLongText=1 sends it whole (longText.longTextContent).
    full_texts: dict[str, str] = field(default_factory=dict)
    window: Window | None = None
    # The wiki marks ``rip`` (the commenting user's real IP) required on comments/create and
    # comments/reply; off by default so channels set up without it still comment here.
    require_rip: bool = False
    # Ids Weibo counts into a page but leaves out of it (deleted, or hidden by the author's
    # privacy settings): the page comes short, or empty, with a non-zero next_cursor.
    hidden: set[str] = field(default_factory=set)
    # Run once after the next list page is answered (a post deleted between two pages).
    after_page: Callable[[], None] | None = None
    # comments/create and comments/reply answers lost after the comment is made (None: the
    # connection dropped; else that HTTP status with Weibo's "system error").
    lost_answers: list[int | None] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(4_990_000_000_000_000))

    def __post_init__(self) -> None:
        self.user(self.screen_name, uid=self.uid)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2/account/get_uid.json", self.h_uid)
        app.router.add_get("/2/account/rate_limit_status.json", self.h_rate_status)
        app.router.add_get("/2/statuses/mentions.json", self.h_status_mentions)
        app.router.add_get("/2/comments/mentions.json", self.h_comment_mentions)
        app.router.add_get("/2/comments/by_me.json", self.h_comments_by_me)
        app.router.add_get("/2/statuses/show_batch.json", self.h_show_batch)
        app.router.add_post("/2/comments/create.json", self.h_create)
        app.router.add_post("/2/comments/reply.json", self.h_reply)
        return app

    # --- test side ----------------------------------------------------------------------
    def user(self, screen_name: str, uid: str | None = None) -> dict[str, Any]:
        if screen_name not in self.users:
            uid = uid or str(6000 + len(self.users))
            self.users[screen_name] = {
                "id": int(uid),
                "idstr": uid,
                "screen_name": screen_name,
                "name": screen_name,
            }
        return self.users[screen_name]

    def _mentions_us(self, text: str) -> bool:
        return f"@{self.screen_name}" in text

    def post(self, screen_name: str, text: str) -> str:
        post_id = str(next(self._ids))
        self.statuses[post_id] = {
            "created_at": _weibo_time(time.time()),
            "id": int(post_id),
            "idstr": post_id,
            "mid": post_id,
            "text": text,
            "user": self.user(screen_name),
            "pic_urls": [],
        }
        self.full_texts[post_id] = text
        return post_id

    def comment(
        self, screen_name: str, status_id: str, text: str, *, reply_to: str | None = None
    ) -> str:
        comment_id = str(next(self._ids))
        comment: dict[str, Any] = {
            "created_at": _weibo_time(time.time()),
            "id": int(comment_id),
            "idstr": comment_id,
            "mid": comment_id,
            "text": text,
            "user": self.user(screen_name),
            "status": self.statuses[status_id],
        }
        if reply_to:
            comment["reply_comment"] = {
                k: v for k, v in self.comments[reply_to].items() if k != "status"
            }
        self.comments[comment_id] = comment
        return comment_id

    # --- server side --------------------------------------------------------------------
    def _error(self, request: web.Request, code: int, message: str, status: int = 400):
        body = {"error": message, "error_code": code, "request": request.path}
        return web.json_response(body, status=status)

    async def _guard(self, request: web.Request) -> web.Response | None:
        self._log(request)
        params = request.query
        if request.method == "POST":
            form = await request.post()
            params = form  # type: ignore[assignment]
        token = params.get("access_token")
        header = request.headers.get("Authorization", "")
        if token != self.token and header != f"OAuth2 {self.token}":
            return self._error(request, 21332, "invalid_access_token", status=401)
        injected = self._injected(request)
        if injected is not None:
            return injected
        if self.window is not None and not request.path.endswith("rate_limit_status.json"):
            if not self.window.hit():
                self.rejected += 1
                return self._error(request, 10023, "User requests out of rate limit!", 403)
        return None

    async def h_uid(self, request: web.Request) -> web.Response:
        return await self._guard(request) or web.json_response({"uid": int(self.uid)})

    async def h_rate_status(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if guard is not None:
            return guard
        window = self.window or Window(150, 3600, 150, time.time() + 3600)
        return web.json_response(
            {
                "ip_limit": 10000,
                "limit_time_unit": "HOURS",
                "remaining_ip_hits": 10000,
                "remaining_user_hits": max(0, window.remaining),
                "reset_time": datetime.fromtimestamp(window.reset_at).strftime("%Y-%m-%d %H:%M:%S"),
                "reset_time_in_seconds": max(0, int(window.reset_at - time.time()) + 1),
                "user_limit": window.limit,
            }
        )

    def _listed(self, status: dict[str, Any]) -> dict[str, Any]:
        """A post as list endpoints (statuses/mentions, a comment's ``status``) send it: over 140
        characters, its first 140 and a link to the whole, flagged ``isLongText``."""
        full = self.full_texts.get(status["idstr"], status["text"])
        if len(full) <= 140:
            return {**status, "text": full, "isLongText": False}
        link = f"http://m.weibo.cn/{status['user']['idstr']}/{status['idstr']}"
        return {**status, "text": f"{full[:140]}...全文： {link}", "isLongText": True}

    def _list(self, request: web.Request, rows: list[dict[str, Any]], key: str) -> web.Response:
        q = request.query
        count = min(int(q.get("count", "50")), 200)
        page = max(int(q.get("page", "1")), 1)
        rows = sorted(rows, key=lambda r: _id_key(r["idstr"]), reverse=True)
        if q.get("since_id"):
            rows = [r for r in rows if _id_key(r["idstr"]) > _id_key(q["since_id"])]
        if q.get("max_id") and q["max_id"] != "0":
            rows = [r for r in rows if _id_key(r["idstr"]) <= _id_key(q["max_id"])]
        chunk = rows[(page - 1) * count : page * count]
        answer = {
            key: [r for r in chunk if r["idstr"] not in self.hidden],
            "hasvisible": False,
            "previous_cursor": 0,
            "next_cursor": int(chunk[-1]["idstr"]) if len(rows) > page * count else 0,
            "total_number": len(rows),
        }
        if self.after_page is not None:
            then, self.after_page = self.after_page, None
            then()
        return web.json_response(answer)

    async def h_status_mentions(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if guard is not None:
            return guard
        rows = [s for s in self.statuses.values() if self._mentions_us(s["text"])]
        rows = [self._listed(s) for s in rows if s["user"]["idstr"] != self.uid]
        return self._list(request, rows, "statuses")

    async def h_show_batch(self, request: web.Request) -> web.Response:
        """statuses/show_batch: up to 50 comma-separated ``ids``; with ``isGetLongText=1`` a long
        post adds ``longText.longTextContent``. Ids that fail are left out; all failing is an
        error."""
        guard = await self._guard(request)
        if guard is not None:
            return guard
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            return self._error(request, 10016, "Miss required parameter (ids)")
        if len(ids) > 50:
            return self._error(request, 10008, "param error, see doc for more info")
        found = []
        for status_id in ids:
            if status_id not in self.statuses:
                continue
            status = self._listed(self.statuses[status_id])
            if status["isLongText"] and request.query.get("isGetLongText") == "1":
                status["longText"] = {"longTextContent": self.full_texts[status_id]}
            found.append(status)
        if not found:
            return self._error(request, 20101, "Target weibo does not exist!")
        return web.json_response({"statuses": found})

    async def h_comment_mentions(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if guard is not None:
            return guard
        rows = [c for c in self.comments.values() if self._mentions_us(c["text"])]
        rows = [
            {**c, "status": self._listed(c["status"])}
            for c in rows
            if c["user"]["idstr"] != self.uid
        ]
        return self._list(request, rows, "comments")

    async def _new_comment(self, request: web.Request, reply: bool) -> web.Response:
        guard = await self._guard(request)
        if guard is not None:
            return guard
        form = await request.post()
        needed = (
            "id",
            "comment",
            *(("cid",) if reply else ()),
            *(("rip",) if self.require_rip else ()),
        )
        for name in needed:
            if not form.get(name):
                return self._error(request, 10016, f"Miss required parameter ({name})")
        status_id = str(form["id"])
        if status_id not in self.statuses:
            return self._error(request, 20101, "Target weibo does not exist!")
        text = str(form["comment"])
        cid = str(form["cid"]) if reply else None
        if cid is not None:
            if cid not in self.comments:
                return self._error(request, 20201, "Target weibo comment does not exist!")
            text = f"回复@{self.comments[cid]['user']['screen_name']}:{text}"
        self.created.append({k: str(v) for k, v in form.items() if k != "access_token"})
        comment_id = self.comment(self.screen_name, status_id, text, reply_to=cid)
        if self.lost_answers:
            lost = self.lost_answers.pop(0)
            if lost is None:
                assert request.transport is not None
                request.transport.close()  # made; the client never hears of it
                return web.Response(status=200)
            return self._error(request, 10001, "System error", status=lost)
        return web.json_response(self.comments[comment_id])

    async def h_comments_by_me(self, request: web.Request) -> web.Response:
        """comments/by_me: the comments the account made, newest first, paged like mentions."""
        guard = await self._guard(request)
        if guard is not None:
            return guard
        rows = [c for c in self.comments.values() if c["user"]["idstr"] == self.uid]
        return self._list(request, rows, "comments")

    async def h_create(self, request: web.Request) -> web.Response:
        return await self._new_comment(request, reply=False)

    async def h_reply(self, request: web.Request) -> web.Response:
        return await self._new_comment(request, reply=True)
