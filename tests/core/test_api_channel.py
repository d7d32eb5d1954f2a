"""Bad input at the signed API channel: a clear error, and nothing reaches the inbox."""

from __future__ import annotations

import json

import pytest

from adapters.api.signing import sign
from tests.conftest import Harness
from tests.rawhttp import raw_request

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


async def test_signature_of_bytes_that_are_no_utf8_is_401(gateway: Harness):
    """Such bytes reach the handler as surrogates, which the comparison could not encode (a
    500)."""
    channel_id, _ = await gateway.api_channel()
    headers = [("X-Gateway-Signature", b"sha256=\xff\xfe"), ("Content-Type", "application/json")]
    answer = await raw_request(
        gateway.client,
        "POST",
        f"/channels/{channel_id}/messages",
        headers,
        json.dumps(GOOD).encode(),
    )
    assert answer.status == 401, answer
    assert json.loads(answer.body)["error"]["code"] == "bad_signature"
    assert await _inbox_is_empty(gateway)


async def test_signature_in_upper_case_hex_is_accepted(gateway: Harness):
    """.NET's Convert.ToHexString and many Java encoders write upper-case hex: the same digest."""
    channel_id, secret = await gateway.api_channel()
    for n, case in enumerate((str.upper, str.lower)):
        body = json.dumps({**GOOD, "message_id": f"m-{n}"}).encode()
        scheme, _, digest = sign(secret, body).partition("=")
        signature = f"{scheme.upper() if n else scheme}={case(digest)}"
        status, text = await _post(gateway, f"/channels/{channel_id}/messages", body, signature)
        assert status == 202, text


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


HEAD = b'{"message_id": "m", "sender": {"id": "c"}, '  # a valid message, to be ended


@pytest.mark.parametrize(
    ("rest", "field"),
    [
        (b'"metadata": {"a": NaN}}', "metadata.a"),
        (b'"metadata": {"a": [1e400]}}', "metadata.a.0"),
        (b'"attachments": [{"meta": {"x": -Infinity}}]}', "attachments.0.meta.x"),
    ],
    ids=["nan", "overflow", "infinity"],
)
async def test_nan_or_infinity_is_400_naming_the_field(gateway: Harness, rest, field):
    """Python's parser takes them; filed, they made the conversation's log (read by the console,
    posted to the callback) no JSON any more."""
    channel_id, secret = await gateway.api_channel()
    body = HEAD + rest
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 400, text
    error = json.loads(text)["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert await _inbox_is_empty(gateway)


@pytest.mark.parametrize("sent_at", [b"-1", b"253402300800000", b"1" * 31, b"1.5", b'"soon"'])
async def test_sent_at_outside_the_calendar_is_400(gateway: Harness, sent_at: bytes):
    """Milliseconds since the epoch up to the end of year 9999; 10**30 was filed before, and a
    browser reading it got another number."""
    channel_id, secret = await gateway.api_channel()
    body = HEAD + b'"sent_at": ' + sent_at + b"}"
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 400, text
    assert json.loads(text)["error"]["field"] == "sent_at"
    assert await _inbox_is_empty(gateway)
    body = HEAD + b'"sent_at": 253402300799999}'  # the last millisecond of 9999 is taken
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 202, text


@pytest.mark.parametrize("sent_at", [b"1765100000", b"0", b"99999999999"])
async def test_sent_at_in_seconds_is_400_saying_so(gateway: Harness, sent_at: bytes):
    """A Unix time in seconds, the usual client slip, read as milliseconds is January 1970: it
    was filed there, so the message sorted and reported as 56 years old."""
    channel_id, secret = await gateway.api_channel()
    body = HEAD + b'"sent_at": ' + sent_at + b"}"
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["field"] == "sent_at"
    assert "multiply by 1000" in error["message"]
    assert await _inbox_is_empty(gateway)
    body = HEAD + b'"sent_at": 100000000000}'  # 1973-03-03, the first value taken
    status, text = await _post(
        gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
    )
    assert status == 202, text


@pytest.mark.parametrize(
    "text",
    [b'"a\\ud800"', b'"\\udfff"', b'"a\xed\xa0\x80"'],  # escaped, or the bytes of a surrogate
    ids=["escaped", "low", "bytes"],
)
async def test_lone_surrogate_is_400(gateway: Harness, text: bytes):
    """JSON lets one stand alone; it is no character, and filing it failed as the inbox encoded
    the message for Redis (a 500)."""
    channel_id, secret = await gateway.api_channel()
    for body in (HEAD + b'"text": %s}' % text, HEAD + b'"metadata": {"k": %s}}' % text):
        status, answer = await _post(
            gateway, f"/channels/{channel_id}/messages", body, sign(secret, body)
        )
        assert status == 400, answer
        assert "surrogate" in json.loads(answer)["error"]["message"]
    assert await _inbox_is_empty(gateway)


async def test_wrong_method_on_channel_endpoint(gateway: Harness):
    channel_id, _ = await gateway.api_channel()
    resp = await gateway.client.get(f"/channels/{channel_id}/messages")
    assert resp.status == 405
