"""Pure parts: the Ed25519 key and signatures on the documented vectors, and the normalization of
the documented event payloads."""

from __future__ import annotations

import pytest
from qq_payloads import (
    APP_SECRET,
    AT_MESSAGE_EXAMPLE,
    C2C_EXAMPLE,
    DEMO_PUBLIC_KEY,
    DEMO_SECRET,
    DEMO_SEED,
    DIRECT_MESSAGE_EXAMPLE,
    FRIEND_ADD_EXAMPLE,
    FRIEND_DEL_EXAMPLE,
    GROUP_ADD_ROBOT_EXAMPLE,
    GROUP_AT_EXAMPLE,
    GROUP_DEL_ROBOT_EXAMPLE,
    VALIDATION_REQUEST,
    VALIDATION_SIGNATURE,
    file_attachment,
    image_attachment,
)

from adapters.base import PermanentSendError, TransientSendError
from adapters.qq import sign
from adapters.qq.api import NETWORK_FAILED, ApiError
from adapters.qq.errors import ACTIVE_REFUSED, WINDOW_CLOSED, send_error
from adapters.qq.parse import (
    MalformedEvent,
    QQEvent,
    bot_mentions,
    escape_guild,
    group_thread_key,
    normalize,
    split_thread_key,
    strip_mention,
    unescape_guild,
    user_thread_key,
)
from gateway.models import Channel, InboundMessage


def test_seed_and_public_key_match_the_documented_demo() -> None:
    # sign.html: secret naOC0ocQE3shWLAfffVLB1rhYPG7 -> seed ...naOC -> this public key.
    assert sign.seed_of(DEMO_SECRET) == DEMO_SEED
    assert sign.public_key(DEMO_SECRET).public_bytes_raw() == DEMO_PUBLIC_KEY


@pytest.mark.parametrize(
    ("secret", "seed"),
    [
        ("a", b"a" * 32),
        ("abc", (b"abc" * 11)[:32]),
        ("x" * 40, b"x" * 32),
        ("0123456789abcdef0123456789abcdef", b"0123456789abcdef0123456789abcdef"),
    ],
)
def test_seed_repeats_the_secret_to_32_bytes(secret: str, seed: bytes) -> None:
    assert sign.seed_of(secret) == seed


def test_validation_answer_is_the_documented_one() -> None:
    d = VALIDATION_REQUEST["d"]
    answer = sign.validation_answer(APP_SECRET, d["plain_token"], d["event_ts"])
    assert answer == {"plain_token": d["plain_token"], "signature": VALIDATION_SIGNATURE}


@pytest.mark.parametrize(
    ("token", "ts"),
    [
        ('{"op":0,"d":{}}', "1725442341"),  # would make us sign a forged event body
        ("Arq0D5A61EgUu4OxUvOp", "17254x"),
        ("", "1725442341"),
        ("a" * 129, "1"),
    ],
)
def test_validation_refuses_tokens_not_shaped_like_the_platforms(token: str, ts: str) -> None:
    with pytest.raises(ValueError):
        sign.validation_answer(APP_SECRET, token, ts)


def test_verify_accepts_good_and_refuses_bad_signatures() -> None:
    key = sign.public_key(DEMO_SECRET)
    body = b'{"op":0,"d":{},"t":"GATEWAY_EVENT_NAME"}'
    good = sign.sign(DEMO_SECRET, b"1725442341" + body)
    sign.verify(key, good, "1725442341", body)
    bad_cases = [
        (good, "1725442342", body),  # another timestamp
        (good, "1725442341", body + b" "),  # another body
        (sign.sign("other secret", b"1725442341" + body), "1725442341", body),
        ("zz" * 64, "1725442341", body),
        (good[:-2], "1725442341", body),
        ("", "1725442341", body),
        (good, "", body),
    ]
    for signature, ts, b in bad_cases:
        with pytest.raises(sign.SignatureError):
            sign.verify(key, signature, ts, b)


def test_c2c_example() -> None:
    msg = normalize("C2C_MESSAGE_CREATE", C2C_EXAMPLE, "ch1", "ev1")
    assert isinstance(msg, InboundMessage)
    assert msg.channel_type == Channel.QQ
    assert msg.external_id == C2C_EXAMPLE["id"]
    assert msg.contact.external_id == "E4F4AEA33253A2797FB897C50B81D7ED"
    assert msg.thread_key == user_thread_key("E4F4AEA33253A2797FB897C50B81D7ED")
    assert msg.text == "123"
    assert msg.sent_at == 1699249038000  # 2023-11-06T13:37:18+08:00
    assert msg.meta == {
        "scene": "c2c",
        "openid": "E4F4AEA33253A2797FB897C50B81D7ED",
        "msg_id": C2C_EXAMPLE["id"],
        "event_id": "ev1",
    }


