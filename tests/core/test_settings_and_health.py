"""Settings precedence and errors, health endpoints and graceful shutdown."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiohttp import WSCloseCode, WSMsgType

from gateway.settings import SettingsError, load_settings
from tests.conftest import Harness, OwnRedisGateway, embedded_only


def test_environment_overrides_file_and_flags_override_environment():
    settings = load_settings(
        {"port": 9001}, environ={"GATEWAY_PORT": "9000", "GATEWAY_LOG_LEVEL": "DEBUG"}
    )
    assert settings.port == 9001
    assert settings.log_level == "DEBUG"
    assert load_settings(environ={"REDIS_URL": "redis://x:1/0"}).redis_url == "redis://x:1/0"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({"GATEWAY_WORKERS": "0"}, "GATEWAY_WORKERS"),
        ({"GATEWAY_CONFIG": "/nonexistent.toml"}, "GATEWAY_CONFIG"),
    ],
)
def test_bad_setting_names_itself(env, name):
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env)
    assert str(info.value).startswith(f"setting {name}:")


def test_cli_reports_a_bad_setting_in_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        capture_output=True,
        text=True,
        env={"GATEWAY_PORT": "eighty", "PATH": "/usr/bin"},
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GATEWAY_PORT" in lines[0]


async def test_health_ready_and_metrics(gateway: Harness):
    assert (await gateway.client.get("/healthz")).status == 200
    assert (await gateway.client.get("/readyz")).status == 200
    channel_id, secret = await gateway.api_channel()
    await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c"}, "text": "hi"}
    )
    text = await (await gateway.client.get("/metrics")).text()
    assert 'gateway_inbound_messages_total{channel="api",duplicate="false"} 1.0' in text


async def test_openapi_lists_the_api(gateway: Harness):
    doc = await (await gateway.client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert "email" in login["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert doc["paths"]["/api/v1/channels"]["post"]["x-roles"] == ["admin"]


async def test_draining_gateway_refuses_webhooks_with_503(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    # What on_shutdown does first: stop taking webhooks, tell load balancers.
    from gateway.appkeys import DRAINING

    gateway.client.server.app[DRAINING]["on"] = True
    status, _ = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c"}, "text": "hi"}
    )
    assert status == 503
    assert (await gateway.client.get("/readyz")).status == 503
    gateway.client.server.app[DRAINING]["on"] = False


async def test_redis_down_means_503_not_loss(own_redis_gateway: OwnRedisGateway):
    """Backpressure: with its Redis gone, a webhook is refused (the platform retries)."""
    harness = own_redis_gateway.harness
    channel_id, secret = await harness.api_channel()
    own_redis_gateway.redis.kill()
    status, _ = await harness.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c"}, "text": "hi"}
    )
    assert status == 503
    assert (await harness.client.get("/readyz")).status == 503


async def test_redis_down_closes_an_open_websocket_with_try_again_later(
    own_redis_gateway: OwnRedisGateway,
):
    """A WebSocket is past its HTTP answer: storage failing mid-session closes it with 1013
    (the console reconnects later), not an HTTP 503 written onto the socket."""
    harness = own_redis_gateway.harness
    ws = await harness.client.ws_connect(
        "/api/v1/ws", protocols=("gateway.v1", f"bearer.{harness.admin_token}")
    )
    assert (await ws.receive_json())["type"] == "hello"
    own_redis_gateway.redis.kill()
    await ws.send_json({"type": "sync", "conversations": {"cv_any": 0}})
    closing = await ws.receive(timeout=30)
    assert closing.type == WSMsgType.CLOSE, closing
    assert closing.data == WSCloseCode.TRY_AGAIN_LATER
    await ws.close()


@embedded_only
def test_admin_create_user_cli_persists_in_the_embedded_redis(tmp_path):
    import asyncio

    import redis.asyncio as aioredis

    from gateway.auth import Users
    from gateway.keys import Keys
    from gateway.redis_server import EmbeddedRedis

    env = {"PATH": "/usr/bin:/bin", "GATEWAY_NEW_PASSWORD": "cli-password-123"}
    args = [
        sys.executable,
        "-m",
        "gateway.cli",
        "admin",
        "create-user",
        "--email",
        "ops@example.com",
        "--name",
        "Ops",
        "--role",
        "supervisor",
        "--teams",
        "a,b",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Created supervisor ops@example.com" in first.stdout
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 1 and "exists" in again.stderr

    async def check() -> None:
        with EmbeddedRedis(tmp_path / "data") as server:
            client = aioredis.from_url(server.url, decode_responses=True)
            users = Users(client, Keys("gw"), token_ttl=60, max_failures=5, lockout_seconds=60)
            (user,) = await users.all()
            assert (user.email, user.role.value, user.teams) == (
                "ops@example.com",
                "supervisor",
                ["a", "b"],
            )
            await client.aclose()

    asyncio.run(check())
