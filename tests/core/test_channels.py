"""Channels registered at run time: validated, credentials encrypted and redacted, and started
or stopped in every gateway process without a restart."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from redis.asyncio.cluster import RedisCluster

from adapters.api.signing import sign
from tests.conftest import Harness, wait_for

SECRET = "a-very-secret-value-123"


async def _status(h: Harness, channel_id: str) -> int:
    body = json.dumps({"message_id": "x", "sender": {"id": "c"}, "text": "t"}).encode()
    resp = await h.client.post(
        f"/channels/{channel_id}/messages",
        data=body,
        headers={"X-Gateway-Signature": sign(SECRET, body)},
    )
    return resp.status


async def test_channel_lifecycle_reaches_every_process(make_gateway):
    first = await make_gateway()
    second = await make_gateway()
    channel = await first.create_channel("api", {"secret": SECRET})
    channel_id = channel["id"]
    assert channel["credentials_set"] == ["secret"]
    assert SECRET not in json.dumps(channel)

    async def running_in_second():
        return await _status(second, channel_id) in (200, 202)

    await wait_for(running_in_second)

    # Disabled in one process: both stop taking its webhooks.
    await first.call("PATCH", f"/api/v1/channels/{channel_id}", json_body={"enabled": False})

    async def stopped_in_second():
        return await _status(second, channel_id) == 404

    await wait_for(stopped_in_second)
    await first.call("PATCH", f"/api/v1/channels/{channel_id}", json_body={"enabled": True})
    await wait_for(running_in_second)

    # What an adapter keeps for the channel (a cursor, a sealed token) goes with it.
    redis, keys = first.gw.redis, first.gw.keys
    await redis.set(keys.channel_state(channel_id, "cursor:mentions"), "1790")
    await redis.hset(keys.channel_state(channel_id, "oauth2"), "refresh_token", "sealed")
    other = await first.create_channel("api", {"secret": SECRET})
    await redis.set(keys.channel_state(other["id"], "cursor:mentions"), "1790")

    await first.call("DELETE", f"/api/v1/channels/{channel_id}")
    await wait_for(stopped_in_second)
    assert await _status(first, channel_id) == 404
    await first.call("GET", f"/api/v1/channels/{channel_id}", expect=404)
    assert [k async for k in redis.scan_iter(keys.channel_state_pattern(channel_id))] == []
    assert await redis.get(keys.channel_state(other["id"], "cursor:mentions"))


async def test_credentials_are_encrypted_at_rest_and_never_returned(gateway: Harness):
    channel = await gateway.create_channel(
        "api", {"secret": SECRET, "callback_url": "http://127.0.0.1:9/cb"}
    )
    raw = await gateway.gw.redis.hgetall(gateway.gw.keys.channel(channel["id"]))
    assert SECRET not in json.dumps(raw)
    listed = await gateway.call("GET", "/api/v1/channels")
    assert SECRET not in json.dumps(listed)
    # A change that omits the secret keeps it; a new one replaces it.
    await gateway.call("PATCH", f"/api/v1/channels/{channel['id']}", json_body={"name": "renamed"})
    assert await _status(gateway, channel["id"]) in (200, 202)
    await gateway.call(
        "PATCH",
        f"/api/v1/channels/{channel['id']}",
        json_body={"config": {"secret": "another-secret-4567890"}},
    )
    assert await _status(gateway, channel["id"]) == 401


async def test_invalid_channel_config_names_the_field(gateway: Harness):
    body = await gateway.call(
        "POST",
        "/api/v1/channels",
        json_body={"type": "api", "name": "x", "config": {"secret": "short"}},
        expect=400,
    )
    assert body["error"]["field"] == "config.secret"
    body = await gateway.call(
        "POST", "/api/v1/channels", json_body={"type": "fax", "name": "x", "config": {}}, expect=400
    )
    assert body["error"]["field"] == "type"


async def test_channel_types_describe_their_settings(gateway: Harness):
    types = {t["type"]: t for t in (await gateway.call("GET", "/api/v1/channel-types"))["types"]}
    assert types["api"]["secret_fields"] == ["secret"]
    assert "callback_url" in types["api"]["schema"]["properties"]


async def _drop_subscriptions(redis: Any) -> None:
    """What a Redis restart or a network cut does to every process's event subscription."""
    if isinstance(redis, RedisCluster):
        await redis.execute_command(
            "CLIENT", "KILL", "TYPE", "pubsub", target_nodes=RedisCluster.ALL_NODES
        )
    else:
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")


async def test_a_channel_changed_while_a_process_was_not_subscribed_reaches_it(
    make_gateway, redis: Any
):
    """A process's event subscription drops (a Redis restart, a network cut) and a channel is
    created and another disabled before it subscribes again: the change events are lost to it,
    so it reads every channel again once subscribed, and starts and stops them as stored."""
    first = await make_gateway()
    second = await make_gateway()
    old = (await first.create_channel("api", {"secret": SECRET}, "old"))["id"]
    await wait_for(lambda: _is(_status(second, old), 202))
    await _drop_subscriptions(redis)  # both resubscribe a second later
    new = (await first.create_channel("api", {"secret": SECRET}, "new"))["id"]
    await first.call("PATCH", f"/api/v1/channels/{old}", json_body={"enabled": False})
    await wait_for(lambda: _is(_status(second, new), 202), timeout=10)
    await wait_for(lambda: _is(_status(second, old), 404), timeout=10)


async def test_a_stored_channel_not_running_here_yet_answers_503(gateway: Harness):
    """A webhook that reaches a process before it has started the channel (restarting after an
    edit, or re-reading after a lost subscription) is told to retry, not that the channel does
    not exist; an unknown or disabled channel is 404."""
    channel = (await gateway.create_channel("api", {"secret": SECRET}))["id"]
    await gateway.gw.channels._stop(channel)  # the moment between stopping and starting again
    resp = await gateway.client.post(f"/channels/{channel}/messages", data=b"{}")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert await _status(gateway, "ch_unknown") == 404
    await gateway.call("PATCH", f"/api/v1/channels/{channel}", json_body={"enabled": False})
    assert await _status(gateway, channel) == 404


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
