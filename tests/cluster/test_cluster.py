"""The gateway on a real 3-master Redis Cluster: one deployment = one hash slot, served by
whichever master owns it; realtime events cross gateways and nodes."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

from gateway.keys import Keys
from tests.cluster.conftest import prefix_on_master, slot_of
from tests.cluster.local_cluster import LocalCluster
from tests.conftest import CallbackServer, _start, wait_for


def _every_key(keys: Keys) -> list[str]:
    """Every key name keys.py can build (each builder called with placeholder arguments)."""
    names = []
    for name, method in inspect.getmembers(keys, inspect.ismethod):
        if name.startswith("_"):
            continue
        params = inspect.signature(method).parameters
        names.append(method(*[f"{p}-x" if "ms" not in p else 1 for p in params]))
    return names


def test_every_key_of_a_deployment_maps_to_one_slot():
    keys = Keys("tenant-a")
    names = _every_key(keys)
    assert len(names) > 40  # really enumerated every builder
    assert {slot_of(name) for name in names} == {slot_of(keys.queue())}
    # Another deployment's keys are elsewhere (with these two prefixes, at least).
    assert slot_of(Keys("tenant-b").queue()) != slot_of(keys.queue())


async def _async(value: Any) -> Any:
    return value


def _keys_with(cluster: LocalCluster, prefix: str) -> dict[int, list[str]]:
    """Keys naming ``prefix``, by node index (read from each node directly)."""
    found: dict[int, list[str]] = {}
    for index in range(cluster.masters):
        node = cluster.node(index)
        try:
            found[index] = list(node.scan_iter(match=f"*{prefix}*", count=1000))
        finally:
            node.close()
    return found


async def test_a_deployment_whose_slot_is_on_another_master_works_end_to_end(
    cluster: LocalCluster, tmp_path: Path, callback_server: CallbackServer
):
    prefix = prefix_on_master(cluster, 2)
    # Seeded with the first node only: the client must find the slot's master itself.
    seed_url = f"redis+cluster://127.0.0.1:{cluster.ports[0]}"
    gateway = await _start(seed_url, prefix, tmp_path, {})
    try:
        channel_id, secret = await gateway.api_channel(callback_server.url)
        _agent_id, token = await gateway.agent_online("alice@example.com", name="Alice")
        status, body = await gateway.post_api_message(channel_id, secret, {
            "message_id": "m-1", "sender": {"id": "cust-1"}, "text": "Hello?"})  # fmt: skip
        assert status == 202, body
        conv = body["conversation_id"]

        async def offered() -> bool:
            c = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
            return bool(c["offered_to"])

        await wait_for(offered)
        await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
        await gateway.call("POST", f"/api/v1/conversations/{conv}/messages", token,
                           {"text": "Hi, how can I help?"}, expect=201)  # fmt: skip
        await wait_for(lambda: _async(len(callback_server.received) == 1))
        assert json.loads(callback_server.received[0][1])["text"] == "Hi, how can I help?"
        await gateway.call("POST", f"/api/v1/conversations/{conv}/resolve", token)
        assert (await gateway.client.get("/readyz")).status == 200
    finally:
        await gateway.client.close()

    found = _keys_with(cluster, prefix)
    assert found[0] == [] and found[1] == []
    assert len(found[2]) > 10, found[2]
    assert {slot_of(key) for key in found[2]} == {slot_of(Keys(prefix).queue())}


async def _next_event(ws: Any, wanted: str, timeout: float = 30) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            event = await ws.receive_json()
            if event["type"] == wanted:
                return event

    return await asyncio.wait_for(loop(), timeout)


async def test_events_cross_two_gateways_seeded_through_different_nodes(
    cluster: LocalCluster, tmp_path: Path
):
    prefix = prefix_on_master(cluster, 1)
    first = await _start(f"redis+cluster://127.0.0.1:{cluster.ports[0]}", prefix, tmp_path, {})
    second = await _start(f"redis+cluster://127.0.0.1:{cluster.ports[2]}", prefix, tmp_path, {})
    try:
        channel_id, secret = await first.api_channel()
        _agent_id, token = await first.agent_online("a@example.com")
        ws = await second.client.ws_connect(
            "/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")
        )
        await _next_event(ws, "hello")
        _, res = await first.post_api_message(channel_id, secret, {
            "message_id": "m1", "sender": {"id": "c1"}, "text": "hi"})  # fmt: skip
        offered = await _next_event(ws, "conversation.offered")
        assert offered["data"]["conversation_id"] == res["conversation_id"]
        await ws.close()
    finally:
        await first.client.close()
        await second.client.close()


async def test_a_publish_on_any_node_reaches_the_subscription(
    cluster: LocalCluster, tmp_path: Path
):
    """Classic PUBLISH is broadcast cluster-wide: the subscription (on the slot's master) sees
    what is published on a node that does not serve the slot, as after a failover."""
    prefix = prefix_on_master(cluster, 0)
    gateway = await _start(cluster.url, prefix, tmp_path, {})
    received: list[dict[str, Any]] = []

    async def listener(event: dict[str, Any]) -> None:
        received.append(event)

    gateway.gw.events.listen(listener)
    other = cluster.node(2)
    try:
        event = {"type": "cluster.probe", "data": {}, "audience": {"users": [], "roles": []}}
        other.publish(Keys(prefix).events_channel(), json.dumps(event))
        await wait_for(lambda: _async(any(e["type"] == "cluster.probe" for e in received)))
    finally:
        other.close()
        await gateway.client.close()


async def test_the_subscription_comes_back_after_its_connection_is_killed(
    cluster: LocalCluster, tmp_path: Path
):
    prefix = prefix_on_master(cluster, 1)
    gateway = await _start(cluster.url, prefix, tmp_path, {})
    received: list[str] = []

    async def listener(event: dict[str, Any]) -> None:
        received.append(event["type"])

    gateway.gw.events.listen(listener)
    owner = cluster.node(1)
    try:
        assert owner.execute_command("CLIENT KILL", "TYPE", "pubsub") >= 1

        # Events published while it resubscribes are lost (clients re-sync by seq): publish
        # until one arrives. From outside this process (another node, as another gateway would):
        # a bus hands its own events to its listeners without the subscription.
        event = {"type": "cluster.again", "data": {}, "audience": {"users": [], "roles": []}}

        async def arrives() -> bool:
            owner.publish(Keys(prefix).events_channel(), json.dumps(event))
            await asyncio.sleep(0.2)
            return "cluster.again" in received

        await wait_for(arrives, timeout=30)
    finally:
        owner.close()
        await gateway.client.close()
