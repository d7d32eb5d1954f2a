"""End to end through the real gateway (tests/conftest.py `gateway`): a QQ message in, by webhook or
WebSocket -> an agent accepts and replies -> the fake platform receives the passive reply. Group
@-mentions reply to the group; images go through the rich-media upload; a part failing for a
while is resumed by the outbox without resending earlier parts."""

from __future__ import annotations

from typing import Any

from fake_qq import FakeQQ
from qq_payloads import (
    APP_SECRET,
    GROUP_OPENID,
    PNG,
    USER_OPENID,
    body_of,
    c2c_message,
    dispatch,
    group_message,
    guild_message,
    image_attachment,
    signed,
)

from tests.adapters.health import health
from tests.adapters.qq.conftest import qq_config
from tests.conftest import Harness, wait_for


async def webhook(gateway: Harness, channel_id: str, t: str, d: dict[str, Any]) -> None:
    body = body_of(dispatch(t, d))
    resp = await gateway.client.post(
        f"/channels/{channel_id}/qq", data=body, headers=signed(APP_SECRET, body)
    )
    assert (resp.status, await resp.json()) == (200, {"op": 12, "d": 0})


async def accept(gateway: Harness, channel_id: str, token: str) -> str:
    async def offered() -> str | None:
        path = f"/api/v1/conversations?channel={channel_id}"
        convs = (await gateway.call("GET", path))["conversations"]
        return next((c["id"] for c in convs if c.get("offered_to")), None)

    conv = await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    return conv


async def messages(gateway: Harness, conv: str, token: str) -> list[dict[str, Any]]:
    return (await gateway.call("GET", f"/api/v1/conversations/{conv}/messages", token))["messages"]


async def reply(gateway: Harness, conv: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/v1/conversations/{conv}/messages"
    seq = (await gateway.call("POST", path, token, body, expect=201))["message"]["seq"]

    async def settled() -> dict[str, Any] | None:
        m = next(m for m in await messages(gateway, conv, token) if m["seq"] == seq)
        return m if m["delivery"] in ("sent", "failed") else None

    return await wait_for(settled, timeout=20)


async def test_c2c_message_to_passive_reply(gateway: Harness, fake: FakeQQ) -> None:
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ")
    assert "app_secret" not in channel["config"]  # write-only
    _, token = await gateway.agent_online("qq-agent@example.com", name="Mei")
    d = c2c_message(USER_OPENID, "我的快递到哪了？")
    fake.note_message(d, "C2C_MESSAGE_CREATE")
    for _ in range(2):  # pushed twice by the platform: filed once
        await webhook(gateway, channel["id"], "C2C_MESSAGE_CREATE", d)
    conv = await accept(gateway, channel["id"], token)
    inbound = [m for m in await messages(gateway, conv, token) if m["direction"] == "in"]
    assert [m["text"] for m in inbound] == ["我的快递到哪了？"]

    sent = await reply(gateway, conv, token, {"text": "您好，已经发货了。"})
    assert sent["delivery"] == "sent" and sent["platform_message_id"]
    [message] = fake.messages
    assert message.path == f"/v2/users/{USER_OPENID}/messages"
    expected = {"msg_type": 0, "content": "您好，已经发货了。", "msg_id": d["id"], "msg_seq": 1}
    assert message.json == expected

    again = await reply(gateway, conv, token, {"text": "还有问题吗？"})
    assert again["delivery"] == "sent"
    assert fake.messages[1].json["msg_seq"] == 2


async def test_group_mention_reply_goes_to_the_group(gateway: Harness, fake: FakeQQ) -> None:
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ")
    _, token = await gateway.agent_online("qq-group@example.com")
    d = group_message(GROUP_OPENID, "MEMBER01", "发票怎么开？")
    fake.note_message(d, "GROUP_AT_MESSAGE_CREATE")
    await webhook(gateway, channel["id"], "GROUP_AT_MESSAGE_CREATE", d)
    conv = await accept(gateway, channel["id"], token)
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}", token))["conversation"]
    assert detail["thread_key"] == f"group:{GROUP_OPENID}:MEMBER01"
    sent = await reply(gateway, conv, token, {"text": "请私信订单号"})
    assert sent["delivery"] == "sent"
    [message] = fake.messages
    assert message.path == f"/v2/groups/{GROUP_OPENID}/messages"
    assert (message.json["msg_id"], message.json["msg_seq"]) == (d["id"], 1)


