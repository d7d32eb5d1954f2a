"""The webhook (POST /channels/{id}/qq): op 13 validation, Ed25519 checks, the op 12 ack within
3 s, attachments, and friend / group events kept as state."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fake_qq import FakeQQ
from qq_payloads import (
    APP_ID,
    APP_SECRET,
    BOT_USER_ID,
    FRIEND_ADD_EXAMPLE,
    FRIEND_DEL_EXAMPLE,
    GROUP_DEL_ROBOT_EXAMPLE,
    GROUP_OPENID,
    PNG,
    USER_OPENID,
    VALIDATION_REQUEST,
    VALIDATION_SIGNATURE,
    body_of,
    c2c_message,
    dispatch,
    file_attachment,
    group_message,
    guild_message,
    image_attachment,
    signed,
    user,
)

from adapters.base import PermanentSendError
from adapters.qq import sign
from adapters.qq.errors import FRIEND_REMOVED, GROUP_REMOVED
from gateway.models import OutboundMessage
from tests.adapters.qq.conftest import MountFn
from tests.rawhttp import raw_request


async def post(m, payload: dict, headers: dict | None = None, body: bytes | None = None):
    body = body if body is not None else body_of(payload)
    resp = await m.client.post(m.webhook, data=body, headers=headers or signed(APP_SECRET, body))
    return resp.status, await resp.text()


async def test_op13_validation_answers_with_a_verifiable_signature(mount: MountFn) -> None:
    m = await mount()
    body = body_of(VALIDATION_REQUEST)
    headers = {"User-Agent": "QQBot-Callback", "X-Bot-Appid": "11111111"}  # as documented
    status, text = await post(m, VALIDATION_REQUEST, headers, body)
    assert status == 200
    answer = json.loads(text)
    assert answer == {"plain_token": "Arq0D5A61EgUu4OxUvOp", "signature": VALIDATION_SIGNATURE}
    # Anyone holding the public key can check it.
    sign.public_key(APP_SECRET).verify(
        bytes.fromhex(answer["signature"]), b"1725442341Arq0D5A61EgUu4OxUvOp"
    )


async def test_op13_refuses_what_could_forge_an_event(mount: MountFn) -> None:
    m = await mount()
    forged = {"op": 13, "d": {"plain_token": '{"op":0,"t":"C2C_MESSAGE_CREATE"}', "event_ts": "1"}}
    status, _ = await post(m, forged, {"X-Bot-Appid": "11111111"})
    assert status == 400
    status, _ = await post(m, VALIDATION_REQUEST, {"X-Bot-Appid": "22222222"})
    assert status == 403


async def test_signed_message_is_filed_and_acked(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    d = c2c_message(USER_OPENID, "我的订单到哪了？")
    status, text = await post(m, dispatch("C2C_MESSAGE_CREATE", d))
    assert (status, json.loads(text)) == (200, {"op": 12, "d": 0})
    [msg] = m.recorder.delivered
    assert msg.external_id == d["id"] and msg.text == "我的订单到哪了？"
    assert msg.thread_key == f"c2c:{USER_OPENID}"
    assert msg.meta["msg_id"] == d["id"] and msg.meta["received_at"] > 0


@pytest.mark.parametrize("t", ["AT_MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE"])
async def test_guild_messages_are_filed_and_acked(mount: MountFn, t: str) -> None:
    """A guild @-mention or guild direct message (message.md, dms/direct_message.md) is a
    customer's message like any other: filed, then the op 12 ack."""
    m = await mount()
    dms = t == "DIRECT_MESSAGE_CREATE"
    d = guild_message("100010", "1234", "我的订单到哪了？", dms=dms)
    status, text = await post(m, dispatch(t, d))
    assert (status, json.loads(text)) == (200, {"op": 12, "d": 0})
    [msg] = m.recorder.filed
    assert msg.external_id == d["id"] and msg.text == "我的订单到哪了？"
    assert msg.thread_key == ("dms:18700000000001:1234" if dms else "guild:100010:1234")
    assert msg.meta["msg_id"] == d["id"] and msg.meta["received_at"] > 0


