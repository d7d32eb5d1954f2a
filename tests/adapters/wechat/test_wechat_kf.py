"""The WeCom customer-service adapter: encrypted callback, sync_msg pages, cursor, lease, send."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
import xmltodict
from wechat_payloads import (
    AES_KEY,
    BILLION_LAUGHS,
    CORP_ID,
    OPEN_KFID,
    PAYLOADS,
    TOKEN,
    XXE,
    kf_callback_xml,
    kf_request,
    kf_text_item,
    wait_for,
)
from wechatpy.enterprise.crypto import WeChatCrypto as CorpCrypto

from adapters.base import PermanentSendError
from adapters.wechat import WeComKfAdapter
from adapters.wechat.crypto import signature
from adapters.wechat.errors import (
    KF_SESSION_ENDED,
    KF_SESSION_STATE,
    KF_TOO_MANY,
    KF_WINDOW_CLOSED,
)
from adapters.wechat.kf import CUSTOMERS_PATH
from adapters.wechat.parse import kf_thread_key
from gateway.contacts import claims_of
from gateway.models import OutboundMessage

USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"


async def post_callback(m, fake, *, token: str | None = None, open_kfid: str = OPEN_KFID):
    token = fake.new_callback_token() if token is None else token
    body, query = kf_request(kf_callback_xml(open_kfid, token))
    return await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())


def cursor_key(m, open_kfid: str = OPEN_KFID) -> str:
    return m.adapter.ctx.state_key(f"kf:cursor:{open_kfid}")


async def idle(m, open_kfid: str = OPEN_KFID) -> bool:
    """No pull running nor pending for the account (in any process)."""
    redis, ctx = m.adapter.ctx.redis, m.adapter.ctx
    lease = ctx.keys.lease(f"{ctx.channel_id}:kf_sync:{open_kfid}")
    return not await redis.exists(ctx.state_key(f"kf:pending:{open_kfid}"), lease)


SEQS = itertools.count(2)


def outbound(thread_key: str, text: str, **extra) -> OutboundMessage:
    """A new reply each call: one message id is one message, whose accepted parts a later
    send skips."""
    return OutboundMessage(
        message_id=f"conv-1:{next(SEQS)}",
        conversation_id="conv-1",
        channel_id="ch",
        thread_key=thread_key,
        contact_external_id=thread_key.split(":")[1],
        text=text,
        **extra,
    )


async def test_url_verification_decrypts_echostr(mount) -> None:
    m = await mount(WeComKfAdapter)
    ts, nonce = str(int(time.time())), "abc"
    envelope = xmltodict.parse(
        CorpCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message("8832105", nonce, ts)
    )
    echostr = envelope["xml"]["Encrypt"]
    query = {
        "msg_signature": signature(TOKEN, ts, nonce, echostr),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": echostr,
    }
    resp = await m.client.get(m.path("/wecom-kf"), params=query)
    assert (resp.status, await resp.text()) == (200, "8832105")
    resp = await m.client.get(m.path("/wecom-kf"), params={**query, "msg_signature": "0" * 40})
    assert resp.status == 403


async def test_recorded_sync_page_is_delivered_with_media(mount, fake) -> None:
    m = await mount(WeComKfAdapter, greeting="欢迎光临")
    page = json.loads((PAYLOADS / "kf_sync_msg.json").read_text(encoding="utf-8"))
    for item in page["msg_list"]:
        fake.add_kf_message(item)
    for kind in ("", "_voice", "_video", "_file"):
        media_id = "2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw" + kind
        fake.add_media(media_id, f"data{kind}".encode(), "application/octet-stream", f"f{kind}.bin")
    resp = await post_callback(m, fake)
    assert (resp.status, await resp.text()) == (200, "success")
    await wait_for(lambda: len(m.recorder.delivered) == 9)
    ids = [msg.external_id for msg in m.recorder.delivered]
    assert ids == [
        item["msgid"]
        for item in page["msg_list"]
        if item["origin"] == 3 and item["msgid"] != "from_msgid_servicer"
    ]
    media = [a for msg in m.recorder.delivered for a in msg.attachments if "media_id" in a.meta]
    assert len(media) == 4 and all(a.url and not a.meta.get("error") for a in media)
    assert all(msg.thread_key == kf_thread_key(OPEN_KFID, USER) for msg in m.recorder.delivered)
    # enter_session: the welcome message went out with its welcome code, once.
    await wait_for(lambda: fake.requests_to("/cgi-bin/kf/send_msg_on_event"))
    [welcome] = fake.requests_to("/cgi-bin/kf/send_msg_on_event")
    assert welcome.json == {"code": "aaaaaa", "msgtype": "text", "text": {"content": "欢迎光临"}}


async def test_pages_are_followed_and_the_cursor_is_stored(mount, fake, redis) -> None:
    m = await mount(WeComKfAdapter)
    fake.page_size = 3
    for i in range(10):
        fake.add_kf_message(kf_text_item(f"msg{i}", USER, f"text {i}"))
    token = fake.new_callback_token()
    await post_callback(m, fake, token=token)
    await wait_for(lambda: len(m.recorder.delivered) == 10)
    assert [msg.text for msg in m.recorder.delivered] == [f"text {i}" for i in range(10)]
    await wait_for(lambda: redis.get(cursor_key(m)))
    assert await redis.get(cursor_key(m)) == "cur10"
    syncs = fake.requests_to("/cgi-bin/kf/sync_msg")
    assert [r.json["cursor"] for r in syncs] == ["", "cur3", "cur6", "cur9"]
    assert all(r.json["token"] == token and r.json["open_kfid"] == OPEN_KFID for r in syncs)
    # The next callback starts where the last pull ended: nothing delivered twice.
    fake.add_kf_message(kf_text_item("msg10", USER, "text 10"))
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.delivered) == 11)
    assert fake.requests_to("/cgi-bin/kf/sync_msg")[-1].json["cursor"] == "cur10"


async def test_cursor_does_not_pass_an_undelivered_message(mount, fake, redis) -> None:
    m = await mount(WeComKfAdapter, retry_seconds=0.2)
    fake.page_size = 2
    for i in range(6):
        fake.add_kf_message(kf_text_item(f"msg{i}", USER, f"text {i}"))
    m.recorder.fail_on = {"msg3"}  # e.g. Redis unavailable while filing msg3
    await post_callback(m, fake)
    # The failing pull leaves the account pending, and the retry loop keeps trying.
    await wait_for(lambda: len(fake.requests_to("/cgi-bin/kf/sync_msg")) >= 4)
    assert {msg.external_id for msg in m.recorder.delivered} == {"msg0", "msg1", "msg2"}
    assert await redis.get(cursor_key(m)) == "cur2"  # the page holding msg3 is read again
    m.recorder.fail_on = set()  # Redis is back: the retry loop catches up, no callback needed
    await wait_for(lambda: len({msg.external_id for msg in m.recorder.delivered}) == 6)
    await wait_for(lambda: idle(m))
    assert await redis.get(cursor_key(m)) == "cur6"
    # Only msg2 (same page as msg3) was read again; the inbox dedupes it on msgid.
    ids = [msg.external_id for msg in m.recorder.delivered]
    assert ids[:3] == ["msg0", "msg1", "msg2"] and ids[-3:] == ["msg3", "msg4", "msg5"]
    assert set(ids[3:-3]) <= {"msg2"}


async def test_failed_pull_is_retried(mount, fake, redis) -> None:
    m = await mount(WeComKfAdapter, retry_seconds=0.2)
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    fake.inject("/cgi-bin/kf/sync_msg", -1, "system busy", times=2)
    await post_callback(m, fake)
    await wait_for(lambda: m.recorder.delivered)
    assert len(fake.requests_to("/cgi-bin/kf/sync_msg")) == 3
    assert [msg.external_id for msg in m.recorder.delivered] == ["msg0"]


async def test_one_puller_per_kf_account_across_processes(mount, fake) -> None:
    """Two adapter instances of one channel (two gateway processes) get callbacks at once:
    each message is pulled and delivered exactly once."""
    a = await mount(WeComKfAdapter)
    b = await mount(WeComKfAdapter, channel_id=a.channel_id)
    fake.page_size = 5
    for i in range(40):
        fake.add_kf_message(kf_text_item(f"msg{i}", USER, str(i)))
    await asyncio.gather(*(post_callback(x, fake) for x in (a, b, a, b, a, b)))
    all_ids = lambda: [m.external_id for m in a.recorder.delivered + b.recorder.delivered]  # noqa: E731
    await wait_for(lambda: len(all_ids()) >= 40)
    await wait_for(lambda: idle(a))
    assert await a.adapter.ctx.redis.get(cursor_key(a)) == "cur40"
    assert sorted(all_ids()) == sorted(f"msg{i}" for i in range(40))


async def test_expired_callback_token_falls_back_to_pulling_without_it(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    resp = await post_callback(m, fake, token="ENC-forged-or-expired")
    assert resp.status == 200
    await wait_for(lambda: m.recorder.delivered)
    tokens = [r.json["token"] for r in fake.requests_to("/cgi-bin/kf/sync_msg")]
    assert tokens == ["ENC-forged-or-expired", ""]


async def test_pending_pull_resumes_after_restart(mount, fake) -> None:
    """A callback was answered but the process stopped before pulling: start() pulls."""
    m = await mount(WeComKfAdapter)
    await m.adapter.stop()
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    state = m.adapter.ctx.state_key
    await m.adapter.ctx.redis.sadd(state("kf:accounts"), OPEN_KFID)
    await m.adapter.ctx.redis.set(state(f"kf:pending:{OPEN_KFID}"), 1)
    await m.adapter.start()
    await wait_for(lambda: m.recorder.delivered)


@pytest.mark.parametrize("age", [400, -400])
async def test_stale_callback_is_403(mount, fake, age) -> None:
    m = await mount(WeComKfAdapter)
    body, query = kf_request(kf_callback_xml(token="t"), timestamp=int(time.time()) - age)
    resp = await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())
    assert resp.status == 403
    assert fake.requests_to("/cgi-bin/kf/sync_msg") == []


async def test_timestamp_too_large_for_a_float_is_403(mount, fake) -> None:
    """400 digits: compared with the clock as a float, it overflowed (a 500), and before any
    signature is checked."""
    m = await mount(WeComKfAdapter)
    body, query = kf_request(kf_callback_xml(token="t"))
    query["timestamp"] = "9" * 400
    resp = await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())
    assert resp.status == 403
    assert "stale timestamp" in await resp.text()
    resp = await m.client.get(m.path("/wecom-kf"), params={**query, "echostr": "x"})
    assert resp.status == 403
    assert fake.requests_to("/cgi-bin/kf/sync_msg") == []


async def test_bad_signature_is_403(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    body, query = kf_request(kf_callback_xml(token="t"))
    query["msg_signature"] = "a" * 40
    resp = await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())
    assert resp.status == 403


@pytest.mark.parametrize("inner", [XXE, BILLION_LAUGHS, "<xml><a>"])
async def test_hostile_xml_inside_a_valid_envelope_is_400(mount, fake, inner) -> None:
    m = await mount(WeComKfAdapter)
    body, query = kf_request(inner)
    resp = await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())
    assert resp.status == 400


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS, "<xml>", "<xml><A>1</A></xml>"])
async def test_hostile_or_broken_envelope_is_400(mount, body) -> None:
    m = await mount(WeComKfAdapter)
    _, query = kf_request(kf_callback_xml(token="t"))
    resp = await m.client.post(m.path("/wecom-kf"), params=query, data=body.encode())
    assert resp.status == 400


async def test_send_text_and_image(mount, fake) -> None:
    from gateway.models import Attachment

    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    m.recorder.media["/media/1/p.png"] = (b"png", "p.png", "image/png")
    msgid = await m.adapter.send(
        outbound(
            kf_thread_key(OPEN_KFID, USER),
            "您好",
            attachments=[Attachment(kind="image", url="/media/1/p.png", name="p.png")],
        )
    )
    text, image = fake.kf_sends
    assert text == {
        "touser": USER,
        "open_kfid": OPEN_KFID,
        "msgtype": "text",
        "text": {"content": "您好"},
        "msgid": fake.kf_msgids[0],  # the gateway's own: a repeat is refused
    }
    assert image["msgtype"] == "image" and fake.uploads[image["image"]["media_id"]][0] == b"png"
    assert msgid


async def test_an_agents_image_is_read_from_disk_and_a_remote_one_fetched(mount, fake) -> None:
    """The gateway's own upload never goes through public_url (which the gateway may not reach
    from inside); an image elsewhere is downloaded."""
    from gateway.models import Attachment

    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    served = m.adapter.ctx.public_url
    m.adapter.ctx.public_url = "http://127.0.0.1:1"  # nothing listens there
    m.recorder.media["/media/1/own.png"] = (b"own-png", "own.png", "image/png")
    m.recorder.media["/media/2/remote.png"] = (b"remote-png", "remote.png", "image/png")
    await m.adapter.send(
        outbound(
            kf_thread_key(OPEN_KFID, USER),
            "",
            attachments=[
                Attachment(kind="image", url="/media/1/own.png", name="own.png"),
                Attachment(kind="image", url=f"{served}/media/2/remote.png", name="remote.png"),
            ],
        )
    )
    uploaded = [fake.uploads[s["image"]["media_id"]][0] for s in fake.kf_sends]
    assert uploaded == [b"own-png", b"remote-png"]


async def test_send_fail_event_marks_the_reply_failed(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    reply = outbound(kf_thread_key(OPEN_KFID, USER), "您好")
    await m.adapter.send(reply)
    [msgid] = fake.kf_msgids
    event = {
        "msgid": "evt-fail-1",
        "send_time": int(time.time()),
        "origin": 4,
        "msgtype": "event",
        "event": {
            "event_type": "msg_send_fail",
            "open_kfid": OPEN_KFID,
            "external_userid": USER,
            "fail_msgid": msgid,
            "fail_type": 4,
        },
    }
    fake.add_kf_message(event)
    await post_callback(m, fake)
    await wait_for(lambda: m.recorder.failed)
    [(message_id, reason)] = m.recorder.failed
    assert message_id == reply.message_id and "could not deliver" in reason and "4" in reason


async def test_malformed_thread_key_is_permanent(mount) -> None:
    m = await mount(WeComKfAdapter)
    with pytest.raises(PermanentSendError):
        await m.adapter.send(outbound("no-separator:", "x"))


async def test_send_outside_the_window_is_permanent(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    with pytest.raises(PermanentSendError, match="48-hour"):
        await m.adapter.send(outbound(kf_thread_key(OPEN_KFID, "wm-silent"), "hello?"))


@pytest.mark.parametrize(
    ("errcode", "errmsg", "reason"),
    [
        (95001, "send msg count limit", KF_TOO_MANY),
        (95002, "send msg time limit", KF_WINDOW_CLOSED),
        (95013, "conversation has ended", KF_SESSION_ENDED),
        (95018, "send msg session status invalid", KF_SESSION_STATE),
    ],
)
async def test_documented_send_refusals_tell_the_agent_why(
    mount, fake, errcode: int, errmsg: str, reason: str
) -> None:
    """kf/send_msg's codes (WeCom 全局错误码): 95001 past 5 replies, 95002 past 48 hours, 95013
    session ended, 95018 session state (taken over by a servicer): final, with the reason."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    fake.inject("/cgi-bin/kf/send_msg", errcode, errmsg)
    with pytest.raises(PermanentSendError) as info:
        await m.adapter.send(outbound(kf_thread_key(OPEN_KFID, USER), "hello"))
    assert info.value.reason == reason


