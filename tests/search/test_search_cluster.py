"""Search on a real 3-master Redis Cluster: two gateways seeded through different nodes keep
their own indexes current from the deployment's change feeds (on whichever master serves its
slot), and a third started later rebuilds from them."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.conftest import cluster, prefix_on_master  # noqa: F401
from tests.cluster.local_cluster import LocalCluster
from tests.conftest import _start
from tests.search.helpers import found, ids, ready, say, search


async def test_search_on_redis_cluster(cluster: LocalCluster, tmp_path: Path):  # noqa: F811
    prefix = prefix_on_master(cluster, 2)
    urls = [f"redis+cluster://127.0.0.1:{cluster.ports[i]}" for i in range(3)]
    first = await _start(urls[0], prefix, tmp_path, {})
    second = await _start(urls[1], prefix, tmp_path, {})
    started = [first, second]
    try:
        await ready(first)
        await ready(second)
        channel = await first.api_channel()
        conv = await say(first, channel, "c1", "我的發票還沒收到", name="張偉", phone="13800138000")
        assert await found(second, conv, q="发票") < 1.0
        contact = (await second.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
        assert await found(second, contact, q="张伟", kind="customers") < 1.0
        # A new message to the same conversation, through the other gateway's inbox.
        assert await say(second, channel, "c1", "order SO-4471 refund please") == conv
        assert await found(first, conv, q="refund 4471") < 1.0
        third = await _start(urls[2], prefix, tmp_path, {})
        started.append(third)
        await ready(third)  # rebuilt from the feeds at start
        assert ids(await search(third, q="發票 refund")) == [conv]
        assert ids(await search(third, q="8000", kind="customers")) == [contact]
    finally:
        for h in started:
            await h.client.close()