async def test_duplicate_push_is_filed_once(mount: MountFn) -> None:
    m = await mount()
    payload = dispatch("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "hello"))
    for _ in range(3):  # the platform may push one message more than once (event.html)
        assert (await post(m, payload))[0] == 200
    assert len(m.recorder.delivered) == 3
    assert [x.text for x in m.recorder.filed] == ["hello"]  # the inbox keys on the message id


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda h, b: {k: v for k, v in h.items() if k != "X-Signature-Ed25519"}, 401),
        (lambda h, b: {k: v for k, v in h.items() if k != "X-Signature-Timestamp"}, 401),
        (lambda h, b: {**h, "X-Signature-Ed25519": "00" * 64}, 403),
        (lambda h, b: {**h, "X-Signature-Ed25519": "not hex"}, 403),
        (
            lambda h, b: {**h, "X-Signature-Timestamp": str(int(h["X-Signature-Timestamp"]) + 1)},
            403,
        ),
        (lambda h, b: signed("another secret", b), 403),
        (lambda h, b: signed(APP_SECRET, b, str(int(time.time()) - 3600)), 403),  # replayed
    ],
)
async def test_bad_signatures_are_refused(mount: MountFn, mutate, status: int) -> None:
    m = await mount()
    body = body_of(dispatch("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "forged")))
    headers = mutate(signed(APP_SECRET, body), body)
    assert (await post(m, {}, headers, body))[0] == status
    assert m.recorder.delivered == []


async def test_body_changed_after_signing_is_refused(mount: MountFn) -> None:
    m = await mount()
    body = body_of(dispatch("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "pay 1")))
    headers = signed(APP_SECRET, body)
    assert (await post(m, {}, headers, body.replace(b"pay 1", b"pay 9")))[0] == 403


async def test_attachments_are_stored_and_ack_comes_within_3s(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    fast = fake.serve_file("a.png", PNG, "image/png")
    slow = fake.serve_file("b.pdf", b"%PDF-1.4", "application/pdf", delay=4.0)
    d = c2c_message(
        USER_OPENID, "看图", attachments=[image_attachment(fast), file_attachment(slow)]
    )
    started = time.monotonic()
    status, text = await post(m, dispatch("C2C_MESSAGE_CREATE", d))
    assert time.monotonic() - started < 3.0
    assert (status, json.loads(text)) == (200, {"op": 12, "d": 0})
    [msg] = m.recorder.delivered
    image, pdf = msg.attachments
    assert image.url and m.recorder.media[image.url][0] == PNG
    assert image.content_type == "image/png" and image.size == len(PNG)
    assert pdf.url is None and pdf.meta["error"] == "media download timed out"


async def test_oversized_attachment_is_named_not_stored(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount(max_media_bytes=1024)
    big = fake.serve_file("big.png", b"x" * 5000, "image/png")
    d = c2c_message(USER_OPENID, "", attachments=[image_attachment(big)])
    assert (await post(m, dispatch("C2C_MESSAGE_CREATE", d)))[0] == 200
    [a] = m.recorder.delivered[0].attachments
    assert a.url is None and "larger than 1024" in a.meta["error"]


async def test_group_message_threads_by_member(mount: MountFn) -> None:
    m = await mount()
    for member in ("M1", "M2", "M1"):
        d = group_message(GROUP_OPENID, member, "有人吗")
        assert (await post(m, dispatch("GROUP_AT_MESSAGE_CREATE", d)))[0] == 200
    keys = [x.thread_key for x in m.recorder.delivered]
    assert keys == [
        f"group:{GROUP_OPENID}:M1",
        f"group:{GROUP_OPENID}:M2",
        f"group:{GROUP_OPENID}:M1",
    ]
    assert {x.text for x in m.recorder.delivered} == {"有人吗"}


def outbound(thread_key: str, text: str = "hi", **ctx) -> OutboundMessage:
    return OutboundMessage(
        message_id="conv9:3", conversation_id="conv9", channel_id="ch", contact_external_id="c",
        thread_key=thread_key, text=text, reply_context=ctx,
    )  # fmt: skip


async def test_friend_removed_closes_and_refuses_until_added_again(
    mount: MountFn, fake: FakeQQ
) -> None:
    m = await mount()
    assert (await post(m, dispatch("FRIEND_DEL", FRIEND_DEL_EXAMPLE)))[0] == 200
    assert m.recorder.closed == [(f"c2c:{USER_OPENID}", "The customer removed the bot from QQ.")]
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(outbound(f"c2c:{USER_OPENID}"))
    assert err.value.reason == FRIEND_REMOVED
    assert fake.received == []
    assert (await post(m, dispatch("FRIEND_ADD", FRIEND_ADD_EXAMPLE)))[0] == 200
    d = c2c_message(USER_OPENID, "back")
    assert (await post(m, dispatch("C2C_MESSAGE_CREATE", d)))[0] == 200
    fake.note_message(d, "C2C_MESSAGE_CREATE")
    await m.adapter.send(outbound(f"c2c:{USER_OPENID}", **m.recorder.delivered[-1].meta))
    assert len(fake.messages) == 1


async def test_bot_removed_from_group_closes_its_threads(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    for member in ("M1", "M2"):
        d = group_message(GROUP_OPENID, member, "hi")
        await post(m, dispatch("GROUP_AT_MESSAGE_CREATE", d))
    assert (await post(m, dispatch("GROUP_DEL_ROBOT", GROUP_DEL_ROBOT_EXAMPLE)))[0] == 200
    assert sorted(t for t, _ in m.recorder.closed) == [
        f"group:{GROUP_OPENID}:M1",
        f"group:{GROUP_OPENID}:M2",
    ]
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(outbound(f"group:{GROUP_OPENID}:M1"))
    assert err.value.reason == GROUP_REMOVED


async def test_malformed_and_unknown(mount: MountFn) -> None:
    m = await mount()
    assert (await post(m, {}, body=b"not json", headers=signed(APP_SECRET, b"not json")))[0] == 400
    bad = dispatch("C2C_MESSAGE_CREATE", {"content": "no id"})
    assert (await post(m, bad))[0] == 400
    assert (await post(m, dispatch("AT_MESSAGE_CREATE", {"id": "x", "content": "guild"})))[0] == 400
    other = dispatch("MESSAGE_AUDIT_PASS", {"audit_id": "x", "message_id": "y"})
    assert (await post(m, other))[0] == 200
    assert m.recorder.delivered == []


async def test_json_bomb_is_400_not_a_crash(mount: MountFn) -> None:
    """Parsed before any signature check: Python's parser recursed into it (a 500)."""
    m = await mount()
    status, text = await post(m, {}, {"X-Bot-Appid": APP_ID}, b"[" * 100_000)
    assert status == 400
    assert "nested deeper" in text


async def test_lone_surrogate_is_400(mount: MountFn) -> None:
    """JSON lets "\\ud800" stand alone; it is no character, and filed it failed as the inbox
    encoded it for Redis (a 500, the platform retrying it for ever)."""
    m = await mount()
    body = json.dumps(dispatch("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "a\ud800"))).encode()
    status, text = await post(m, {}, signed(APP_SECRET, body), body)
    assert status == 400
    assert "surrogate" in text
    assert m.recorder.delivered == []


@pytest.mark.parametrize("timestamp", ["²", "9" * 400, b"1700000000\xff"])
async def test_timestamp_that_is_no_unix_time_is_403(mount: MountFn, timestamp) -> None:
    """A digit int() does not take, a number too large for a float, bytes that are no UTF-8:
    each was a 500 (the last one before the signature was checked)."""
    m = await mount()
    body = body_of(dispatch("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "hi")))
    raw = timestamp if isinstance(timestamp, bytes) else timestamp.encode()
    headers = [("X-Bot-Appid", APP_ID), ("X-Signature-Timestamp", timestamp),
               ("X-Signature-Ed25519", sign.sign(APP_SECRET, raw + body))]  # fmt: skip
    answer = await raw_request(m.client, "POST", m.webhook, headers, body)
    assert answer.status == 403, answer
    assert "X-Signature-Timestamp" in answer.text
    assert m.recorder.delivered == []


async def test_oversized_body_is_refused_unread(mount: MountFn) -> None:
    m = await mount()
    body = b"{" + b" " * (300 * 1024) + b"}"
    assert (await post(m, {}, signed(APP_SECRET, body), body))[0] == 413


# --- guild text, mentions, MESSAGE_CREATE, events not handled ---------------------------------


@pytest.mark.parametrize("t", ["AT_MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE"])
async def test_guild_text_is_unescaped(mount: MountFn, t: str) -> None:
    """message_format.md: the platform sends & < > to the bot as &amp; &lt; &gt; (the mention
    tag itself unescaped). &amp; is undone last: "&amp;lt;" is what the customer typed as
    "&lt;"."""
    m = await mount()
    dms = t == "DIRECT_MESSAGE_CREATE"
    d = guild_message("100010", "1234", "1 &lt; 2 &amp;&amp; 3 &gt; 2 &amp;lt;", dms=dms)
    assert (await post(m, dispatch(t, d)))[0] == 200
    assert m.recorder.delivered[-1].text == "1 < 2 && 3 > 2 &lt;"


async def test_group_text_is_not_unescaped(mount: MountFn) -> None:
    """The escaping is documented for guilds only: group and private text is filed as sent."""
    m = await mount()
    d = group_message(GROUP_OPENID, "M1", "a &lt; b")
    assert (await post(m, dispatch("GROUP_AT_MESSAGE_CREATE", d)))[0] == 200
    c = c2c_message(USER_OPENID, "x &amp; y")
    assert (await post(m, dispatch("C2C_MESSAGE_CREATE", c)))[0] == 200
    assert [x.text for x in m.recorder.delivered] == ["a &lt; b", "x &amp; y"]


async def test_only_the_bots_own_mention_is_stripped(mount: MountFn) -> None:
    """The customer's mention of someone else is their words: only the mentions the message's
    ``mentions`` marks as the bot are dropped; without it, the first leading mention only."""
    m = await mount()
    bot = user(BOT_USER_ID, bot=True)
    d = guild_message(
        "100010", "1234", "<@!555> is the guy who scammed me", mentions=[bot, user("555")]
    )
    assert (await post(m, dispatch("AT_MESSAGE_CREATE", d)))[0] == 200
    assert m.recorder.delivered[-1].text == "<@!555> is the guy who scammed me"
    d = guild_message("100010", "1234", "<@!555> and <@!777> scammed me")  # no mentions
    assert (await post(m, dispatch("AT_MESSAGE_CREATE", d)))[0] == 200
    assert m.recorder.delivered[-1].text == "<@!555> and <@!777> scammed me"


async def test_message_create_is_filed_once_with_its_at_message(
    mount: MountFn, caplog: pytest.LogCaptureFixture
) -> None:
    """MESSAGE_CREATE (every message of a channel, private bots; "内容与 AT_MESSAGE_CREATE 相同")
    is filed; an @-message comes as both and is filed once by its id. The bot's own messages
    are not customers'."""
    m = await mount()
    d = guild_message("100010", "1234", "在吗")
    for t in ("AT_MESSAGE_CREATE", "MESSAGE_CREATE"):
        assert (await post(m, dispatch(t, d)))[0] == 200
    plain = {**guild_message("100010", "1234", ""), "content": "no mention"}
    assert (await post(m, dispatch("MESSAGE_CREATE", plain)))[0] == 200
    assert [(x.external_id, x.text) for x in m.recorder.filed] == [
        (d["id"], "在吗"),
        (plain["id"], "no mention"),
    ]
    own = {**plain, "id": "mine", "author": {**plain["author"], "id": BOT_USER_ID, "bot": True}}
    with caplog.at_level(logging.DEBUG, logger="adapters.qq.adapter"):
        assert (await post(m, dispatch("MESSAGE_CREATE", own)))[0] == 200
    assert len(m.recorder.delivered) == 3
    assert "MESSAGE_CREATE" not in caplog.text  # a message event, passed over on purpose


async def test_events_not_handled_are_logged(
    mount: MountFn, caplog: pytest.LogCaptureFixture
) -> None:
    m = await mount()
    other = dispatch("MESSAGE_REACTION_ADD", {"user_id": "1", "channel_id": "2"})
    with caplog.at_level(logging.DEBUG, logger="adapters.qq.adapter"):
        for _ in range(2):
            assert (await post(m, other))[0] == 200
    [first, second] = [r for r in caplog.records if "MESSAGE_REACTION_ADD" in r.getMessage()]
    assert (first.levelno, second.levelno) == (logging.INFO, logging.DEBUG)
    assert "not handled" in first.getMessage() and m.channel_id in first.getMessage()
