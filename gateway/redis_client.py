"""The one place that creates the gateway's Redis client, from a URL.

The URL's scheme says what kind of Redis it is, so one string (``REDIS_URL``, ``--redis-url``)
is enough for every process and tool:

- ``redis://``, ``rediss://``, ``unix://``: one server (redis-py's own URL format).
- ``redis+cluster://[user:password@]host:port[,host:port...][?option=value]``: Redis Cluster;
  the hosts are seed nodes (any of them finds the others). ``rediss+cluster://`` for TLS.
- ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db][?option=value]``:
  the primary named ``service`` as told by those Sentinels (the credentials are the primary's;
  ``sentinel_password=`` authenticates to the Sentinels). ``rediss+sentinel://`` for TLS.

Options in the query string are redis-py's connection options (``socket_timeout=5``...).
Every connection has socket and connect timeouts (``SOCKET_TIMEOUT_SECONDS``...), so a Redis
that hangs turns into "unavailable" errors (503: platforms retry) within a second or two
instead of holding every caller; blocking commands (``XREADGROUP BLOCK``, ``BLPOP``) get their
block time on top, and pub/sub reads wait for messages as long as they must.
Every key of a deployment carries one hash tag (gateway/keys.py), so on a cluster all of its
commands, pipelines, transactions and scripts go to the one node that owns that slot.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    BlockingConnectionPool,
    SSLConnection,
    parse_url,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient: TypeAlias = aioredis.Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEMES = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}

# A reply Redis has not sent within this (a command, a pipeline, a script; writes too) fails
# the call as "Redis unavailable": 503, and the platform retries. A hung Redis (stopped, swapping,
# a network that drops packets) must not hold every webhook. Group commit (gateway/batching.py)
# can queue a request behind the pipeline in flight, so a webhook waits up to twice this (plus
# the wait for a pooled connection, below): at most 2 s. A healthy Redis answers in
# milliseconds; one that takes longer than this is stalled, and "retry later" is the answer.
# ``?socket_timeout=`` and ``?socket_connect_timeout=`` in the URL override.
SOCKET_TIMEOUT_SECONDS = 0.75
CONNECT_TIMEOUT_SECONDS = 1.0

# One server: connections per process, and how long a command waits for one when all are busy
# (then it fails as "Redis unavailable": 503). Redis serves one command at a time, so more
# connections add no throughput; a bounded pool keeps a hung Redis from collecting a
# connection per request. ``?max_connections=`` and ``?timeout=`` in the URL override.
POOL_CONNECTIONS = 100
POOL_WAIT_SECONDS = 0.5

# The cluster client refuses beyond its per-node limit (redis-py default 100) and cannot wait
# for a free connection, so allow as many as a busy process may need.
_CLUSTER_MAX_CONNECTIONS = 1000
# redis-py's cluster client retries a command that timed out or lost its connection 10 times,
# refreshing its slot map in between: on a hung master that is ten socket timeouts. Once is
# enough to follow a failover; the caller then gets 503 and the platform retries.
_CLUSTER_RETRIES = 1

_TIMEOUTS = {
    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
}


# Errors meaning "Redis cannot take this now, try again later": unreachable or timing out, a
# cluster slot without a master (CLUSTERDOWN, TRYAGAIN during a resharding), a primary just
# demoted (READONLY before the client follows the failover), or full (OOM, with noeviction).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionRefusedError,
    ClusterError,
    SlotNotCoveredError,
    TryAgainError,
    ReadOnlyError,
    OutOfMemoryError,
)


# Inside a Lua script the same refusals come back as a generic script error naming them.
_REFUSALS_IN_SCRIPTS = ("-OOM ", "-READONLY ", "-CLUSTERDOWN ", "-TRYAGAIN ", "-MASTERDOWN ")


def unavailable(exc: BaseException) -> bool:
    """Does ``exc`` mean "Redis cannot take this now" (answer 503: retry later)?"""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, ResponseError) and any(t in str(exc) for t in _REFUSALS_IN_SCRIPTS)


class RedisURLError(ValueError):
    pass


# Commands Redis may legitimately hold for a while, and where their block time (seconds) is.
# XREAD/XREADGROUP name it with BLOCK (milliseconds) instead.
_BLOCK_TIME_AT = {
    "BLPOP": -1, "BRPOP": -1, "BRPOPLPUSH": -1, "BLMOVE": -1, "BZPOPMIN": -1, "BZPOPMAX": -1,
    "BLMPOP": 1, "BZMPOP": 1,
}  # fmt: skip


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def block_seconds(args: Sequence[Any]) -> float:
    """How long Redis may hold the reply of this command by design: 0 for an ordinary one, the
    block time of ``XREADGROUP ... BLOCK ms``, ``BLPOP ... timeout``..., ``inf`` for "block
    until there is data" (0)."""
    if not args:
        return 0.0
    name = _text(args[0]).upper()
    try:
        if name in ("XREAD", "XREADGROUP"):
            words = [_text(a).upper() for a in args]
            end = words.index("STREAMS") if "STREAMS" in words else len(words)
            if "BLOCK" not in words[:end]:
                return 0.0
            seconds = float(_text(args[words.index("BLOCK") + 1])) / 1000
        elif name in _BLOCK_TIME_AT:
            seconds = float(_text(args[_BLOCK_TIME_AT[name]]))
        else:
            return 0.0
    except (IndexError, ValueError):
        return 0.0
    return math.inf if seconds == 0 else max(seconds, 0.0)


