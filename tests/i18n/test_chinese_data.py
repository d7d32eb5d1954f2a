"""Chinese in data: canned-response shortcuts, tags and team names; errors a form can say in
words (reason and limits beside the machine-readable code)."""

from __future__ import annotations

from gateway.i18n.collate import sort_key
from tests.conftest import Harness


def test_sort_key_is_stable_for_chinese_and_folds_width_and_case() -> None:
    words = ["退款", "Ａpple", "apple", "物流", "售后", "APPLE", "退款"]
    once = sorted(words, key=sort_key)
    assert sorted(reversed(words), key=sort_key) == once  # the input order does not matter
    assert once[:3] == ["APPLE", "apple", "Ａpple"]  # one fold, then a fixed order
    assert set(once[3:]) == {"退款", "物流", "售后"}


async def test_chinese_shortcuts_are_accepted_sorted_and_rendered(gateway: Harness) -> None:
    h = gateway
    for shortcut, title in (("退款", "退款说明"), ("你好", "问候"), ("abc", "英文")):
        body = {"shortcut": shortcut, "title": title, "text": "您好 {{customer.name|朋友}}"}
        await h.call("POST", "/api/v1/canned", json_body=body, expect=201)
    listed = (await h.call("GET", "/api/v1/canned"))["canned"]
    shortcuts = [c["shortcut"] for c in listed]
    assert sorted(shortcuts, key=sort_key) == shortcuts
    assert {"退款", "你好", "abc"} == set(shortcuts)
    # the same Chinese shortcut twice: refused as taken, naming the field
    again = await h.call(
        "POST",
        "/api/v1/canned",
        json_body={"shortcut": "你好", "title": "x", "text": "y"},
        expect=409,
    )
    assert again["error"]["field"] == "shortcut"
    # spaces and upper case stay refused, with the reason a form can put in words
    bad = await h.call(
        "POST",
        "/api/v1/canned",
        json_body={"shortcut": "你 好", "title": "x", "text": "y"},
        expect=400,
    )
    assert bad["error"]["code"] == "invalid_field"
    assert bad["error"]["field"] == "shortcut"
    assert bad["error"]["reason"] == "string_pattern_mismatch"


async def test_chinese_tags_and_team_names(gateway: Harness) -> None:
    h = gateway
    channel_id, secret = await h.api_channel()
    status, body = await h.post_api_message(
        channel_id,
        secret,
        {"message_id": "m-1", "sender": {"id": "c-1", "name": "王芳"}, "text": "快递丢了"},
    )
    assert status == 202
    conv_id = body["conversation_id"]
    tagged = await h.call(
        "PUT",
        f"/api/v1/conversations/{conv_id}/tags",
        json_body={"tags": ["物流", "退款", "物流"], "product": "绿茶"},
    )
    assert tagged["tags"] == ["物流", "退款"]
    user_id, _ = await h.create_user("li@example.com", name="李伟", teams=["售后组"])
    users = (await h.call("GET", "/api/v1/users"))["users"]
    user = next(u for u in users if u["id"] == user_id)
    assert user["teams"] == ["售后组"] and user["name"] == "李伟"
    # a transfer to a Chinese team name is recorded under that name
    moved = await h.call(
        "POST", f"/api/v1/conversations/{conv_id}/transfer", json_body={"team": "售后组"}
    )
    assert moved["conversation"]["team"] == "售后组"


async def test_validation_errors_carry_reason_and_limits(gateway: Harness) -> None:
    """The API keeps code, message and field, and adds what the console needs to say it in
    words: "会话密钥至少需要 16 个字符。" (errors.js)."""
    h = gateway
    config = {"allowed_origins": ["https://shop.example.com"], "session_secret": "short"}
    body = {"type": "webchat", "name": "店铺", "config": config}
    refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=400)
    err = refused["error"]
    assert err["code"] == "invalid_field"
    assert err["field"] == "config.session_secret"
    assert err["message"].startswith("config.session_secret: ")
    assert err["reason"] == "string_too_short"
    assert err["limits"] == {"min_length": 16}
    short_name = await h.call(
        "POST",
        "/api/v1/users",
        json_body={
            "email": "x@example.com",
            "name": "",
            "role": "agent",
            "password": "long-enough-password-1",
        },
        expect=400,
    )
    assert short_name["error"]["field"] == "name"
    assert short_name["error"]["reason"] == "string_too_short"
    assert short_name["error"]["limits"] == {"min_length": 1}
