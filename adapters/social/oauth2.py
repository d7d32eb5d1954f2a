"""OAuth 2.0 user-context access tokens kept fresh with a rotating refresh token (X).

X's user-context access tokens live two hours. A refresh token (scope ``offline.access``) buys a
new one at ``POST /2/oauth2/token`` and is itself replaced by every refresh: the old one stops
working at once. So the current pair lives in Redis, sealed like channel credentials; exactly one
process refreshes at a time (a lease) while the others wait for its result, and the pair is
written before it is used. The channel's configured refresh token is the seed: an admin who
authorizes the app again and pastes the new one replaces whatever was stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from redis.asyncio import Redis

from adapters.social.poller import ApiError, PermanentApiError, TransientApiError
from gateway.lease import SingleFlightTimeout, single_flight
from gateway.secretbox import SecretBox, SecretKeyError

log = logging.getLogger(__name__)

RENEW_EARLY_SECONDS = 300  # a token never expires between read and use
WAIT_SECONDS = 30.0  # for another process's refresh
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass(frozen=True)
class Client:
    """The app's registration: where its tokens come from and who asks."""

    token_url: str
    client_id: str
    client_secret: str | None = None  # confidential clients authenticate with HTTP Basic


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds


def seed_id(refresh_token: str) -> str:
    """Names the configured refresh token without storing it in clear."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:32]


def parse_token_answer(status: int, raw: bytes, old_refresh: str, now: float) -> TokenPair:
    """The token endpoint's answer (RFC 6749 section 5) as a pair, or the error it means."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if status >= 500 or status in (408, 429):
        raise TransientApiError(f"the token endpoint answered HTTP {status}", status=status)
    if not isinstance(body, dict):
        raise TransientApiError(f"the token endpoint answered HTTP {status} without JSON")
    if status != 200:
        code = str(body.get("error") or "error")
        detail = body.get("error_description") or body.get("detail") or ""
        advice = (
            "check client_id and client_secret"
            if code == "invalid_client"
            else "authorize the app again and put the new refresh_token in the channel's settings"
        )
        raise PermanentApiError(
            f"the token refresh was refused ({code}{': ' + str(detail) if detail else ''}): "
            + advice,
            status=status,
        )
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise TransientApiError("the token endpoint answered without an access_token")
    try:
        lifetime = float(body.get("expires_in") or 7200)
    except (TypeError, ValueError):
        lifetime = 7200.0
    refresh = body.get("refresh_token")
    return TokenPair(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else old_refresh,
        expires_at=now + lifetime,
    )


class RefreshingToken:
    """The account's current access token, refreshed shortly before it expires or when the
    platform refuses it."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        redis: Redis,
        box: SecretBox,
        state_key: str,
        lock_key: str,
        client: Client,
        refresh_token: str,
        access_token: str | None = None,
        on_error: Callable[[ApiError], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.redis = redis
        self.box = box
        self.state_key = state_key
        self.lock_key = lock_key
        self.client = client
        self.seed_refresh = refresh_token
        self.seed = seed_id(refresh_token)
        # The configured access token, used until it is refused (its expiry is unknown).
        self.seed_access = access_token
        self.on_error = on_error
        self.clock = clock

    async def get(self, rejected: str | None = None) -> str:
        """A usable access token. ``rejected``: one the platform just refused."""
        try:
            return await single_flight(
                self.redis,
                self.lock_key,
                ready=lambda: self._usable(rejected),
                produce=self._refresh,
                wait_seconds=WAIT_SECONDS,
            )
        except SingleFlightTimeout:
            raise TransientApiError("timed out waiting for another process's refresh") from None

    async def _usable(self, rejected: str | None) -> str | None:
        pair = await self.load()
        if pair is None:
            return self.seed_access if self.seed_access and self.seed_access != rejected else None
        fresh = pair.expires_at - RENEW_EARLY_SECONDS > self.clock()
        return pair.access_token if fresh and pair.access_token != rejected else None

    async def load(self) -> TokenPair | None:
        """The stored pair, when it grew from the configured refresh token."""
        raw = await self.redis.hgetall(self.state_key)
        row = {_text(k): _text(v) for k, v in raw.items()}
        if row.get("seed") != self.seed:
            return None
        try:
            return TokenPair(
                access_token=self.box.open(row["access_token"]),
                refresh_token=self.box.open(row["refresh_token"]),
                expires_at=float(row["expires_at"]),
            )
        except (KeyError, ValueError, SecretKeyError):
            log.warning(
                "%s: stored OAuth 2.0 tokens unreadable; starting from the seed", self.state_key
            )
            return None

    async def _refresh(self) -> str:
        stored = await self.load()
        old_refresh = stored.refresh_token if stored else self.seed_refresh
        try:
            pair = await self._request(old_refresh)
        except ApiError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise
        # Stored before use: the old refresh token is dead from this moment on.
        await self.redis.hset(
            self.state_key,
            mapping={
                "seed": self.seed,
                "access_token": self.box.seal(pair.access_token),
                "refresh_token": self.box.seal(pair.refresh_token),
                "expires_at": str(pair.expires_at),
            },
        )
        log.info("%s: access token refreshed", self.state_key)
        return pair.access_token

    async def _request(self, refresh_token: str) -> TokenPair:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client.client_id,
        }
        headers = {}
        if self.client.client_secret:
            pair = f"{self.client.client_id}:{self.client.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            async with self.http.post(
                self.client.token_url, data=form, headers=headers, timeout=REQUEST_TIMEOUT
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientApiError(f"token refresh: network error: {exc!r}") from None
        return parse_token_answer(status, raw, refresh_token, self.clock())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