async def test_send_refreshes_an_expired_corp_token(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    await m.adapter.send(outbound(kf_thread_key(OPEN_KFID, USER), "one"))
    fake.expire_tokens()
    await m.adapter.send(outbound(kf_thread_key(OPEN_KFID, USER), "two"))
    assert [s["text"]["content"] for s in fake.kf_sends] == ["one", "two"]
    assert fake.token_requests == {"gettoken": 2}


async def test_verify(mount) -> None:
    from adapters.base import VerifyError

    await (await mount(WeComKfAdapter)).adapter.verify()
    with pytest.raises(VerifyError):
        await (await mount(WeComKfAdapter, secret="wrong")).adapter.verify()


async def test_customers_are_named_and_linked_by_their_profile(mount, fake) -> None:
    """kf/customer/batchget, once per page for the customers not known yet: the nickname names
    the contact and the unionid is its verified claim; an id WeCom does not answer for, or a
    failed lookup, files the message without them."""
    m = await mount(WeComKfAdapter)
    other, stranger = "wmAJ2GCAAAotherCustomer000000000", "wmAJ2GCAAAstranger00000000000000"
    fake.kf_customers[USER] = {"nickname": "张三", "unionid": "oUnion-123"}
    fake.kf_customers[other] = {"nickname": "李四"}  # no developer account bound: no unionid
    for msgid, user, text in [("n1", USER, "你好"), ("n2", other, "在吗"), ("n3", USER, "订单"),
                              ("n4", stranger, "hi")]:  # fmt: skip
        fake.add_kf_message(kf_text_item(msgid, user, text))
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.delivered) == 4)
    delivered = m.recorder.delivered
    got = {msg.external_id: (msg.contact.name, msg.meta.get("unionid")) for msg in delivered}
    assert got == {
        "n1": ("张三", "oUnion-123"), "n2": ("李四", None), "n3": ("张三", "oUnion-123"),
        "n4": (None, None),
    }  # fmt: skip
    [lookup] = fake.requests_to(CUSTOMERS_PATH)
    assert lookup.json == {
        "external_userid_list": [USER, other, stranger], "need_enter_session_context": 0
    }  # fmt: skip
    assert claims_of(m.recorder.delivered[0]) == ["unionid:oUnion-123"]
    # Kept in Redis: the next page asks WeCom nothing for them.
    fake.add_kf_message(kf_text_item("n5", USER, "还在吗"))
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.delivered) == 5)
    assert m.recorder.delivered[-1].contact.name == "张三"
    assert len(fake.requests_to(CUSTOMERS_PATH)) == 1
    # A failed lookup: the message is filed without the profile, nothing waits for it.
    newcomer = "wmAJ2GCAAAnewcomer00000000000000"
    fake.kf_customers[newcomer] = {"nickname": "王五"}
    fake.inject(CUSTOMERS_PATH, -1, "system busy")
    fake.add_kf_message(kf_text_item("n6", newcomer, "hello"))
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.delivered) == 6)
    assert m.recorder.delivered[-1].contact.name is None