class _BlockingReads:
    """Connection mixin: the reply of a blocking command may take its block time on top of the
    socket timeout (the outbox's ``XREADGROUP BLOCK 1000`` must not time out while it waits
    for replies to send); every other read keeps the socket timeout. Reads that name their own
    timeout (pub/sub's, which wait for messages indefinitely) are left alone."""

    _packed_block = 0.0  # of the command(s) last packed
    _block_allowance = 0.0  # of the command(s) last sent: what the next reads may add

    def pack_command(self, *args: Any) -> Any:
        self._packed_block = block_seconds(args)
        return super().pack_command(*args)  # type: ignore[misc]

    def pack_commands(self, commands: Iterable[Sequence[Any]]) -> Any:
        commands = list(commands)
        packed = super().pack_commands(commands)  # type: ignore[misc]
        self._packed_block = max((block_seconds(c) for c in commands), default=0.0)
        return packed

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        # Captured before sending: a health check or a reconnection sends (and packs)
        # commands of its own on the way.
        block = self._packed_block
        await super().send_packed_command(*args, **kwargs)  # type: ignore[misc]
        self._block_allowance = block

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        allowance = self._block_allowance
        own_timeout = kwargs.get("timeout", args[1] if len(args) > 1 else None) is not None
        base = self.socket_timeout  # type: ignore[attr-defined]
        if not allowance or own_timeout or base is None:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        self.socket_timeout = None if allowance == math.inf else base + allowance
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.socket_timeout = base


