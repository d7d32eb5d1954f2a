"""QQ Bot payloads, as the platform documents them (tencent-connect/bot-docs, published at
bot.q.qq.com/wiki/develop/api-v2/). Each builder names its page; values not in an example (ids,
times) vary per test."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from adapters.qq import sign

APP_ID = "11111111"  # event-emit.html, the validation example
APP_SECRET = "DG5g3B4j9X2KOErG"  # event-emit.html: this secret signs the example's answer
# event-emit.html, 回调地址及事件监听配置: the example request and the answer the bot must give.
VALIDATION_REQUEST = {
    "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"},
    "op": 13,
}
VALIDATION_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a"
    "1132afe09280305f13aa6909ffc2d652c706"
)
# sign.html, 验证签名 DEMO: the secret, its 32-byte seed and public key.
DEMO_SECRET = "naOC0ocQE3shWLAfffVLB1rhYPG7"
DEMO_SEED = b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
DEMO_PUBLIC_KEY = bytes([
    215, 195, 98, 254, 120, 174, 248, 31, 242, 50, 135, 180, 147, 98, 139, 93,
    176, 42, 60, 79, 227, 11, 33, 94, 77, 25, 96, 155, 93, 118, 103, 58,
])  # fmt: skip

# send-receive/event.html examples
USER_OPENID = "E4F4AEA33253A2797FB897C50B81D7ED"
GROUP_OPENID = "C9F778FE6ADF9D1D1DBE395BF744A33A"
MEMBER_OPENID = "E4F4AEA33253A2797FB897C50B81D7ED"
C2C_EXAMPLE = {
    "author": {"user_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
    "content": "123",
    "id": "ROBOT1.0_.b6nx.CVryAO0nR58RXuU6SC.m92gc19j02qKqdm8ek!",
    "timestamp": "2023-11-06T13:37:18+08:00",
}
GROUP_AT_EXAMPLE = {
    "author": {"member_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
    "content": " 123",
    "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "id": "ROBOT1.0_eBIyWnxpmSu6uLQ7u7fU0eGloKGYg4eEa737vRyKnMCgyZjKi7JLYkQ9B0VapbiY",
    "timestamp": "2023-11-06T13:37:18+08:00",
}
# message.md / dms/direct_message.md examples (guild @-mention, guild direct message)
AT_MESSAGE_EXAMPLE = {
    "author": {
        "avatar": "http://thirdqq.qlogo.cn/0",
        "bot": False,
        "id": "1234",
        "username": "abc",
    },
    "channel_id": "100010",
    "content": "ndnnd",
    "guild_id": "18700000000001",
    "id": "0812345677890abcdef",
    "member": {"joined_at": "2021-04-12T16:34:42+08:00", "roles": ["1"]},
    "timestamp": "2021-05-20T15:14:58+08:00",
    "seq": 101,
}
DIRECT_MESSAGE_EXAMPLE = {k: v for k, v in AT_MESSAGE_EXAMPLE.items() if k != "seq"}
GUILD_ID = "18700000000001"
BOT_USER_ID = "11586990140073229091"
# user/manage/event.html and group/manage/event.html examples
FRIEND_ADD_EXAMPLE = {"openid": "E4F4AEA33253A2797FB897C50B81D7ED", "timestamp": 1699240365}
FRIEND_DEL_EXAMPLE = {"openid": "E4F4AEA33253A2797FB897C50B81D7ED", "timestamp": 1699240328}
GROUP_ADD_ROBOT_EXAMPLE = {
    "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "op_member_openid": "E4F4AEA33253A2797FB897C50B81D7ED",
    "timestamp": 1699240248,
}
GROUP_DEL_ROBOT_EXAMPLE = {
    "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "op_member_openid": "E4F4AEA33253A2797FB897C50B81D7ED",
    "timestamp": 1699240426,
}


def msg_id() -> str:
    """A message id shaped like the examples' ("ROBOT1.0_..." )."""
    return "ROBOT1.0_" + secrets.token_urlsafe(24)


def rfc3339(at: float | None = None) -> str:
    return datetime.fromtimestamp(at or time.time(), UTC).astimezone().isoformat(timespec="seconds")


def c2c_message(
    openid: str,
    content: str,
    *,
    id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """C2C_MESSAGE_CREATE ``d`` (event.html, 单聊消息)."""
    d: dict[str, Any] = {
        "author": {"user_openid": openid},
        "content": content,
        "id": id or msg_id(),
        "timestamp": rfc3339(),
    }
    if attachments:
        d["attachments"] = attachments
    return d


def group_message(
    group: str, member: str, content: str, *, id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """GROUP_AT_MESSAGE_CREATE ``d`` (event.html, 群聊@机器人): the mention comes as a blank."""
    d: dict[str, Any] = {
        "author": {"member_openid": member},
        "content": " " + content,
        "group_openid": group,
        "id": id or msg_id(),
        "timestamp": rfc3339(),
    }
    if attachments:
        d["attachments"] = attachments
    return d


def guild_message(
    channel_id: str, user_id: str, content: str, *, dms: bool = False,
    mentions: list[dict[str, Any]] | None = None,
) -> dict:  # fmt: skip
    """AT_MESSAGE_CREATE / DIRECT_MESSAGE_CREATE ``d`` (message.md, dms/direct_message.md: a
    Message object); an @-mention in a channel starts with the bot's ``<@!id>``. ``mentions``:
    the Message's array of User objects (template/model.md), left out like the examples do."""
    d = {
        "author": {"avatar": "http://thirdqq.qlogo.cn/0", "bot": False, "id": user_id,
                   "username": "abc"},
        "channel_id": channel_id,
        "content": content if dms else f"<@!{BOT_USER_ID}> {content}",
        "guild_id": GUILD_ID,
        "id": secrets.token_hex(20),
        "member": {"joined_at": "2021-04-12T16:34:42+08:00", "roles": ["1"]},
        "timestamp": rfc3339(),
        "seq": 101,
    }  # fmt: skip
    if mentions is not None:
        d["mentions"] = mentions
    return d


def user(user_id: str, *, bot: bool = False) -> dict[str, Any]:
    """A User object (openapi/user/model.md), as in a Message's ``mentions``."""
    return {"id": user_id, "username": f"user{user_id}", "avatar": "", "bot": bot}


def image_attachment(url: str, *, filename: str = "photo.png", size: int = 68) -> dict[str, Any]:
    """An attachment object (event.html: content_type, filename, height, width, size, url)."""
    return {
        "content_type": "image/png",
        "filename": filename,
        "height": 1,
        "width": 1,
        "size": size,
        "url": url,
    }


def file_attachment(url: str, *, filename: str = "invoice.pdf", size: int = 10) -> dict[str, Any]:
    return {"content_type": "file", "filename": filename, "size": size, "url": url}


def dispatch(t: str, d: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Payload (event-emit.html, 通用数据结构): {"id", "op": 0, "d", "t"}, no s on webhooks."""
    return {"id": event_id or f"{t}:{secrets.token_hex(8)}", "op": 0, "d": d, "t": t}


def signed(secret: str, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """The headers of a webhook request (sign.html): X-Signature-Ed25519 over timestamp + body."""
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "QQBot-Callback",
        "X-Bot-Appid": APP_ID,
        "X-Signature-Timestamp": timestamp,
        "X-Signature-Method": "Ed25519",
        "X-Signature-Ed25519": sign.sign(secret, timestamp.encode() + body),
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


# 1x1 PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8"
    "cfc0f01f0005000201ee06a9dc0000000049454e44ae426082"
)
