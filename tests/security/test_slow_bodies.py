"""A request body must arrive within body_timeout_seconds: one sent a byte at a time answers
408 at the deadline and the connection is closed (it was held open for minutes), wherever the
handler reads it (login, the API channel, uploads); WebSockets, which have no body, live on."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import Harness, MakeGateway


class _Collect(asyncio.Protocol):
    """Keeps every byte the server sent, even when the connection then ends in a reset: the
    server closes with our trickled bytes unread, so its kernel may answer them with RST, and
    asyncio's StreamReader drops what it had buffered when it raises that."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.first_line = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n" in self.data and not self.first_line.done():
            self.first_line.set_result(time.monotonic())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.first_line.done():
            self.first_line.set_exception(ConnectionError(f"closed before answering: {exc}"))


async def _trickle(
    gateway: Harness, path: str, headers: dict[str, str], chunked: bool
) -> tuple[int, float]:
    """Sends a request whose body comes one byte every 0.2 s; returns (status, seconds taken)."""
    server = gateway.client.server
    loop = asyncio.get_running_loop()
    transport, answer = await loop.create_connection(_Collect, server.host, server.port)
    head = {"Host": "localhost", "Content-Type": "application/json", **headers}
    head.update({"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": "200"})
    request = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
    transport.write(request.encode() + b"\r\n")

    async def drip() -> None:
        for _ in range(200):
            if transport.is_closing():
                return
            transport.write(b"1\r\n \r\n" if chunked else b" ")
            await asyncio.sleep(0.2)

    started = time.monotonic()
    dripping = asyncio.create_task(drip())
    try:
        answered = await asyncio.wait_for(answer.first_line, 15)
        await asyncio.wait_for(answer.closed, 5)  # the server closes the connection
    finally:
        dripping.cancel()
        transport.close()
    status_line, _, rest = bytes(answer.data).partition(b"\r\n")
    assert b"connection: close" in rest.lower(), bytes(answer.data)
    return int(status_line.split()[1]), answered - started


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_slow_body_answers_408_at_the_deadline(make_gateway: MakeGateway, chunked: bool):
    gateway = await make_gateway(body_timeout_seconds=1)
    channel_id, _ = await gateway.api_channel()
    status, taken = await _trickle(gateway, "/api/v1/auth/login", {}, chunked)
    assert (status, round(taken)) == (408, 1), taken
    status, taken = await _trickle(gateway, f"/channels/{channel_id}/messages", {}, chunked)
    assert (status, round(taken)) == (408, 1), taken
    conv = await _conversation(gateway)
    status, taken = await _trickle(
        gateway,
        f"/api/v1/conversations/{conv}/attachments?name=a.txt",
        gateway.auth(gateway.admin_token),
        chunked,
    )
    assert (status, round(taken)) == (408, 1), taken
    # Requests that send their body in time are served as before.
    await gateway.call("GET", "/api/v1/users")
    await gateway.login("admin@example.com", "admin-password-123")


async def test_uploads_larger_than_max_body_get_the_upload_deadline(make_gateway: MakeGateway):
    gateway = await make_gateway(body_timeout_seconds=0.5, upload_timeout_seconds=30)
    conv = await _conversation(gateway)
    data = b"x" * (3 * 1024 * 1024)  # over max_body_bytes (1 MiB)

    async def chunks():
        for i in range(0, len(data), 256 * 1024):
            await asyncio.sleep(0.1)  # 1.2 s in all: past body_timeout_seconds
            yield data[i : i + 256 * 1024]

    resp = await gateway.client.post(
        f"/api/v1/conversations/{conv}/attachments",
        params={"name": "big.bin"},
        data=chunks(),
        headers={**gateway.auth(gateway.admin_token), "Content-Length": str(len(data))},
    )
    assert resp.status == 201, await resp.text()


async def test_sockets_and_bodiless_requests_are_not_cut(make_gateway: MakeGateway):
    gateway = await make_gateway(body_timeout_seconds=0.5)
    ws = await gateway.client.ws_connect("/api/v1/ws", headers=gateway.auth(gateway.admin_token))
    assert (await ws.receive_json(timeout=10))["type"] == "hello"
    await asyncio.sleep(1.5)
    await ws.send_json({"type": "ping"})
    while (await ws.receive_json(timeout=10))["type"] != "pong":
        pass
    await ws.close()


async def _conversation(gateway: Harness) -> str:
    channel_id, secret = await gateway.api_channel()
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    assert status == 202, res
    return res["conversation_id"]
