"""Bearer tokens never travel in a URL: the agent socket takes its token from the
Sec-WebSocket-Protocol header (``gateway.v1``, ``bearer.<token>``: what the console sends) or an
Authorization header, never ``?token=``; the access log redacts secret query
values (tokens, WeChat's signature, msg_signature, echostr, ...) in the request line and the
Referer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.accesslog import redact, server_options
from gateway.app import create_app
from gateway.settings import load_settings
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Harness


async def test_the_socket_authenticates_with_the_subprotocol_header(gateway: Harness):
    ws = await gateway.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{gateway.admin_token}")
    )
    assert (await ws.receive_json(timeout=10))["type"] == "hello"
    assert ws.protocol == "gateway.v1"  # the token is never echoed back
    await ws.close()


async def test_the_socket_authenticates_with_an_authorization_header(gateway: Harness):
    ws = await gateway.client.ws_connect("/api/v1/ws", headers=gateway.auth(gateway.admin_token))
    assert (await ws.receive_json(timeout=10))["type"] == "hello"
    await ws.close()


async def test_a_missing_or_unknown_token_is_refused(gateway: Harness):
    for bad in (("gateway.v1", "bearer.nope"), ("gateway.v1",)):
        resp = await gateway.client.get(
            "/api/v1/ws", headers={"Sec-WebSocket-Protocol": ", ".join(bad)}
        )
        assert resp.status == 401


async def test_a_token_in_the_url_is_not_accepted(gateway: Harness):
    """URLs end up in proxies' and browsers' logs: a token there opens nothing."""
    resp = await gateway.client.get(f"/api/v1/ws?token={gateway.admin_token}")
    assert resp.status == 401


@pytest.mark.parametrize(
    ("given", "logged"),
    [
        ("/api/v1/ws?token=abc", "/api/v1/ws?token=REDACTED"),
        ("/channels/c1/wechat?signature=s1&timestamp=1&nonce=2&echostr=e1",
         "/channels/c1/wechat?signature=REDACTED&timestamp=1&nonce=2&echostr=REDACTED"),
        ("/channels/c1/kf?msg_signature=m&timestamp=1",
         "/channels/c1/kf?msg_signature=REDACTED&timestamp=1"),
        ("/cb?code=c&state=s&x_auth_token=t&page=2",
         "/cb?code=REDACTED&state=REDACTED&x_auth_token=REDACTED&page=2"),
        ("/api/v1/conversations?limit=5", "/api/v1/conversations?limit=5"),
        ("/plain", "/plain"),
    ],
)  # fmt: skip
def test_redact(given: str, logged: str):
    assert redact(given) == logged


async def test_the_access_log_line_has_no_secret(
    redis_url: str, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    settings = load_settings(
        {"data_dir": str(tmp_path / "data"), "redis_prefix": prefix,
         "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD},
        environ={},
    )  # fmt: skip
    # The server as `gateway serve`'s workers make it (gateway/supervisor.py run_worker).
    server = TestServer(create_app(settings, redis_url))
    await server.start_server(**server_options())
    client = TestClient(server)
    try:
        caplog.set_level(logging.INFO, logger="aiohttp.access")
        secrets = ["tok-SECRET-1", "sig-SECRET-2", "echo-SECRET-3", "msg-SECRET-4", "ref-SECRET-5"]
        await client.get("/api/v1/ws?token=tok-SECRET-1")
        await client.get("/channels/nope/wechat?signature=sig-SECRET-2&echostr=echo-SECRET-3")
        await client.post("/channels/nope/kf?msg_signature=msg-SECRET-4&timestamp=1")
        await client.get("/healthz", headers={"Referer": "https://x.example/?token=ref-SECRET-5"})
        lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
        assert len(lines) == 4, lines
        assert not [line for line in lines if any(s in line for s in secrets)], lines
        assert "/api/v1/ws?token=REDACTED" in lines[0]
        assert "signature=REDACTED&echostr=REDACTED" in lines[1]
        assert "?token=REDACTED" in lines[3]
    finally:
        await client.close()
