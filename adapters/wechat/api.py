"""WeChat HTTP API client: one access token per account, shared by all gateway processes.

The token lives in Redis. When it is missing, or WeChat rejects it, exactly one process
fetches a new one (a lease on the account) while the others wait for it to appear: a burst of
sends after the token expired makes one token request, not one each (WeChat counts them).
A call rejected for its token (40001, 40014, 42001) is retried once with a fresh token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from adapters.token_cache import TokenCache

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Pseudo error codes for failures that never reached a WeChat answer.
HTTP_FAILED = -2
NETWORK_FAILED = -3

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)
TOKEN_WAIT_SECONDS = 20.0
MAX_MEDIA_BYTES = 32 * 1024 * 1024  # WeChat's own limits are 10 MB (video) and 20 MB (kf file)


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


# fetch(force) -> (access_token, expires_in seconds)
TokenFetcher = Callable[[bool], Awaitable[tuple[str, int]]]


class AccessTokens(TokenCache):
    def __init__(
        self,
        redis: Redis,
        cache_key: str,
        lock_key: str,
        fetch: TokenFetcher,
        on_error: Callable[[ApiError], None] | None = None,
    ) -> None:
        super().__init__(redis, cache_key, lock_key, self._renewed, _timed_out, TOKEN_WAIT_SECONDS)
        self.fetch = fetch
        # Told of every failed refresh (adapter health: the token_error count in /metrics).
        self.on_error = on_error

    async def _renewed(self, rejected: str | None) -> tuple[str, int]:
        try:
            token, expires_in = await self.fetch(False)
            if rejected and token == rejected:
                # The stable token endpoint still hands out the token WeChat refused: force it.
                token, expires_in = await self.fetch(True)
        except ApiError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise
        # Renew five minutes early so a token never expires between read and use.
        return token, max(60, int(expires_in) - 300)


def _timed_out(reason: str) -> ApiError:
    return ApiError(NETWORK_FAILED, reason)


async def _json_or_error(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    if resp.status != 200:
        raise ApiError(HTTP_FAILED, f"HTTP {resp.status} from {resp.url.path}")
    try:
        data = json.loads(await resp.read())
    except ValueError:
        raise ApiError(HTTP_FAILED, f"non-JSON answer from {resp.url.path}") from None
    if not isinstance(data, dict):
        raise ApiError(HTTP_FAILED, f"unexpected answer from {resp.url.path}")
    errcode = int(data.get("errcode") or 0)
    if errcode:
        raise ApiError(errcode, str(data.get("errmsg") or ""))
    return data


def stable_token_fetcher(
    http: aiohttp.ClientSession, base: str, app_id: str, app_secret: str
) -> TokenFetcher:
    """Official Account: ``POST /cgi-bin/stable_token``. Unlike ``/cgi-bin/token`` it does
    not invalidate the token other systems of the same account are using."""

    async def fetch(force: bool) -> tuple[str, int]:
        body = {
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": app_secret,
            "force_refresh": force,
        }
        try:
            async with http.post(
                f"{base}/cgi-bin/stable_token", json=body, timeout=REQUEST_TIMEOUT
            ) as resp:
                data = await _json_or_error(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"token request failed: {exc!r}") from None
        return _token_of(data)

    return fetch


def corp_token_fetcher(
    http: aiohttp.ClientSession, base: str, corp_id: str, secret: str
) -> TokenFetcher:
    """WeCom: ``GET /cgi-bin/gettoken?corpid=&corpsecret=`` (the kf application's secret)."""

    async def fetch(force: bool) -> tuple[str, int]:
        params = {"corpid": corp_id, "corpsecret": secret}
        try:
            async with http.get(
                f"{base}/cgi-bin/gettoken", params=params, timeout=REQUEST_TIMEOUT
            ) as resp:
                data = await _json_or_error(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"token request failed: {exc!r}") from None
        return _token_of(data)

    return fetch


def _token_of(data: dict[str, Any]) -> tuple[str, int]:
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ApiError(HTTP_FAILED, "token answer without access_token")
    return token, int(data.get("expires_in") or 7200)


_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


class WeChatApi:
    def __init__(self, http: aiohttp.ClientSession, base: str, tokens: AccessTokens) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.tokens = tokens

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        form: aiohttp.FormData | Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One API call with the access token; a token error refreshes once and retries."""
        token = await self.tokens.get()
        try:
            return await self._call_once(method, path, token, json_body, params, form)
        except ApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("WeChat refused the access token (%s); refreshing once", exc.errcode)
        token = await self.tokens.get(rejected=token)
        return await self._call_once(method, path, token, json_body, params, form)

    async def _call_once(
        self,
        method: str,
        path: str,
        token: str,
        json_body: Any,
        params: dict[str, str] | None,
        form: aiohttp.FormData | Callable[[], aiohttp.FormData] | None,
    ) -> dict[str, Any]:
        query = {**(params or {}), "access_token": token}
        headers = None
        if json_body is not None:
            # WeChat wants UTF-8 JSON, not \u escapes (they count against length limits).
            data: Any = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json; charset=utf-8"}
        else:
            # A FormData can be sent once only: a retry needs a fresh one, hence the factory.
            data = form() if callable(form) else form
        try:
            async with self.http.request(
                method,
                f"{self.base}{path}",
                params=query,
                data=data,
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            ) as resp:
                return await _json_or_error(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"{path} failed: {exc!r}") from None

    async def download_media(self, media_id: str) -> tuple[bytes, str | None, str | None]:
        """``GET /cgi-bin/media/get``: (bytes, content type, file name). An error comes back
        as a JSON body; a video comes back as JSON with a ``video_url`` to fetch."""
        token = await self.tokens.get()
        try:
            return await self._download_once(media_id, token)
        except ApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        token = await self.tokens.get(rejected=token)
        return await self._download_once(media_id, token)

    async def _download_once(
        self, media_id: str, token: str
    ) -> tuple[bytes, str | None, str | None]:
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self.http.get(
                f"{self.base}/cgi-bin/media/get", params=params, timeout=REQUEST_TIMEOUT
            ) as resp:
                ctype = resp.content_type
                if resp.status == 200 and ctype in ("application/json", "text/plain"):
                    data = await _json_or_error(resp)
                    url = data.get("video_url")
                    if isinstance(url, str) and url:
                        return await self._fetch_url(url)
                    raise ApiError(HTTP_FAILED, "media answer without content")
                if resp.status != 200:
                    raise ApiError(HTTP_FAILED, f"HTTP {resp.status} from media/get")
                body = await read_capped(resp)
                match = _FILENAME.search(resp.headers.get("Content-Disposition", ""))
                return body, ctype or None, match.group(1) if match else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(NETWORK_FAILED, f"media/get failed: {exc!r}") from None

    async def _fetch_url(self, url: str) -> tuple[bytes, str | None, str | None]:
        async with self.http.get(url, timeout=REQUEST_TIMEOUT) as resp:
            if resp.status != 200:
                raise ApiError(HTTP_FAILED, f"HTTP {resp.status} from the media URL")
            body = await read_capped(resp)
            return body, resp.content_type or None, url.rsplit("/", 1)[-1].split("?")[0] or None

    async def upload_image(self, data: bytes, filename: str, content_type: str | None) -> str:
        """``POST /cgi-bin/media/upload?type=image`` (temporary media, 3 days): the media_id."""

        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            fd.add_field(
                "media", data, filename=filename, content_type=content_type or "image/jpeg"
            )
            return fd

        result = await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": "image"}, form=form
        )
        media_id = result.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise ApiError(HTTP_FAILED, "upload answer without media_id")
        return media_id


async def read_capped(resp: aiohttp.ClientResponse, limit: int = MAX_MEDIA_BYTES) -> bytes:
    """The body, or ApiError past ``limit`` bytes (never buffers more than that)."""
    if resp.content_length and resp.content_length > limit:
        raise ApiError(HTTP_FAILED, f"media larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError(HTTP_FAILED, f"media larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
