"""What the three social pollers share: API errors, rate-limit windows, backoff, one HTTP call
with retries, and the poll loop.

A poll never advances a cursor until the mentions it covers were delivered, so every failure here
(a 429, a burst of 5xx, a timeout) only delays mentions: the next poll asks again from the same
cursor, and the inbox drops the ones already seen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# Never trust a reset time further away than this (clock skew, a bogus header).
MAX_RATE_WAIT = 16 * 60.0
# The same for a platform's documented 24-hour window (X's daily caps): a bit over a day.
MAX_DAILY_WAIT = 25 * 3600.0


class ApiError(Exception):
    """A platform call that failed. ``transient`` ones are retried later."""

    transient = False

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class TransientApiError(ApiError):
    transient = True


class RateLimited(TransientApiError):
    """429 or the platform's rate-limit error: wait until ``retry_at`` (epoch seconds)."""

    def __init__(self, reason: str, *, retry_at: float, status: int | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_at = retry_at


class PermanentApiError(ApiError):
    """Bad credentials, a deleted post, a rejected text: retrying the same call will not help."""


class DailyLimitReached(PermanentApiError):
    """A 24-hour limit is used up until ``retry_at`` (epoch seconds). Permanent for a send: a
    reply retried every few minutes would sit for up to a day, so it fails at once and the agent
    decides. A poll waits until ``retry_at`` (at most ``MAX_DAILY_WAIT``)."""

    def __init__(self, reason: str, *, retry_at: float, status: int | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_at = retry_at


@dataclass(frozen=True)
class RateInfo:
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds


class RateGate:
    """The latest rate-limit window seen per endpoint: when ``remaining`` reached 0, callers wait
    for the reset instead of spending a request on a certain 429."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, RateInfo] = {}
        self._refusals: dict[str, DailyLimitReached] = {}

    def update(self, endpoint: str, info: RateInfo) -> None:
        if info.remaining is not None or info.reset_at is not None:
            self._windows[endpoint] = info

    def block(self, endpoint: str, until: float) -> None:
        self._windows[endpoint] = RateInfo(remaining=0, reset_at=until)

    def blocked_until(self, endpoint: str) -> float | None:
        info = self._windows.get(endpoint)
        if info is None or info.remaining is None or info.remaining > 0 or info.reset_at is None:
            return None
        return info.reset_at if info.reset_at > self._clock() else None

    def refuse(self, endpoint: str, error: DailyLimitReached) -> None:
        """Until ``error.retry_at`` every call to ``endpoint`` fails with ``error`` at once: a
        request would only fetch the same refusal."""
        self._refusals[endpoint] = error

    def refusal(self, endpoint: str) -> DailyLimitReached | None:
        error = self._refusals.get(endpoint)
        if error is not None and error.retry_at <= self._clock():
            del self._refusals[endpoint]
            return None
        return error


class Backoff:
    """Exponential backoff with full jitter (AWS style): 0..min(cap, base * 2**n)."""

    def __init__(self, base: float = 1.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.failures))
        self.failures += 1
        return max(self.base / 2, random.uniform(0, ceiling))

    def reset(self) -> None:
        self.failures = 0


def wait_seconds(
    retry_at: float, clock: Callable[[], float] = time.time, *, cap: float = MAX_RATE_WAIT
) -> float:
    """Seconds to wait for a reset time, at least a second, at most ``cap``."""
    return min(cap, max(1.0, retry_at - clock()))


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None


RateInfoReader = Callable[[Mapping[str, str]], RateInfo]
# (status, parsed body or None, headers) -> the error this response means, or None when it is good.
Classifier = Callable[[int, Any, Mapping[str, str]], ApiError | None]
# Given a rate-limit error, ask the platform when the window resets (epoch seconds), if it can say.
ResetLookup = Callable[[RateLimited], Awaitable[float | None]]


class HttpApi:
    """One platform's HTTP calls: rate-limit windows honoured, transient failures retried.

    ``wait=True`` (pollers): sleep through a rate-limit window or a short 5xx burst and retry the
    same request, up to ``attempts`` times, then raise. ``wait=False`` (sends from the outbox):
    raise at once, the outbox retries with the ``retry_after`` it is given.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        rate_info: RateInfoReader,
        classify: Classifier,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff_base: float = 1.0,
        reset_lookup: ResetLookup | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.reset_lookup = reset_lookup
        self.rate_info = rate_info
        self.classify = classify
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.clock = clock
        self.gate = RateGate(clock)

    async def call(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        wait: bool = True,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        params: Any = None,
        json_body: Any = None,
        data: Any = None,
    ) -> ApiResponse:
        backoff = Backoff(self.backoff_base, cap=60.0)
        attempt = 0
        while True:
            refused = self.gate.refusal(endpoint)
            if refused is not None:
                raise refused.with_traceback(None)
            until = self.gate.blocked_until(endpoint)
            if until is not None:
                if not wait:
                    raise RateLimited(f"{endpoint}: rate limit exhausted", retry_at=until)
                await asyncio.sleep(wait_seconds(until, self.clock))
            result = await self._once(method, url, endpoint, headers, params, json_body, data)
            if isinstance(result, ApiResponse):
                return result
            attempt += 1
            if isinstance(result, RateLimited):
                if self.reset_lookup is not None:
                    result.retry_at = await self._lookup_reset(result)
                self.gate.block(endpoint, result.retry_at)
            elif isinstance(result, DailyLimitReached):
                self.gate.refuse(endpoint, result)
            if not result.transient or not wait or attempt >= self.attempts:
                raise result
            if not isinstance(result, RateLimited):
                delay = backoff.next()
                log.info("%s %s: %s; retry in %.1fs", method, endpoint, result.reason, delay)
                await asyncio.sleep(delay)

    async def _lookup_reset(self, error: RateLimited) -> float:
        assert self.reset_lookup is not None
        try:
            found = await self.reset_lookup(error)
        except Exception as exc:  # the lookup is a refinement; the error's own guess stands
            log.info("rate-limit reset lookup failed: %r", exc)
            return error.retry_at
        return found if found is not None else error.retry_at

    async def _once(
        self,
        method: str,
        url: str,
        endpoint: str,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None,
        params: Any,
        json_body: Any,
        data: Any,
    ) -> ApiResponse | ApiError:
        # Headers may be a function: OAuth 1.0a signs each request with a fresh nonce.
        hdrs = headers() if callable(headers) else headers
        try:
            async with self.http.request(
                method,
                url,
                headers=hdrs,
                params=params,
                json=json_body,
                data=data,
                timeout=self.timeout,
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            return TransientApiError(f"{endpoint}: network error: {exc!r}")
        self.gate.update(endpoint, self.rate_info(resp_headers))
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        error = self.classify(status, body, resp_headers)
        if error is not None:
            return error
        if body is None and status != 204:
            # A proxy's HTML page with a 200: treat as a passing fault.
            return TransientApiError(
                f"{endpoint}: HTTP {status} without a JSON body", status=status
            )
        return ApiResponse(status, resp_headers, body)


def default_classify(
    status: int,
    reason: str,
    *,
    retry_at: float | None,
    clock: Callable[[], float] = time.time,
) -> ApiError | None:
    """The HTTP-status part every platform shares."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return RateLimited(reason, retry_at=retry_at or clock() + 60.0, status=status)
    if status >= 500 or status == 408:
        return TransientApiError(reason, status=status)
    return PermanentApiError(reason, status=status)


async def poll_loop(
    name: str,
    poll_once: Callable[[], Awaitable[None]],
    *,
    interval: float,
    keep_going: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.time,
    error_cap: float = 300.0,
) -> None:
    """Run ``poll_once`` every ``interval`` seconds until cancelled or ``keep_going()`` turns
    false (a second way out: redis-py can swallow a cancellation that lands mid-command). A rate
    limit waits for its reset; other failures back off exponentially (a bad token is retried
    slowly, so fixing the credentials resumes the channel without a restart)."""
    backoff = Backoff(base=max(1.0, min(interval, 5.0)), cap=error_cap)
    while keep_going():
        try:
            await poll_once()
        except asyncio.CancelledError:
            raise
        except RateLimited as exc:
            delay = wait_seconds(exc.retry_at, clock)
            log.warning("%s: rate limited, next poll in %.0fs", name, delay)
        except DailyLimitReached as exc:
            # A documented daily reset: waiting only minutes would just fetch the same refusal.
            delay = wait_seconds(exc.retry_at, clock, cap=MAX_DAILY_WAIT)
            log.warning("%s: %s; next poll in %.0fs", name, exc.reason, delay)
        except PermanentApiError as exc:
            delay = max(interval, backoff.next())
            log.error("%s: %s (retry in %.0fs)", name, exc.reason, delay)
        except Exception as exc:
            delay = max(interval / 2, backoff.next())
            log.warning("%s: poll failed: %r (retry in %.1fs)", name, exc, delay)
        else:
            backoff.reset()
            delay = interval
        await asyncio.sleep(delay)
