"""Agent sockets: the frames of one loop turn to one socket are written together (issue 21).

Each event is still its own WebSocket message, in order, once; an event's JSON is made once
for all sockets, with a stored message's own text spliced in; and a socket whose reader falls
behind is closed with a log line instead of its buffers growing.

The writes are counted on the server's real asyncio transport of the socket (its ``write``
wrapped to record and pass everything on); the client is aiohttp's, over TCP."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from gateway.appkeys import HUB
from gateway.events import Encoded
from gateway.ws import WebSocketHub
from tests.conftest import Harness, wait_for


async def _connect(gateway: Harness, token: str) -> Any:
    ws = await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    hello = await ws.receive_json(timeout=10)
    assert hello["type"] == "hello"
    return ws


def _count_writes(hub: WebSocketHub) -> list[bytes]:
    """Every write on the transport of the hub's one socket, recorded and passed on."""
    [queue] = hub._queues.values()
    transport = queue.transport
    real = transport.write
    writes: list[bytes] = []

    def write(data: Any) -> None:
        writes.append(bytes(data))
        real(data)

    transport.write = write  # type: ignore[method-assign]
    return writes


async def _frames(ws: Any, timeout: float = 0.5) -> list[dict[str, Any]]:
    """The frames that arrive until ``timeout`` passes without one."""
    got = []
    while True:
        try:
            got.append(await ws.receive_json(timeout=timeout))
        except TimeoutError:
            return got


async def test_events_of_one_turn_are_one_write_each_still_its_own_message(gateway: Harness):
    agent_id, token = await gateway.create_user("a@example.com")
    ws = await _connect(gateway, token)
    hub = gateway.client.server.app[HUB]
    writes = _count_writes(hub)
    bus = gateway.gw.events

    # 25 events published together: handed to the hub in one turn of the event dispatcher.
    await asyncio.gather(*(bus.publish("test.event", {"n": n}, [agent_id]) for n in range(25)))
    first = await _frames(ws)
    # Another 25 one at a time, each after the previous one was written.
    for n in range(25, 30):
        await bus.publish("test.event", {"n": n}, [agent_id])
        await wait_for(lambda n=n: _written(writes, n), timeout=5, interval=0.005)
    second = await _frames(ws)

    assert [f["data"]["n"] for f in first] == list(range(25))  # in order, each once
    assert all(f["type"] == "test.event" for f in first)
    assert [f["data"]["n"] for f in second] == list(range(25, 30))
    assert len(writes) == 1 + 5  # the burst's 25 frames in one write, then one write each
    assert writes[0].count(b'"test.event"') == 25
    await ws.close()


async def _written(writes: list[bytes], n: int) -> bool:
    return any(f'"n": {n}}}'.encode() in w for w in writes)


async def test_a_direct_frame_keeps_its_place_after_queued_events(gateway: Harness):
    """A ping's pong follows the events queued before it, in the same order on the wire."""
    agent_id, token = await gateway.create_user("a@example.com")
    ws = await _connect(gateway, token)
    hub = gateway.client.server.app[HUB]
    for n in range(3):
        event = {"type": "test.event", "data": {"n": n}, "audience": {"users": [agent_id]}}
        await hub.on_event(event)
    [sock] = hub.clients
    await hub.send(sock, {"type": "pong", "data": {}})
    got = await _frames(ws)
    assert [f["type"] for f in got] == ["test.event"] * 3 + ["pong"]
    await ws.close()


async def test_a_stored_message_is_sent_as_its_own_text(gateway: Harness):
    """The inbox's message carries the JSON it wrote to the log (events.Encoded): the frame
    holds that text as it is, not the dict encoded again (key order and spacing tell)."""
    agent_id, token = await gateway.create_user("a@example.com")
    ws = await _connect(gateway, token)
    text = '{"text":"你好 <b>","seq":7,  "id":"m1"}'
    message = Encoded(json.loads(text), text)
    await gateway.gw.events.publish(
        "message.created", {"conversation_id": "c1", "message": message}, [agent_id]
    )
    raw = await ws.receive_str(timeout=5)
    assert text in raw
    assert json.loads(raw) == {
        "type": "message.created",
        "data": {"conversation_id": "c1", "message": json.loads(text)},
    }
    await ws.close()


