"""OAuth 2.0 access tokens for channels, kept fresh and shared by every gateway process.

Two grants (RFC 6749):
- ``refresh_token``: a user authorized the app once (X, Gmail, Microsoft 365 delegated). The
  access token lives an hour or two; the refresh token buys a new one and may itself be replaced
  by every refresh (X rotates it: the old one stops working at once; Microsoft too).
- ``client_credentials``: the app acts on its own (Microsoft 365 app-only access to a mailbox).

The current token (and refresh token) lives in Redis, sealed like channel credentials, and is
written before it is used; exactly one process refreshes at a time (``single_flight``) while
the others wait for its result. The channel's configured credentials are the seed: an admin who
authorizes the app again and pastes the new refresh token replaces whatever was stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from redis.asyncio import Redis

from gateway.lease import SingleFlightTimeout, single_flight
from gateway.secretbox import SecretBox, SecretKeyError

if TYPE_CHECKING:
    from adapters.base import AdapterContext

log = logging.getLogger(__name__)

RENEW_EARLY_SECONDS = 300  # a token never expires between read and use
WAIT_SECONDS = 30.0  # for another process's refresh
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)


# The current access token; given one the server just refused, a fresh one. Raises TokenError.
TokenSource = Callable[[str | None], Awaitable[str]]
T = TypeVar("T")


async def with_fresh_token(
    token: TokenSource,
    call: Callable[[str], Awaitable[T]],
    refused: Callable[[Exception], bool],
) -> T:
    """``call`` with the current token; when the server refuses it (revoked, expired early:
    ``refused`` says which errors mean that), once more with a fresh one."""
    current = await token(None)
    try:
        return await call(current)
    except Exception as exc:
        if not refused(exc):
            raise
    return await call(await token(current))


class TokenError(Exception):
    """No access token. ``transient``: the endpoint was unreachable or busy; try later.
    Otherwise the credentials were refused and an admin must act (``reason`` says what)."""

    def __init__(self, reason: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status


@dataclass(frozen=True)
class Client:
    """The app's registration: where its tokens come from and who asks."""

    token_url: str
    client_id: str
    client_secret: str | None = None
    scope: str | None = None  # asked for on every request when set
    # Confidential clients: HTTP Basic (X) or client_secret in the form (Google, Microsoft).
    basic_auth: bool = True
    # The settings field an admin fills with a new refresh token (named in error messages).
    refresh_field: str = "refresh_token"


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None  # None under client credentials
    expires_at: float  # epoch seconds


