"""A master of the cluster goes down (no replica to take over): the deployment on it answers
webhooks with 503 (the platform retries, nothing is acknowledged and lost) and /readyz says
so, while a deployment on another master carries on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import prefix_on_master
from tests.cluster.local_cluster import LocalCluster
from tests.conftest import _start, wait_for


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Its own cluster, since a master is killed; configured as docs/operations.md advises, so
    the other masters keep serving their slots."""
    cluster = LocalCluster(
        tmp_path_factory.mktemp("outage-cluster"),
        extra_args=["--cluster-require-full-coverage", "no"],
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


async def test_a_lost_master_means_503_for_its_deployment_only(
    own_cluster: LocalCluster, tmp_path: Path
):
    down = await _start(own_cluster.url, prefix_on_master(own_cluster, 1), tmp_path / "a", {})
    up = await _start(own_cluster.url, prefix_on_master(own_cluster, 2), tmp_path / "b", {})
    try:
        down_channel, down_secret = await down.api_channel()
        up_channel, up_secret = await up.api_channel()
        own_cluster.procs[1].kill()
        own_cluster.procs[1].wait()
        message = {"message_id": "m1", "sender": {"id": "c"}, "text": "hi"}
        status, body = await down.post_api_message(down_channel, down_secret, message)
        assert status == 503, body
        # Once the others have marked it failed (cluster-node-timeout), the slots it served are
        # refused with CLUSTERDOWN: still 503 there, and the other masters carry on.
        await wait_for(lambda: asyncio.to_thread(_marked_failed, own_cluster, 1), timeout=60)
        status, body = await down.post_api_message(down_channel, down_secret, message)
        assert status == 503, body
        assert (await down.client.get("/readyz")).status == 503
        status, body = await up.post_api_message(up_channel, up_secret, message)
        assert status == 202, body
        assert (await up.client.get("/readyz")).status == 200
    finally:
        await down.client.close()
        await up.client.close()


def _marked_failed(cluster: LocalCluster, index: int) -> bool:
    survivor = cluster.node(0)
    try:
        nodes = survivor.execute_command("CLUSTER NODES")  # parsed by redis-py: addr -> fields
    finally:
        survivor.close()
    return any(
        addr.endswith(f":{cluster.ports[index]}") and "fail" in fields["flags"].split(",")
        for addr, fields in nodes.items()
    )
