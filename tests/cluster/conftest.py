"""A real local Redis Cluster for tests/cluster: the session's own when the suite runs with
GATEWAY_TEST_REDIS=cluster, else one started for these tests (so the embedded-Redis pass covers
the cluster too)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from gateway.keys import Keys
from gateway.redis_server import EmbeddedRedis
from tests.cluster.local_cluster import LocalCluster
from tests.conftest import CLUSTER


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    if CLUSTER:
        shared: EmbeddedRedis | LocalCluster = request.getfixturevalue("redis_server")
        assert isinstance(shared, LocalCluster)
        yield shared
        return
    own = LocalCluster(tmp_path_factory.mktemp("own-cluster"))
    own.start()
    yield own
    own.stop()


def prefix_on_master(cluster: LocalCluster, index: int) -> str:
    """A fresh deployment prefix whose hash slot is served by master ``index``."""
    while True:
        prefix = "c" + secrets.token_hex(6)
        if cluster.master_of_slot(slot_of(Keys(prefix).queue())) == index:
            return prefix


def slot_of(key: str) -> int:
    from redis.crc import key_slot

    return key_slot(key.encode())
