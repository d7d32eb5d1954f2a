"""The Redis URL picks the kind of client; a URL the gateway cannot use is named at startup."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.redis_client import SentinelRedis, connect
from gateway.settings import SettingsError, load_settings


async def test_the_scheme_picks_the_client():
    plain = connect("redis://127.0.0.1:6390/2")
    cluster = connect("redis+cluster://u:p%40ss@10.0.0.1:7000,[::1]:7001/?socket_timeout=3")
    sentinel = connect("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/1?sentinel_password=sp")
    try:
        assert type(plain) is Redis and plain.connection_pool.connection_kwargs["db"] == 2
        assert isinstance(cluster, RedisCluster)
        seeds = {(n.host, n.port) for n in cluster.nodes_manager.startup_nodes.values()}
        assert seeds == {("10.0.0.1", 7000), ("::1", 7001)}
        options = cluster.get_connection_kwargs()
        assert (options["username"], options["password"]) == ("u", "p@ss")
        assert options["socket_timeout"] == 3 and options["decode_responses"] is True
        assert isinstance(sentinel, SentinelRedis)
        assert sentinel.connection_pool.service_name == "mymaster"
        assert sentinel.connection_pool.connection_kwargs["password"] == "pw"
        assert sentinel.connection_pool.connection_kwargs["db"] == 1
        assert [s.connection_pool.connection_kwargs["port"] for s in sentinel.sentinel.sentinels] \
            == [26379, 26380]  # fmt: skip
        assert sentinel.sentinel.sentinels[0].connection_pool.connection_kwargs["password"] == "sp"
    finally:
        await plain.aclose()
        await cluster.aclose()
        await sentinel.aclose()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://x:1", "the scheme must be one of"),
        ("redis+cluster://host-without-port", "host:port"),
        ("redis+cluster://a:1/3", "only database 0"),
        ("redis+sentinel://a:26379", "name the primary"),
        ("redis+cluster://a:1?socket_timeout=soon", "socket_timeout"),
        ("redis://a:1?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_a_bad_redis_url_is_named(url: str, problem: str):
    with pytest.raises(SettingsError, match="redis_url") as caught:
        load_settings(environ={"REDIS_URL": url})
    assert problem in str(caught.value)


def test_the_password_is_not_repeated_in_the_error():
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"REDIS_URL": "redis+cluster://u:secret@a:1/5"})
    assert "secret" not in str(caught.value)
