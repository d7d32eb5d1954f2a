"""Pure parts: safe XML, signatures, timestamps, decryption, and payload normalization."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from wechat_payloads import (
    AES_KEY,
    APP_ID,
    BILLION_LAUGHS,
    CORP_ID,
    EXTERNAL_DTD,
    PAYLOADS,
    TOKEN,
    XXE,
    kf_callback_xml,
    kf_request,
    load,
    safe_request,
)
from wechatpy.crypto import WeChatCrypto

from adapters.wechat import crypto
from adapters.wechat.parse import (
    KfEvent,
    OaEvent,
    kf_thread_key,
    normalize_kf,
    normalize_oa,
    parse_oa_xml,
    split_kf_thread_key,
)
from adapters.wechat.safexml import MalformedXML, parse_xml
from adapters.wechat.shared import split_utf8
from gateway.models import Channel, InboundMessage

# --- safe XML --------------------------------------------------------------------------------

HOSTILE = [
    pytest.param(XXE, "DOCTYPE", id="xxe-file"),
    pytest.param(BILLION_LAUGHS, "DOCTYPE", id="billion-laughs"),
    pytest.param(EXTERNAL_DTD, "DOCTYPE", id="external-dtd"),
    pytest.param('<!ENTITY x "y"><xml/>', "DOCTYPE", id="bare-entity"),
    pytest.param("<xml><a>1</a>", "malformed", id="unclosed"),
    pytest.param("not xml at all", "malformed", id="not-xml"),
    pytest.param("", "malformed", id="empty"),
    pytest.param("<root><a>1</a></root>", "<xml>", id="wrong-root"),
    pytest.param("<xml>text only</xml>", "<xml>", id="root-without-fields"),
    pytest.param(b"\xff\xfe<\x00x\x00", "UTF-8", id="utf16-bytes"),
    pytest.param("<xml><a>" + "x" * 70000 + "</a></xml>", "larger", id="too-large"),
]


@pytest.mark.parametrize(("body", "reason"), HOSTILE)
def test_parse_xml_rejects_hostile_and_broken_input(body: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedXML, match=reason):
        parse_xml(body)


@pytest.mark.parametrize(("body", "reason"), HOSTILE)
def test_oa_parser_rejects_hostile_and_broken_input(body: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedXML):
        parse_oa_xml(body)


def test_entity_bomb_is_refused_by_the_parser_itself_too() -> None:
    """Second line of defence: even past the pre-check, xmltodict refuses entity declarations."""
    import xmltodict

    with pytest.raises(ValueError, match="entities are disabled"):
        xmltodict.parse(BILLION_LAUGHS, disable_entities=True)


# Declarations hidden behind text that looks like a section opener elsewhere: the scan reads
# comments, processing instructions and CDATA exactly as the parser will.
SMUGGLED = [
    pytest.param(
        '<?pi <![CDATA[ ?><!DOCTYPE x [<!ENTITY e "boom">]><xml><A><![CDATA[ ]]></A></xml>',
        id="cdata-opener-in-a-processing-instruction",
    ),
    pytest.param(
        '<!-- <![CDATA[ --><!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd"><xml>]]></xml>',
        id="cdata-opener-in-a-comment",
    ),
    pytest.param('<xml><A><![CDATA[a]]><!ENTITY x "y"></A></xml>', id="after-cdata-closes"),
    pytest.param("<xml><A><![CDATA[a]]]]><![CDATA[>b]]></A><!ELEMENT x ANY></xml>", id="split"),
]


@pytest.mark.parametrize("body", SMUGGLED)
def test_declarations_outside_cdata_are_refused_however_disguised(body: str) -> None:
    with pytest.raises(MalformedXML, match="DOCTYPE"):
        parse_xml(body)


@pytest.mark.parametrize(
    "content",
    ["<!DOCTYPE html>", "<!important", '<!ENTITY x SYSTEM "file:///etc/passwd">', "<?php ?>"],
)
def test_markup_declarations_inside_cdata_are_text(content: str) -> None:
    doc = parse_xml(f"<xml><!-- <!DOCTYPE in a comment --><A><![CDATA[{content}]]></A></xml>")
    assert doc == {"A": content}


def test_cdata_and_comments_are_fine() -> None:
    doc = parse_xml("<xml><!-- c --><A><![CDATA[<b>&amp;</b>]]></A><N>3</N></xml>")
    assert doc == {"A": "<b>&amp;</b>", "N": "3"}


# --- signatures and time ---------------------------------------------------------------------


def test_signature_is_sha1_of_sorted_parts() -> None:
    expected = hashlib.sha1("".join(sorted([TOKEN, "1700000000", "nonce"])).encode()).hexdigest()
    assert crypto.signature(TOKEN, "1700000000", "nonce") == expected
    crypto.check_signature(expected, TOKEN, "1700000000", "nonce")
    crypto.check_signature(expected.upper(), TOKEN, "1700000000", "nonce")


@pytest.mark.parametrize("given", ["", "0" * 40, "deadbeef", "x" * 41])
def test_bad_signatures_are_refused(given: str) -> None:
    with pytest.raises(crypto.AuthError, match="bad signature"):
        crypto.check_signature(given, TOKEN, "1700000000", "nonce")


@pytest.mark.parametrize(
    ("offset", "ok"), [(0, True), (299, True), (-299, True), (301, False), (-3600, False)]
)
def test_timestamp_skew(offset: int, ok: bool) -> None:
    now = 1_700_000_000
    if ok:
        crypto.check_timestamp(str(now + offset), 300, now=now)
    else:
        with pytest.raises(crypto.AuthError, match="stale"):
            crypto.check_timestamp(str(now + offset), 300, now=now)


@pytest.mark.parametrize("value", ["", "abc", "1.5"])
def test_missing_timestamp_is_refused(value: str) -> None:
    with pytest.raises(crypto.AuthError, match="timestamp"):
        crypto.check_timestamp(value, 300)


def test_decrypt_round_trip_and_wrong_receiver() -> None:
    xml = load("text.xml")
    body, query = safe_request(xml)
    encrypted = parse_xml(body)["Encrypt"]
    crypto.check_signature(
        query["msg_signature"], TOKEN, query["timestamp"], query["nonce"], encrypted
    )
    assert crypto.decrypt(AES_KEY, APP_ID, encrypted) == xml
    with pytest.raises(crypto.AuthError):
        crypto.decrypt(AES_KEY, "wx-someone-else", encrypted)
    with pytest.raises(crypto.AuthError):
        crypto.decrypt(AES_KEY, APP_ID, "bm90IHJlYWxseSBjaXBoZXJ0ZXh0")
    other_key = "B" * 43
    with pytest.raises(crypto.AuthError):
        crypto.decrypt(other_key, APP_ID, encrypted)


def test_corp_decrypt_round_trip() -> None:
    xml = kf_callback_xml(token="tok")
    body, _ = kf_request(xml)
    assert crypto.decrypt(AES_KEY, CORP_ID, parse_xml(body)["Encrypt"], corp=True) == xml


@pytest.mark.parametrize("key", ["short", "!" * 43, "A" * 44])
def test_bad_aes_keys(key: str) -> None:
    with pytest.raises(ValueError, match="43"):
        crypto.aes_key(key)


# --- Official Account payloads, table-driven -------------------------------------------------

# (fixture, expected kind, external_id, text, attachment kinds, meta subset)
OA_TABLE = [
    ("text.xml", "message", "1234567890123456", "你好，我的订单还没到 <script>&amp;", [], {}),
    ("image.xml", "message", "1234567890123457", "", ["image"], {"media_id": "media_image_1"}),
    (
        "voice.xml",
        "message",
        "1234567890123458",
        "腾讯微信团队",
        ["voice"],
        {"media_id": "media_voice_1", "recognition": "腾讯微信团队", "format": "amr"},
    ),
    ("video.xml", "message", "1234567890123459", "", ["video"], {"media_id": "media_video_1"}),
    (
        "shortvideo.xml",
        "message",
        "1234567890123460",
        "",
        ["video"],
        {"media_id": "media_shortvideo_1"},
    ),
    (
        "location.xml",
        "message",
        "1234567890123461",
        "位置信息",
        ["location"],
        {"latitude": "23.134521", "longitude": "113.358803", "label": "位置信息"},
    ),
    (
        "link.xml",
        "message",
        "1234567890123462",
        "公众平台官网链接\nhttps://mp.weixin.qq.com/",
        ["link"],
        {},
    ),
    (
        "event_click.xml",
        "message",
        "oUser_click_0001:123456789:click",
        "[menu] MENU_ORDER_STATUS",
        [],
        {},
    ),
    ("event_scan.xml", "message", "oUser_scan_0001:123456789:scan", "[scan] store42", [], {}),
    ("event_subscribe.xml", "subscribe", "oUser_sub_0001:123456789:subscribe", "", [], {}),
    (
        "event_subscribe_qrscene.xml",
        "subscribe",
        "oUser_subqr_0001:123456789:subscribe_scan",
        "",
        [],
        {},
    ),
    ("event_unsubscribe.xml", "unsubscribe", "oUser_unsub_0001:123456789:unsubscribe", "", [], {}),
    ("event_view.xml", "ignored", "", "", [], {}),
    ("event_location.xml", "ignored", "", "", [], {}),
]

MODES = ["plain", "safe", "compatible"]


def _xml_for_mode(fixture: str, mode: str) -> str:
    """What the adapter decrypts to in each mode: plain XML, or the WeChatCrypto round trip."""
    xml = load(fixture)
    if mode == "plain":
        return xml
    body, _ = safe_request(xml, compatible=mode == "compatible")
    return crypto.decrypt(AES_KEY, APP_ID, parse_xml(body)["Encrypt"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("fixture", "kind", "external_id", "text", "kinds", "meta"), OA_TABLE)
def test_oa_payloads(
    mode: str,
    fixture: str,
    kind: str,
    external_id: str,
    text: str,
    kinds: list[str],
    meta: dict[str, str],
) -> None:
    result = normalize_oa(parse_oa_xml(_xml_for_mode(fixture, mode)), "ch1")
    if kind == "ignored":
        assert result is None
        return
    if kind in ("subscribe", "unsubscribe"):
        assert isinstance(result, OaEvent)
        assert (result.kind, result.external_id) == (kind, external_id)
        return
    assert isinstance(result, InboundMessage)
    assert result.channel_type == Channel.WECHAT_OA
    assert result.external_id == external_id
    assert result.text == text
    openid = result.contact.external_id
    assert openid.startswith("oUser_") and result.thread_key == openid
    assert [a.kind for a in result.attachments] == kinds
    for key, value in meta.items():
        got = result.attachments[0].meta[key] if result.attachments else None
        assert got == value, key
    assert result.sent_at % 1000 == 0 and result.sent_at > 0


def test_qrscene_subscribe_keeps_the_scene() -> None:
    event = normalize_oa(parse_oa_xml(load("event_subscribe_qrscene.xml")), "ch1")
    assert isinstance(event, OaEvent) and event.key == "store42"


def test_click_and_scan_carry_their_keys_in_meta() -> None:
    click = normalize_oa(parse_oa_xml(load("event_click.xml")), "ch1")
    scan = normalize_oa(parse_oa_xml(load("event_scan.xml")), "ch1")
    assert isinstance(click, InboundMessage) and click.meta["menu_key"] == "MENU_ORDER_STATUS"
    assert isinstance(scan, InboundMessage) and scan.meta["scene"] == "store42"


def test_unknown_message_type_is_kept_for_the_agent() -> None:
    xml = load("text.xml").replace("[text]", "[file]")
    msg = normalize_oa(parse_oa_xml(xml), "ch1")
    assert isinstance(msg, InboundMessage)
    assert msg.text == "[unsupported WeChat message type: file]"


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><ToUserName>a</ToUserName></xml>",  # no MsgType
        "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>",  # no FromUserName
        "<xml><MsgType>text</MsgType><FromUserName>o</FromUserName>"
        "<CreateTime>yesterday</CreateTime></xml>",
        # A header field twice or nested: not WeChat's flat XML (no "['a', 'b']" OpenID).
        "<xml><MsgType>text</MsgType><FromUserName>a</FromUserName><FromUserName>b</FromUserName>"
        "<CreateTime>1</CreateTime><Content>x</Content></xml>",
        "<xml><MsgType>text</MsgType><FromUserName><a>1</a></FromUserName>"
        "<CreateTime>1</CreateTime><Content>x</Content></xml>",
        "<xml><MsgType>text</MsgType><FromUserName>o</FromUserName><CreateTime>1</CreateTime>"
        "<MsgId>1</MsgId><MsgId>2</MsgId><Content>x</Content></xml>",
    ],
)
def test_oa_payloads_missing_fields_are_malformed(xml: str) -> None:
    with pytest.raises(MalformedXML):
        normalize_oa(parse_oa_xml(xml), "ch1")


# --- WeCom kf sync_msg items, table-driven ---------------------------------------------------

KF_ITEMS = {
    item["msgid"]: item
    for item in json.loads((PAYLOADS / "kf_sync_msg.json").read_text(encoding="utf-8"))["msg_list"]
}
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
KFID = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"

KF_TABLE = [
    ("from_msgid_text", "message", "你好，请问发货了吗", []),
    ("from_msgid_image", "message", "", ["image"]),
    ("from_msgid_voice", "message", "", ["voice"]),
    ("from_msgid_video", "message", "", ["video"]),
    ("from_msgid_file", "message", "", ["file"]),
    (
        "from_msgid_location",
        "message",
        "广州国际媒体港(广州市海珠区) 广东省广州市海珠区滨江东路",
        ["location"],
    ),
    ("from_msgid_link", "message", "TITLE\nhttps://work.weixin.qq.com/", ["link"]),
    ("from_msgid_card", "message", "[business card] USERID", []),
    ("from_msgid_miniprogram", "message", "TITLE", []),
    ("from_msgid_servicer", "ignored", "", []),
    ("from_msgid_enter", "enter_session", "", []),
    ("from_msgid_sendfail", "send_fail", "", []),
    ("from_msgid_status", "ignored", "", []),
]


@pytest.mark.parametrize(("msgid", "kind", "text", "kinds"), KF_TABLE)
def test_kf_items(msgid: str, kind: str, text: str, kinds: list[str]) -> None:
    result = normalize_kf(KF_ITEMS[msgid], "ch1")
    if kind == "ignored":
        assert result is None
    elif kind == "message":
        assert isinstance(result, InboundMessage)
        assert result.channel_type == Channel.WECOM_KF
        assert result.external_id == msgid
        assert result.text == text
        assert result.contact.external_id == USER
        assert result.thread_key == f"{KFID}:{USER}"
        assert result.meta["open_kfid"] == KFID
        assert [a.kind for a in result.attachments] == kinds
        for a in result.attachments:
            if a.kind in ("image", "voice", "video", "file"):
                assert a.meta["media_id"].startswith("2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw")
        assert result.sent_at == 1615478585000
    else:
        assert isinstance(result, KfEvent) and result.kind == kind
        assert result.external_userid == USER and result.open_kfid == KFID


def test_kf_enter_session_has_welcome_code_and_menu_id_is_kept() -> None:
    event = normalize_kf(KF_ITEMS["from_msgid_enter"], "ch1")
    assert isinstance(event, KfEvent) and event.welcome_code == "aaaaaa"
    text = normalize_kf(KF_ITEMS["from_msgid_text"], "ch1")
    assert isinstance(text, InboundMessage) and text.meta["menu_id"] == "101"


def test_kf_thread_keys_round_trip() -> None:
    assert split_kf_thread_key(kf_thread_key(KFID, USER)) == (KFID, USER)
    with pytest.raises(ValueError):
        split_kf_thread_key("no-separator")


# --- text limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("", []),
        ("a" * 2048, [2048]),
        ("a" * 2049, [2048, 1]),
        ("客" * 683, [2046, 3]),  # 3-byte characters never cut
        ("😀" * 513, [2048, 4]),
    ],
)
def test_split_utf8(text: str, sizes: list[int]) -> None:
    parts = split_utf8(text)
    assert [len(p.encode()) for p in parts] == sizes
    assert "".join(parts) == text


@pytest.mark.parametrize(
    ("text", "cut_before"),
    [
        ("x" * 2044 + "👨\u200d👩\u200d👧", "👨"),  # a ZWJ family stays whole
        ("x" * 2047 + "e\u0301", "e"),  # a combining mark stays with its letter
        ("x" * 2045 + "❤\ufe0f", "❤"),  # a variation selector
        ("x" * 2044 + "👍🏽", "👍"),  # a skin tone modifier
        ("x" * 2044 + "🇨🇳", "🇨"),  # a flag: a regional-indicator pair
        ("x" * 2036 + "🇨🇳🇯🇵", "🇯"),  # two flags: cut between them
    ],
)
def test_split_utf8_never_cuts_a_grapheme_cluster(text: str, cut_before: str) -> None:
    first, second = split_utf8(text)
    assert first + second == text
    assert len(first.encode()) <= 2048 and second.startswith(cut_before)


def test_split_utf8_cuts_an_oversized_cluster_between_code_points() -> None:
    text = "a" + "\u0301" * 1500  # one cluster of 3,001 bytes: nothing else fits
    parts = split_utf8(text)
    assert "".join(parts) == text and all(len(p.encode()) <= 2048 for p in parts)


# --- merged chat records and WeChat Channels (kf) ----------------------------------------------

KF_BASE = {
    "msgid": "m1", "open_kfid": KFID, "external_userid": USER, "send_time": 1615478585,
    "origin": 3,
}  # fmt: skip


def test_kf_merged_msg_shows_its_title_and_items() -> None:
    item = {**KF_BASE, "msgtype": "merged_msg", "merged_msg": {
        "title": "聊天记录标题",
        "item": [
            {"send_time": 1, "msgtype": "text", "sender_name": "从客户",
             "msg_content": json.dumps({"text": {"content": "  客户发送的消息 "}})},
            {"send_time": 2, "msgtype": "image", "sender_name": "客服",
             "msg_content": json.dumps({"image": {"md5sum": "x"}})},
            {"send_time": 3, "msgtype": "text", "sender_name": "", "msg_content": "not json"},
        ],
    }}  # fmt: skip
    msg = normalize_kf(item, "ch1")
    assert isinstance(msg, InboundMessage)
    lines = ["[chat record] 聊天记录标题", "从客户:   客户发送的消息 ", "客服: [image]", "[text]"]
    assert msg.text == "\n".join(lines)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"sub_type": 1, "nickname": "视频号名称", "title": "视频号消息标题"},
         "[WeChat Channels post] 视频号名称: 视频号消息标题"),
        ({"sub_type": 2, "nickname": "主播", "title": "直播"},
         "[WeChat Channels live stream] 主播: 直播"),
        ({"sub_type": 3, "nickname": "名片"}, "[WeChat Channels profile] 名片"),
        ({}, "[WeChat Channels item]"),
    ],
)  # fmt: skip
def test_kf_channels_shows_nickname_and_title(body: dict, text: str) -> None:
    msg = normalize_kf({**KF_BASE, "msgtype": "channels", "channels": body}, "ch1")
    assert isinstance(msg, InboundMessage) and msg.text == text
    assert msg.meta["channels_nickname"] == body.get("nickname", "")


@pytest.mark.parametrize(
    ("msgtype", "body", "text", "meta"),
    [
        # The fields of the kf sync_msg documentation (视频号商品, 视频号订单, 笔记).
        ("channels_shop_product",
         {"product_id": "10000017457793", "head_image": "https://wx.qlogo.cn/p.jpg",
          "title": "某某商品名称", "sales_price": "100", "shop_nickname": "某某店铺",
          "shop_head_image": "https://wx.qlogo.cn/s.jpg"},
         "[WeChat Channels product] 某某商品名称 · ¥1.00 · 某某店铺",
         {"product_id": "10000017457793", "shop_nickname": "某某店铺"}),
        ("channels_shop_order",
         {"order_id": "3705115058471208928", "product_titles": "商品名称",
          "price_wording": "1.00元", "state": "已完成", "image_url": "https://wx.qlogo.cn/o.jpg",
          "shop_nickname": "某某店铺"},
         "[WeChat Channels order] 3705115058471208928 · 商品名称 · 1.00元 · 已完成 · 某某店铺",
         {"order_id": "3705115058471208928", "shop_nickname": "某某店铺"}),
        ("channels_shop_order", {}, "[WeChat Channels order]",
         {"order_id": "", "shop_nickname": ""}),
        ("note", {}, "[WeChat note]", {}),
    ],
)  # fmt: skip
def test_kf_shop_products_orders_and_notes(msgtype: str, body: dict, text: str, meta: dict):
    msg = normalize_kf({**KF_BASE, "msgtype": msgtype, msgtype: body}, "ch1")
    assert isinstance(msg, InboundMessage) and msg.text == text
    assert {k: msg.meta[k] for k in meta} == meta


def test_wechatpy_envelope_is_what_we_parse() -> None:
    """The envelope wechatpy builds (as WeChat does) parses and verifies with our code."""
    ts, nonce = str(int(time.time())), "n0nce"
    env = parse_xml(WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message("<xml/>", nonce, ts))
    crypto.check_signature(env["MsgSignature"], TOKEN, ts, nonce, env["Encrypt"])
