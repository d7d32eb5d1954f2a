"""An agent's WebSocket lives no longer than its session: logout, a password or role change,
deleting the user and the token's expiry close every socket of that session with 4001, in every
process, and nothing is sent or replayed to it afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import WSMsgType

from tests.conftest import Harness, MakeGateway

CLOSE_BOUND = 3.0  # seconds between the revocation and the close, at most


async def _hello(ws) -> None:
    event = await asyncio.wait_for(ws.receive_json(), 10)
    assert event["type"] == "hello"


async def _until_closed(ws, timeout: float = CLOSE_BOUND) -> tuple[int | None, str, list[Any]]:
    """Everything the socket receives until it is closed: (close code, reason, events)."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"socket still open after {timeout}s; got {events}")
        msg = await asyncio.wait_for(ws.receive(), left)
        if msg.type == WSMsgType.TEXT:
            events.append(json.loads(msg.data))
        elif msg.type == WSMsgType.CLOSE:  # the server's close frame: its code and reason
            return msg.data, msg.extra or "", events
        else:
            raise AssertionError(f"socket ended without a close frame: {msg}")
            return ws.close_code, msg.extra or "", events


async def _still_open(ws) -> None:
    await ws.send_json({"type": "ping"})
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 5)
        if event["type"] == "pong":
            return


async def _message(gw: Harness, channel: tuple[str, str], text: str) -> str:
    status, res = await gw.post_api_message(
        channel[0], channel[1], {"message_id": text, "sender": {"id": "c-" + text}, "text": text}
    )
    assert status == 202, res
    return res["conversation_id"]


def _texts(events: list[Any]) -> list[str]:
    return [
        e["data"]["message"].get("text")
        for e in events
        if e["type"] == "message.created" and e["data"].get("message")
    ]


async def _revoke(first: Harness, how: str, user_id: str, token: str) -> None:
    if how == "delete":
        await first.call("DELETE", f"/api/v1/users/{user_id}")
    elif how == "password":
        await first.call(
            "PATCH", f"/api/v1/users/{user_id}", json_body={"password": "new-Tr0ub4dor-horse"}
        )
    elif how == "role":
        await first.call("PATCH", f"/api/v1/users/{user_id}", json_body={"role": "supervisor"})
    elif how == "logout":
        await first.call("POST", "/api/v1/auth/logout", token)


@pytest.mark.parametrize("how", ["delete", "password", "role", "logout"])
async def test_revoking_a_session_closes_its_sockets_in_every_process(
    make_gateway: MakeGateway, how: str
):
    first = await make_gateway()
    second = await make_gateway()  # another process on the same Redis
    channel = await first.api_channel()
    user_id, token = await first.create_user("agent@example.com")
    _, bystander_token = await first.create_user("other@example.com")
    sockets = [
        await first.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")),
        await second.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")),
    ]
    bystander = await second.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{bystander_token}")
    )
    for ws in [*sockets, bystander]:
        await _hello(ws)
    await _message(first, channel, "before")  # unassigned: every agent is told

    await _revoke(first, how, user_id, token)
    conv = await _message(first, channel, "after")

    for ws in sockets:
        code, reason, events = await _until_closed(ws)
        assert code == 4001
        assert "session revoked" in reason
        assert "after" not in _texts(events)
    # The session can no longer read anything: a new socket is refused.
    resp = await second.client.get("/api/v1/ws", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    # Another user's socket is untouched and still receives events.
    assert "after" in _texts(
        [await asyncio.wait_for(bystander.receive_json(), 5) for _ in range(2)]
    ), conv
    await _still_open(bystander)
    await bystander.close()


async def test_logout_closes_only_that_session(make_gateway: MakeGateway):
    first = await make_gateway()
    second = await make_gateway()
    user_id, _ = await first.create_user("agent@example.com")
    password = "another-password-1"
    await first.call("PATCH", f"/api/v1/users/{user_id}", json_body={"password": password})
    phone_token = await first.login("agent@example.com", password)
    laptop_token = await first.login("agent@example.com", password)
    phone_ws = await second.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{phone_token}")
    )
    laptop_ws = await second.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{laptop_token}")
    )
    await _hello(phone_ws)
    await _hello(laptop_ws)
    await first.call("POST", "/api/v1/auth/logout", laptop_token)
    code, reason, _ = await _until_closed(laptop_ws)
    assert (code, reason) == (4001, "session revoked: logged out")
    await _still_open(phone_ws)
    await phone_ws.close()


async def test_an_expired_token_closes_its_sockets(make_gateway: MakeGateway):
    ttl = 4
    first = await make_gateway(token_ttl_seconds=ttl)
    second = await make_gateway(token_ttl_seconds=ttl)
    channel = await first.api_channel()
    _, token = await first.create_user("agent@example.com")
    started = time.monotonic()
    sockets = [
        await first.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")),
        await second.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")),
    ]
    for ws in sockets:
        await _hello(ws)
    for ws in sockets:
        code, reason, _ = await _until_closed(ws, timeout=ttl + CLOSE_BOUND)
        assert (code, reason) == (4001, "session expired")
    assert time.monotonic() - started < ttl + 1.5
    # A message arriving after the expiry reaches no one with that token.
    await _message(first, channel, "late")
    resp = await first.client.get("/api/v1/ws", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401


async def test_a_revoked_session_cannot_sync_even_if_the_revocation_event_was_lost(
    gateway: Harness,
):
    channel = await gateway.api_channel()
    _, token = await gateway.create_user("agent@example.com")
    conv = await _message(gateway, channel, "secret history")
    ws = await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    await _hello(ws)
    await _drop_tokens_silently(gateway, token)
    await ws.send_json({"type": "sync", "conversations": {conv: 0}})
    code, reason, events = await _until_closed(ws)
    assert (code, reason) == (4001, "session revoked")
    assert not [e for e in events if e["type"] in ("message.created", "synced")]


async def test_a_lost_revocation_still_closes_the_socket_by_the_recheck(
    make_gateway: MakeGateway,
):
    gateway = await make_gateway(session_recheck_seconds=0.5)
    _, token = await gateway.create_user("agent@example.com")
    ws = await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    await _hello(ws)
    await _drop_tokens_silently(gateway, token)
    code, reason, _ = await _until_closed(ws)
    assert (code, reason) == (4001, "session revoked")


async def _drop_tokens_silently(gateway: Harness, token: str) -> None:
    """The user's tokens disappear without any pub/sub message (as if it had been lost)."""
    user_id = (await gateway.call("GET", "/api/v1/auth/me", token))["user"]["id"]
    gw = gateway.gw
    for token_hash in await gw.redis.smembers(gw.keys.user_tokens(user_id)):
        await gw.redis.delete(gw.keys.token(token_hash))
