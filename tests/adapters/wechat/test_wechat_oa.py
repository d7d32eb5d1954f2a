"""The Official Account adapter over HTTP: every mode, every payload, bad input, events, send."""

from __future__ import annotations

import itertools
import time

import pytest
from wechat_payloads import (
    BILLION_LAUGHS,
    EXTERNAL_DTD,
    TOKEN,
    XXE,
    load,
    plain_query,
    safe_request,
    text_xml,
    wait_for,
    with_fields,
)

from adapters.base import PermanentSendError, TransientSendError
from adapters.wechat import OfficialAccountAdapter, oa
from adapters.wechat.errors import TOO_MANY, UNSUBSCRIBED, WINDOW_CLOSED
from gateway.contacts import claims_of
from gateway.models import Attachment, OutboundMessage


def request_for(mode: str, xml: str, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    if mode == "plain":
        return xml, plain_query(timestamp=timestamp)
    return safe_request(xml, compatible=mode == "compatible", timestamp=timestamp)


SEQS = itertools.count(2)


def outbound(openid: str, text: str, **extra) -> OutboundMessage:
    """A new reply each call: one message id is one message, whose accepted parts a later
    send skips."""
    return OutboundMessage(
        message_id=f"conv-1:{next(SEQS)}", conversation_id="conv-1", channel_id="ch",
        thread_key=openid, contact_external_id=openid, text=text, **extra,
    )  # fmt: skip


MESSAGE_FIXTURES = [
    "text.xml", "image.xml", "voice.xml", "video.xml", "shortvideo.xml", "location.xml",
    "link.xml", "event_click.xml", "event_scan.xml", "event_scancode_push.xml",
    "event_scancode_waitmsg.xml",
]  # fmt: skip


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
@pytest.mark.parametrize("fixture", MESSAGE_FIXTURES)
async def test_every_message_type_in_every_mode(mount, fake, mode, fixture) -> None:
    m = await mount(OfficialAccountAdapter, mode=mode)
    for media_id, ctype in [("media_image_1", "image/jpeg"), ("media_voice_1", "audio/amr"),
                            ("media_shortvideo_1", "video/mp4")]:  # fmt: skip
        fake.add_media(media_id, f"bytes of {media_id}".encode(), ctype, f"{media_id}.bin")
    fake.add_video("media_video_1", b"bytes of video")
    xml = with_fields(load(fixture), CreateTime=int(time.time()))
    body, query = request_for(mode, xml)
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 200, await resp.text()
    assert await resp.text() == "success"
    [msg] = m.recorder.delivered
    assert msg.contact.external_id.startswith("oUser_")
    for a in msg.attachments:
        if "media_id" in a.meta:
            assert a.url is not None, a.meta
            data, _, _ = m.recorder.media[a.url]
            assert data.startswith(b"bytes of")
            assert a.size == len(data)


async def test_media_failure_still_delivers_the_message(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    xml = with_fields(load("image.xml"), CreateTime=int(time.time()))  # media unknown to WeChat
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=xml.encode())
    assert resp.status == 200
    [msg] = m.recorder.delivered
    assert msg.attachments[0].url is None
    assert "40007" in msg.attachments[0].meta["error"]


async def test_url_verification(mount) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe")
    query = {**plain_query(), "echostr": "1234567890"}
    resp = await m.client.get(m.path("/wechat"), params=query)
    assert (resp.status, await resp.text()) == (200, "1234567890")
    query["signature"] = "0" * 40
    resp = await m.client.get(m.path("/wechat"), params=query)
    assert resp.status == 403


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_bad_signature_is_403(mount, mode) -> None:
    m = await mount(OfficialAccountAdapter, mode=mode)
    body, query = request_for(mode, text_xml("o1", "hi", 1))
    key = "signature" if mode == "plain" else "msg_signature"
    query[key] = "f" * 40
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 403
    assert "signature" in await resp.text()
    assert m.recorder.delivered == []


async def test_safe_mode_signature_covers_the_ciphertext(mount) -> None:
    """A valid msg_signature for one ciphertext does not authorize another."""
    m = await mount(OfficialAccountAdapter, mode="safe")
    body_a, query_a = safe_request(text_xml("o1", "a", 1))
    body_b, _ = safe_request(text_xml("o1", "b", 2))
    resp = await m.client.post(m.path("/wechat"), params=query_a, data=body_b.encode())
    assert resp.status == 403
    resp = await m.client.post(m.path("/wechat"), params=query_a, data=body_a.encode())
    assert resp.status == 200


async def test_safe_mode_refuses_plain_messages(mount) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe")
    resp = await m.client.post(
        m.path("/wechat"), params=plain_query(), data=text_xml("o1", "hi", 1).encode()
    )
    assert resp.status == 403
    assert m.recorder.delivered == []


async def test_message_for_another_app_is_403(mount) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe")
    body, query = safe_request(text_xml("o1", "hi", 1), app_id="wx-other-app")
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 403


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("age", [301, 3600, -400])
async def test_stale_timestamp_is_403(mount, mode, age) -> None:
    m = await mount(OfficialAccountAdapter, mode=mode)
    body, query = request_for(mode, text_xml("o1", "hi", 1), timestamp=int(time.time()) - age)
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 403
    assert "timestamp" in await resp.text()
    resp = await m.client.get(m.path("/wechat"), params={**query, "echostr": "x"})
    assert resp.status == 403


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_timestamp_too_large_for_a_float_is_403(mount, mode) -> None:
    """400 digits: compared with the clock as a float, it overflowed (a 500), and before any
    signature is checked."""
    m = await mount(OfficialAccountAdapter, mode=mode)
    body, query = request_for(mode, text_xml("o1", "hi", 1))
    query["timestamp"] = "9" * 400
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 403
    assert "stale timestamp" in await resp.text()
    resp = await m.client.get(m.path("/wechat"), params={**query, "echostr": "x"})
    assert resp.status == 403
    assert m.recorder.delivered == []


async def test_clock_skew_is_configurable(mount) -> None:
    m = await mount(OfficialAccountAdapter, max_clock_skew_seconds=3600)
    body, query = request_for("plain", text_xml("o1", "hi", 1), timestamp=int(time.time()) - 1800)
    resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
    assert resp.status == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<xml><MsgType>text", "malformed"),
        ("<html>hello</html>", "<xml>"),
        ("<xml><ToUserName>a</ToUserName></xml>", "MsgType is missing"),
        (XXE, "DOCTYPE"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_DTD, "DOCTYPE"),
    ],
)
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_malformed_or_hostile_xml_is_400(mount, mode, body, reason) -> None:
    """Hostile XML is refused in plain mode, and also inside a validly encrypted envelope."""
    m = await mount(OfficialAccountAdapter, mode=mode)
    data, query = request_for(mode, body)
    resp = await m.client.post(m.path("/wechat"), params=query, data=data.encode())
    assert resp.status == 400
    assert reason in await resp.text()
    assert m.recorder.delivered == []


