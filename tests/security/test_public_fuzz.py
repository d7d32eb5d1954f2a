"""Fuzzing the public, platform-facing endpoints of a real gateway (real Redis): the signed API
channel, the WeChat Official Account and WeCom kf webhooks, the QQ webhook, the web chat's HTTP
endpoints and its visitor WebSocket.

Whatever arrives (random bytes; validly signed JSON or XML that is mutated, mistyped, nested
deeply, full of NUL bytes, lone surrogates or invalid UTF-8, or near the size limit; missing,
repeated or undecodable headers and query parameters; random WebSocket frames), the product rule
holds: no 5xx, every 4xx says what is wrong, no unhandled exception in the server's log, no
answer later than HANG_SECONDS, and the worker keeps serving (a valid signed message is still
accepted and filed, with its text intact, and its conversation still reads as JSON). A request
HTTP itself does not allow (two Content-Type headers) is aiohttp's to refuse: its 400 names the
reason, and it is logged as a WARNING (gateway/accesslog.py), so it is no ERROR either.

Requests go over a raw socket, so that headers can carry bytes no HTTP client would send (a
proxy may pass them on). Examples are derandomized: CI runs the same ones every time.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import WSMsgType
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto as OaPrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as CorpPrpCrypto

from adapters.api.signing import sign as api_sign
from adapters.qq import sign as qq_sign
from adapters.qq.adapter import MAX_WEBHOOK_BYTES
from adapters.wechat.crypto import aes_key
from adapters.wechat.crypto import signature as wechat_signature
from adapters.wechat.safexml import MAX_XML_BYTES
from gateway.settings import Settings
from tests.adapters.qq.qq_payloads import APP_ID as QQ_APP_ID
from tests.adapters.qq.qq_payloads import APP_SECRET as QQ_SECRET
from tests.adapters.wechat.wechat_payloads import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    KF_SECRET,
    OPEN_KFID,
    TOKEN,
)
from tests.conftest import Harness
from tests.rawhttp import Answer, Header, as_bytes, raw_request
from tests.webchat.visitor import ORIGIN, Visitor

HANG_SECONDS = 10.0
NOWHERE = "http://127.0.0.1:9"  # platform APIs: a loopback port nobody listens on
UPLOAD_LIMIT = 4096  # the web chat channel's max_upload_bytes (413 is cheap to reach)
MAX_BODY_BYTES = Settings.model_fields["max_body_bytes"].default  # the gateway's, 1 MiB

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


async def http(
    h: Harness,
    method: str,
    target: str,
    headers: Sequence[Header] = (),
    body: bytes = b"",
    chunked: bool = False,
) -> Answer:
    """The gateway's answer to exactly this request (tests/rawhttp.py), within HANG_SECONDS."""
    return await raw_request(
        h.client, method, target, headers, body, chunked=chunked, timeout=HANG_SECONDS
    )


def check(answer: Answer, allowed: set[int], what: str) -> None:
    """Never 5xx; a status the endpoint may give; every 4xx says what is wrong."""
    event(f"HTTP {answer.status}")  # --hypothesis-show-statistics: what the examples reached
    assert answer.status < 500, f"{what}: {answer}"
    assert answer.status in allowed, f"{what}: unexpected {answer}"
    if 400 <= answer.status < 500:
        if "json" in answer.headers.get("content-type", ""):
            err = json.loads(answer.body)["error"]
            assert err["code"] and err["message"], f"{what}: {answer}"
        else:
            assert re.search(r"[A-Za-z]{3}", answer.text), f"{what}: 4xx without a reason {answer}"


