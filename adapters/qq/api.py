"""QQ Bot OpenAPI client: one access token per bot, shared by all gateway processes.

Token (bot.q.qq.com/wiki/develop/api-v2/dev-prepare/interface-framework/api-use.html):
``POST https://bots.qq.com/app/getAppAccessToken`` with ``{"appId", "clientSecret"}`` answers
``{"access_token", "expires_in": "7200"}`` (seconds, as a string). The platform hands out the
same token until the last 60 seconds of its life, then a new one while the old stays valid for
those 60 seconds; so the cached copy is dropped 50 seconds before it expires and the next call
fetches the new one. Exactly one process fetches (``single_flight``) while the others wait.
Every call carries ``Authorization: QQBot {access_token}``; one refused for its token (HTTP 401,
codes 11241, 11243, 11244) is retried once with a fresh token. The "system error" codes 11242,
11252, 11263 and 11281 ("一般重试一次会好，最多只能重试一次", error-trace/openapi.html) are
retried once, after a pause, with the same body (a POST that did go through the first time is
then refused as a duplicate msg_seq, not shown twice); a second such answer is final.

Errors (.../dev-prepare/error-trace/openapi.html): a non-2xx HTTP status with a JSON body
``{"code", "message"}`` (the platform also sends ``err_code`` and ``trace_id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from adapters.token_cache import TokenCache

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.sgroup.qq.com"
SANDBOX_API_BASE = "https://sandbox.api.sgroup.qq.com"
DEFAULT_TOKEN_URL = "https://bots.qq.com/app/getAppAccessToken"

# Pseudo codes for failures that never reached a platform answer.
HTTP_FAILED = -2
NETWORK_FAILED = -3
TOKEN_CODES = frozenset({11241, 11243, 11244})
# error-trace/openapi.html: "系统错误，一般重试一次会好，最多只能重试一次" (11242 is "校验 token
# 失败", a system error too: a new token does not help, and the platform allows one retry only).
RETRY_ONCE_CODES = frozenset({11242, 11252, 11263, 11281})
RETRY_ONCE_PAUSE = 1.0  # seconds before that one retry
# "调用发消息 http 接口的 timeout 建议设置最低为 5 秒" (send.html): well above that.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)
TOKEN_WAIT_SECONDS = 20.0
RENEW_BEFORE_SECONDS = 50  # inside the platform's last minute, when it issues the next token


class ApiError(Exception):
    def __init__(
        self, code: int, message: str, *, status: int = 0, retry_after: float | None = None
    ) -> None:
        super().__init__(f"QQ error {code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def token_refused(self) -> bool:
        return self.status == 401 or self.code in TOKEN_CODES


class AccessTokens(TokenCache):
    def __init__(
        self,
        redis: Redis,
        http: aiohttp.ClientSession,
        token_url: str,
        app_id: str,
        secret: str,
        cache_key: str,
        lock_key: str,
        on_error: Callable[[ApiError], None] | None = None,
    ) -> None:
        super().__init__(redis, cache_key, lock_key, self._renewed, _timed_out, TOKEN_WAIT_SECONDS)
        self.http = http
        self.token_url = token_url
        self.app_id = app_id
        self.secret = secret
        self.on_error = on_error  # every failed fetch (the token_error count in /metrics)

    async def refresh(self) -> str:
        """A new token from the platform (the credentials checked), cached for everyone."""
        return await self._renew(None)

    async def _renewed(self, _rejected: str | None) -> tuple[str, int]:
        try:
            token, expires_in = await self.fetch()
        except ApiError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise
        return token, expires_in - RENEW_BEFORE_SECONDS

    async def fetch(self) -> tuple[str, int]:
        """One token request: (access_token, expires_in seconds)."""
        body = {"appId": self.app_id, "clientSecret": self.secret}
        try:
            async with self.http.post(self.token_url, json=body, timeout=REQUEST_TIMEOUT) as resp:
                data = await _json(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"token request failed: {exc!r}") from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            code = _int(data.get("code"))
            message = str(data.get("message") or "token answer without access_token")
            raise ApiError(code or HTTP_FAILED, message)
        try:
            expires_in = int(data.get("expires_in") or 7200)  # documented as a string
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in


def _timed_out(reason: str) -> ApiError:
    return ApiError(NETWORK_FAILED, reason)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    raw = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON answer of a 2xx; ApiError with the platform's code and message otherwise."""
    raw = await resp.read()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = None
    if 200 <= resp.status < 300 and data is not None:
        code = _int(data.get("code"))
        if code and "id" not in data and "url" not in data and "access_token" not in data:
            # "201,202 异步操作成功，虽然说成功，但是会返回一个 error body"
            raise ApiError(code, str(data.get("message") or ""), status=resp.status)
        return data
    if 200 <= resp.status < 300:
        raise ApiError(HTTP_FAILED, f"non-JSON answer from {resp.url.path}", status=resp.status)
    code = _int((data or {}).get("code") or (data or {}).get("err_code"))
    message = str((data or {}).get("message") or f"HTTP {resp.status} from {resp.url.path}")
    raise ApiError(code, message, status=resp.status, retry_after=_retry_after(resp))


class QQApi:
    def __init__(self, http: aiohttp.ClientSession, base: str, tokens: AccessTokens) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.tokens = tokens

    async def call(self, method: str, path: str, json_body: Any = None) -> dict[str, Any]:
        """One API call with the access token. A token refusal refreshes the token once and
        retries; a RETRY_ONCE_CODES answer is retried once after RETRY_ONCE_PAUSE (the same
        body: a msg_seq already accepted is refused as a duplicate). Both may happen, once each."""
        token = await self.tokens.get()
        refreshed = retried = False
        while True:
            try:
                return await self._call_once(method, path, token, json_body)
            except ApiError as exc:
                if exc.token_refused and not refreshed:
                    refreshed = True
                    log.info(
                        "QQ refused the access token (%s %s); refreshing once",
                        exc.status,
                        exc.code,
                    )
                    token = await self.tokens.get(rejected=token)
                elif exc.code in RETRY_ONCE_CODES and not retried:
                    retried = True
                    log.info("QQ answered %s on %s %s; retrying once", exc.code, method, path)
                    await asyncio.sleep(RETRY_ONCE_PAUSE)
                else:
                    raise

    async def _call_once(
        self, method: str, path: str, token: str, json_body: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"QQBot {token}"}
        data = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            async with self.http.request(
                method, f"{self.base}{path}", data=data, headers=headers, timeout=REQUEST_TIMEOUT
            ) as resp:
                return await _json(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"{path} failed: {exc!r}") from None

    async def gateway_url(self) -> str:
        """``GET /gateway`` (.../openapi/wss/url_get.html): ``{"url": "wss://..."}``."""
        data = await self.call("GET", "/gateway")
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise ApiError(HTTP_FAILED, "gateway answer without url")
        return url