def test_group_at_example_strips_the_mention_and_threads_by_member() -> None:
    msg = normalize("GROUP_AT_MESSAGE_CREATE", GROUP_AT_EXAMPLE, "ch1")
    assert isinstance(msg, InboundMessage)
    assert msg.text == "123"  # " 123": the mention arrives as a blank
    group, member = "C9F778FE6ADF9D1D1DBE395BF744A33A", "E4F4AEA33253A2797FB897C50B81D7ED"
    assert msg.thread_key == group_thread_key(group, member)
    assert split_thread_key(msg.thread_key) == ("group", group, member)
    assert msg.contact.external_id == member
    assert msg.meta["group_openid"] == group and msg.meta["msg_id"] == GROUP_AT_EXAMPLE["id"]


@pytest.mark.parametrize(
    ("content", "text"),
    [(" 123", "123"), ("<@!1234> 你好", "你好"), ("<@1234>  hi <@5> x", "hi <@5> x"), ("  ", "")],
)
def test_strip_mention(content: str, text: str) -> None:
    assert strip_mention(content) == text


def test_attachments() -> None:
    d = {
        **C2C_EXAMPLE,
        "content": "",
        "attachments": [
            image_attachment("https://multimedia.example/a.png"),
            file_attachment("//multimedia.example/b.pdf"),
            {"content_type": "voice", "filename": "v.silk", "url": "https://m.example/v"},
            {"content_type": "video/mp4", "filename": "v.mp4", "url": "https://m.example/w"},
            "junk",
        ],
    }
    msg = normalize("C2C_MESSAGE_CREATE", d, "ch1")
    assert isinstance(msg, InboundMessage)
    assert msg.text == ""
    kinds = [(a.kind, a.name, a.content_type, a.meta["source_url"]) for a in msg.attachments]
    assert kinds == [
        ("image", "photo.png", "image/png", "https://multimedia.example/a.png"),
        ("file", "invoice.pdf", None, "https://multimedia.example/b.pdf"),
        ("voice", "v.silk", None, "https://m.example/v"),
        ("video", "v.mp4", "video/mp4", "https://m.example/w"),
    ]
    assert msg.attachments[0].meta["width"] == 1 and msg.attachments[0].url is None


def test_empty_message_is_not_dropped() -> None:
    msg = normalize("C2C_MESSAGE_CREATE", {**C2C_EXAMPLE, "content": ""}, "ch1")
    assert isinstance(msg, InboundMessage) and msg.text == "[empty QQ message]"


@pytest.mark.parametrize(
    ("t", "d", "expected"),
    [
        (
            "FRIEND_ADD",
            FRIEND_ADD_EXAMPLE,
            QQEvent("FRIEND_ADD", openid=FRIEND_ADD_EXAMPLE["openid"], timestamp=1699240365),
        ),
        (
            "FRIEND_DEL",
            FRIEND_DEL_EXAMPLE,
            QQEvent("FRIEND_DEL", openid=FRIEND_DEL_EXAMPLE["openid"], timestamp=1699240328),
        ),
        (
            "GROUP_ADD_ROBOT",
            GROUP_ADD_ROBOT_EXAMPLE,
            QQEvent(
                "GROUP_ADD_ROBOT",
                group_openid="C9F778FE6ADF9D1D1DBE395BF744A33A",
                op_member_openid="E4F4AEA33253A2797FB897C50B81D7ED",
                timestamp=1699240248,
            ),
        ),
        (
            "GROUP_DEL_ROBOT",
            GROUP_DEL_ROBOT_EXAMPLE,
            QQEvent(
                "GROUP_DEL_ROBOT",
                group_openid="C9F778FE6ADF9D1D1DBE395BF744A33A",
                op_member_openid="E4F4AEA33253A2797FB897C50B81D7ED",
                timestamp=1699240426,
            ),
        ),
        (
            "C2C_MSG_REJECT",
            {"openid": "U1", "timestamp": 1699240599},
            QQEvent("C2C_MSG_REJECT", openid="U1", timestamp=1699240599),
        ),
        ("MESSAGE_AUDIT_PASS", {"audit_id": "a"}, None),  # not a customer's message
        ("READY", {"session_id": "s"}, None),
    ],
)
def test_events(t: str, d: dict, expected: QQEvent | None) -> None:
    assert normalize(t, d, "ch1") == expected