def seed_id(client: Client, refresh_token: str | None) -> str:
    """Names the configured credentials without storing them in clear. With a refresh token,
    only a new one starts afresh (a new client secret must not drop the rotated token)."""
    if refresh_token:
        parts = [client.client_id, refresh_token]
    else:
        parts = [client.token_url, client.client_id, client.client_secret or "", client.scope or ""]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def parse_token_answer(
    status: int, raw: bytes, old_refresh: str | None, now: float, client: Client
) -> Token:
    """The token endpoint's answer (RFC 6749 section 5) as a token, or the error it means."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if status >= 500 or status in (408, 429):
        raise TokenError(
            f"the token endpoint answered HTTP {status}", transient=True, status=status
        )
    if not isinstance(body, dict):
        raise TokenError(
            f"the token endpoint answered HTTP {status} without JSON", transient=True, status=status
        )
    if status != 200:
        code = str(body.get("error") or "error")
        detail = str(body.get("error_description") or body.get("detail") or "").strip()
        if code == "invalid_client" or old_refresh is None:
            advice = "check the client id, client secret and scope"
        else:
            advice = (
                f"authorize the app again and put the new {client.refresh_field} in the channel"
            )
        raise TokenError(
            f"the token request was refused ({code}{': ' + detail if detail else ''}): {advice}",
            transient=False,
            status=status,
        )
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenError("the token endpoint answered without an access_token", transient=True)
    try:
        lifetime = float(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    refresh = body.get("refresh_token")
    return Token(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else old_refresh,
        expires_at=now + lifetime,
    )


class OAuth2Token:
    """The channel's current access token: renewed shortly before it expires, or at once when
    the platform refuses it (``get(rejected=...)``)."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        redis: Redis,
        box: SecretBox,
        state_key: str,
        lock_key: str,
        client: Client,
        refresh_token: str | None = None,  # None: the client credentials grant
        access_token: str | None = None,
        on_error: Callable[[TokenError], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.redis = redis
        self.box = box
        self.state_key = state_key
        self.lock_key = lock_key
        self.client = client
        self.seed_refresh = refresh_token
        self.seed = seed_id(client, refresh_token)
        # A configured access token, used until it is refused (its expiry is unknown).
        self.seed_access = access_token
        self.on_error = on_error
        self.clock = clock

    async def get(self, rejected: str | None = None) -> str:
        """A usable access token. ``rejected``: one the platform just refused."""
        stored: Token | None = None

        async def usable() -> str | None:
            nonlocal stored
            stored = await self.load()
            return self._usable(stored, rejected)

        try:
            return await single_flight(
                self.redis,
                self.lock_key,
                ready=usable,
                # single_flight reads again under the lease just before: renew from that read.
                produce=lambda: self._renew(stored),
                wait_seconds=WAIT_SECONDS,
            )
        except SingleFlightTimeout:
            raise TokenError(
                "timed out waiting for another process's refresh", transient=True
            ) from None

    def _usable(self, token: Token | None, rejected: str | None) -> str | None:
        if token is None:
            return self.seed_access if self.seed_access and self.seed_access != rejected else None
        fresh = token.expires_at - RENEW_EARLY_SECONDS > self.clock()
        return token.access_token if fresh and token.access_token != rejected else None

    async def load(self) -> Token | None:
        """The stored token, when it grew from the configured credentials."""
        raw = await self.redis.hgetall(self.state_key)
        row = {_text(k): _text(v) for k, v in raw.items()}
        if row.get("seed") != self.seed:
            return None
        try:
            refresh = row.get("refresh_token")
            return Token(
                access_token=self.box.open(row["access_token"]),
                refresh_token=self.box.open(refresh) if refresh else None,
                expires_at=float(row["expires_at"]),
            )
        except (KeyError, ValueError, SecretKeyError):
            log.warning("%s: stored OAuth 2.0 token unreadable; starting afresh", self.state_key)
            return None

    async def _renew(self, stored: Token | None) -> str:
        refresh = stored.refresh_token if stored and stored.refresh_token else self.seed_refresh
        try:
            token = await self._request(refresh)
        except TokenError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise
        # Stored before use: a rotated refresh token is dead from this moment on.
        row = {"seed": self.seed, "access_token": self.box.seal(token.access_token),
               "expires_at": str(token.expires_at)}  # fmt: skip
        if token.refresh_token:
            row["refresh_token"] = self.box.seal(token.refresh_token)
        await self.redis.hset(self.state_key, mapping=row)
        log.info("%s: access token renewed", self.state_key)
        return token.access_token

    async def _request(self, refresh_token: str | None) -> Token:
        client = self.client
        form = {"client_id": client.client_id}
        if refresh_token:
            form |= {"grant_type": "refresh_token", "refresh_token": refresh_token}
        else:
            form["grant_type"] = "client_credentials"
        if client.scope:
            form["scope"] = client.scope
        headers = {}
        if client.client_secret and client.basic_auth:
            pair = f"{client.client_id}:{client.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif client.client_secret:
            form["client_secret"] = client.client_secret
        try:
            async with self.http.post(
                client.token_url, data=form, headers=headers, timeout=REQUEST_TIMEOUT
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenError(f"token request: network error: {exc!r}", transient=True) from None
        return parse_token_answer(status, raw, refresh_token, self.clock(), client)


def channel_token(
    ctx: AdapterContext,
    client: Client,
    *,
    refresh_token: str | None,
    access_token: str | None = None,
) -> OAuth2Token:
    """The token of one channel: stored and leased under its id; every failed request is
    logged and counted as the channel's ``token_error`` in /metrics."""
    if ctx.box is None:
        raise RuntimeError("OAuth 2.0 tokens need the gateway's secret box (AdapterContext.box)")

    def failed(exc: TokenError) -> None:
        log.warning("channel %s: OAuth 2.0 token: %s", ctx.channel_id, exc.reason)
        ctx.report_health("token_error", 1)

    return OAuth2Token(
        http=ctx.http,
        redis=ctx.redis,
        box=ctx.box,
        state_key=ctx.state_key("oauth2"),
        lock_key=ctx.keys.lease(f"{ctx.channel_id}:oauth2"),
        client=client,
        refresh_token=refresh_token,
        access_token=access_token,
        on_error=failed,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