# --- sync_msg errors: permanent ones stop the account, others back off --------------------------

SYNC = "/cgi-bin/kf/sync_msg"


def sync_calls(fake) -> int:
    return len(fake.requests_to(SYNC))


@pytest.mark.parametrize("errcode", [95000, 95004])
async def test_permanent_sync_error_stops_the_account_until_its_next_callback(
    mount, fake, redis, caplog, errcode
) -> None:
    m = await mount(WeComKfAdapter, retry_seconds=0.1)
    state = m.adapter.ctx.state_key
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    fake.inject(SYNC, errcode, "invalid open_kfid", times=10_000)
    with caplog.at_level("WARNING", logger="adapters.wechat.kf"):
        await post_callback(m, fake)
        await wait_for(lambda: sync_calls(fake) >= 1)
        await asyncio.sleep(1.0)  # ten retry passes
    assert sync_calls(fake) == 1  # never retried
    assert not await redis.exists(state(f"kf:pending:{OPEN_KFID}"))
    assert not await redis.sismember(state("kf:accounts"), OPEN_KFID)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(errcode) in warnings[0] and OPEN_KFID in warnings[0]
    # Reported: the channel's last poll success falls back to the account's last one (never: 0).
    assert m.recorder.health == [("poll_ok", 0.0)]
    # The account is fixed on WeCom's side, which calls back: pulling resumes.
    fake.injected[SYNC] = []
    await post_callback(m, fake)
    await wait_for(lambda: m.recorder.delivered)
    assert [msg.external_id for msg in m.recorder.delivered] == ["msg0"]
    await wait_for(lambda: idle(m))
    assert await redis.sismember(state("kf:accounts"), OPEN_KFID)
    assert m.recorder.health[-2][0] == "poll_ok" and m.recorder.health[-2][1] > time.time() - 60


