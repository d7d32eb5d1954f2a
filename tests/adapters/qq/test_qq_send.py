"""Replies through the fake platform: passive replies with msg_id + msg_seq, groups, images via
the rich-media upload, the window, active messages, error codes, rate limits, the part record,
and the access token shared by two adapter instances."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
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
    signed,
)
from redis.asyncio import Redis

from adapters.base import PermanentSendError, TransientSendError
from adapters.qq.errors import ACTIVE_REFUSED, WINDOW_CLOSED
from gateway.keys import Keys
from gateway.models import Attachment, OutboundMessage
from tests.adapters.qq.conftest import Mounted, MountFn, Recorder

_n = 0


async def customer_writes(m: Mounted, fake: FakeQQ, d: dict[str, Any], t: str) -> dict[str, Any]:
    """The platform pushes a message to the webhook; returns its meta (the reply context)."""
    fake.note_message(d, t)
    body = body_of(dispatch(t, d))
    resp = await m.client.post(m.webhook, data=body, headers=signed(APP_SECRET, body))
    assert resp.status == 200
    return m.recorder.delivered[-1].meta


def reply(thread_key: str, text: str, ctx: dict[str, Any], **extra: Any) -> OutboundMessage:
    global _n
    _n += 1
    return OutboundMessage(
        message_id=f"conv{_n}:{_n}", conversation_id=f"conv{_n}", channel_id="ch",
        contact_external_id="c", thread_key=thread_key, text=text, reply_context=ctx, **extra,
    )  # fmt: skip


async def test_c2c_passive_replies_carry_msg_id_and_increasing_msg_seq(
    mount: MountFn, fake: FakeQQ
) -> None:
    m = await mount()
    d = c2c_message(USER_OPENID, "在吗")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    ids = [await m.adapter.send(reply(f"c2c:{USER_OPENID}", t, ctx)) for t in ("您好", "请稍等")]
    assert all(ids)
    first, second = fake.messages
    assert first.path == f"/v2/users/{USER_OPENID}/messages"
    assert first.json == {"msg_type": 0, "content": "您好", "msg_id": d["id"], "msg_seq": 1}
    assert (second.json["msg_id"], second.json["msg_seq"]) == (d["id"], 2)
    assert first.token and fake.valid_token(first.token)


async def test_group_reply_goes_to_the_group(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    d = group_message(GROUP_OPENID, "M7", "发票怎么开")
    ctx = await customer_writes(m, fake, d, "GROUP_AT_MESSAGE_CREATE")
    await m.adapter.send(reply(f"group:{GROUP_OPENID}:M7", "请提供订单号", ctx))
    [sent] = fake.messages
    assert sent.path == f"/v2/groups/{GROUP_OPENID}/messages"
    assert sent.json == {"msg_type": 0, "content": "请提供订单号", "msg_id": d["id"], "msg_seq": 1}


@pytest.mark.parametrize(
    ("t", "thread", "path"),
    [
        ("AT_MESSAGE_CREATE", "guild:100010:1234", "/channels/100010/messages"),
        ("DIRECT_MESSAGE_CREATE", "dms:18700000000001:1234", "/dms/18700000000001/messages"),
    ],
)
async def test_guild_replies_go_to_the_channel_or_dm_with_msg_id(
    mount: MountFn, fake: FakeQQ, t: str, thread: str, path: str
) -> None:
    """post_messages.md / post_dms_messages.md: content, msg_id (passive, 5 minutes), an image
    as a URL the platform fetches; no msg_type or msg_seq in these APIs."""
    m = await mount()
    d = guild_message("100010", "1234", "在吗", dms=t == "DIRECT_MESSAGE_CREATE")
    ctx = await customer_writes(m, fake, d, t)
    url = await m.recorder.store_media(PNG, "shot.png", "image/png")
    image = Attachment(kind="image", url=url, name="shot.png", content_type="image/png")
    assert await m.adapter.send(reply(thread, "您好", ctx, attachments=[image]))
    text, media = fake.messages
    assert (text.path, text.json) == (path, {"content": "您好", "msg_id": d["id"]})
    assert media.json == {"image": m.adapter.ctx.public_link(url), "msg_id": d["id"]}
    old = {**ctx, "received_at": int((time.time() - 6 * 60) * 1000)}
    with pytest.raises(PermanentSendError) as err:  # the window is 5 minutes
        await m.adapter.send(reply(thread, "late", old))
    assert err.value.reason == WINDOW_CLOSED


@pytest.mark.parametrize(("active", "code"), [(False, 304024), (True, 304023)])
async def test_a_message_held_for_audit_is_sent_not_failed(
    mount: MountFn, fake: FakeQQ, active: bool, code: int
) -> None:
    """error.html: 304024 REPLY_MSG_ASYNC_OK / 304023 PUSH_MSG_ASYNC_OK ("异步调用成功, 等待人工
    审核", HTTP 202 with an error body): the platform accepted the message; not a failure."""
    fake.active_allowed = True
    m = await mount(active_messages=True)
    d = guild_message("100010", "1234", "在吗")
    ctx = await customer_writes(m, fake, d, "AT_MESSAGE_CREATE")
    if active:
        ctx = {**ctx, "received_at": int((time.time() - 600) * 1000)}
    fake.inject("/channels/100010/messages", 202, code, "message is waiting for audit now")
    assert await m.adapter.send(reply("guild:100010:1234", "您好", ctx)) == ""
    [sent] = [r for r in fake.received if r.path == "/channels/100010/messages"]
    assert ("msg_id" in sent.json) is not active


async def test_image_reply_uploads_then_sends_media(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "截图?"), "C2C_MESSAGE_CREATE")
    url = await m.recorder.store_media(PNG, "shot.png", "image/png")
    image = Attachment(kind="image", url=url, name="shot.png", content_type="image/png")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "看这里", ctx, attachments=[image]))
    upload = next(r for r in fake.received if r.path.endswith("/files"))
    assert upload.path == f"/v2/users/{USER_OPENID}/files"
    assert upload.json["file_type"] == 1 and upload.json["srv_send_msg"] is False
    assert upload.json["url"] == m.adapter.ctx.public_link(url)  # our public media URL
    text, media = fake.messages
    assert text.json["content"] == "看这里" and text.json["msg_seq"] == 1
    assert media.json["msg_type"] == 7 and media.json["msg_seq"] == 2
    assert fake.uploads[media.json["media"]["file_info"]] == PNG  # what the platform fetched


