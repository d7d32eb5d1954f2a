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
Every key of a deployment carries one hash tag (gateway/keys.py), so on a cluster all of its
commands, pipelines, transactions and scripts go to the one node that owns that slot.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool, SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel
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

# One server: connections per process, and how long a command waits for one when all are busy
# (then it fails as "Redis unavailable": 503). ``?max_connections=`` in the URL overrides.
POOL_CONNECTIONS = 500
POOL_WAIT_SECONDS = 10.0

# The cluster client refuses beyond its per-node limit (redis-py default 100) and cannot wait
# for a free connection, so allow as many as a busy process may need.
_CLUSTER_MAX_CONNECTIONS = 1000


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
        # This pool waits for a free connection instead, up to POOL_WAIT_SECONDS.
        pool = BlockingConnectionPool.from_url(
            url,
            **{
                "decode_responses": True,
                "max_connections": POOL_CONNECTIONS,
                "timeout": POOL_WAIT_SECONDS,
                **options,
            },
        )
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
    sentinel_kwargs: dict[str, Any] = {"decode_responses": True}
    if "sentinel_password" in kwargs:
        sentinel_kwargs["password"] = kwargs.pop("sentinel_password")
    for name in ("ssl", "socket_timeout", "socket_connect_timeout"):
        if name in kwargs:
            sentinel_kwargs[name] = kwargs[name]
    return hosts, parts[0], kwargs, sentinel_kwargs


def _sentinel(base: str, url: str, options: dict[str, Any]) -> SentinelRedis:
    hosts, service, kwargs, sentinel_kwargs = _sentinel_spec(base, url)
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_kwargs,
                        **{"decode_responses": True, **options, **kwargs})  # fmt: skip
    client = sentinel.master_for(service, redis_class=SentinelRedis)
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
