"""The mailbox poller: new mail by UID, through IDLE when the server has it, polling otherwise.

State (UIDVALIDITY, last UID) lives in Redis and the last UID advances only after the handler
returned, i.e. after the inbox made the message durable: a crash re-reads, never skips, and the
inbox drops the repeat by Message-ID. A changed UIDVALIDITY (the folder was rebuilt) rescans
from shortly before the last message seen. Errors close the connection and retry with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.email.config import EmailConfig
from adapters.email.imap import ConnectionLost, ImapConnection, MailboxStatus
from adapters.oauth2 import TokenSource

log = logging.getLogger(__name__)

_BATCH = 50  # UIDs per size query
_HEAD_BYTES = 256 * 1024  # body bytes read of a message over the size limit
_RESCAN_MARGIN = timedelta(days=2)
_BACKOFF_MAX = 300.0
_POISON_TRIES = 5  # a message whose handling fails this often (not for lack of Redis) is skipped


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes
    size: int  # RFC822.SIZE as the server reports it
    truncated: bool  # over max_message_bytes: only the header and the start of the body


Handler = Callable[[FetchedMail], Awaitable[None]]
# Adapter health for /metrics (AdapterContext.report_health): figure name, value.
Health = Callable[[str, float], None]


def _no_health(name: str, value: float) -> None:
    pass


def imap_date(moment: datetime) -> str:
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return f"{moment.day:02d}-{months[moment.month - 1]}-{moment.year}"


class MailboxPoller:
    def __init__(
        self,
        config: EmailConfig,
        redis: Redis,
        state_key: str,
        handle: Handler,
        health: Health = _no_health,
        token: TokenSource | None = None,
    ) -> None:
        self.config = config
        self.token = token  # OAuth 2.0 sign-in
        self.redis = redis
        self.state_key = state_key  # a Redis hash: uidvalidity, last_uid, last_at
        self.handle = handle
        self.health = health
        self.status: dict[str, object] = {"state": "starting"}
        self.idles = 0  # IDLE commands completed (pushed, or renewed before the server's limit)
        self._failures: dict[tuple[int, int], int] = {}
        self.wake = asyncio.Event()  # set to force a sync (tests, admin "check now")

    # --- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll until cancelled; reconnect with exponential backoff on any failure."""
        backoff = 1.0
        while True:
            _raise_if_cancelled()
            conn = ImapConnection(self.config, self.token)
            try:
                await conn.open()
                backoff = 1.0
                await self._session(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status = {"state": "error", "error": f"{type(exc).__name__}: {exc}"[:300],
                               "at": int(time.time())}  # fmt: skip
                log.warning("email poller (%s): %s; retry in %.0fs",
                            self.config.imap_host, self.status["error"], backoff)  # fmt: skip
            finally:
                await conn.close()
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _session(self, conn: ImapConnection) -> None:
        use_idle = self.config.use_idle == "auto" and conn.supports_idle
        mode = "idle" if use_idle else "poll"
        while True:
            await self.sync(conn)
            _raise_if_cancelled()
            self.status = {"state": "connected", "mode": mode, "at": int(time.time())}
            if use_idle:
                await conn.idle(self.config.idle_timeout_seconds)
                self.idles += 1
            else:
                await self._sleep(conn)

    async def _sleep(self, conn: ImapConnection) -> None:
        self.wake.clear()
        waits = {
            asyncio.ensure_future(self.wake.wait()),
            asyncio.ensure_future(conn.lost.wait()),
        }
        try:
            await asyncio.wait(waits, timeout=self.config.poll_interval_seconds,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            for task in waits:
                task.cancel()
        if conn.lost.is_set():
            raise ConnectionLost("the IMAP connection was closed")

    # --- one pass ----------------------------------------------------------------------------
    async def sync(self, conn: ImapConnection) -> int:
        """Hand every message after the last UID to the handler, in order. Returns how many."""
        status = await conn.select(self.config.imap_folder)
        last_uid = await self._last_uid(conn, status)
        uids = [u for u in await conn.search("UID", f"{last_uid + 1}:*") if u > last_uid]
        done = 0
        newest: float | None = None  # arrival time of the newest message taken in this pass
        for start in range(0, len(uids), _BATCH):
            batch = uids[start : start + _BATCH]
            infos = await conn.infos(batch)
            for uid in batch:
                _raise_if_cancelled()
                handled = False
                if uid in infos:
                    handled = await self._one(conn, status.uidvalidity, uid, infos[uid].size)
                    done += 1
                    arrived = infos[uid].arrived
                    if arrived is not None and (newest is None or arrived > newest):
                        newest = arrived
                await self.redis.hset(self.state_key, mapping={
                    "last_uid": uid, "last_at": int(time.time() * 1000)})  # fmt: skip
                # Flagged only once the UID is saved: a server that never answers STORE then
                # costs a reconnect per message, not this message read again and again.
                if handled and self.config.mark_seen:
                    await self._mark_seen(conn, uid)
        self._report(newest)
        return done

    def _report(self, newest: float | None) -> None:
        """A good pass: /metrics gets its time, and how long the newest message it took had
        been on the server (INTERNALDATE, the server's own clock); 0 when it took nothing, the
        mailbox being read to its end."""
        now = time.time()
        self.health("poll_ok", now)
        self.health("poll_lag", max(0.0, now - newest) if newest is not None else 0.0)

    async def _one(self, conn: ImapConnection, validity: int, uid: int, size: int) -> bool:
        """Fetch one message and hand it over. False if it is gone or was skipped as poison."""
        truncated = size > self.config.max_message_bytes
        if truncated:
            raw = await conn.fetch_head(uid, min(_HEAD_BYTES, self.config.max_message_bytes))
        else:
            # A server that reports no size: its answer may take as long as the largest mail's.
            raw = await conn.fetch(uid, size or self.config.max_message_bytes)
        if raw is None:  # expunged in between
            return False
        try:
            await self.handle(FetchedMail(uid, raw, size, truncated))
        except (RedisError, OSError, TimeoutError, ConnectionError):
            raise  # the inbox is unreachable: retry later, never skip
        except Exception:
            key = (validity, uid)
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] < _POISON_TRIES:
                raise
            log.exception("email uid %s failed %s times; skipped", uid, _POISON_TRIES)
            await self.redis.hincrby(self.state_key, "skipped", 1)
            return False
        self._failures.pop((validity, uid), None)
        return True

    async def _mark_seen(self, conn: ImapConnection, uid: int) -> None:
        try:
            await conn.mark_seen(uid)
        except ConnectionLost:
            raise
        except Exception as exc:  # read-only folders: the UID state is what counts
            log.info("could not mark uid %s seen: %s", uid, exc)

    async def _last_uid(self, conn: ImapConnection, status: MailboxStatus) -> int:
        state = await self.redis.hgetall(self.state_key)
        state = {_s(k): _s(v) for k, v in state.items()}
        if state.get("uidvalidity") == str(status.uidvalidity):
            return int(state.get("last_uid") or 0)
        now = datetime.now(UTC)
        if state:
            # The folder was rebuilt: UIDs mean nothing now. Rescan from a little before the
            # last message we handled; the Message-ID dedupe drops what we already have.
            last_at = int(state.get("last_at") or 0) / 1000
            since = datetime.fromtimestamp(last_at, UTC) - _RESCAN_MARGIN
            log.warning("UIDVALIDITY of %s changed (%s -> %s): rescanning since %s",
                        self.config.imap_folder, state.get("uidvalidity"), status.uidvalidity,
                        since)  # fmt: skip
        elif self.config.initial_import_days:
            since = now - timedelta(days=self.config.initial_import_days)
        else:
            since = None
        last_uid = await self._uid_before(conn, status, since)
        await self.redis.hset(self.state_key, mapping={
            "uidvalidity": status.uidvalidity, "last_uid": last_uid,
            "last_at": int(time.time() * 1000)})  # fmt: skip
        return last_uid

    async def _uid_before(
        self, conn: ImapConnection, status: MailboxStatus, since: datetime | None
    ) -> int:
        """The UID after which to start: before the first message since ``since``, or the
        newest message now when ``since`` is None (new mail only)."""
        if since is not None:
            found = await conn.search("SINCE", imap_date(since))
            if found:
                return found[0] - 1
        if status.uidnext:
            return status.uidnext - 1
        every = await conn.search("ALL")
        return every[-1] if every else 0


def _raise_if_cancelled() -> None:
    """Honour a cancellation that a library swallowed (redis-py can, inside a command)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