async def test_hostile_envelope_in_safe_mode_is_400(mount) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe")
    _, query = safe_request(text_xml("o1", "hi", 1))
    resp = await m.client.post(m.path("/wechat"), params=query, data=XXE.encode())
    assert resp.status == 400


async def test_oversized_body_is_413(mount) -> None:
    m = await mount(OfficialAccountAdapter)
    body = "<xml><Content>" + "x" * 200_000 + "</Content></xml>"
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=body.encode())
    assert resp.status == 413


async def test_deliver_failure_is_500_so_wechat_retries(mount) -> None:
    m = await mount(OfficialAccountAdapter)
    m.recorder.fail_deliver = True
    resp = await m.client.post(
        m.path("/wechat"), params=plain_query(), data=text_xml("o1", "hi", 7).encode()
    )
    assert resp.status == 500


async def test_subscribe_greets_once_through_the_custom_api(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe", greeting="欢迎！Welcome")
    fake.customer_wrote("oUser_sub_0001")  # following opens a short window on WeChat's side
    xml = with_fields(load("event_subscribe.xml"), CreateTime=int(time.time()))
    for _ in range(3):  # WeChat retries the same event
        body, query = safe_request(xml)
        resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")
    await wait_for(lambda: fake.custom_sends)
    assert fake.custom_sends == [
        {"touser": "oUser_sub_0001", "msgtype": "text", "text": {"content": "欢迎！Welcome"}}
    ]
    assert m.recorder.delivered == []  # a follow is not a conversation


async def test_empty_greeting_sends_nothing(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter, greeting="")
    xml = with_fields(load("event_subscribe.xml"), CreateTime=int(time.time()))
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=xml.encode())
    assert resp.status == 200
    # Nothing spawned: no background task exists that could still send.
    assert not m.adapter._tasks and fake.requests_to("/cgi-bin/message/custom/send") == []