@pytest.mark.parametrize(
    ("t", "d"),
    [
        ("C2C_MESSAGE_CREATE", {"content": "x", "author": {"user_openid": "u"}}),  # no id
        ("C2C_MESSAGE_CREATE", {"id": "m", "content": "x", "author": {}}),
        ("GROUP_AT_MESSAGE_CREATE", {"id": "m", "author": {"member_openid": "m"}}),
        ("GROUP_DEL_ROBOT", {"timestamp": 1}),
        ("FRIEND_DEL", {"timestamp": 1}),
        ("C2C_MESSAGE_CREATE", "not an object"),
    ],
)
def test_malformed(t: str, d: object) -> None:
    with pytest.raises(MalformedEvent):
        normalize(t, d, "ch1")


@pytest.mark.parametrize("key", ["", "c2c:", "group:g", "group::m", "wechat:x"])
def test_split_thread_key_refuses_others(key: str) -> None:
    with pytest.raises(ValueError):
        split_thread_key(key)


@pytest.mark.parametrize(
    ("exc", "cls", "words", "retry_after"),
    [
        (ApiError(304027, "MSG_EXPIRE", status=400), PermanentSendError, WINDOW_CLOSED[:40], None),
        (
            ApiError(40034102, "主动消息失败, 无权限", status=400),
            PermanentSendError,
            ACTIVE_REFUSED[:40],
            None,
        ),
        (
            ApiError(22009, "msg limit exceed", status=400),
            TransientSendError,
            "rate-limiting",
            10.0,
        ),
        (
            ApiError(0, "HTTP 429", status=429, retry_after=7.0),
            TransientSendError,
            "rate-limiting",
            7.0,
        ),
        (ApiError(304082, "upload media info fail", status=400), TransientSendError, "busy", 5.0),
        (ApiError(11244, "token not exist", status=401), TransientSendError, "credentials", None),
        (ApiError(0, "HTTP 502", status=502), TransientSendError, "HTTP 502", None),
        (ApiError(NETWORK_FAILED, "timeout"), TransientSendError, "timeout", None),
        (ApiError(304003, "URL_NOT_ALLOWED", status=400), PermanentSendError, "URL", None),
        (ApiError(99999, "odd", status=400), PermanentSendError, "99999: odd", None),
    ],
)
def test_error_mapping(exc: ApiError, cls: type, words: str, retry_after: float | None) -> None:
    err = send_error(exc)
    assert type(err) is cls
    assert words in err.reason
    assert err.retry_after == retry_after


def test_api_base_follows_the_sandbox_flag() -> None:
    from adapters.qq import QQConfig

    base = {"app_id": "1", "app_secret": "s"}
    assert QQConfig(**base).base() == "https://api.sgroup.qq.com"
    assert QQConfig(**base, sandbox=True).base() == "https://sandbox.api.sgroup.qq.com"
    assert QQConfig(**base, sandbox=True, api_base="http://127.0.0.1:9/").base() == (
        "http://127.0.0.1:9"
    )


@pytest.mark.parametrize(
    ("t", "d", "thread_key"),
    [
        ("AT_MESSAGE_CREATE", AT_MESSAGE_EXAMPLE, "guild:100010:1234"),
        ("DIRECT_MESSAGE_CREATE", DIRECT_MESSAGE_EXAMPLE, "dms:18700000000001:1234"),
    ],
)
def test_guild_messages_as_documented_are_filed(t: str, d: dict, thread_key: str) -> None:
    """message.md / dms/direct_message.md examples: a customer's message, not dropped; the
    reply goes to the channel (channel_id) or the DM session (guild_id)."""
    msg = normalize(t, d, "ch", "ev1")
    assert isinstance(msg, InboundMessage)
    assert (msg.external_id, msg.text, msg.thread_key) == (d["id"], "ndnnd", thread_key)
    assert msg.contact.external_id == "1234" and msg.contact.name == "abc"
    assert msg.meta["msg_id"] == d["id"] and msg.meta["guild_id"] == "18700000000001"
    assert msg.sent_at == 1621494898000
    assert split_thread_key(thread_key)[0] == thread_key.split(":")[0]


def test_guild_mention_is_stripped_and_bad_guild_messages_are_malformed() -> None:
    d = {**AT_MESSAGE_EXAMPLE, "content": "<@!11586990140073229091> 退货"}
    msg = normalize("AT_MESSAGE_CREATE", d, "ch")
    assert isinstance(msg, InboundMessage) and msg.text == "退货"
    for broken in ({**d, "author": {}}, {**d, "channel_id": None}):
        with pytest.raises(MalformedEvent):
            normalize("AT_MESSAGE_CREATE", broken, "ch")
    with pytest.raises(MalformedEvent):
        normalize("DIRECT_MESSAGE_CREATE", {**d, "guild_id": ""}, "ch")


