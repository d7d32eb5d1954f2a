"""Every number an admin can set is bounded: extreme values (1e308, -1, NaN, a 31-digit whole
number) answer 400 naming the field on every admin endpoint, never 500, and a follow-up delay
of 1e308 can no longer break resolving conversations."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pydantic import BaseModel

from adapters.registry import adapter_class
from gateway.settings import Settings, SettingsError, load_settings
from tests.conftest import Harness

EXTREMES: list[Any] = [1e308, -1, math.nan, 10**30]

# A valid config of each channel type (endpoints on loopback ports nobody listens on).
CONFIGS: dict[str, dict[str, Any]] = {
    "api": {"secret": "0123456789abcdef0123"},
    "webchat": {"allowed_origins": ["https://shop.example.com"]},
    "wechat_oa": {"app_id": "wx1", "app_secret": "s", "token": "t", "api_base": "http://127.0.0.1:9"},
    "wecom_kf": {
        "corp_id": "ww1", "secret": "s", "token": "t", "encoding_aes_key": "a" * 43,
        "api_base": "http://127.0.0.1:9",
    },
    "email": {
        "imap_host": "127.0.0.1", "imap_port": 9, "imap_security": "none", "imap_user": "u",
        "imap_password": "p", "smtp_host": "127.0.0.1", "smtp_port": 9, "smtp_security": "none",
        "from_address": "support@example.com",
    },
    "x": {"api_base_url": "http://127.0.0.1:9", "bearer_token": "b", "user_id": "1"},
    "mastodon": {"base_url": "http://127.0.0.1:9", "access_token": "a"},
    "weibo": {"api_base_url": "http://127.0.0.1:9", "access_token": "a", "uid": "1"},
}  # fmt: skip


def _numeric_fields(model: type[BaseModel]) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        text = str(info.annotation)
        if "int" in text or "float" in text:
            out.append(name)
    return out


def _refused(body: Any, field: str) -> bool:
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return field in str(err.get("field", "")) or field in str(err.get("message", ""))


async def _put(h: Harness, method: str, path: str, body: Any, field: str) -> None:
    resp = await h.client.request(method, path, json=body, headers=h.auth(h.admin_token))
    data = await resp.json() if resp.content_type == "application/json" else await resp.text()
    assert resp.status == 400, f"{method} {path} {field}: {resp.status} {data}"
    assert _refused(data, field), f"{method} {path}: the answer does not name {field}: {data}"


def test_channel_configs_have_numbers():
    assert "media_timeout_seconds" in _numeric_fields(adapter_class("wechat_oa").Config)


@pytest.mark.parametrize("channel_type", sorted(CONFIGS))
async def test_channel_config_numbers(gateway: Harness, channel_type: str):
    config = CONFIGS[channel_type]
    model = adapter_class(channel_type).Config
    model(**config)  # the base config is valid
    channel = await gateway.create_channel(channel_type, config)
    for name in _numeric_fields(model):
        for value in EXTREMES:
            body = {"type": channel_type, "name": "n", "config": {**config, name: value}}
            await _put(gateway, "POST", "/api/v1/channels", body, f"config.{name}")
            patch = {"config": {name: value}}
            await _put(gateway, "PATCH", f"/api/v1/channels/{channel['id']}", patch, name)


async def test_wechat_media_budget_stays_below_five_seconds(gateway: Harness):
    for channel_type in ("wechat_oa",):
        config = {**CONFIGS[channel_type], "media_timeout_seconds": 5}
        body = {"type": channel_type, "name": "n", "config": config}
        await _put(gateway, "POST", "/api/v1/channels", body, "config.media_timeout_seconds")
        await gateway.create_channel(channel_type, {**config, "media_timeout_seconds": 4})


async def test_survey_and_followup_settings(gateway: Harness):
    current = await gateway.call("GET", "/api/v1/reports/settings")
    for value in EXTREMES:
        for field, body in (
            ("survey_ttl_hours", {**current, "survey_ttl_hours": value}),
            ("followup_seconds.urgent", {**current, "followup_seconds": {"urgent": value}}),
        ):
            await _put(gateway, "PUT", "/api/v1/reports/settings", body, field)
    # The largest delay allowed still lets conversations be resolved.
    longest = {**current, "followup_seconds": {"normal": 90 * 86400, "urgent": 90 * 86400}}
    await gateway.call("PUT", "/api/v1/reports/settings", json_body=longest)
    await gateway.agent_online("bounds-agent@example.com")
    channel_id, secret = await gateway.api_channel()
    status, filed = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hello"}
    )
    assert status == 202, filed
    conv = filed["conversation_id"]
    await gateway.call("POST", f"/api/v1/conversations/{conv}/resolve")


async def test_sla_policy_numbers(gateway: Harness):
    doc = (await gateway.call("GET", "/api/v1/sla/classes"))["policy"]
    normal = next(i for i, c in enumerate(doc["classes"]) if c["name"] == "normal")
    for value in [*EXTREMES, "99999999d", "1e308"]:
        for field, path in (
            ("classes.normal.first_response", ("first_response",)),
            ("classes.normal.resolution", ("resolution",)),
            ("classes.normal.max_wait", ("max_wait",)),
        ):
            body = copy.deepcopy(doc)
            body["classes"][normal][path[0]] = value
            await _put(gateway, "PUT", "/api/v1/sla/classes", body, field)
        body = copy.deepcopy(doc)
        body["weights"] = {"email": value}
        await _put(gateway, "PUT", "/api/v1/sla/classes", body, "weights")
        body = copy.deepcopy(doc)
        body["escalation"] = {"steps": [{"after": value, "action": "alert"}]}
        await _put(gateway, "PUT", "/api/v1/sla/classes", body, "escalation.steps.0.after")
        for name in ("sticky_wait_seconds", "parity_gain", "parity_window_minutes"):
            body = copy.deepcopy(doc)
            body["routing"] = {**body.get("routing", {}), name: value}
            await _put(gateway, "PUT", "/api/v1/sla/classes", body, f"routing.{name}")
    # A sane edit still passes.
    await gateway.call("PUT", "/api/v1/sla/classes", json_body=doc)


async def test_rule_numbers(gateway: Harness):
    doc = (await gateway.call("GET", "/api/v1/sla/rules"))["rules"]
    for value in EXTREMES:
        for key in ("count", "window_hours"):
            body = copy.deepcopy(doc)
            repeat = {"count": 3, "window_hours": 72, key: value}
            body["rules"].append({"name": "again", "class": "high", "repeat": repeat})
            await _put(gateway, "PUT", "/api/v1/sla/rules", body, f"repeat.{key}")
    await gateway.call("PUT", "/api/v1/sla/rules", json_body=doc)


async def test_user_numbers(gateway: Harness):
    user_id, _ = await gateway.create_user("bounded@example.com")
    for value in EXTREMES:
        body = {"email": "n@example.com", "password": "Tr0ub4dor&3-horse", "name": "N",
                "capacity": value}  # fmt: skip
        await _put(gateway, "POST", "/api/v1/users", body, "capacity")
        await _put(gateway, "PATCH", f"/api/v1/users/{user_id}", {"capacity": value}, "capacity")


def _settings_numbers() -> list[str]:
    return _numeric_fields(Settings)


@pytest.mark.parametrize("name", _settings_numbers())
def test_gateway_settings_are_bounded(name: str):
    for value in ("1e308", "-1", "nan", str(10**30)):
        with pytest.raises(SettingsError) as caught:
            load_settings({name: value}, environ={})
        assert name in str(caught.value)
