"""Bad input at the signed API channel: a clear error, and nothing reaches the inbox."""

from __future__ import annotations

import json

import pytest

from adapters.api.signing import sign
from tests.conftest import Harness

GOOD = {"message_id": "m-1", "sender": {"id": "c-1"}, "text": "hello"}


async def _post(gateway: Harness, path: str, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Gateway-Signature"] = signature
    resp = await gateway.client.post(path, data=body, headers=headers)
    return resp.status, await resp.text()


async def _inbox_is_empty(gateway: Harness) -> bool:
    return (await gateway.call("GET", "/api/v1/conversations"))["conversations"] == []


@pytest.mark.parametrize("signature", [None, "", "sha256=", "sha256=" + "0" * 64, "md5=abc"])
async def test_unsigned_or_wrongly_signed_is_401(gateway: Harness, signature):
    channel_id, _ = await gateway.api_channel()
    status, _ = await _post(
        gateway, f"/channels/{channel_id}/messages", json.dumps(GOOD).encode(), signature
    )
    assert status == 401
    assert await _inbox_is_empty(gateway)


async def test_signed_with_another_secret_is_401(gateway: Harness):
    channel_id, _ = await gateway.api_channel()
    body = json.dumps(GOOD).encode()
    status, _ = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign("another-secret-0123456789", body)
    )
    assert status == 401


async def test_unknown_channel_is_404(gateway: Harness):
    body = json.dumps(GOOD).encode()
    status, _ = await _post(gateway, "/channels/ch_nope/messages", body, sign("x" * 16, body))
    assert status == 404


async def test_oversized_body_is_413(make_gateway):
    gateway = await make_gateway(max_body_bytes=2048)
    channel_id, secret = await gateway.api_channel()
    body = json.dumps({**GOOD, "text": "x" * 5000}).encode()
    status, _ = await _post(gateway, f"/channels/{channel_id}/messages", body, sign(secret, body))
    assert status == 413
    assert await _inbox_is_empty(gateway)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (json.dumps({"sender": {"id": "c"}, "text": "x"}).encode(), "message_id"),
        (json.dumps({"message_id": "m", "text": "x"}).encode(), "sender"),
        (json.dumps({"message_id": "m", "sender": {}, "text": "x"}).encode(), "sender.id"),
        (json.dumps({**GOOD, "text": 5}).encode(), "text"),
    ],
)
async def test_malformed_payload_is_400_naming_the_problem(gateway: Harness, body, reason):
    channel_id, secret = await gateway.api_channel()
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 400
    error = json.loads(text)["error"]
    assert reason in (error.get("field"), error["code"])
    assert await _inbox_is_empty(gateway)


async def test_wrong_method_on_channel_endpoint(gateway: Harness):
    channel_id, _ = await gateway.api_channel()
    resp = await gateway.client.get(f"/channels/{channel_id}/messages")
    assert resp.status == 405