async def test_window_closed_without_active_messages_is_refused_at_once(
    mount: MountFn, fake: FakeQQ
) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "hi"), "C2C_MESSAGE_CREATE")
    old = {**ctx, "received_at": int((time.time() - 3600) * 1000)}
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "late", old))
    assert err.value.reason == WINDOW_CLOSED
    assert fake.received == []
    # A group @-mention's window is 5 minutes.
    gctx = await customer_writes(
        m, fake, group_message(GROUP_OPENID, "M1", "hi"), "GROUP_AT_MESSAGE_CREATE"
    )
    gold = {**gctx, "received_at": int((time.time() - 6 * 60) * 1000)}
    with pytest.raises(PermanentSendError):
        await m.adapter.send(reply(f"group:{GROUP_OPENID}:M1", "late", gold))


async def test_platform_says_expired_and_active_refused(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount(active_messages=True)
    d = c2c_message(USER_OPENID, "hi")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    fake.age(d["id"], 2 * 3600)  # the platform's clock says the window is over: 304027
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "late", ctx))
    assert err.value.reason.startswith(ACTIVE_REFUSED)  # then the active message: 40034102
    assert [r.json.get("msg_id") for r in fake.received] == [d["id"], None]


async def test_active_message_after_the_window_where_allowed(mount: MountFn, fake: FakeQQ) -> None:
    fake.active_allowed = True
    m = await mount(active_messages=True)
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "hi"), "C2C_MESSAGE_CREATE")
    old = {**ctx, "received_at": int((time.time() - 7200) * 1000)}
    for _ in range(4):  # 4 active messages a month per user
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "update", old))
    assert all("msg_id" not in r.json for r in fake.messages)
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "5th", old))
    assert "quota" in err.value.reason and "40034102" in err.value.reason