async def test_unsubscribe_closes_and_blocks_sending_until_resubscribe(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter, greeting="")
    openid = "oUser_unsub_0001"
    fake.customer_wrote(openid)
    xml = with_fields(load("event_unsubscribe.xml"), CreateTime=int(time.time()))
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=xml.encode())
    assert resp.status == 200
    assert m.recorder.closed == [(openid, "The customer unfollowed the account.")]
    with pytest.raises(PermanentSendError) as info:
        await m.adapter.send(outbound(openid, "are you there?"))
    assert info.value.reason == UNSUBSCRIBED
    assert fake.requests_to("/cgi-bin/message/custom/send") == []
    # Following again lifts the block.
    sub = with_fields(load("event_subscribe.xml"), FromUserName=openid, CreateTime=int(time.time()))
    await m.client.post(m.path("/wechat"), params=plain_query(), data=sub.encode())
    await m.adapter.send(outbound(openid, "welcome back"))
    assert fake.custom_sends[-1]["text"]["content"] == "welcome back"


async def test_send_text_and_image(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.customer_wrote("o1")
    m.recorder.media["/media/1/p.png"] = (b"png-bytes", "p.png", "image/png")
    msg = outbound("o1", "这是回复", attachments=[
        Attachment(kind="image", url="/media/1/p.png", name="p.png", content_type="image/png"),
        Attachment(kind="file", url="https://cdn.example/x.pdf", name="x.pdf"),
        Attachment(kind="file", url="/media/1/abc-y.pdf", name="y.pdf"),  # an agent's upload
    ])  # fmt: skip
    assert await m.adapter.send(msg) == ""
    text, image = fake.custom_sends
    own = m.adapter.ctx.public_url.rstrip("/") + "/media/1/abc-y.pdf"
    assert own.startswith("http")
    content = f"这是回复\nx.pdf: https://cdn.example/x.pdf\ny.pdf: {own}"
    assert text == {"touser": "o1", "msgtype": "text", "text": {"content": content}}
    assert image["msgtype"] == "image"
    assert fake.uploads[image["image"]["media_id"]][0] == b"png-bytes"


async def test_long_text_is_split_at_2048_bytes(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.customer_wrote("o1")
    await m.adapter.send(outbound("o1", "长" * 1000))
    assert [len(s["text"]["content"].encode()) for s in fake.custom_sends] == [2046, 954]


async def test_send_refreshes_an_expired_token_once(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.customer_wrote("o1")
    await m.adapter.send(outbound("o1", "one"))
    fake.expire_tokens()
    await m.adapter.send(outbound("o1", "two"))
    assert [s["text"]["content"] for s in fake.custom_sends] == ["one", "two"]
    assert fake.token_requests["stable_token"] == 2


async def test_window_closed_is_permanent_with_a_clear_reason(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    with pytest.raises(PermanentSendError) as info:  # the customer never wrote: 45015
        await m.adapter.send(outbound("o-silent", "hello?"))
    assert info.value.reason == WINDOW_CLOSED
    assert "48-hour" in info.value.reason


async def test_too_many_replies_is_permanent_with_a_clear_reason(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.customer_wrote("o1")
    for i in range(5):
        await m.adapter.send(outbound("o1", f"reply {i}"))
    with pytest.raises(PermanentSendError) as info:  # 45047
        await m.adapter.send(outbound("o1", "reply 6"))
    assert info.value.reason == TOO_MANY


async def test_rate_limited_is_transient(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.customer_wrote("o1")
    fake.inject("/cgi-bin/message/custom/send", 45009, "reach max api daily quota limit")
    with pytest.raises(TransientSendError) as info:
        await m.adapter.send(outbound("o1", "x"))
    assert info.value.retry_after == 60.0


async def test_verify_checks_credentials(mount) -> None:
    from adapters.base import VerifyError

    good = await mount(OfficialAccountAdapter)
    await good.adapter.verify()
    bad = await mount(OfficialAccountAdapter, app_secret="wrong")
    with pytest.raises(VerifyError, match="AppSecret"):
        await bad.adapter.verify()


def test_config_requires_a_valid_key_outside_plain_mode() -> None:
    cfg = dict(app_id="wx1", app_secret="appsecret-value", token="t")
    OfficialAccountAdapter.Config(**cfg)
    with pytest.raises(ValueError, match="encoding_aes_key"):
        OfficialAccountAdapter.Config(**cfg, mode="safe")
    with pytest.raises(ValueError, match="43"):
        OfficialAccountAdapter.Config(**cfg, mode="safe", encoding_aes_key="short")
    secret = OfficialAccountAdapter.Config(**cfg, encoding_aes_key="k" * 43)
    assert "appsecret-value" not in repr(secret) and "app_secret" not in repr(secret)
    assert TOKEN not in repr(secret)


async def test_a_followers_unionid_is_asked_once_and_never_holds_the_answer(mount, fake) -> None:
    """user/info names the follower's unionid (the account bound to an Open Platform account):
    the message carries it as a verified claim, and the answer is kept; a follower without one
    is not asked again either; a user/info that does not answer in time does not hold WeChat's
    "success" (the message is filed without it)."""
    m = await mount(OfficialAccountAdapter)
    fake.unionids["oLinked"] = "oUnion-9"

    async def say(openid: str, text: str, msg_id: int) -> None:
        resp = await m.client.post(
            m.path("/wechat"), params=plain_query(), data=text_xml(openid, text, msg_id).encode()
        )
        assert (resp.status, await resp.text()) == (200, "success")

    await say("oLinked", "你好", 1)
    await say("oLinked", "在吗", 2)
    await say("oPlain", "hi", 3)
    await say("oPlain", "hello", 4)
    got = [(msg.contact.external_id, msg.meta.get("unionid")) for msg in m.recorder.delivered]
    assert got == [("oLinked", "oUnion-9"), ("oLinked", "oUnion-9"), ("oPlain", None),
                   ("oPlain", None)]  # fmt: skip
    assert claims_of(m.recorder.delivered[0]) == ["unionid:oUnion-9"]
    asked = [r.query["openid"] for r in fake.requests_to("/cgi-bin/user/info")]
    assert asked == ["oLinked", "oPlain"]

    held = fake.stall("/cgi-bin/user/info", 1)
    fake.unionids["oSlow"] = "oUnion-slow"
    await say("oSlow", "急", 5)  # answered while user/info is still held
    assert held.arrived.is_set() and not held.release.is_set()
    assert m.recorder.delivered[-1].meta.get("unionid") is None
    held.release.set()


@pytest.mark.parametrize(
    ("errcode", "asked_again_within"),
    [(-1, oa.FAILED_UNIONID_SECONDS), (45009, oa.FAILED_UNIONID_SECONDS),
     (48001, oa.NO_UNIONID_SECONDS)],
    ids=["busy", "rate-limited", "not-permitted"],
)  # fmt: skip
async def test_a_failed_unionid_lookup_is_asked_again_soon(
    mount, fake, errcode: int, asked_again_within: int
) -> None:
    """WeChat busy, rate-limiting or unreachable: the follower is asked again after minutes,
    not an hour (every customer who wrote during a short outage stayed unlinked for one). A
    refusal that will not change by asking again (48001: the account may not) keeps the hour."""
    m = await mount(OfficialAccountAdapter)
    fake.unionids["oLinked"] = "oUnion-9"
    fake.inject("/cgi-bin/user/info", errcode)
    resp = await m.client.post(
        m.path("/wechat"), params=plain_query(), data=text_xml("oLinked", "你好", 1).encode()
    )
    assert (resp.status, await resp.text()) == (200, "success")
    assert m.recorder.delivered[-1].meta.get("unionid") is None
    ttl = await m.adapter.ctx.redis.ttl(m.adapter.ctx.state_key("unionid:oLinked"))
    assert asked_again_within - 5 <= ttl <= asked_again_within


# --- customer text as written ----------------------------------------------------------------

MARKUP_TEXTS = [
    "<!DOCTYPE html><html></html>",
    "css: color: red <!important>",
    "<!3 love",
    '<!ENTITY x SYSTEM "file:///etc/passwd">',
    "注释 <!-- ok -->",
]


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_markup_declarations_in_customer_text_are_delivered_verbatim(mount, mode) -> None:
    """ "<!DOCTYPE" inside the Content's CDATA is the customer's text, not a declaration."""
    m = await mount(OfficialAccountAdapter, mode=mode)
    for i, content in enumerate(MARKUP_TEXTS):
        body, query = request_for(mode, text_xml("o1", content, 200 + i))
        resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")
    assert [msg.text for msg in m.recorder.delivered] == MARKUP_TEXTS


WHITESPACE_TEXTS = ["   ", "\n\n  indented code\n", "  两个空格 ", "\t"]


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_text_keeps_its_surrounding_whitespace(mount, mode) -> None:
    m = await mount(OfficialAccountAdapter, mode=mode)
    for i, content in enumerate([*WHITESPACE_TEXTS, ""]):
        body, query = request_for(mode, text_xml("o1", content, 300 + i))
        resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
        assert resp.status == 200
    # An empty message is still filed, with empty text, as before.
    assert [msg.text for msg in m.recorder.delivered] == [*WHITESPACE_TEXTS, ""]


async def test_voice_recognition_keeps_its_whitespace(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    fake.add_media("media_voice_1", b"amr", "audio/amr", "v.amr")
    xml = with_fields(load("voice.xml"), Recognition=" 腾讯 ", CreateTime=int(time.time()))
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=xml.encode())
    assert resp.status == 200
    [msg] = m.recorder.delivered
    assert msg.text == " 腾讯 " and msg.attachments[0].meta["recognition"] == " 腾讯 "


# --- menu scans and scan-to-follow -----------------------------------------------------------


@pytest.mark.parametrize("event", ["scancode_push", "scancode_waitmsg"])
async def test_menu_scan_is_a_message_with_its_result(mount, event) -> None:
    m = await mount(OfficialAccountAdapter, mode="safe")
    xml = with_fields(load(f"event_{event}.xml"), CreateTime=int(time.time()))
    for _ in range(2):  # WeChat's retry is filed once (the inbox dedupes on external_id)
        body, query = safe_request(xml)
        resp = await m.client.post(m.path("/wechat"), params=query, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")
    first, again = m.recorder.delivered
    assert first.external_id == again.external_id
    assert first.text == "[scan] ORDER-12345"
    assert first.contact.external_id == f"oUser_{event}_0001"
    assert first.meta["event"] == event
    assert first.meta["menu_key"] == "rselfmenu_0_1"
    assert first.meta["scan_type"] == "qrcode"
    assert first.meta["scan_result"] == "ORDER-12345"


async def test_scanning_a_product_to_follow_is_a_follow(mount, fake) -> None:
    """wechatpy names a subscribe with EventKey "scanbarcode|..." subscribe_scan_product: it
    greets and lifts an unfollow like any follow."""
    m = await mount(OfficialAccountAdapter, greeting="欢迎")
    openid = "oUser_sub_0002"
    fake.customer_wrote(openid)
    unsub = with_fields(load("event_unsubscribe.xml"), FromUserName=openid, CreateTime=1)
    await m.client.post(m.path("/wechat"), params=plain_query(), data=unsub.encode())
    xml = with_fields(load("event_subscribe_scanbarcode.xml"), CreateTime=int(time.time()))
    resp = await m.client.post(m.path("/wechat"), params=plain_query(), data=xml.encode())
    assert (resp.status, await resp.text()) == (200, "success")
    await wait_for(lambda: fake.custom_sends)
    assert fake.custom_sends == [{"touser": openid, "msgtype": "text", "text": {"content": "欢迎"}}]
    assert m.recorder.delivered == []
    await m.adapter.send(outbound(openid, "hello again"))  # no longer blocked as unfollowed
    assert fake.custom_sends[-1]["text"]["content"] == "hello again"


# --- reply length ----------------------------------------------------------------------------


async def test_reply_length_is_counted_in_utf8_bytes(mount, fake) -> None:
    m = await mount(OfficialAccountAdapter)
    assert m.adapter.describe()["max_text_length"] == 2048
    assert m.adapter.length_problem("😀" * 512) is None  # 2,048 bytes: one message
    problem = m.adapter.length_problem("😀" * 680)
    assert problem is not None
    assert "2720 bytes" in problem and "2048" in problem and "672" in problem
    assert "字节" in problem
    fake.customer_wrote("o1")
    await m.adapter.send(outbound("o1", "😀" * 512))
    assert len(fake.custom_sends) == 1
