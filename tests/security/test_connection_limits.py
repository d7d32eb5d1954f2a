"""Web chat sockets are capped per client address (429 at the handshake) and per visitor
session (closed with 4429), counted in Redis across processes with leases that expire: one
address opening hundreds of sockets on one visitor token gets a handful."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.conftest import Harness, MakeGateway
from tests.webchat.visitor import ORIGIN, Visitor, webchat_channel


async def _open(gateway: Harness, channel_id: str) -> aiohttp.ClientWebSocketResponse:
    return await gateway.client.ws_connect(
        f"/channels/{channel_id}/webchat/ws", headers={"Origin": ORIGIN}
    )


async def _refused_status(gateway: Harness, channel_id: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _open(gateway, channel_id)
    return refused.value.status


async def _hello(ws: aiohttp.ClientWebSocketResponse, token: str | None) -> str | int:
    """Says hello; the first frame's type ('welcome') or the close code."""
    await ws.send_str(json.dumps({"type": "hello", "token": token}))
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type == aiohttp.WSMsgType.TEXT:
            frame = json.loads(msg.data)
            if frame["type"] in ("welcome", "error"):
                if frame["type"] == "welcome":
                    return "welcome"
                assert frame["code"] == "too_many_connections"
            continue
        assert msg.type == aiohttp.WSMsgType.CLOSE, msg
        return msg.data


async def test_sockets_per_address_are_capped_across_processes(make_gateway: MakeGateway):
    first = await make_gateway(webchat_max_sockets_per_address=3)
    second = await make_gateway(webchat_max_sockets_per_address=3)
    channel_id = await webchat_channel(first)
    held = [await _open(first, channel_id), await _open(second, channel_id)]
    held.append(await _open(second, channel_id))
    assert await _refused_status(first, channel_id) == 429
    assert await _refused_status(second, channel_id) == 429
    # A closed socket frees its place at once.
    await held.pop().close()
    for _ in range(50):
        try:
            held.append(await _open(first, channel_id))
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.05)
    assert len(held) == 3
    for ws in held:
        await ws.close()


async def test_sockets_per_visitor_session_are_capped(make_gateway: MakeGateway):
    gateway = await make_gateway(webchat_max_sockets_per_session=2)
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    second = await _open(gateway, channel_id)
    assert await _hello(second, visitor.token) == "welcome"
    third = await _open(gateway, channel_id)
    assert await _hello(third, visitor.token) == 4429
    # Another visitor from the same address is not affected.
    assert await _hello(await _open(gateway, channel_id), None) == "welcome"
    await second.close()
    for _ in range(50):
        again = await _open(gateway, channel_id)
        if await _hello(again, visitor.token) == "welcome":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("a closed socket did not free its session's place")
    await visitor.close()


async def test_hundreds_of_sockets_on_one_token_get_a_handful(gateway: Harness):
    """The reported attack, with the default limits (20 per address, 5 per session)."""
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()  # socket 1 of the session

    async def attempt() -> str | int:
        try:
            ws = await _open(gateway, channel_id)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        return await _hello(ws, visitor.token)

    outcomes = await asyncio.gather(*(attempt() for _ in range(60)))
    assert outcomes.count("welcome") == 4, outcomes  # 5 per session, the visitor's included
    assert outcomes.count(429) == 60 - 19, outcomes  # 20 per address, the visitor's included
    assert outcomes.count(4429) == 15, outcomes


async def test_the_counts_expire_in_redis(make_gateway: MakeGateway):
    gateway = await make_gateway()
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    adapter = gateway.gw.channels.adapter(channel_id)
    for subject in ("ip:127.0.0.1", f"s:{next(iter(adapter.sockets.by_session))}"):
        key = adapter.ctx.state_key(f"sockets:{subject}")
        assert await gateway.gw.redis.zcard(key) == 1
        assert 0 < await gateway.gw.redis.pttl(key) <= 60_000  # a dead process's count ends
    await visitor.close()