async def test_a_stopped_account_holds_back_the_channels_poll_success(mount, fake) -> None:
    """Another account's pulls report the stopped account's last success, not now: the alert
    on a stale poller sees it."""
    m = await mount(WeComKfAdapter)
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    await post_callback(m, fake)
    await wait_for(lambda: idle(m))
    [(_, first_ok), _] = m.recorder.health
    fake.inject(SYNC, 95004, "open_kfid not exist")
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.health) == 3)
    assert m.recorder.health[-1] == ("poll_ok", first_ok)
    other = "wkOTHER0000000000000000000000000"
    await post_callback(m, fake, open_kfid=other)
    await wait_for(lambda: idle(m, other))
    assert m.recorder.health[-2] == ("poll_ok", first_ok)


async def test_transient_sync_errors_back_off_exponentially_and_reset(mount, fake, redis) -> None:
    m = await mount(WeComKfAdapter, retry_seconds=0.1)
    fake.add_kf_message(kf_text_item("msg0", USER, "hi"))
    fake.inject(SYNC, -1, "system busy", times=10_000)
    await post_callback(m, fake)
    await asyncio.sleep(2.0)
    # Pauses 0.1, 0.2, 0.4, 0.8 s...: about 5 calls in 2 s (20 at a fixed 0.1 s).
    assert 3 <= sync_calls(fake) <= 7
    retry = m.adapter.ctx.state_key(f"kf:retry:{OPEN_KFID}")
    assert float(await redis.hget(retry, "delay")) >= 0.8
    fake.injected[SYNC] = []  # WeCom is back
    await wait_for(lambda: m.recorder.delivered, within=10)
    await wait_for(lambda: idle(m))
    assert not await redis.exists(retry)  # a complete pull resets the pause