async def test_five_replies_per_message_then_active_or_refused(
    mount: MountFn, fake: FakeQQ
) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    for i in range(5):
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", f"r{i}", ctx))
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "r6", ctx))
    assert err.value.reason == WINDOW_CLOSED
    assert [r.json["msg_seq"] for r in fake.messages] == [1, 2, 3, 4, 5]


async def test_rate_limit_is_transient_with_retry_after(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    fake.inject("/messages", 429, 22009, "msg limit exceed", retry_after=3)
    message = reply(f"c2c:{USER_OPENID}", "hello", ctx)
    with pytest.raises(TransientSendError) as err:
        await m.adapter.send(message)
    assert err.value.retry_after == 3.0 and "22009" in err.value.reason
    await m.adapter.send(message)  # the outbox's retry: a fresh msg_seq after a refusal
    [sent] = fake.messages
    assert sent.json["msg_seq"] == 2


async def test_failed_part_resumes_without_resending_earlier_parts(
    mount: MountFn, fake: FakeQQ
) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    url = await m.recorder.store_media(PNG, "a.png", "image/png")
    message = reply(
        f"c2c:{USER_OPENID}", "text first", ctx,
        attachments=[Attachment(kind="image", url=url, name="a.png")],
    )  # fmt: skip
    fake.inject("/files", 400, 304082, "upload media info fail")  # "请重试"
    with pytest.raises(TransientSendError):
        await m.adapter.send(message)
    assert [r.json["content"] for r in fake.messages] == ["text first"]
    await m.adapter.send(message)
    assert [r.json["msg_type"] for r in fake.messages] == [0, 7]  # the text was not sent again


async def test_part_accepted_but_unrecorded_is_not_shown_twice(
    mount: MountFn, fake: FakeQQ, redis: Redis, keys: Keys
) -> None:
    """A crash between the platform's answer and the part record: the retry sends the same
    msg_id + msg_seq, the platform refuses it as a duplicate, and that counts as delivered."""
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    message = reply(f"c2c:{USER_OPENID}", "once", ctx)
    await m.adapter.send(message)
    conv, _, seq = message.message_id.rpartition(":")
    await redis.delete(keys.send_parts(conv, seq))  # the record never made it
    await m.adapter.send(message)
    assert len(fake.messages) == 1
    assert [r.json["msg_seq"] for r in fake.received] == [1, 1]


async def test_token_cached_across_instances_and_renewed_once(
    mount: MountFn, fake: FakeQQ, redis: Redis
) -> None:
    fake.token_ttl = 52  # the cached copy lives 2 s: renewed within the platform's last minute
    a = await mount(channel_id="chtok")
    b = await mount(channel_id="chtok", recorder=Recorder())
    ctx = await customer_writes(a, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    await a.adapter.send(reply(f"c2c:{USER_OPENID}", "1", ctx))
    await b.adapter.send(reply(f"c2c:{USER_OPENID}", "2", ctx))
    assert fake.token_requests == 1
    first = fake.messages[0].token
    await asyncio.sleep(2.2)
    sends = [x.adapter.send(reply(f"c2c:{USER_OPENID}", "burst", ctx)) for x in (a, b, a)]
    await asyncio.gather(*sends)
    assert fake.token_requests == 2  # one renewal for the whole burst
    assert {r.token for r in fake.messages[2:]} == {fake.messages[2].token} != {first}


async def test_refused_token_is_renewed_once(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "1", ctx))
    fake.expire_tokens()  # 401 11244 on the next call
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "2", ctx))
    assert fake.token_requests == 2 and len(fake.messages) == 2


