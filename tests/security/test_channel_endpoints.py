"""Changing where a channel connects needs its credentials again, and credentials only travel
over https (plain http only to a loopback host): an admin token alone cannot send the stored,
write-only secrets to a host of its choosing."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.registry import adapter_class, available_types
from gateway.channels import endpoint_fields, secret_url_fields
from tests.conftest import Harness

OA = {"app_id": "wx1234567890", "app_secret": "app-secret-value", "token": "tok-value",
      "api_base": "http://127.0.0.1:9"}  # fmt: skip
EMAIL = {
    "imap_host": "127.0.0.1", "imap_port": 9, "imap_security": "none", "imap_user": "support",
    "imap_password": "mail-password", "smtp_host": "127.0.0.1", "smtp_port": 9,
    "smtp_security": "none", "from_address": "support@example.com",
}  # fmt: skip


async def _patch(h: Harness, channel_id: str, config: dict[str, Any], expect: int) -> Any:
    return await h.call(
        "PATCH", f"/api/v1/channels/{channel_id}", json_body={"config": config}, expect=expect
    )


async def test_new_api_base_needs_the_credentials_again(gateway: Harness):
    channel = await gateway.create_channel("wechat_oa", OA)
    body = await _patch(gateway, channel["id"], {"api_base": "https://evil.example.com"}, 400)
    err = body["error"]
    assert err["code"] == "credentials_required"
    assert err["fields"] == ["config.app_secret", "config.token"]
    assert "config.api_base" in err["message"] and "config.app_secret" in err["message"]
    stored = (await gateway.call("GET", f"/api/v1/channels/{channel['id']}"))["channel"]
    assert stored["config"]["api_base"] == "http://127.0.0.1:9"

    # Entering them again is accepted; other edits (and the same endpoint) need nothing.
    await _patch(gateway, channel["id"], {"greeting": "hello"}, 200)
    await _patch(gateway, channel["id"], {"api_base": "http://127.0.0.1:9/"}, 200)
    again = {"api_base": "https://api2.example.com", "app_secret": "new", "token": "tok-2"}
    changed = (await _patch(gateway, channel["id"], again, 200))["channel"]
    assert changed["config"]["api_base"] == "https://api2.example.com"


async def test_plain_http_only_to_loopback(gateway: Harness):
    for base in ("http://api.example.com", "http://10.0.0.7:8080", "ftp://127.0.0.1"):
        body = {"type": "wechat_oa", "name": "oa", "config": {**OA, "api_base": base}}
        resp = await gateway.call("POST", "/api/v1/channels", json_body=body, expect=400)
        assert resp["error"]["field"] == "config.api_base", resp
        assert "https" in resp["error"]["message"]
    for n, base in enumerate(("http://localhost:9", "http://[::1]:9", "https://api.example.com")):
        await gateway.create_channel("wechat_oa", {**OA, "api_base": base, "app_id": f"wx{n}"})
    channel = await gateway.create_channel("wechat_oa", OA)
    plain = {"api_base": "http://api.example.com", "app_secret": "s", "token": "t"}
    resp = await _patch(gateway, channel["id"], plain, 400)
    assert resp["error"]["field"] == "config.api_base"


async def test_new_mail_host_needs_the_password_again(gateway: Harness):
    channel = await gateway.create_channel("email", EMAIL)
    for change in ({"imap_host": "mail.evil.example"}, {"smtp_host": "mail.evil.example"},
                   {"smtp_port": 2525}, {"tls_verify": False}):  # fmt: skip
        resp = await _patch(gateway, channel["id"], change, 400)
        assert resp["error"]["fields"] == ["config.imap_password"], (change, resp)
    ok = await _patch(
        gateway, channel["id"], {"smtp_host": "localhost", "imap_password": "mail-password"}, 200
    )
    assert ok["channel"]["config"]["smtp_host"] == "localhost"
    await _patch(gateway, channel["id"], {"from_name": "Help desk"}, 200)


async def test_new_callback_host_needs_the_secret_again(gateway: Harness):
    channel_id, secret = await gateway.api_channel("http://127.0.0.1:9/cb")
    # The same host, another path: no credentials needed.
    await _patch(gateway, channel_id, {"callback_url": "http://127.0.0.1:9/other"}, 200)
    resp = await _patch(gateway, channel_id, {"callback_url": "https://crm.evil.example/cb"}, 400)
    assert resp["error"]["fields"] == ["config.secret"]
    await _patch(
        gateway, channel_id, {"callback_url": "https://crm.example/cb", "secret": secret}, 200
    )


@pytest.mark.parametrize("channel_type", available_types())
def test_every_endpoint_field_is_a_config_field(channel_type: str):
    """The contract: each adapter's Config names its endpoint fields itself."""
    config = adapter_class(channel_type).Config
    assert endpoint_fields(channel_type) <= set(config.model_fields)
    assert secret_url_fields(channel_type) <= endpoint_fields(channel_type)
    if channel_type not in ("webchat",):
        assert endpoint_fields(channel_type), f"{channel_type} declares no endpoint fields"