@pytest.mark.parametrize(
    ("content", "ids", "text"),
    [
        ("<@!B> <@!555> is the guy", ["B"], "<@!555> is the guy"),
        ("<@!555> ask <@B> please", ["B"], "<@!555> ask please"),
        ("<@!B> <@!555> is the guy", [], "<@!555> is the guy"),  # the first leading one only
        ("<@!555> <@!B> x", [], "<@!B> x"),
        ("<@!B2> hi", ["B"], "<@!B2> hi"),  # another id, not a prefix match
        ("a.b <@!a.b> c", ["a.b"], "a.b c"),  # ids are literal, not patterns
    ],
)
def test_strip_only_the_bots_mention(content: str, ids: list[str], text: str) -> None:
    assert strip_mention(content, ids) == text


@pytest.mark.parametrize(
    ("mentions", "bot_id", "ids"),
    [
        ([{"id": "B", "bot": True}, {"id": "5", "bot": False}], "", ["B"]),
        ([{"id": "B", "bot": True}, {"id": "X", "bot": True}], "", ["B", "X"]),
        ([{"id": "B", "bot": True}, {"id": "X", "bot": True}], "X", ["X"]),  # READY narrows
        ([{"id": "5", "bot": False}], "R", ["R"]),  # no bot mentioned: READY's id
        (None, "R", ["R"]),
        (None, "", []),
        ("junk", "", []),
    ],
)
def test_bot_mentions(mentions: object, bot_id: str, ids: list[str]) -> None:
    d = {} if mentions is None else {"mentions": mentions}
    assert bot_mentions(d, bot_id) == ids


def test_group_keeps_a_leading_token_when_the_bots_id_is_known() -> None:
    d = {**GROUP_AT_EXAMPLE, "content": " <@!abc> is my id"}
    assert _text("GROUP_AT_MESSAGE_CREATE", d) == "is my id"  # nothing known: today's rule
    assert _text("GROUP_AT_MESSAGE_CREATE", d, bot_id="R") == "<@!abc> is my id"
    mentioned = {**d, "mentions": [{"id": "BOTOPENID", "bot": True}]}
    assert _text("GROUP_AT_MESSAGE_CREATE", mentioned) == "<@!abc> is my id"


def test_guild_text_escaping_round_trip() -> None:
    typed = "1 < 2 && 3 > 2 &lt; <@!5>"
    assert escape_guild(typed) == "1 &lt; 2 &amp;&amp; 3 &gt; 2 &amp;lt; &lt;@!5&gt;"
    assert unescape_guild(escape_guild(typed)) == typed
    d = {**AT_MESSAGE_EXAMPLE, "content": "<@!B> " + escape_guild(typed)}
    assert _text("AT_MESSAGE_CREATE", d, bot_id="B") == typed  # the typed <@!5> is text
    assert _text("C2C_MESSAGE_CREATE", {**C2C_EXAMPLE, "content": "a &lt; b"}) == "a &lt; b"


def test_message_create_example_is_filed_like_at_message_create() -> None:
    """event.md (文字子频道全量消息): the same Message object as AT_MESSAGE_CREATE."""
    msg = normalize("MESSAGE_CREATE", AT_MESSAGE_EXAMPLE, "ch")
    at = normalize("AT_MESSAGE_CREATE", AT_MESSAGE_EXAMPLE, "ch")
    assert isinstance(msg, InboundMessage) and isinstance(at, InboundMessage)
    assert (msg.external_id, msg.thread_key, msg.text) == (at.external_id, at.thread_key, "ndnnd")
    by_bot = {**AT_MESSAGE_EXAMPLE, "author": {**AT_MESSAGE_EXAMPLE["author"], "bot": True}}
    assert normalize("MESSAGE_CREATE", by_bot, "ch") is None  # e.g. the bot's own reply
    by_self = {**AT_MESSAGE_EXAMPLE, "author": {"id": "R", "username": "me"}}
    assert normalize("MESSAGE_CREATE", by_self, "ch", bot_id="R") is None


@pytest.mark.parametrize("code", [11242, 11252, 11263, 11281])
def test_retry_once_codes_are_final_after_the_api_retry(code: int) -> None:
    err = send_error(ApiError(code, "system error", status=400))
    assert type(err) is PermanentSendError
    assert str(code) in err.reason and "one retry" in err.reason
    assert not ApiError(11242, "ErrorCheckTokenFailed", status=400).token_refused


def _text(t: str, d: dict, bot_id: str = "") -> str:
    msg = normalize(t, d, "ch", bot_id=bot_id)
    assert isinstance(msg, InboundMessage)
    return msg.text