async def test_verify(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    await m.adapter.verify()
    bad = await mount(app_secret="wrong")
    from adapters.base import VerifyError

    with pytest.raises(VerifyError) as err:
        await bad.adapter.verify()
    assert "11251" in str(err.value)


# --- the 5-replies budget counts accepted replies, not msg_seq numbers ------------------------


async def test_refused_attempts_do_not_use_the_reply_budget(mount: MountFn, fake: FakeQQ) -> None:
    """send.html: 5 replies per message; msg_seq only de-duplicates. Refused attempts (22009
    here) take new msg_seq numbers on their retries, but only accepted replies count: the
    platform takes 5 replies, msg_seq 6 and above included, and only the 6th is refused."""
    m = await mount()
    d = c2c_message(USER_OPENID, "?")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "r1", ctx))
    r2 = reply(f"c2c:{USER_OPENID}", "r2", ctx)
    fake.inject("/messages", 429, 22009, "msg limit exceed", times=3)
    for _ in range(3):  # the outbox's attempts
        with pytest.raises(TransientSendError):
            await m.adapter.send(r2)
    await m.adapter.send(r2)
    for text in ("r3", "r4", "r5"):
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", text, ctx))
    assert fake.replies[d["id"]] == 5
    assert [r.json["msg_seq"] for r in fake.messages] == [1, 5, 6, 7, 8]
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "r6", ctx))
    assert err.value.reason == WINDOW_CLOSED
    assert len(fake.received) == 8  # the 6th was not sent


async def test_refused_attempts_do_not_spend_an_active_message(
    mount: MountFn, fake: FakeQQ
) -> None:
    fake.active_allowed = True
    m = await mount(active_messages=True)
    d = c2c_message(USER_OPENID, "?")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    message = reply(f"c2c:{USER_OPENID}", "r1", ctx)
    fake.inject("/messages", 429, 22009, "msg limit exceed", times=5)
    for _ in range(5):
        with pytest.raises(TransientSendError):
            await m.adapter.send(message)
    await m.adapter.send(message)
    [sent] = fake.messages
    assert (sent.json["msg_id"], sent.json["msg_seq"]) == (d["id"], 6)  # passive
    assert fake.active_sent == {}


async def test_duplicate_and_held_parts_count_once_in_the_budget(
    mount: MountFn, fake: FakeQQ, redis: Redis, keys: Keys
) -> None:
    """A part accepted twice over (its record lost, the retry refused as a duplicate) counts
    once; a part held for audit (304024) counts: 5 in all, then the window is closed."""
    m = await mount()
    d = c2c_message(USER_OPENID, "?")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    first = reply(f"c2c:{USER_OPENID}", "r1", ctx)
    await m.adapter.send(first)
    conv, _, seq = first.message_id.rpartition(":")
    await redis.delete(keys.send_parts(conv, seq))
    await m.adapter.send(first)  # 40054005: delivered, not counted again
    fake.inject("/messages", 202, 304024, "message is waiting for audit now")
    assert await m.adapter.send(reply(f"c2c:{USER_OPENID}", "held", ctx)) == ""
    for text in ("r3", "r4", "r5"):
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", text, ctx))
    accepted = keys.channel_state(m.channel_id, f"accepted:{d['id']}")
    assert await redis.scard(accepted) == 5
    assert 0 < await redis.ttl(accepted) <= 3600 + 600
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "r6", ctx))
    assert err.value.reason == WINDOW_CLOSED


async def test_fake_platform_caps_accepted_replies_not_msg_seq(
    mount: MountFn, fake: FakeQQ
) -> None:
    """The fake plays send.html's rule: any msg_seq, a msg_id + msg_seq once, 5 accepted."""
    from adapters.qq.api import ApiError

    m = await mount()
    d = c2c_message(USER_OPENID, "?")
    await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    path = f"/v2/users/{USER_OPENID}/messages"

    async def post(seq: int) -> int:
        body = {"msg_type": 0, "content": "x", "msg_id": d["id"], "msg_seq": seq}
        try:
            await m.adapter.api.call("POST", path, body)
        except ApiError as exc:
            return exc.code
        return 0

    assert [await post(s) for s in (9, 100, 9, 3, 7, 42)] == [0, 0, 40054005, 0, 0, 0]
    assert await post(43) == 22009  # a 6th accepted reply: refused, whatever its msg_seq


# --- "retry at most once" system errors (error-trace/openapi.html) -----------------------------