def strict_json(raw: str | bytes) -> Any:
    """JSON as a browser reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(raw, parse_constant=refuse)


# Query values sent as they are: percent-encoded bytes that are no UTF-8, or a NUL.
ENCODED = ["%FF", "%ED%A0%80", "%00", "%C3%28"]


def query(params: list[tuple[str, str]]) -> str:
    """A query string: each value percent-encoded, unless it is one of ENCODED."""
    parts = []
    for name, value in params:
        raw = value if value in ENCODED else quote(value, safe="")
        parts.append(f"{quote(name, safe='')}={raw}")
    return "?" + "&".join(parts) if parts else ""


# --- strategies ----------------------------------------------------------------------------

# Odd strings: NUL, lone surrogates (JSON-escaped by json.dumps), a pair, bidi and BOM, markup.
SPECIAL_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\udc00\ud800", "\ud83d\ude00", "中文",
    "\u202e", "\ufeff", "<xml>", "]]>", "&#0;", "%s%n", "\r\n", "9" * 25, "-1", "NaN", "@@RAW@@",
]  # fmt: skip
# Raw JSON literals put where the placeholder "@@RAW@@" was: numbers Python parses oddly or not.
RAW_LITERALS = [
    "NaN", "-Infinity", "1e400", "-1e400", "1" * 5000, "1" * 300, "0.1e-400", "01", "1.", "-",
    "tru", "nul", '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\x41"', "[]", "{}",
    '"' + "\\" * 5 + '"', "1E+2",
]  # fmt: skip

strings = st.text(max_size=30) | st.sampled_from(SPECIAL_STRINGS)
# What a customer may write, and what no one should: odd characters; long, near a limit.
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SPECIAL_STRINGS),
    st.sampled_from([199, 200, 201, 680, 681, 19_999, 20_000, 20_001]).map(lambda n: "字" * n),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.sampled_from([2**63, -(2**63) - 1, 2**53 + 1, 10**300]),
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=10,
)

# Strategies draw the same examples every run (derandomized): what must be new or current in a
# request (a message id, the time) is a placeholder in them, filled in when it is sent (with as
# many characters, so that a body's size stays what was drawn).
NEW_ID, NOW = "@@new--id@@@", "@@@now@@@@"


def fresh(body: bytes) -> bytes:
    """``body`` with each NEW_ID a new id and each NOW the current Unix time."""
    while NEW_ID.encode() in body:
        body = body.replace(NEW_ID.encode(), secrets.token_hex(6).encode(), 1)
    return body.replace(NOW.encode(), str(int(time.time())).encode())


def _slots(doc: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value inside ``doc``, in a stable order."""
    if isinstance(doc, dict):
        for key in list(doc):
            yield doc, key
            yield from _slots(doc[key])
    elif isinstance(doc, list):
        for i in range(len(doc)):
            yield doc, i
            yield from _slots(doc[i])


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` changed. Its content: a few strings made odd (mostly still a valid request). Or
    its structure: values replaced by other types, removed, added, or nested deeply. Or now and
    then no object at all."""
    how = draw(st.sampled_from(["content"] * 4 + ["structure"] * 4 + ["other"]))
    if how == "other":
        return draw(json_values)
    doc = copy.deepcopy(base)
    if how == "content":
        texts = [(c, k) for c, k in _slots(doc) if isinstance(c[k], str) and "@@" not in c[k]]
        for _ in range(draw(st.integers(1, 3))):
            container, key = draw(st.sampled_from(texts))
            container[key] = draw(odd_text)
        return doc
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(doc))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "nest"]))
        if op == "add" or not slots:
            target = draw(st.sampled_from([doc, *(c for c, _ in slots)]))
            if isinstance(target, dict):
                target[draw(strings)] = draw(json_values)
            else:
                target.append(draw(json_values))
            continue
        container, key = draw(st.sampled_from(slots))
        if op == "replace":
            container[key] = draw(json_values)
        elif op == "delete":
            del container[key]
        else:
            value = container[key]
            for _ in range(draw(st.sampled_from([1, 5, 63, 70, 300]))):
                value = [value] if draw(st.booleans()) else {"n": value}
            container[key] = value
    return doc


@st.composite
def byte_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw``, mostly as it is; else cut, a byte flipped, invalid UTF-8 or a NUL put in, a BOM
    put before, or recoded as UTF-16."""
    how = draw(st.sampled_from(["none"] * 10 + ["cut", "flip", "insert", "bom", "utf16", "nul"]))
    if how == "none" or not raw:
        return raw
    at = draw(st.integers(0, len(raw) - 1))
    if how == "cut":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    if how == "insert":
        odd = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
        return raw[:at] + odd + raw[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "utf16":
        return raw.decode("utf-8", "replace").encode("utf-16")
    return raw.replace(b" ", b"\x00", 1)


@st.composite
def json_body(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A mutation of ``base`` as bytes: raw literals, bombs, broken UTF-8 and all."""
    text = json.dumps(draw(mutated(base)), ensure_ascii=draw(st.booleans()))
    while '"@@RAW@@"' in text:
        text = text.replace('"@@RAW@@"', draw(st.sampled_from(RAW_LITERALS)), 1)
    wrap = draw(st.sampled_from([0] * 6 + [1, 65, 5000]))
    text = "[" * wrap + text + "]" * wrap
    return draw(byte_mutation(text.encode("utf-8", "surrogatepass")))


def padded(base: dict[str, Any], size: int) -> bytes:
    """``base`` with a ``pad`` string making the JSON body exactly ``size`` bytes."""
    empty = len(json.dumps({**base, "pad": ""}).encode())
    return json.dumps({**base, "pad": "x" * (size - empty)}).encode()


@st.composite
def bodies(draw: st.DrawFn, base: dict[str, Any], limit: int) -> bytes:
    """Mutated JSON (mostly), random bytes, or ``base`` a byte under, at or over ``limit``."""
    kind = draw(st.sampled_from(["json"] * 8 + ["bytes", "near"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "near":
        return padded(base, draw(st.sampled_from([limit - 1, limit, limit + 1])))
    return draw(json_body(base))


# Header values: text (sent as UTF-8), or bytes that are no UTF-8 at all (obs-text).
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc")),
    max_size=40,
)
header_bytes = st.binary(max_size=20).map(
    lambda b: bytes(c if c >= 0x80 or 0x20 <= c < 0x7F else 0x80 | c for c in b) or b"\xff"
)
header_values = header_text | header_bytes
CONTENT_TYPES = [
    None, "application/json", "application/json; charset=utf-16", "text/plain", "text/xml",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/png",
    "application/octet-stream", ";;", "x/\xff",
]  # fmt: skip


def content_type(value: str | None) -> list[Header]:
    if value is None:
        return []
    return [("Content-Type", value.encode("latin-1"))]


# --- the gateway under test ----------------------------------------------------------------


@dataclass(repr=False)
class Env:
    h: Harness
    api: str
    api_secret: str
    qq: str
    oa_plain: str
    oa_safe: str
    kf: str
    webchat: str
    visitor_token: str  # a web chat visitor's session, with a conversation
    visitor_conversation: str
    messages: int = 0


@pytest.fixture
async def env(gateway: Harness) -> Env:
    h = gateway
    api, api_secret = await h.api_channel()
    qq = await h.create_channel("qq", {
        "app_id": QQ_APP_ID, "app_secret": QQ_SECRET, "receive": "webhook",
        "api_base": NOWHERE, "token_url": f"{NOWHERE}/token", "media_timeout_seconds": 0.5,
    }, name="qq")  # fmt: skip
    oa = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
          "api_base": NOWHERE, "greeting": "", "media_timeout_seconds": 0.5}  # fmt: skip
    oa_plain = await h.create_channel("wechat_oa", {**oa, "mode": "plain"}, name="oa plain")
    # Another account: two channels may not receive one.
    oa_safe = await h.create_channel(
        "wechat_oa", {**oa, "mode": "safe", "app_id": APP_ID + "s"}, name="oa safe"
    )
    kf = await h.create_channel("wecom_kf", {
        "corp_id": CORP_ID, "secret": KF_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
        "api_base": NOWHERE, "greeting": "", "retry_seconds": 3600,
    }, name="kf")  # fmt: skip
    webchat = await h.create_channel("webchat", {
        "allowed_origins": [ORIGIN], "max_upload_bytes": UPLOAD_LIMIT,
        "messages_per_minute_per_session": 10000, "messages_per_minute_per_ip": 100000,
        "trust_forwarded_for": True,
    }, name="web chat")  # fmt: skip
    visitor = Visitor(h, webchat["id"])
    await visitor.connect()
    ack = await visitor.say("c0", "hello")
    await visitor.close()
    assert visitor.token and ack["type"] == "ack"
    return Env(h, api, api_secret, qq["id"], oa_plain["id"], oa_safe["id"], kf["id"],
               webchat["id"], visitor.token, ack["conversation_id"])  # fmt: skip


class ServerLog:
    """What the server logged at ERROR: aiohttp's "Error handling request" for an exception out
    of a handler, a WebSocket handler's failure, a failed background task."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __repr__(self) -> str:
        return "ServerLog()"

    def clear(self) -> None:
        self.caplog.clear()

    def assert_clean(self) -> None:
        errors = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        self.caplog.clear()
        assert not errors, "logged: " + "; ".join(
            f"{r.name}: {r.getMessage()[:200]} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
            for r in errors
        )


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> ServerLog:
    caplog.set_level(logging.WARNING)
    return ServerLog(caplog)


async def messages_of(h: Harness, conversation_id: str, after_seq: int) -> list[dict[str, Any]]:
    """The conversation's log as the console reads it (strict JSON: a NaN would break it)."""
    resp = await h.client.get(
        f"/api/v1/conversations/{conversation_id}/messages",
        params={"after_seq": after_seq, "limit": 5},
        headers=h.auth(h.admin_token),
    )
    assert resp.status == 200, await resp.text()
    return strict_json(await resp.read())["messages"]


async def assert_filed(h: Harness, conversation_id: str, seq: int, text: str | None) -> None:
    """Message ``seq`` is in the conversation's log, with ``text`` (unless None)."""
    logged = {m["seq"]: m for m in await messages_of(h, conversation_id, seq - 1)}
    assert seq in logged, f"seq {seq} of {conversation_id} is not in its log"
    if text is not None:
        assert logged[seq]["text"] == text


async def still_serving(env: Env) -> None:
    """A valid signed message is still accepted (202) and filed, its text intact."""
    env.messages += 1
    text = f"still there? {env.messages}"
    payload = {"message_id": secrets.token_hex(8), "sender": {"id": "alive"}, "text": text}
    body = json.dumps(payload).encode()
    answer = await http(env.h, "POST", f"/channels/{env.api}/messages", [
        ("X-Gateway-Signature", api_sign(env.api_secret, body)),
        ("Content-Type", "application/json"),
    ], body)  # fmt: skip
    assert answer.status == 202, f"a valid message after the fuzz: {answer}"
    result = json.loads(answer.body)
    await assert_filed(env.h, result["conversation_id"], result["seq"], text)


# --- the signed API channel ----------------------------------------------------------------

API_MESSAGE = {
    "message_id": NEW_ID,
    "sender": {"id": "s-1", "name": "Ann", "email": "ann@example.com", "tier": "vip"},
    "thread_id": "t-1",
    "text": "where is my order?",
    "attachments": [{"kind": "image", "url": "https://cdn.example.com/a.png", "size": 10}],
    "sent_at": 1700000000000,
    "metadata": {"order": "A-1", "n": 1},
}
SIGNATURES = ["valid"] * 12 + ["missing", "empty", "garbage", "twice", "bare", "upper", "bytes"]


def api_signature(how: str, secret: str, body: bytes) -> list[Header]:
    good = api_sign(secret, body)
    return {
        "valid": [("X-Gateway-Signature", good)],
        "missing": [],
        "empty": [("X-Gateway-Signature", "")],
        "garbage": [("X-Gateway-Signature", "sha256=" + "0" * 64)],
        "twice": [("X-Gateway-Signature", "sha256=00"), ("X-Gateway-Signature", good)],
        "bare": [("X-Gateway-Signature", good.removeprefix("sha256="))],
        "upper": [("X-Gateway-Signature", "sha256=" + good[7:].upper())],
        "bytes": [("X-Gateway-Signature", b"sha256=\xff\xfe")],
    }[how]


def api_body(**changes: Any) -> bytes:
    return json.dumps({**API_MESSAGE, **changes}).encode()


# What was found, tried on every run: a signature header of bytes that are no UTF-8; a lone
# surrogate, a NaN or an infinity in a valid, signed message.
@example(body=api_body(), how="bytes", ctype="application/json", chunked=False)
@example(body=api_body(text="a\ud800"), how="valid", ctype="application/json", chunked=False)
@example(
    body=api_body(metadata={"a": "\udfff"}), how="valid", ctype="application/json", chunked=False
)
@example(
    body=api_body(metadata={"a": math.nan}), how="valid", ctype="application/json", chunked=False
)
@example(
    body=api_body(sent_at=1, metadata={"b": [math.inf]}), how="valid", ctype=None, chunked=False
)
@settings(FUZZ, max_examples=120)
@given(
    body=bodies(API_MESSAGE, MAX_BODY_BYTES),
    how=st.sampled_from(SIGNATURES),
    ctype=st.sampled_from(CONTENT_TYPES),
    chunked=st.booleans(),
)
async def test_api_channel(env: Env, server_log: ServerLog, body: bytes, how: str, ctype, chunked):
    server_log.clear()  # an earlier example's failure is reported there
    body = fresh(body)  # most valid ones are filed, not duplicates
    headers = api_signature(how, env.api_secret, body) + content_type(ctype)
    answer = await http(env.h, "POST", f"/channels/{env.api}/messages", headers, body, chunked)
    check(answer, {200, 202, 400, 401, 413}, f"API {how} {body[:80]!r}")
    if how not in ("valid", "upper") and answer.status < 413:  # upper-case hex: either way
        assert answer.status == 401, answer
    if answer.status in (200, 202):  # filed now (202), or before (200: a duplicate id)
        result = json.loads(answer.body)
        text = json.loads(body).get("text", "") if answer.status == 202 else None
        await assert_filed(env.h, result["conversation_id"], result["seq"], text)
    server_log.assert_clean()
    await still_serving(env)


# --- QQ ------------------------------------------------------------------------------------

QQ_EVENTS = [
    "C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE", "AT_MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE",
    "FRIEND_ADD", "FRIEND_DEL", "C2C_MSG_REJECT", "C2C_MSG_RECEIVE", "GROUP_ADD_ROBOT",
    "GROUP_DEL_ROBOT", "GROUP_MSG_REJECT", "GROUP_MSG_RECEIVE", "MESSAGE_AUDIT_PASS", "",
]  # fmt: skip
# Attachment URLs the gateway may try to fetch: loopback only (nothing leaves the machine).
QQ_FILE = {"content_type": "image/png", "filename": "a.png", "size": 68, "width": 1,
           "url": f"{NOWHERE}/a.png"}  # fmt: skip
QQ_AT = "2023-11-06T13:37:18+08:00"
# The ``d`` of each event (send-receive/event.html, message.md, user and group manage events).
QQ_DATA = [
    {"author": {"user_openid": "U1"}, "content": "hi", "id": NEW_ID, "timestamp": QQ_AT,
     "attachments": [QQ_FILE]},
    {"author": {"member_openid": "M1"}, "content": " hi", "group_openid": "G1", "id": NEW_ID,
     "timestamp": QQ_AT},
    {"author": {"id": "1234", "username": "abc", "bot": False}, "channel_id": "100010",
     "guild_id": "18700000000001", "content": "<@!1> hi", "id": NEW_ID, "timestamp": QQ_AT,
     "seq": 101},
    {"openid": "U1", "group_openid": "G1", "op_member_openid": "M1", "timestamp": 1699240365},
]  # fmt: skip


@st.composite
def qq_payloads(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["dispatch"] * 5 + ["validation", "other"]))
    if kind == "validation":
        return {"op": 13, "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}}
    t = draw(st.sampled_from(QQ_EVENTS))
    d = copy.deepcopy(draw(st.sampled_from(QQ_DATA)))
    return {"id": f"{t}:{NEW_ID}", "op": 0 if kind == "dispatch" else 11, "d": d, "t": t}


# What is wrong with a webhook's headers: nothing (mostly), its timestamp (missing, stale, no
# number, bytes that are no UTF-8), its signature (missing, wrong, not hex) or its AppID.
QQ_FAULTS = ["none"] * 12 + [
    "no timestamp", "empty timestamp", "stale", "future", "huge timestamp", "² timestamp",
    "-1 timestamp", "1.5 timestamp", "timestamp bytes", "no signature", "zeros", "short",
    "not hex", "high bits", "signature bytes", "other appid", "appid bytes", "no appid",
]  # fmt: skip


def qq_headers(body: bytes, fault: str) -> list[Header]:
    now = int(time.time())
    timestamp: str | bytes | None = {
        "no timestamp": None, "empty timestamp": "", "stale": str(now - 3600),
        "future": str(now + 3600), "huge timestamp": "9" * 400, "² timestamp": "²",
        "-1 timestamp": "-1", "1.5 timestamp": "1.5",
        "timestamp bytes": f"{now}\xff".encode("latin-1"),
    }.get(fault, str(now))  # fmt: skip
    appid = {"other appid": "22222222", "appid bytes": b"\xff\xfe", "no appid": None}.get(
        fault, QQ_APP_ID
    )
    out: list[Header] = [] if appid is None else [("X-Bot-Appid", appid)]
    if timestamp is None:
        return out
    out.append(("X-Signature-Timestamp", timestamp))
    good = qq_sign.sign(QQ_SECRET, as_bytes(timestamp) + body)
    signature: str | bytes | None = {
        "no signature": None, "zeros": "00" * 64, "short": good[:-2], "not hex": "zz" * 64,
        "high bits": good[:-2] + "ff", "signature bytes": b"\xff" * 128,
    }.get(fault, good)  # fmt: skip
    return out if signature is None else [*out, ("X-Signature-Ed25519", signature)]


def qq_body(text: str = "hi") -> bytes:
    d = {**QQ_DATA[0], "content": text}
    return json.dumps({"id": NEW_ID, "op": 0, "d": d, "t": "C2C_MESSAGE_CREATE"}).encode()


# What was found, tried on every run: a JSON bomb (before any signature check); a timestamp
# of bytes that are no UTF-8, of 400 digits, or of a digit int() does not take; a lone
# surrogate in a signed message.
@example(body=b"[" * 100_000, fault="none", ctype="application/json", chunked=False)
@example(body=qq_body(), fault="timestamp bytes", ctype="application/json", chunked=False)
@example(body=qq_body(), fault="huge timestamp", ctype="application/json", chunked=False)
@example(body=qq_body(), fault="² timestamp", ctype="application/json", chunked=False)
@example(body=qq_body("a\ud800"), fault="none", ctype="application/json", chunked=False)
@settings(FUZZ, max_examples=120)
@given(
    body=qq_payloads().flatmap(lambda payload: bodies(payload, MAX_WEBHOOK_BYTES)),
    fault=st.sampled_from(QQ_FAULTS),
    ctype=st.sampled_from(CONTENT_TYPES),
    chunked=st.booleans(),
)
async def test_qq_webhook(env: Env, server_log: ServerLog, body: bytes, fault: str, ctype, chunked):
    server_log.clear()  # an earlier example's failure is reported there
    body = fresh(body)
    headers = qq_headers(body, fault) + content_type(ctype)
    answer = await http(env.h, "POST", f"/channels/{env.qq}/qq", headers, body, chunked)
    check(answer, {200, 400, 401, 403, 413}, f"QQ {fault} {body[:80]!r}")
    if answer.status == 200:
        assert isinstance(strict_json(answer.body), dict)
    server_log.assert_clean()
    await still_serving(env)


# --- WeChat: Official Account and WeCom kf -------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
XML_SPECIALS = [
    "", "<a>1</a>", "<a/><b/>", "&#0;", "&#xD800;", "&amp;", "&lt;", "]]>", "<!-- c -->",
    "<![CDATA[x]]>", "9" * 400, "-1", "1e5", " 12 ", "²", "\u202e", "&unknown;", "<?pi x?>",
]  # fmt: skip
MSG_TYPES = ["text", "image", "voice", "video", "shortvideo", "location", "link", "event",
             "miniprogrampage", "file", "TEXT", ""]  # fmt: skip
EVENTS = ["subscribe", "unsubscribe", "CLICK", "SCAN", "VIEW", "LOCATION", "kf_msg_or_event", ""]
OA_FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
             "EventKey", "MediaId", "PicUrl", "Format", "Recognition", "ThumbMediaId",
             "Location_X", "Location_Y", "Scale", "Label", "Title", "Description", "Url",
             "Ticket", "Token", "OpenKfId", "Encrypt"]  # fmt: skip


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@st.composite
def xml_value(draw: st.DrawFn) -> str:
    value = draw(odd_text | st.sampled_from(XML_SPECIALS))
    how = draw(st.sampled_from(["cdata", "cdata", "escaped", "raw"]))
    if how == "cdata":
        return cdata(value)
    if how == "escaped":
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


@st.composite
def wechat_xml(draw: st.DrawFn, base: dict[str, str]) -> bytes:
    """A WeChat message or event as XML. Its content: a few values made odd (mostly still a
    valid message). Or its structure: fields mistyped, missing, repeated, nested or added, in
    a document that may not be WeChat's at all, or no UTF-8."""
    fields = [(k, cdata(v)) for k, v in base.items()]
    if draw(st.booleans()):
        mine = [i for i, (_, v) in enumerate(fields) if "@@" not in v]
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.sampled_from(mine))
            fields[at] = (fields[at][0], cdata(draw(odd_text | st.sampled_from(XML_SPECIALS))))
        return "<xml>{}</xml>".format("".join(f"<{k}>{v}</{k}>" for k, v in fields)).encode(
            "utf-8", "surrogatepass"
        )
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["value", "value", "type", "drop", "add", "twice", "nest"]))
        at = draw(st.integers(0, len(fields) - 1)) if fields else 0
        if op == "add" or not fields:
            name = draw(st.sampled_from(OA_FIELDS) | NAMES)
            fields.insert(at, (name, draw(xml_value())))
        elif op == "value":
            fields[at] = (fields[at][0], draw(xml_value()))
        elif op == "type":
            kind = draw(st.sampled_from(["MsgType", "Event", "CreateTime"]))
            value = draw(st.sampled_from(
                {"MsgType": MSG_TYPES, "Event": EVENTS, "CreateTime": ["0", "-5", "9" * 30]}[kind]
            ))  # fmt: skip
            fields.append((kind, value))
        elif op == "drop":
            del fields[at]
        elif op == "twice":
            fields.append(fields[at])
        else:
            fields[at] = (fields[at][0], f"<{fields[at][0]}>{fields[at][1]}</{fields[at][0]}>")
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields)
    doc = draw(st.sampled_from([
        "<xml>{}</xml>", "<xml>{}</xml>", "<xml>{}</xml>", '<?xml version="1.0"?><xml>{}</xml>',
        "<root>{}</root>", "<xml><xml>{}</xml></xml>", "<xml>{}</xml><xml/>", "{}", "<xml>{}",
        '<!DOCTYPE xml [<!ENTITY e "x">]><xml>{}</xml>', "<xml a='1'>{}</xml>", "",
    ])).format(inner)  # fmt: skip
    return draw(byte_mutation(doc.encode("utf-8", "surrogatepass")))


OA_MESSAGE = {"ToUserName": "gh_0123456789ab", "FromUserName": "o" + NEW_ID, "CreateTime": NOW,
              "MsgType": "text", "Content": "hello", "MsgId": NEW_ID}  # fmt: skip
KF_EVENT = {"ToUserName": CORP_ID, "CreateTime": NOW, "MsgType": "event",
            "Event": "kf_msg_or_event", "Token": "ENC" + NEW_ID, "OpenKfId": OPEN_KFID}  # fmt: skip


# How the query of a WeChat callback is off: the signature, timestamp or nonce missing,
# repeated, wrong or undecodable; a timestamp stale, huge or no number.
QUERY_FAULTS = ["none"] * 12 + [
    "no signature", "no timestamp", "no nonce", "bad signature", "stale", "huge timestamp",
    "² timestamp", "repeated", "nonce %FF", "empty", "signature in upper case",
]  # fmt: skip


def wechat_query(fault: str, sign_parts: Callable[[str, str], list[tuple[str, str]]]) -> str:
    """The callback's query for ``fault``; ``sign_parts(timestamp, nonce)`` gives its signed
    parameters (signature or msg_signature) for a timestamp and nonce."""
    ts = {"stale": str(int(time.time()) - 3600), "huge timestamp": "9" * 400,
          "² timestamp": "²"}.get(fault, str(int(time.time())))  # fmt: skip
    nonce = "%FF" if fault == "nonce %FF" else secrets.token_hex(5)
    signed = sign_parts(ts, "\ufffd" if nonce == "%FF" else nonce)
    if fault == "bad signature":
        signed = [(k, "0" * 40) for k, _ in signed]
    if fault == "signature in upper case":
        signed = [(k, v.upper()) for k, v in signed]
    params = [*signed, ("timestamp", ts), ("nonce", nonce)]
    drop = {"no signature": {k for k, _ in signed}, "no timestamp": {"timestamp"},
            "no nonce": {"nonce"}}.get(fault, set())  # fmt: skip
    params = [(k, v) for k, v in params if k not in drop]
    if fault == "repeated":
        params = [(k, "x") for k, _ in params] + params
    if fault == "empty":
        params = [(k, "") for k, _ in params]
    return query(params)


def _oa_encrypt(raw: bytes, receiver: str = APP_ID) -> str:
    return OaPrpCrypto(aes_key(AES_KEY)).encrypt(raw, receiver).decode()


def _kf_encrypt(raw: bytes, receiver: str = CORP_ID) -> str:
    return CorpPrpCrypto(aes_key(AES_KEY)).encrypt(raw, receiver).decode()


ENCRYPTS = ["ours"] * 5 + ["other account", "garbage base64", "not base64", "empty", "missing"]


def envelope(how: str, raw: bytes, encrypt: Callable[[bytes, str], str]) -> tuple[str, str]:
    """(the Encrypt field, the envelope XML) of a callback carrying ``raw``."""
    value = {
        "ours": lambda: encrypt(raw, APP_ID if encrypt is _oa_encrypt else CORP_ID),
        "other account": lambda: encrypt(raw, "wx-other"),
        "garbage base64": lambda: base64.b64encode(raw[:64] or b"x").decode(),
        "not base64": lambda: "!!" + raw[:20].decode("utf-8", "replace"),
        "empty": lambda: "",
        "missing": lambda: "",
    }[how]()
    element = "" if how == "missing" else f"<Encrypt><![CDATA[{value}]]></Encrypt>"
    return value, f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>{element}</xml>"


def oa_xml(size: int = 0) -> bytes:
    """OA_MESSAGE as XML; with ``size``, its Content padded to make it ``size`` bytes."""
    xml = "<xml>{}</xml>".format("".join(f"<{k}>{cdata(v)}</{k}>" for k, v in OA_MESSAGE.items()))
    return xml.replace("hello", "hello" + "x" * (size - len(xml)) if size else "hello").encode()


# What was found, tried on every run: a timestamp of 400 digits (before any signature check).
@example(mode="plain", method="GET", xml=b"", fault="huge timestamp", encrypt_how="ours",
         echostr="x", ctype=None)  # fmt: skip
@example(mode="safe", method="POST", xml=oa_xml(), fault="huge timestamp", encrypt_how="ours",
         echostr="", ctype="text/xml")  # fmt: skip
@settings(FUZZ, max_examples=120)
@given(
    mode=st.sampled_from(["plain", "plain", "safe"]),
    method=st.sampled_from(["POST", "POST", "POST", "GET"]),
    xml=st.one_of(
        *[wechat_xml(OA_MESSAGE)] * 6,
        st.binary(max_size=200),
        st.sampled_from([MAX_XML_BYTES - 1, MAX_XML_BYTES, MAX_XML_BYTES + 1]).map(oa_xml),
    ),
    fault=st.sampled_from(QUERY_FAULTS),
    encrypt_how=st.sampled_from(ENCRYPTS),
    echostr=st.text(max_size=20) | st.sampled_from(["%FF", "%ED%A0%80"]),
    ctype=st.sampled_from(CONTENT_TYPES),
)
async def test_wechat_official_account(
    env: Env, server_log: ServerLog, mode, method, xml, fault, encrypt_how, echostr, ctype
):
    server_log.clear()  # an earlier example's failure is reported there
    channel = env.oa_plain if mode == "plain" else env.oa_safe
    body = xml = fresh(xml)
    if method == "GET":
        target = wechat_query(fault, lambda ts, n: [("signature", wechat_signature(TOKEN, ts, n))])
        target += "&" + query([("echostr", echostr)])[1:]
        body = b""
    elif mode == "plain":
        target = wechat_query(fault, lambda ts, n: [("signature", wechat_signature(TOKEN, ts, n))])
    else:
        encrypted, envelope_xml = envelope(encrypt_how, xml, _oa_encrypt)
        body = envelope_xml.encode()
        target = wechat_query(fault, lambda ts, n: [
            ("signature", wechat_signature(TOKEN, ts, n)),
            ("msg_signature", wechat_signature(TOKEN, ts, n, encrypted)),
        ]) + "&encrypt_type=aes"  # fmt: skip
    answer = await http(env.h, method, f"/channels/{channel}/wechat{target}",
                        content_type(ctype), body)  # fmt: skip
    check(answer, {200, 400, 403, 413}, f"OA {mode} {method} {fault} {xml[:80]!r}")
    server_log.assert_clean()
    await still_serving(env)


# What was found, tried on every run: a timestamp of 400 digits (before any signature check).
@example(method="GET", xml=b"x", fault="huge timestamp", encrypt_how="ours", ctype=None)
@example(method="POST", xml=b"<xml/>", fault="huge timestamp", encrypt_how="ours", ctype=None)
@settings(FUZZ, max_examples=80)
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET"]),
    xml=wechat_xml(KF_EVENT) | st.binary(max_size=200),
    fault=st.sampled_from(QUERY_FAULTS),
    encrypt_how=st.sampled_from(ENCRYPTS),
    ctype=st.sampled_from(CONTENT_TYPES),
)
async def test_wecom_kf(env: Env, server_log: ServerLog, method, xml, fault, encrypt_how, ctype):
    server_log.clear()  # an earlier example's failure is reported there
    xml = fresh(xml)
    encrypted, envelope_xml = envelope(encrypt_how, xml, _kf_encrypt)

    def signed(ts: str, nonce: str) -> list[tuple[str, str]]:
        return [("msg_signature", wechat_signature(TOKEN, ts, nonce, encrypted))]

    target = wechat_query(fault, signed)
    body = envelope_xml.encode()
    if method == "GET":  # the URL check: echostr is the ciphertext
        target += "&" + query([("echostr", encrypted)])[1:] if encrypt_how != "missing" else ""
        body = b""
    answer = await http(env.h, method, f"/channels/{env.kf}/wecom-kf{target}",
                        content_type(ctype), body)  # fmt: skip
    check(answer, {200, 400, 403, 413}, f"kf {method} {fault} {encrypt_how} {xml[:80]!r}")
    server_log.assert_clean()
    await still_serving(env)


# --- the web chat: HTTP endpoints ----------------------------------------------------------

WEBCHAT_ROUTES = [("POST", "/webchat/upload")] * 6 + [("OPTIONS", "/webchat/upload")] * 2 + [
    ("GET", "/webchat/texts"), ("GET", "/webchat/texts"), ("GET", "/webchat/ws"),
    ("GET", "/webchat/ws"), ("PUT", "/webchat/upload"), ("GET", "/webchat/nothing"),
]  # fmt: skip
WS_UPGRADE: list[Header] = [
    ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", base64.b64encode(b"0123456789abcdef").decode()),
]  # fmt: skip
# What is off in a widget's request: nothing (mostly), its Origin or its session token.
WEBCHAT_FAULTS = ["none"] * 10 + [
    "no origin", "other origin", "odd origin", "no token", "garbage token", "other token",
    "odd token", "odd signature",
]  # fmt: skip
FILE_NAMES = ["a.png"] * 4 + ["", " ", "../x", "a" * 300, "%FF", "%00", "\u202egnp.exe", "a\nb"]


# What was found, tried on every run: a session token, or an X-Forwarded-For (the channel trusts
# its proxy), of bytes that are no UTF-8.
@example(route=("POST", "/webchat/upload"), fault="odd signature", odd=b"\xff", name="a.png",
         body=b"x", extra=[], upgrade=False)  # fmt: skip
@example(route=("POST", "/webchat/upload"), fault="none", odd="", name="a.png", body=b"x",
         extra=[("X-Forwarded-For", b"\xff")], upgrade=False)  # fmt: skip
@example(route=("GET", "/webchat/ws"), fault="none", odd="", name="", body=b"",
         extra=[("X-Forwarded-For", b"1.2.3.4, \xfe")], upgrade=True)  # fmt: skip
@settings(FUZZ, max_examples=100)
@given(
    route=st.sampled_from(WEBCHAT_ROUTES),
    fault=st.sampled_from(WEBCHAT_FAULTS),
    odd=header_values,
    name=st.sampled_from(FILE_NAMES) | st.sampled_from(FILE_NAMES) | st.text(max_size=20),
    body=st.binary(min_size=1, max_size=100)
    | st.sampled_from([0, UPLOAD_LIMIT, UPLOAD_LIMIT + 1]).map(lambda n: b"x" * n),
    extra=st.lists(
        st.tuples(
            st.sampled_from(["X-Forwarded-For", "Accept-Language", "Content-Type",
                             "Access-Control-Request-Method", "X-Whatever"]),
            header_values,
        ),
        max_size=3,
    ),
    upgrade=st.booleans(),
)  # fmt: skip
async def test_webchat_http(
    env: Env, server_log: ServerLog, route, fault, odd, name, body, extra, upgrade
):
    server_log.clear()  # an earlier example's failure is reported there
    method, path = route
    origin = {"no origin": None, "other origin": "https://evil.example", "odd origin": odd}.get(
        fault, ORIGIN
    )
    session = env.visitor_token.rsplit(".", 1)[0]  # "v1.<session id>"
    token = {
        "no token": None, "garbage token": "x.y.z", "odd token": odd,
        "other token": session + ".AA", "odd signature": session.encode() + b"." + as_bytes(odd),
    }.get(fault, env.visitor_token)  # fmt: skip
    headers: list[Header] = [] if origin is None else [("Origin", origin)]
    if token is not None:
        headers.append(("Authorization", b"Bearer " + as_bytes(token)))
    headers += extra
    if path.endswith("/ws") and upgrade:
        headers += WS_UPGRADE
    target = f"/channels/{env.webchat}{path}{query([('name', name)])}"
    answer = await http(env.h, method, target, headers, body if method == "POST" else b"")
    allowed = {101, 200, 201, 204, 400, 401, 403, 404, 405, 413, 429}
    check(answer, allowed, f"web chat {method} {path} {headers!r}")
    server_log.assert_clean()
    await still_serving(env)


# --- the web chat: the visitor's WebSocket -------------------------------------------------

WS_FRAMES = [
    {"type": "message", "client_id": "c1", "text": "hello"},
    {"type": "message", "client_id": "c2", "text": "", "attachments": [{"url": "/media/x/y"}]},
    {"type": "profile", "name": "Ann", "email": "ann@example.com"},
    {"type": "typing", "on": True},
    {"type": "read", "seq": 1},
    {"type": "survey_answer", "token": "a.b", "score": 5, "comment": "ok"},
    {"type": "ping"},
    {"type": "hello", "token": None, "last_seq": 0},
    {"type": "nothing"},
]
# A new visitor's hello, and a returning one's (placeholders for the session's token and
# conversation, filled in when sent).
VISITOR, CONVERSATION = "@@visitor@@", "@@conversation@@"
HELLOS = [
    {"type": "hello", "token": None, "conversation_id": None, "last_seq": 0,
     "page": "https://shop.example.com/cart"},
    {"type": "hello", "token": VISITOR, "conversation_id": CONVERSATION, "last_seq": 1,
     "page": "https://shop.example.com/cart"},
]  # fmt: skip
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
no_surrogates = st.characters(blacklist_categories=("Cs",))


@st.composite
def ws_frame(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["json"] * 6 + ["text", "binary", "big", "bomb"]))
    if kind == "text":
        return "text", draw(st.text(no_surrogates, max_size=50))
    if kind == "binary":
        return "binary", draw(st.binary(max_size=50))
    if kind == "big":  # over the frame limit: closed with 1009
        return "text", json.dumps({"type": "message", "client_id": "big", "text": "x" * 40_000})
    if kind == "bomb":  # nested too deeply: closed with 1007
        return "text", "[" * 5000
    frame = draw(mutated(draw(st.sampled_from(WS_FRAMES))))
    if isinstance(frame, dict) and frame.get("type") == "message" and draw(st.booleans()):
        frame["client_id"] = NEW_ID  # a new message, not a duplicate
    text = json.dumps(frame, ensure_ascii=True)  # lone surrogates as \ud800: valid UTF-8 frames
    while '"@@RAW@@"' in text:
        text = text.replace('"@@RAW@@"', draw(st.sampled_from(RAW_LITERALS)), 1)
    return "json", text


# The last frame of each example: refused (no text) with an error frame naming it, which
# tells that every frame before it was handled.
LAST = {"type": "message", "client_id": "last-frame", "text": ""}


async def _frames_until_last(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Frames up to the answer to LAST, or the close code when the socket was closed first."""
    frames = []
    async with asyncio.timeout(HANG_SECONDS):
        while True:
            msg = await ws.receive()
            if msg.type != WSMsgType.TEXT:
                return frames, (msg.data if msg.type == WSMsgType.CLOSE else ws.close_code)
            frame = json.loads(msg.data)
            if frame.get("client_id") == LAST["client_id"]:
                return frames, None
            frames.append(frame)


# What was found, tried on every run: a lone surrogate in a message's text or client_id, in a
# profile's name, in the hello's page or token.
@example(hello=HELLOS[0], frames=[
    ("json", '{"type": "message", "client_id": "c1", "text": "a\\ud800"}'),
    ("json", '{"type": "message", "client_id": "\\udfff", "text": "x"}'),
])  # fmt: skip
@example(hello=HELLOS[0], frames=[("json", '{"type": "profile", "name": "\\ud800"}')])
@example(hello={**HELLOS[0], "page": "https://a\ud800"}, frames=[("json", '{"type": "ping"}')])
@example(hello={**HELLOS[0], "token": "v1.AAAAAAAAAAAAAAAAAAAAAAAA.\ud800"}, frames=[])
@settings(FUZZ, max_examples=60)
@given(
    hello=st.sampled_from(HELLOS).flatmap(mutated) | st.sampled_from(HELLOS),
    frames=st.lists(ws_frame(), min_size=1, max_size=4),
)
async def test_webchat_socket(env: Env, server_log: ServerLog, hello, frames):
    server_log.clear()  # an earlier example's failure is reported there
    h = env.h
    ws = await h.client.ws_connect(
        f"/channels/{env.webchat}/webchat/ws", headers={"Origin": ORIGIN}
    )
    try:
        hello_text = json.dumps(hello).replace(VISITOR, env.visitor_token)
        await ws.send_str(hello_text.replace(CONVERSATION, env.visitor_conversation))
        first = await ws.receive(timeout=HANG_SECONDS)
        if first.type == WSMsgType.TEXT and json.loads(first.data)["type"] == "error":
            # A hello refused: what was wrong, then the close saying the same.
            assert json.loads(first.data)["message"], first.data
            first = await ws.receive(timeout=HANG_SECONDS)
            assert first.type == WSMsgType.CLOSE and first.data == 4400 and first.extra, first
            return
        if first.type != WSMsgType.TEXT:
            # No hello first (4400), or one nested too deeply (1007) or too big (1009).
            assert first.type == WSMsgType.CLOSE and first.data in (4400, 1007, 1009), first
            return
        assert json.loads(first.data)["type"] == "welcome", first.data
        sent: list[dict[str, Any]] = []
        for kind, data in frames:
            if kind == "binary":
                await ws.send_bytes(data)
                continue
            data = fresh(data.encode()).decode()
            await ws.send_str(data)
            try:
                frame = json.loads(data)
            except (ValueError, RecursionError):
                continue
            if isinstance(frame, dict):
                sent.append(frame)
        await ws.send_str(json.dumps(LAST))
        answers, closed = await _frames_until_last(ws)
        # Only a frame too big (1009) or nested too deeply (1007) closes the socket.
        assert closed in (None, 1007, 1009), f"closed with {closed}: {frames!r}"
        for answer in answers:
            if answer["type"] in ("error", "survey_result") and not answer.get("ok"):
                assert answer.get("code") and answer.get("message"), answer
        if closed is None:
            for frame in sent:
                cid = frame.get("client_id")
                if (
                    frame.get("type") == "message"
                    and isinstance(cid, str)
                    and CLIENT_ID.fullmatch(cid)
                ):
                    # Answered: acknowledged, or refused with a reason (the frame itself when
                    # the JSON was no object of ours).
                    assert any(a.get("client_id") == cid for a in answers) or any(
                        a.get("code") == "invalid_json" for a in answers
                    ), (frame, answers)
            for ack in (a for a in answers if a["type"] == "ack" and not a["duplicate"]):
                text = next(f["text"] for f in sent if f.get("client_id") == ack["client_id"])
                await assert_filed(h, ack["conversation_id"], ack["seq"], text)
    finally:
        await ws.close()
    server_log.assert_clean()
    await still_serving(env)


# --- /channels/{id}/... itself -------------------------------------------------------------


@settings(FUZZ, max_examples=30)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    channel=st.sampled_from(["api", "qq", "oa_plain", "kf", "webchat", "unknown"]),
    tail=st.sampled_from(["messages", "qq", "wechat", "wecom-kf", "webchat/ws", "", "x/y", "%FF"])
    | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10),
)
async def test_channel_routes(env: Env, server_log: ServerLog, method, channel, tail):
    server_log.clear()  # an earlier example's failure is reported there
    channel_id = getattr(env, channel, "ch_unknown")
    target = f"/channels/{channel_id}/" + quote(tail, safe="/%")
    answer = await http(env.h, method, target, [], b"{}" if method in ("POST", "PUT") else b"")
    check(answer, {200, 204, 400, 401, 403, 404, 405, 413}, f"{method} {target}")
    server_log.assert_clean()