async def upload(gateway: Harness, conv: str, token: str, data: bytes, name: str, ctype: str):
    resp = await gateway.client.post(
        f"/api/v1/conversations/{conv}/attachments",
        params={"name": name},
        data=data,
        headers={**gateway.auth(token), "Content-Type": ctype},
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["attachment"]


async def test_image_in_and_out_and_a_part_failing_for_a_while(
    gateway: Harness, fake: FakeQQ
) -> None:
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ")
    _, token = await gateway.agent_online("qq-image@example.com")
    src = fake.serve_file("cust.png", PNG, "image/png")
    d = c2c_message(USER_OPENID, "坏了", attachments=[image_attachment(src)])
    fake.note_message(d, "C2C_MESSAGE_CREATE")
    await webhook(gateway, channel["id"], "C2C_MESSAGE_CREATE", d)
    conv = await accept(gateway, channel["id"], token)
    [inbound] = [m for m in await messages(gateway, conv, token) if m["direction"] == "in"]
    [attachment] = inbound["attachments"]
    stored = await gateway.client.get(attachment["url"])
    assert attachment["kind"] == "image" and await stored.read() == PNG

    image = await upload(gateway, conv, token, PNG, "fix.png", "image/png")
    # The platform fails to fetch the image once ("富媒体资源拉取失败，请重试"): the outbox
    # retries, and the text part (already accepted) is not sent again.
    fake.inject("/files", 400, 304082, "upload media info fail")
    sent = await reply(gateway, conv, token, {"text": "请看示意图", "attachments": [image]})
    assert sent["delivery"] == "sent" and sent["attempts"] == 2
    assert [m.json["msg_type"] for m in fake.messages] == [0, 7]
    assert [m.json["msg_seq"] for m in fake.messages] == [1, 2]
    upload_call = [r for r in fake.received if r.path.endswith("/files")][-1]
    assert upload_call.json["url"] == gateway.base_url + image["url"]
    assert fake.uploads[fake.messages[1].json["media"]["file_info"]] == PNG


async def test_websocket_message_to_reply(gateway: Harness, fake: FakeQQ) -> None:
    fake.heartbeat_ms = 300
    channel = await gateway.create_channel("qq", qq_config(fake, receive="websocket"), "QQ WS")
    _, token = await gateway.agent_online("qq-ws@example.com")

    async def connected() -> bool:
        return bool(fake.sessions) and fake.open_connections() == 1

    await wait_for(connected)
    d = c2c_message(USER_OPENID, "WebSocket 来的")
    await fake.push("C2C_MESSAGE_CREATE", d)
    conv = await accept(gateway, channel["id"], token)
    sent = await reply(gateway, conv, token, {"text": "收到"})
    assert sent["delivery"] == "sent"
    assert fake.messages[0].json["msg_id"] == d["id"]


async def test_removed_friend_reply_fails_with_a_reason(gateway: Harness, fake: FakeQQ) -> None:
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ")
    _, token = await gateway.agent_online("qq-friend@example.com")
    d = c2c_message(USER_OPENID, "hi")
    fake.note_message(d, "C2C_MESSAGE_CREATE")
    await webhook(gateway, channel["id"], "C2C_MESSAGE_CREATE", d)
    conv = await accept(gateway, channel["id"], token)
    await webhook(gateway, channel["id"], "FRIEND_DEL", {"openid": USER_OPENID, "timestamp": 1})
    failed = await reply(gateway, conv, token, {"text": "还在吗"})
    assert failed["delivery"] == "failed"
    assert "removed the bot" in failed["delivery_error"]
    assert fake.messages == []


async def test_admin_type_verify_and_write_only_secret(gateway: Harness, fake: FakeQQ) -> None:
    types = {t["type"]: t for t in (await gateway.call("GET", "/api/v1/channel-types"))["types"]}
    assert types["qq"]["secret_fields"] == ["app_secret"]
    fields = set(types["qq"]["schema"]["properties"])
    assert {"app_id", "app_secret", "receive", "sandbox", "active_messages"} <= fields
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ")
    found = (await gateway.call("GET", f"/api/v1/channels/{channel['id']}"))["channel"]
    assert "app_secret" not in found["config"] and found["credentials_set"] == ["app_secret"]
    result = await gateway.call("POST", f"/api/v1/channels/{channel['id']}/verify")
    assert result == {"ok": True}
    assert fake.token_requests == 1
    # Another bot (one AppID, one channel: the same AppID twice is refused, duplicate_account).
    wrong = await gateway.create_channel(
        "qq", qq_config(fake, app_id="102999999", app_secret="wrong-secret"), "bad"
    )
    result = await gateway.call("POST", f"/api/v1/channels/{wrong['id']}/verify")
    assert result["ok"] is False and "AppID" in result["reason"]


async def test_websocket_health_and_token_errors_in_metrics(gateway: Harness, fake: FakeQQ) -> None:
    fake.heartbeat_ms = 200
    good = await gateway.create_channel("qq", qq_config(fake, receive="websocket"), "QQ WS")
    bad = await gateway.create_channel(
        "qq",
        qq_config(fake, receive="websocket", app_id="102999999", app_secret="wrong-secret"),
        "QQ bad",
    )

    async def figures() -> bool:
        ok, broken = await health(gateway, good["id"]), await health(gateway, bad["id"])
        return ok.get("poll_ok", 0) > 0 and broken.get("token_errors", 0) >= 1

    await wait_for(figures, timeout=20)


async def test_at_message_also_delivered_as_message_create_is_shown_once(
    gateway: Harness, fake: FakeQQ
) -> None:
    """A private bot with GUILD_MESSAGES gets an @-message as AT_MESSAGE_CREATE and as
    MESSAGE_CREATE (the same Message): the real inbox files its id once. The customer's
    escaped text is unescaped, the agent's reply escaped (message_format.md)."""
    channel = await gateway.create_channel("qq", qq_config(fake), "QQ guild")
    _, token = await gateway.agent_online("qq-guild@example.com")
    d = guild_message("100010", "1234", "1 &lt; 2 &amp; 3")
    fake.note_message(d, "AT_MESSAGE_CREATE")
    for t in ("AT_MESSAGE_CREATE", "MESSAGE_CREATE", "AT_MESSAGE_CREATE"):
        await webhook(gateway, channel["id"], t, d)
    plain = {**d, "id": "all-messages-only", "content": "没有@"}
    fake.note_message(plain, "MESSAGE_CREATE")  # the reply names the latest message
    await webhook(gateway, channel["id"], "MESSAGE_CREATE", plain)
    conv = await accept(gateway, channel["id"], token)

    async def both() -> list[str] | None:
        inbound = [m for m in await messages(gateway, conv, token) if m["direction"] == "in"]
        return [m["text"] for m in inbound] if len(inbound) >= 2 else None

    assert await wait_for(both) == ["1 < 2 & 3", "没有@"]
    sent = await reply(gateway, conv, token, {"text": "A & B <ok>"})
    assert sent["delivery"] == "sent"
    [out] = fake.messages
    assert out.json == {"content": "A &amp; B &lt;ok&gt;", "msg_id": plain["id"]}