@pytest.mark.parametrize("code", [11242, 11252])
async def test_retry_once_code_is_retried_once_then_final(
    mount: MountFn, fake: FakeQQ, code: int
) -> None:
    """ "系统错误，一般重试一次会好，最多只能重试一次": one retry with the same body, then a
    permanent failure that says so; 11242 no longer renews the token."""
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    fake.inject("/messages", 400, code, "system error", times=5)
    started = time.monotonic()
    with pytest.raises(PermanentSendError) as err:
        await m.adapter.send(reply(f"c2c:{USER_OPENID}", "hi", ctx))
    assert time.monotonic() - started >= 0.9  # the pause before the retry
    assert str(code) in err.value.reason and "one retry" in err.value.reason
    assert [r.json["msg_seq"] for r in fake.received] == [1, 1]
    assert fake.token_requests == 1


async def test_retry_once_code_then_success(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    fake.inject("/messages", 400, 11263, "ErrorCheckGuildAuth")
    assert await m.adapter.send(reply(f"c2c:{USER_OPENID}", "hi", ctx))
    assert [r.json["msg_seq"] for r in fake.received] == [1, 1]
    assert len(fake.messages) == 1


async def test_retry_once_after_a_lost_success_is_not_shown_twice(
    mount: MountFn, fake: FakeQQ
) -> None:
    """The platform showed the reply but answered 11281: the retry, same msg_seq, is refused
    as a duplicate (40054005), which counts as sent."""
    m = await mount()
    d = c2c_message(USER_OPENID, "?")
    ctx = await customer_writes(m, fake, d, "C2C_MESSAGE_CREATE")
    fake.inject("/messages", 400, 11281, "ErrorCheckAdminFailed", after=True)
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "once", ctx))
    assert len(fake.messages) == 1 and fake.replies[d["id"]] == 1
    assert [r.json["msg_seq"] for r in fake.received] == [1, 1]


async def test_token_refresh_and_retry_once_compose(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount()
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "1", ctx))
    fake.expire_tokens()  # 401 11244 on the next call, then 11252 once, then accepted
    fake.inject("/messages", 400, 11252, "ErrorCheckAppPrivilegeFailed")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", "2", ctx))
    assert fake.token_requests == 2 and len(fake.messages) == 2


# --- guild text escaping (message_format.md, 转义内容) -----------------------------------------


@pytest.mark.parametrize(
    ("t", "thread"),
    [
        ("AT_MESSAGE_CREATE", "guild:100010:1234"),
        ("DIRECT_MESSAGE_CREATE", "dms:18700000000001:1234"),
    ],
)
async def test_guild_reply_text_is_escaped(
    mount: MountFn, fake: FakeQQ, t: str, thread: str
) -> None:
    """The platform unescapes &amp; &lt; &gt; in what a bot sends to a guild and reads bare
    < > as tags: the agent's text is escaped, & first."""
    m = await mount()
    d = guild_message("100010", "1234", "?", dms=t == "DIRECT_MESSAGE_CREATE")
    ctx = await customer_writes(m, fake, d, t)
    text = "Tom & Jerry: use <b> tags, see <#123> &lt;"
    await m.adapter.send(reply(thread, text, ctx))
    expected = "Tom &amp; Jerry: use &lt;b&gt; tags, see &lt;#123&gt; &amp;lt;"
    assert fake.messages[-1].json["content"] == expected


async def test_c2c_and_group_reply_text_is_not_escaped(mount: MountFn, fake: FakeQQ) -> None:
    """The escaping is documented for guild messages only (message_format.md, linked from
    post_messages.md); the v2 send API takes text as it is."""
    m = await mount()
    text = "Tom & Jerry <b>"
    ctx = await customer_writes(m, fake, c2c_message(USER_OPENID, "?"), "C2C_MESSAGE_CREATE")
    await m.adapter.send(reply(f"c2c:{USER_OPENID}", text, ctx))
    g = group_message(GROUP_OPENID, "M1", "?")
    gctx = await customer_writes(m, fake, g, "GROUP_AT_MESSAGE_CREATE")
    await m.adapter.send(reply(f"group:{GROUP_OPENID}:M1", text, gctx))
    assert [r.json["content"] for r in fake.messages] == [text, text]