async def test_transient_pause_is_capped(mount, fake, redis) -> None:
    m = await mount(WeComKfAdapter, retry_seconds=400)
    retry = m.adapter.ctx.state_key(f"kf:retry:{OPEN_KFID}")
    fake.inject(SYNC, 45009, "api freq out of limit", times=3)
    pending = m.adapter.ctx.state_key(f"kf:pending:{OPEN_KFID}")
    for n in range(1, 4):  # callbacks pull at once, whatever the pause
        await post_callback(m, fake)
        await wait_for(lambda n=n: sync_calls(fake) == n)
        await wait_for(lambda: redis.exists(pending))
    assert float(await redis.hget(retry, "delay")) == 600  # 400, then 800 capped at 10 minutes
    at = float(await redis.hget(retry, "at"))
    assert time.time() + 590 < at <= time.time() + 600


# --- merged chat records, reply length -----------------------------------------------------------


async def test_merged_chat_record_reaches_the_agent_readably(mount, fake) -> None:
    m = await mount(WeComKfAdapter)
    record = json.dumps({"text": {"content": "我昨天下的单"}})
    fake.add_kf_message({
        **kf_text_item("msg-merged", USER, ""), "msgtype": "merged_msg", "text": None,
        "merged_msg": {"title": "张三的聊天记录", "item": [
            {"send_time": 1, "msgtype": "text", "sender_name": "张三", "msg_content": record},
        ]},
    })  # fmt: skip
    await post_callback(m, fake)
    await wait_for(lambda: m.recorder.delivered)
    assert m.recorder.delivered[0].text == "[chat record] 张三的聊天记录\n张三: 我昨天下的单"


async def test_a_reply_within_the_byte_limit_is_one_message(mount, fake) -> None:
    """680 emoji (2,720 bytes) would be two messages, two of the 5 replies: the console's
    check refuses it, and 2,048 bytes of emoji go in one send."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    assert m.adapter.text_length("😀" * 680) == 2720
    assert "672" in (m.adapter.length_problem("😀" * 680) or "")
    await m.adapter.send(outbound(kf_thread_key(OPEN_KFID, USER), "😀" * 512))
    assert [s["text"]["content"] for s in fake.kf_sends] == ["😀" * 512]
