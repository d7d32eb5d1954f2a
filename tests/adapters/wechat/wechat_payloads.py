"""Payload builders for WeChat tests: recorded XML fixtures, signatures, and encrypted envelopes
made with wechatpy's WeChatCrypto (the round trip the gateway must undo)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as CorpCrypto

from adapters.wechat.crypto import signature

PAYLOADS = Path(__file__).parent / "payloads"

APP_ID = "wx0123456789abcdef"
APP_SECRET = "app-secret"
CORP_ID = "ww0123456789abcdef"
KF_SECRET = "kf-secret"
TOKEN = "gatewaytoken123"
# 43 characters: base64 of 32 bytes without the trailing "=" (WeChat's EncodingAESKey).
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPEN_KFID = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"


def load(name: str) -> str:
    return (PAYLOADS / name).read_text(encoding="utf-8")


def with_fields(xml: str, **fields: Any) -> str:
    """Replace the value of existing top-level fields (FromUserName="o1", MsgId=5, ...)."""
    for name, value in fields.items():
        pattern = re.compile(rf"<{name}>.*?</{name}>", re.S)
        if not pattern.search(xml):
            raise KeyError(name)
        xml = pattern.sub(f"<{name}><![CDATA[{value}]]></{name}>", xml, count=1)
    return xml


def text_xml(openid: str, content: str, msg_id: int | str, create_time: int | None = None) -> str:
    return with_fields(
        load("text.xml"),
        FromUserName=openid,
        Content=content,
        MsgId=msg_id,
        CreateTime=create_time or int(time.time()),
    )


def plain_query(token: str = TOKEN, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(5)
    return {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def _encrypt(crypto: Any, xml: str, ts: str, nonce: str) -> tuple[str, str]:
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]
    return envelope["Encrypt"], envelope["MsgSignature"]


def safe_request(
    xml: str,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    app_id: str = APP_ID,
    timestamp: int | None = None,
    compatible: bool = False,
) -> tuple[str, dict[str, str]]:
    """(body, query) as WeChat posts a safe-mode (or compatible-mode) message."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(5)
    encrypt, msg_signature = _encrypt(WeChatCrypto(token, aes_key, app_id), xml, ts, nonce)
    element = f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
    if compatible:  # the plain fields and the ciphertext side by side
        body = xml.replace("</xml>", f"{element}\n</xml>")
    else:
        body = f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>{element}</xml>"
    query = {
        "signature": signature(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": "o-ignored",
        "encrypt_type": "aes",
        "msg_signature": msg_signature,
    }
    return body, query


def kf_request(
    xml: str,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: int | None = None,
) -> tuple[str, dict[str, str]]:
    """(body, query) as WeCom posts an encrypted callback."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(5)
    encrypt, msg_signature = _encrypt(CorpCrypto(token, aes_key, corp_id), xml, ts, nonce)
    body = (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><AgentID><![CDATA[]]></AgentID>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    return body, {"msg_signature": msg_signature, "timestamp": ts, "nonce": nonce}


def kf_callback_xml(open_kfid: str = OPEN_KFID, token: str = "", corp_id: str = CORP_ID) -> str:
    return with_fields(
        load("kf_callback.xml"),
        ToUserName=corp_id,
        OpenKfId=open_kfid,
        Token=token,
        CreateTime=int(time.time()),
    )


def kf_text_item(msgid: str, user: str, content: str, open_kfid: str = OPEN_KFID) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "open_kfid": open_kfid,
        "external_userid": user,
        "send_time": int(time.time()),
        "origin": 3,
        "msgtype": "text",
        "text": {"content": content},
    }


XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content>"
    "<MsgId>1</MsgId></xml>"
)

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd">
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"""


async def wait_for(
    condition: Callable[[], Any], within: float = 30.0, interval: float = 0.05
) -> Any:
    """Poll until ``condition()`` (sync or async) is truthy; generous for a slow machine."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