async def test_a_socket_that_does_not_read_is_closed_not_buffered(
    gateway: Harness, caplog: pytest.LogCaptureFixture
):
    """The client stops reading; events keep coming. Once what waits for it passes the hub's
    limit (256 KiB here) the socket is dropped with a log line and its transport let go; a
    socket that reads gets every event all along."""
    slow_id, slow_token = await gateway.create_user("slow@example.com")
    fast_id, fast_token = await gateway.create_user("fast@example.com")
    hub = gateway.client.server.app[HUB]
    hub.max_behind = 256 * 1024
    slow = await _connect(gateway, slow_token)
    fast = await _connect(gateway, fast_token)
    [slow_queue] = [q for ws, q in hub._queues.items() if hub.clients[ws].user.id == slow_id]
    received: list[int] = []

    async def read_fast() -> None:
        async for msg in fast:
            received.append(json.loads(msg.data)["data"]["n"])

    reader = asyncio.create_task(read_fast())
    body = "x" * 8000
    sent = 0
    with caplog.at_level(logging.WARNING, logger="gateway.wsqueue"):
        for _ in range(600):  # up to 600 turns x 10 events x 8 kB = 48 MB for the slow one
            for _ in range(10):
                event = {"n": sent, "body": body}
                await hub.on_event(
                    {"type": "test.event", "data": event, "audience": {"users": [slow_id, fast_id]}}
                )
                sent += 1
            await asyncio.sleep(0.002)
            if slow_queue.dropped:
                break
        assert slow_queue.dropped, "never over the limit"
        await wait_for(_is_closing(slow_queue.transport), timeout=10)
    assert slow_id not in {s.user.id for s in hub.clients.values()}
    assert fast_id in {s.user.id for s in hub.clients.values()}
    assert any("closing an agent WebSocket" in r.getMessage() for r in caplog.records)
    await wait_for(lambda: _all_received(received, sent), timeout=30)
    assert received == list(range(sent))
    reader.cancel()
    await fast.close()
    await slow.close()


def _is_closing(transport: asyncio.Transport) -> Any:
    async def check() -> bool:
        return transport.is_closing()

    return check


async def _all_received(received: list[int], sent: int) -> bool:
    return len(received) >= sent


async def test_frames_for_a_whole_role_share_a_write_until_a_named_one(gateway: Harness):
    """Events for every agent (a new unassigned conversation's message) wait up to the linger
    (widened to 1 s here) and go out together; an event naming the agent goes at the end of
    its turn, taking what waits before it along, in order."""
    agent_id, token = await gateway.create_user("a@example.com")
    ws = await _connect(gateway, token)
    hub = gateway.client.server.app[HUB]
    hub._writer.linger = 1.0
    writes = _count_writes(hub)
    bus = gateway.gw.events
    loop = asyncio.get_running_loop()

    started = loop.time()
    for n in range(5):  # five turns apart
        await bus.publish("test.event", {"n": n}, [], ["agent"])
        await asyncio.sleep(0.02)
    assert writes == []  # none written yet: they wait for each other
    got = [await ws.receive_json(timeout=5) for _ in range(5)]
    assert loop.time() - started < 1.0 + 1.0  # the linger (and a loaded machine's slack)
    assert [f["data"]["n"] for f in got] == list(range(5))
    assert len(writes) == 1
    assert await _frames(ws, timeout=0.3) == []  # each once

    await bus.publish("test.event", {"n": 5}, [], ["agent"])
    await asyncio.sleep(0.02)
    started = loop.time()
    await bus.publish("test.event", {"n": 6}, [agent_id], [])  # names the agent
    first = await ws.receive_json(timeout=5)
    second = await ws.receive_json(timeout=5)
    assert loop.time() - started < 0.5  # at once, not at the 1 s linger
    assert [first["data"]["n"], second["data"]["n"]] == [5, 6]
    assert len(writes) == 2  # both in one write
    await ws.close()


async def test_an_event_reaches_its_audience_sockets_only_and_ended_ones_are_forgotten(
    gateway: Harness,
):
    """The hub finds an event's sockets by user and by role: every tab of a named user, every
    socket of a named role, no one else; a closed socket is out of both, so nothing is kept
    for a user who left."""
    a_id, a_token = await gateway.create_user("a@example.com")
    b_id, b_token = await gateway.create_user("b@example.com")
    _, s_token = await gateway.create_user("s@example.com", role="supervisor")
    a1, a2, b, s = [await _connect(gateway, t) for t in (a_token, a_token, b_token, s_token)]
    hub = gateway.client.server.app[HUB]
    events = gateway.gw.events

    async def got(ws: Any) -> list[Any]:
        return [f["data"]["n"] for f in await _frames(ws) if f["type"] == "test.audience"]

    await events.publish("test.audience", {"n": 1}, [a_id], ["supervisor"])
    await events.publish("test.audience", {"n": 2}, [b_id], [])
    await events.publish("test.audience", {"n": 3}, [], ["agent"])
    assert [await got(ws) for ws in (a1, a2, b, s)] == [[1, 3], [1, 3], [2, 3], [1]]
    await a2.close()
    await wait_for(lambda: _sockets_of(hub, a_id, 1))
    await events.publish("test.audience", {"n": 4}, [a_id], [])
    assert [await got(ws) for ws in (a1, b, s)] == [[4], [], []]
    for ws in (a1, b, s):
        await ws.close()
    await wait_for(lambda: _sockets_of(hub, a_id, 0))
    assert hub._by_user == {} and hub._by_role == {} and hub.clients == {}


async def _sockets_of(hub: WebSocketHub, user_id: str, count: int) -> bool:
    return len(hub._by_user.get(user_id, ())) == count
