"""A pipeline on one connection kept for the group commit, without redis-py's per-command work.

redis-py's ``Pipeline`` takes a pooled connection, builds a command stack, encodes every
argument in Python, wraps the call in its retry and observability layers and reads each reply
under a timeout of its own: about 45 us of CPU per command on this project's machines, against
about 8 us here (``bench/redis_wire.py``). The group commit sends one pipeline at a time, so it
can keep one connection of the client's pool for itself and write each batch as one buffer
packed by hiredis, then read the replies under one timeout for the whole batch.

What is kept from redis-py: its connection (connect, AUTH, SELECT, TLS, the reply parser and its
error classes) and its reply callbacks (HGETALL still answers a dict). What this adds: a batch
that fails or is cancelled mid-way drops the connection (its replies can no longer be told
apart), and a READONLY reply does too (the server is no longer the primary; a reconnection may
find the new one behind the same address). Redis Cluster and Sentinel keep redis-py's pipelines
(``usable`` says why).

``Subscriber`` does the same for a pub/sub channel: a connection of the pool kept for the
subscription, each message read with the connection's own parser, where redis-py's ``PubSub``
adds its retry, health-check and observability layers to every message (most of the cost of
receiving another process's events).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.redis_client import block_seconds

try:
    from hiredis import pack_command as _pack
except ImportError:  # the pure-Python parser (benchmarks shadow hiredis): redis-py's packer
    _pack = None


def usable(redis: Any) -> bool:
    """One server. Not a cluster (it routes by slot), nor a Sentinel's primary: its pool moves
    idle connections to a new primary as soon as one connection learns of it, while a connection
    kept in use would write to the old one until it is demoted, and those writes are lost when
    it resyncs (seen in tests/cluster/test_sentinel.py)."""
    return isinstance(redis, aioredis.Redis) and not isinstance(
        redis.connection_pool, SentinelConnectionPool
    )


class Wire:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._conn: AbstractConnection | None = None

    async def send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies of ``commands`` in order, a refused command's error in its place (like
        ``pipeline.execute(raise_on_error=False)``). A command that cannot be encoded gets a
        ``DataError`` and is not sent. The connection failing fails the whole call."""
        conn = self._conn
        if conn is None:
            conn = self._conn = await self.redis.connection_pool.get_connection()
        elif not conn.is_connected or _closed_by_server(conn):
            # Redis restarted or dropped us since the last batch: as the pool would, connect
            # afresh before sending rather than fail this batch on a dead socket.
            await conn.disconnect()
            await conn.connect()
        packed, refused = self._pack(conn, commands)
        replies: list[Any] = [None] * len(commands)
        for index, error in refused.items():
            replies[index] = error
        sent = [i for i in range(len(commands)) if i not in refused]
        if not sent:
            return replies
        timeout = conn.socket_timeout
        block = max(block_seconds(commands[i]) for i in sent)
        if timeout is not None:
            timeout = None if block == math.inf else timeout + block
        parser = conn._parser  # redis-py's own reader of this connection
        try:
            async with asyncio.timeout(timeout):
                writer = conn._writer
                writer.write(packed)
                await writer.drain()
                for index in sent:
                    replies[index] = await parser.read_response()
        except BaseException as exc:
            # Replies still on the way would answer the next batch: start afresh.
            await conn.disconnect(nowait=True)
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError(f"Timeout reading from {_where(conn)}") from None
            if isinstance(exc, OSError):
                raise RedisConnectionError(f"Error reading from {_where(conn)}: {exc}") from exc
            raise
        callbacks = self.redis.response_callbacks
        readonly = False
        for index in sent:
            reply = replies[index]
            if isinstance(reply, Exception):
                readonly = readonly or isinstance(reply, ReadOnlyError)
                continue
            callback = callbacks.get(_name(commands[index][0]))
            if callback is not None:
                replies[index] = callback(reply)
        if readonly:
            await conn.disconnect()
        return replies

    @staticmethod
    def _pack(
        conn: AbstractConnection, commands: Sequence[tuple[Any, ...]]
    ) -> tuple[bytes, dict[int, Exception]]:
        parts: list[bytes] = []
        refused: dict[int, Exception] = {}
        for index, command in enumerate(commands):
            try:
                if _pack is not None:
                    parts.append(_pack(command))
                else:
                    parts.extend(conn.pack_command(*command))
            except (TypeError, DataError) as exc:
                refused[index] = DataError(f"cannot send {_name(command[0])}: {exc}")
        return b"".join(parts), refused

    async def close(self) -> None:
        """The connection goes back to the pool (dropped if a batch was cut off)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self.redis.connection_pool.release(conn)


@dataclass(frozen=True)
class Keepalive:
    """A subscription silent for ``idle`` seconds is sent a PING (allowed while subscribed);
    one that then stays silent ``answer`` seconds more is lost. A half-open connection (a NAT
    or proxy that dropped it, a host gone without a reset) otherwise waits for ever: no event
    reaches this process again and it never learns it should look again."""

    idle: float = 15.0
    answer: float = 10.0


KEEPALIVE = Keepalive()


class Silence:
    """When a subscription last heard anything, and whether it was pinged since."""

    def __init__(self, keepalive: Keepalive) -> None:
        self.keepalive = keepalive
        self._loop = asyncio.get_running_loop()
        self._heard = self._loop.time()
        self._pinged_at: float | None = None

    def heard(self) -> None:
        self._heard = self._loop.time()
        self._pinged_at = None

    def wait(self) -> float:
        """Seconds to wait for a reply before ``due`` must be asked again."""
        now = self._loop.time()
        if self._pinged_at is None:
            return max(0.0, self._heard + self.keepalive.idle - now)
        return max(0.0, self._pinged_at + self.keepalive.answer - now)

    def due(self, where: str) -> bool:
        """Whether to send a PING now; raises once a PING went unanswered too long."""
        now = self._loop.time()
        if self._pinged_at is not None:
            if now - self._pinged_at >= self.keepalive.answer:
                raise RedisConnectionError(
                    f"no answer from {where} for {self.keepalive.answer:g} s after a PING: "
                    "the subscription is lost"
                )
            return False
        if now - self._heard < self.keepalive.idle:
            return False
        self._pinged_at = now
        return True


class Subscriber:
    """One pub/sub channel on a connection of the pool kept for it (``usable`` clients only)."""

    def __init__(
        self, redis: aioredis.Redis, channel: str, keepalive: Keepalive = KEEPALIVE
    ) -> None:
        self.redis = redis
        self.channel = channel
        self.keepalive = keepalive
        self._conn: AbstractConnection | None = None

    async def subscribe(self) -> None:
        """SUBSCRIBE, and its confirmation read within the socket timeout."""
        conn = self._conn = await self.redis.connection_pool.get_connection()
        setter = getattr(conn._parser, "set_pubsub_push_handler", None)
        if setter is not None:  # RESP3: redis-py's default handler logs every push at debug
            setter(_as_is)
        async with asyncio.timeout(conn.socket_timeout):
            await conn.send_command("SUBSCRIBE", self.channel)
            reply = await self._read(conn)
        if not (isinstance(reply, list) and list(reply[:2]) == ["subscribe", self.channel]):
            raise RedisConnectionError(f"SUBSCRIBE {self.channel} answered {reply!r}")

    @staticmethod
    async def _read(conn: AbstractConnection) -> Any:
        """The next reply; on RESP3 (redis-py's default) pub/sub replies are pushes, which the
        parser hands over only when asked for one."""
        if str(conn.protocol) == "3":
            return await conn._parser.read_response(push_request=True)  # type: ignore[call-arg]
        return await conn._parser.read_response()

    async def next(self) -> str:
        """The channel's next message, waiting as long as it takes; raises when the
        connection fails or stops answering (subscribe again)."""
        conn = self._conn
        assert conn is not None, "subscribe first"
        silence = Silence(self.keepalive)
        while True:
            try:
                if silence.due(_where(conn)):
                    # check_health off: redis-py's own check would read this connection's
                    # next reply (a message) as its PONG.
                    await conn.send_command("PING", check_health=False)
                # Cancelled only while waiting for bytes (hiredis parses what it was fed).
                async with asyncio.timeout(silence.wait()):
                    reply = await self._read(conn)
            except TimeoutError:
                continue
            except OSError as exc:
                raise RedisConnectionError(f"Error reading from {_where(conn)}: {exc}") from exc
            silence.heard()  # a message or the PONG (RESP2 ["pong", ""], RESP3 "PONG")
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == "message":
                return str(reply[2])

    async def close(self) -> None:
        """The subscribed connection is closed (it cannot serve commands) and given back."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect(nowait=True)
            await self.redis.connection_pool.release(conn)


async def _as_is(push: Any) -> Any:
    return push


def _closed_by_server(conn: AbstractConnection) -> bool:
    reader = conn._reader
    return reader is None or reader.at_eof() or reader.exception() is not None


def _name(word: Any) -> str:
    return word.decode() if isinstance(word, bytes) else str(word)


def _where(conn: AbstractConnection) -> str:
    describe = getattr(conn, "_host_error", None)
    return describe() if callable(describe) else "Redis"
