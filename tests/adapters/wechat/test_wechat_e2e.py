"""End to end through the real gateway: a signed, encrypted WeChat message in -> an agent accepts
and replies -> the fake WeChat API receives the custom-service message. Same for WeCom kf."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fake_wechat import FakeWeChat
from wechat_payloads import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    BILLION_LAUGHS,
    CORP_ID,
    KF_SECRET,
    OPEN_KFID,
    TOKEN,
    XXE,
    kf_callback_xml,
    kf_request,
    kf_text_item,
    load,
    plain_query,
    safe_request,
    text_xml,
    wait_for,
    with_fields,
)

from adapters.wechat.errors import WINDOW_CLOSED
from tests.adapters.health import health
from tests.conftest import Harness


def oa_config(fake: FakeWeChat, **extra: Any) -> dict[str, Any]:
    return {
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "mode": "safe",
        "api_base": fake.url,
        "greeting": "",
        **extra,
    }


async def conversations(gateway: Harness, channel_id: str) -> list[dict[str, Any]]:
    return (await gateway.call("GET", f"/api/v1/conversations?channel={channel_id}"))[
        "conversations"
    ]


async def messages(gateway: Harness, conversation_id: str) -> list[dict[str, Any]]:
    path = f"/api/v1/conversations/{conversation_id}/messages"
    return (await gateway.call("GET", path))["messages"]


async def accept_and_reply(
    gateway: Harness, channel_id: str, token: str, text: str
) -> tuple[str, int]:
    [conv] = await wait_for(lambda: _offered(gateway, channel_id))
    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv['id']}/messages", token, {"text": text}, expect=201
    )
    return conv["id"], reply["message"]["seq"]


async def _offered(gateway: Harness, channel_id: str) -> list[dict[str, Any]]:
    return [c for c in await conversations(gateway, channel_id) if c.get("offered_to")]


async def delivery(gateway: Harness, conversation_id: str, seq: int) -> dict[str, Any] | None:
    for m in await messages(gateway, conversation_id):
        if m["seq"] == seq and m.get("delivery") in ("sent", "failed"):
            return m
    return None


async def delivered_as(
    gateway: Harness, conversation_id: str, seq: int, state: str
) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        m = await delivery(gateway, conversation_id, seq)
        return m if m and m["delivery"] == state else None

    return await wait_for(settled)


async def report_send_fail(gateway: Harness, fake, channel_id: str, user: str, msgid: str):
    """WeCom reports a kf message it accepted as undelivered (msg_send_fail), pulled after a
    callback."""
    fake.add_kf_message({
        "msgid": f"evt-fail-{msgid}", "send_time": int(time.time()), "origin": 4,
        "msgtype": "event",
        "event": {"event_type": "msg_send_fail", "open_kfid": OPEN_KFID, "external_userid": user,
                  "fail_msgid": msgid, "fail_type": 4},
    })  # fmt: skip
    body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
    await gateway.client.post(f"/channels/{channel_id}/wecom-kf", params=query, data=body.encode())


@pytest.fixture
async def fake():
    async with FakeWeChat(
        app_id=APP_ID, app_secret=APP_SECRET, corp_id=CORP_ID, kf_secret=KF_SECRET
    ) as server:
        yield server


def kf_config(fake: FakeWeChat) -> dict[str, Any]:
    return {
        "corp_id": CORP_ID,
        "secret": KF_SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "api_base": fake.url,
        "greeting": "",
    }


async def test_encrypted_message_to_reply_through_custom_send(gateway: Harness, fake) -> None:
    channel = await gateway.create_channel("wechat_oa", oa_config(fake), "Official Account")
    url = f"/channels/{channel['id']}/wechat"
    _, token = await gateway.agent_online("mei@example.com", name="Mei")
    openid = "oE2E_customer_0001"
    fake.customer_wrote(openid)

    xml = text_xml(openid, "我的快递到哪了？", msg_id=880001)
    for _ in range(3):  # WeChat retries: three posts of one message are one message
        body, query = safe_request(xml)
        resp = await gateway.client.post(url, params=query, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")

    conv_id, seq = await accept_and_reply(gateway, channel["id"], token, "您好，已经发货了。")
    inbound = [m for m in await messages(gateway, conv_id) if m["direction"] == "in"]
    assert [m["text"] for m in inbound] == ["我的快递到哪了？"]
    assert len(await conversations(gateway, channel["id"])) == 1

    await wait_for(lambda: fake.custom_sends)
    assert fake.custom_sends == [
        {"touser": openid, "msgtype": "text", "text": {"content": "您好，已经发货了。"}}
    ]
    sent = await wait_for(lambda: delivery(gateway, conv_id, seq))
    assert sent["delivery"] == "sent"


async def test_console_refuses_a_reply_over_2048_bytes(gateway: Harness, fake) -> None:
    """680 emoji are 2,720 bytes: two WeChat messages, two of the 5 replies. The API refuses
    them before queueing, saying by how many bytes to shorten; 512 emoji are one message."""
    channel = await gateway.create_channel("wechat_oa", oa_config(fake))
    _, token = await gateway.agent_online("yu@example.com", name="Yu")
    openid = "oE2E_customer_0003"
    fake.customer_wrote(openid)
    body, query = safe_request(text_xml(openid, "hi", msg_id=880003))
    await gateway.client.post(f"/channels/{channel['id']}/wechat", params=query, data=body.encode())
    [conv] = await wait_for(lambda: _offered(gateway, channel["id"]))
    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    path = f"/api/v1/conversations/{conv['id']}/messages"
    refused = await gateway.call("POST", path, token, {"text": "😀" * 680}, expect=400)
    assert "2720 bytes" in str(refused) and "672" in str(refused)
    await gateway.call("POST", path, token, {"text": "😀" * 512}, expect=201)
    await wait_for(lambda: fake.custom_sends)
    assert [s["text"]["content"] for s in fake.custom_sends] == ["😀" * 512]


async def test_closed_window_is_shown_to_the_agent(gateway: Harness, fake) -> None:
    channel = await gateway.create_channel("wechat_oa", oa_config(fake, mode="plain"))
    _, token = await gateway.agent_online("lin@example.com", name="Lin")
    xml = text_xml("oE2E_late_0001", "hello", msg_id=880002)  # the fake never opens a window
    resp = await gateway.client.post(
        f"/channels/{channel['id']}/wechat", params=plain_query(), data=xml.encode()
    )
    assert resp.status == 200
    conv_id, seq = await accept_and_reply(gateway, channel["id"], token, "Sorry for the wait")
    failed = await wait_for(lambda: delivery(gateway, conv_id, seq))
    assert failed["delivery"] == "failed"
    assert failed["delivery_error"] == WINDOW_CLOSED
    assert fake.custom_sends == []


async def test_image_is_stored_and_unsubscribe_closes(gateway: Harness, fake) -> None:
    channel = await gateway.create_channel("wechat_oa", oa_config(fake))
    url = f"/channels/{channel['id']}/wechat"
    fake.add_media("media_image_1", b"\xff\xd8jpeg-bytes", "image/jpeg", "photo.jpg")
    xml = with_fields(load("image.xml"), CreateTime=int(time.time()))
    body, query = safe_request(xml)
    assert (await gateway.client.post(url, params=query, data=body.encode())).status == 200
    [conv] = await wait_for(lambda: conversations(gateway, channel["id"]))
    [msg] = await messages(gateway, conv["id"])
    [attachment] = msg["attachments"]
    assert attachment["kind"] == "image" and attachment["url"].startswith("/media/")
    resp = await gateway.client.get(attachment["url"])
    assert await resp.read() == b"\xff\xd8jpeg-bytes"

    unsub = with_fields(
        load("event_unsubscribe.xml"), FromUserName="oUser_image_0001", CreateTime=int(time.time())
    )
    body, query = safe_request(unsub)
    assert (await gateway.client.post(url, params=query, data=body.encode())).status == 200

    async def resolved() -> bool:
        conv_now = await gateway.call("GET", f"/api/v1/conversations/{conv['id']}")
        return conv_now["conversation"]["status"] == "resolved"

    await wait_for(resolved)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad_signature", 403),
        ("stale", 403),
        ("malformed", 400),
        ("xxe", 400),
        ("billion_laughs", 400),
        ("oversized", 413),
    ],
)
async def test_bad_input_through_the_gateway(gateway: Harness, fake, case, status) -> None:
    channel = await gateway.create_channel("wechat_oa", oa_config(fake))
    url = f"/channels/{channel['id']}/wechat"
    xml = text_xml("oE2E_bad_0001", "hi", msg_id=880003)
    body, query = safe_request(xml, timestamp=int(time.time()) - 3600 if case == "stale" else None)
    if case == "bad_signature":
        query["msg_signature"] = "0" * 40
    elif case == "malformed":
        body, query = safe_request("<xml><MsgType>text</Msg")
    elif case == "xxe":
        body, query = safe_request(XXE)
    elif case == "billion_laughs":
        body, query = safe_request(BILLION_LAUGHS)
    elif case == "oversized":
        body = "<xml>" + "x" * 2_000_000 + "</xml>"
    resp = await gateway.client.post(url, params=query, data=body.encode())
    assert resp.status == status
    assert await conversations(gateway, channel["id"]) == []


async def test_wecom_kf_callback_to_reply(gateway: Harness, fake) -> None:
    config = kf_config(fake)
    channel = await gateway.create_channel("wecom_kf", config, "WeChat customer service")
    _, token = await gateway.agent_online("jun@example.com", name="Jun")
    user = "wmE2E_customer"
    fake.page_size = 1
    fake.add_kf_message(kf_text_item("kfmsg-1", user, "在吗？"))
    fake.add_kf_message(kf_text_item("kfmsg-2", user, "想问一下退货"))
    for _ in range(3):  # repeated callbacks pull nothing twice
        body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
        resp = await gateway.client.post(
            f"/channels/{channel['id']}/wecom-kf", params=query, data=body.encode()
        )
        assert (resp.status, await resp.text()) == (200, "success")

    async def two_inbound() -> list[dict[str, Any]]:
        convs = await conversations(gateway, channel["id"])
        if not convs:
            return []
        inbound = [m for m in await messages(gateway, convs[0]["id"]) if m["direction"] == "in"]
        return inbound if len(inbound) == 2 else []

    inbound = await wait_for(two_inbound)
    assert [m["text"] for m in inbound] == ["在吗？", "想问一下退货"]
    conv_id, seq = await accept_and_reply(gateway, channel["id"], token, "您好，请提供订单号")
    await wait_for(lambda: fake.kf_sends)
    assert fake.kf_sends == [
        {
            "touser": user,
            "open_kfid": OPEN_KFID,
            "msgtype": "text",
            "text": {"content": "您好，请提供订单号"},
            "msgid": fake.kf_msgids[0],  # the gateway's own: a repeat is refused
        }
    ]
    sent = await wait_for(lambda: delivery(gateway, conv_id, seq))
    assert sent["delivery"] == "sent"
    assert len(await conversations(gateway, channel["id"])) == 1

    # WeCom later reports it could not deliver that reply: the agent sees it failed.
    [msgid] = fake.kf_msgids
    await report_send_fail(gateway, fake, channel["id"], user, msgid)
    failed = await delivered_as(gateway, conv_id, seq, "failed")
    assert "could not deliver" in failed["delivery_error"]


async def test_token_refresh_error_counted_in_metrics(gateway: Harness, fake) -> None:
    """The token endpoint answers an error once (to the follower's user/info lookup, the first
    call needing a token): /metrics counts one token_error for the channel, the message is
    filed all the same, and the reply goes out with the token fetched next."""
    channel = await gateway.create_channel("wechat_oa", oa_config(fake, mode="plain"))
    channel_id = channel["id"]
    assert "token_errors" not in await health(gateway, channel_id)
    _, token = await gateway.agent_online("qin@example.com", name="Qin")
    openid = "oE2E_token_0001"
    fake.customer_wrote(openid)
    xml = text_xml(openid, "发票开好了吗？", msg_id=880010)
    fake.inject("/cgi-bin/stable_token", -1, "system error")  # WeChat busy
    resp = await gateway.client.post(
        f"/channels/{channel_id}/wechat", params=plain_query(), data=xml.encode()
    )
    assert resp.status == 200
    conv_id, seq = await accept_and_reply(gateway, channel_id, token, "已经开好了。")
    sent = await wait_for(lambda: delivery(gateway, conv_id, seq))
    assert sent["delivery"] == "sent"
    assert len(fake.requests_to("/cgi-bin/stable_token")) == 2  # the refused one, the next
    assert (await health(gateway, channel_id))["token_errors"] == 1


async def test_wecom_kf_pull_health_in_metrics(gateway: Harness, fake) -> None:
    """A kf pull reports poll_ok and poll_lag (the newest message's send_time), and a WeCom
    token error is counted."""
    config = kf_config(fake)
    channel_id = (await gateway.create_channel("wecom_kf", config))["id"]
    item = kf_text_item("kfmsg-health", "wmE2E_health", "还在吗？")
    item["send_time"] = int(time.time()) - 600
    fake.add_kf_message(item)
    fake.inject("/cgi-bin/gettoken", 40001, "invalid secret")  # the first pull fails on it
    started = time.time()

    async def callback() -> None:
        body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
        resp = await gateway.client.post(
            f"/channels/{channel_id}/wecom-kf", params=query, data=body.encode()
        )
        assert resp.status == 200

    await callback()
    await wait_for(lambda: _figure(gateway, channel_id, "token_errors"))
    assert "poll_ok" not in await health(gateway, channel_id)  # that pull failed
    await callback()  # WeCom calls back again; the pull now gets a token
    figures = await wait_for(lambda: _figure(gateway, channel_id, "poll_ok"))
    assert 600 <= figures["poll_lag"] < 3600
    assert started - 5 <= figures["poll_ok"] <= time.time() + 5
    assert figures["token_errors"] == 1


async def _figure(h: Harness, channel_id: str, name: str) -> dict[str, float] | None:
    figures = await health(h, channel_id)
    return figures if name in figures else None


async def test_a_part_reported_undelivered_after_the_reply_was_sent_is_the_only_one_resent(
    gateway: Harness, fake
) -> None:
    """A two-part reply (text, image) is sent (both accepted, the reply settled), then WeCom
    reports the text undelivered (msg_send_fail). The agent's retry sends the text again, with
    a new msgid, and not the image, which the customer has."""
    channel = await gateway.create_channel("wecom_kf", kf_config(fake), "kf")
    _, token = await gateway.agent_online("jun@example.com", name="Jun")
    user = "wmE2E_parts"
    fake.add_kf_message(kf_text_item("kfmsg-p1", user, "在吗？"))
    body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
    await gateway.client.post(
        f"/channels/{channel['id']}/wecom-kf", params=query, data=body.encode()
    )
    # Two parts: the text, then the image (WeChat sends each as a message of its own).
    [conv] = await wait_for(lambda: _offered(gateway, channel["id"]))
    conv_id = conv["id"]
    await gateway.call("POST", f"/api/v1/conversations/{conv_id}/accept", token)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    resp = await gateway.client.post(
        f"/api/v1/conversations/{conv_id}/attachments", params={"name": "label.png"}, data=png,
        headers={**gateway.auth(token), "Content-Type": "image/png"},
    )  # fmt: skip
    attachment = (await resp.json())["attachment"]
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv_id}/messages", token,
        {"text": "退货标签见图", "attachments": [attachment]}, expect=201,
    )  # fmt: skip
    seq = reply["message"]["seq"]
    sent = await wait_for(lambda: delivery(gateway, conv_id, seq))
    assert sent["delivery"] == "sent" and len(fake.kf_sends) == 2
    part1, part2 = fake.kf_sends

    await report_send_fail(gateway, fake, channel["id"], user, part1["msgid"])
    await delivered_as(gateway, conv_id, seq, "failed")
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv_id}/messages/{seq}/retry", token, expect=200
    )
    await delivered_as(gateway, conv_id, seq, "sent")
    again = fake.kf_sends[2:]
    assert [s["msgtype"] for s in again] == ["text"]  # not the image again
    assert again[0]["text"] == part1["text"]
    assert again[0]["msgid"] not in (part1["msgid"], part2["msgid"])