@functools.cache
def _with_blocking_reads(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    if issubclass(cls, _BlockingReads):
        return cls
    return type(cls.__name__, (_BlockingReads, cls), {"__module__": __name__})


def connect(url: str, **options: Any) -> RedisClient:
    """A client decoding responses to str. ``options`` are redis-py connection options; the
    URL's query string wins over them."""
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return _cluster(CLUSTER_SCHEMES[scheme], url, options)
    if scheme in SENTINEL_SCHEMES:
        return _sentinel(SENTINEL_SCHEMES[scheme], url, options)
    try:
        # redis-py's own pool refuses a command at once when its connections are all busy
        # (100 by default): a burst, like a thousand consoles' presence refreshes, would fail.
        # This pool waits for a free connection instead, up to POOL_WAIT_SECONDS, then fails
        # as unavailable ("No connection available."): bounded, even when Redis hangs.
        pool = BlockingConnectionPool.from_url(
            url,
            **{
                "decode_responses": True,
                "max_connections": POOL_CONNECTIONS,
                "timeout": POOL_WAIT_SECONDS,
                **_TIMEOUTS,
                **options,
            },
        )
        pool.connection_class = _with_blocking_reads(pool.connection_class)
        return aioredis.Redis.from_pool(pool)
    except ValueError as exc:
        raise RedisURLError(f"{_safe(url)}: {exc}") from None


async def reach(client: RedisClient, key: str) -> None:
    """A cheap round trip to the node serving ``key``: PING on one server; on a cluster an
    EXISTS routed by the key's slot (a PING would go to every node). On a cluster it also makes
    the client learn its slot map, or refresh it after a failover: a pub/sub subscription picks
    its node from that map without asking."""
    if isinstance(client, RedisCluster):
        await client.exists(key)
    else:
        await client.ping()


def _split(url: str) -> tuple[str, list[tuple[str, int]], str]:
    """``scheme://userinfo@h1:p1,h2:p2/path?query`` -> (userinfo@ or "", hosts, /path?query)."""
    rest = url.partition("://")[2]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hostlist = authority.rpartition("@")
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise RedisURLError(f"{_safe(url)}: each node must be host:port, not {item!r}")
        hosts.append((host.strip("[]"), int(port)))
    return (userinfo + at), hosts, tail


def _options(base: str, userinfo: str, tail: str, url: str) -> dict[str, Any]:
    """redis-py's own parsing of credentials and query options, on a one-host URL."""
    try:
        kwargs: dict[str, Any] = dict(parse_url(f"{base}://{userinfo}localhost{tail}"))
    except ValueError as exc:
        raise RedisURLError(f"{_safe(url)}: {exc}") from None
    kwargs.pop("host", None)
    if kwargs.pop("connection_class", None) is SSLConnection:
        kwargs["ssl"] = True
    return kwargs


def _cluster_spec(base: str, url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    userinfo, hosts, tail = _split(url)
    path, _, query = tail.partition("?")
    if path.strip("/") not in ("", "0"):
        raise RedisURLError(f"{_safe(url)}: Redis Cluster has only database 0")
    kwargs = _options(base, userinfo, "?" + query if query else "", url)
    kwargs.pop("db", None)
    return hosts, kwargs


class GatewayCluster(RedisCluster):
    """redis-py's cluster client, loading scripts on every master that answers.

    A script missing from a node's cache (NoScriptError: that node restarted, or is a promoted
    replica) is loaded with SCRIPT LOAD, which redis-py sends to every master and fails when
    any one is down: then one lost master would stop the scripts of every deployment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every node's connections (the seeds' and those the slot map names later) allow a
        # blocking command its block time, as on one server.
        cls = _with_blocking_reads(self.connection_kwargs["connection_class"])
        self.connection_kwargs["connection_class"] = cls
        for node in [*self.startup_nodes, *self.nodes_manager.startup_nodes.values()]:
            node.connection_class = cls

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        # redis-py picks a command's routing before it learns the slot map: on a fresh client,
        # concurrent first commands go out without their slot, and the map refresh that follows
        # can cut off one that already ran, which is then retried (a SET NX answering None to
        # the process that set the key). Learning the map first (once, under redis-py's lock)
        # routes every command by its slot.
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)

    async def script_load(self, script: str) -> str:  # type: ignore[override]
        await self.initialize()
        results = await asyncio.gather(
            *(
                self.execute_command("SCRIPT LOAD", script, target_nodes=node)
                for node in self.get_primaries()
            ),
            return_exceptions=True,
        )
        for result in results:
            if not isinstance(result, BaseException):
                return str(result)
        error = next(r for r in results if isinstance(r, BaseException))
        raise error


def _cluster(base: str, url: str, options: dict[str, Any]) -> RedisCluster:
    hosts, kwargs = _cluster_spec(base, url)
    return GatewayCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in hosts],
        **{
            "decode_responses": True,
            "max_connections": _CLUSTER_MAX_CONNECTIONS,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.01), _CLUSTER_RETRIES),
            **_TIMEOUTS,
            **options,
            **kwargs,
        },
    )


class SentinelRedis(aioredis.Redis):
    """The primary's client; closing it also closes the connections to the Sentinels."""

    sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            for client in self.sentinel.sentinels:
                await client.aclose()


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary's pool, bounded and waiting for a free connection like one server's."""


def _sentinel_spec(
    base: str, url: str
) -> tuple[list[tuple[str, int]], str, dict[str, Any], dict[str, Any]]:
    """(sentinels, service name, the primary's options, the Sentinels' options)."""
    userinfo, hosts, tail = _split(url)
    path, _, query = tail.partition("?")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise RedisURLError(f"{_safe(url)}: name the primary: /service_name[/db]")
    db = "/" + parts[1] if len(parts) == 2 else ""
    kwargs = _options(base, userinfo, db + ("?" + query if query else ""), url)
    sentinel_kwargs: dict[str, Any] = {"decode_responses": True, **_TIMEOUTS}
    if "sentinel_password" in kwargs:
        sentinel_kwargs["password"] = kwargs.pop("sentinel_password")
    for name in ("ssl", "socket_timeout", "socket_connect_timeout"):
        if name in kwargs:
            sentinel_kwargs[name] = kwargs[name]
    return hosts, parts[0], kwargs, sentinel_kwargs


def _sentinel(base: str, url: str, options: dict[str, Any]) -> SentinelRedis:
    hosts, service, kwargs, sentinel_kwargs = _sentinel_spec(base, url)
    options = {"max_connections": POOL_CONNECTIONS, "timeout": POOL_WAIT_SECONDS, **options}
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_kwargs,
                        **{"decode_responses": True, **_TIMEOUTS, **options, **kwargs})  # fmt: skip
    client = sentinel.master_for(
        service, redis_class=SentinelRedis, connection_pool_class=_SentinelBlockingPool
    )
    pool = client.connection_pool
    pool.connection_class = _with_blocking_reads(pool.connection_class)
    client.sentinel = sentinel
    return client


def check_url(url: str) -> None:
    """Raise ``RedisURLError`` naming what is wrong with ``url``, without connecting."""
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        _cluster_spec(CLUSTER_SCHEMES[scheme], url)
    elif scheme in SENTINEL_SCHEMES:
        _sentinel_spec(SENTINEL_SCHEMES[scheme], url)
    elif scheme not in ("redis", "rediss", "unix"):
        schemes = ", ".join(["redis", "rediss", "unix", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES])
        raise RedisURLError(f"{_safe(url)}: the scheme must be one of {schemes}")
    else:
        try:
            parse_url(url)
        except ValueError as exc:
            raise RedisURLError(f"{_safe(url)}: {exc}") from None


def _safe(url: str) -> str:
    """The URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    return f"{scheme}{sep}***@{hosts}" if at and ":" in userinfo else url
