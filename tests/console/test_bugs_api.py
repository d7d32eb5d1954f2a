"""Issue 17's server-side rules through the real app: a transfer to an offline agent is refused
(409 agent_offline) and the conversation stays with its agent; two channels may not share a
name (trimmed, any case; 409 duplicate_name, claimed in one script so concurrent creates cannot
both win); a channel start is logged once; a web chat
message over the limit is refused with too_long and nothing is filed; a page on an origin the
channel does not allow is told why in the visitor's language."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.conftest import Harness, wait_for
from tests.webchat.visitor import Visitor, webchat_channel


async def _held_conversation(h: Harness) -> tuple[str, str, str]:
    """A web chat conversation accepted by an online agent: (conversation, agent id, token)."""
    channel_id = await webchat_channel(h)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    conversation_id = (await visitor.say("c1", "Where is my parcel?"))["conversation_id"]
    agent_id, token = await h.agent_online("holder@example.com", name="Holder")

    async def offered() -> bool:
        conv = (await h.call("GET", f"/api/v1/conversations/{conversation_id}"))["conversation"]
        return conv.get("offered_to") == agent_id

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    await visitor.close()
    return conversation_id, agent_id, token


async def test_transfer_to_an_offline_agent_is_refused_and_the_conversation_stays(
    gateway: Harness,
):
    h = gateway
    conversation_id, holder, token = await _held_conversation(h)
    offline_id, offline_token = await h.create_user("gone@example.com", name="Gone")
    path = f"/api/v1/conversations/{conversation_id}/transfer"
    refused = await h.call("POST", path, token, {"agent_id": offline_id}, expect=409)
    assert refused["error"]["code"] == "agent_offline"
    conv = (await h.call("GET", f"/api/v1/conversations/{conversation_id}"))["conversation"]
    assert conv["assignee"] == holder  # not left with nobody
    agents = {a["id"]: a for a in (await h.call("GET", "/api/v1/agents"))["agents"]}
    assert agents[holder]["load"] == 1 and agents[offline_id]["load"] == 0
    # Signed out after being online: refused too. Online: it goes through.
    await h.call("PUT", "/api/v1/agents/me/status", offline_token, {"status": "online"})
    await h.call("PUT", "/api/v1/agents/me/status", offline_token, {"status": "offline"})
    await h.call("POST", path, token, {"agent_id": offline_id}, expect=409)
    await h.call("PUT", "/api/v1/agents/me/status", offline_token, {"status": "online"})
    await h.call("POST", path, token, {"agent_id": offline_id})
    conv = (await h.call("GET", f"/api/v1/conversations/{conversation_id}"))["conversation"]
    assert conv["assignee"] == offline_id


async def test_two_channels_may_not_share_a_name(gateway: Harness):
    h = gateway
    first = await h.create_channel("api", {"secret": "s" * 32}, name="Shop")
    for name in ("Shop", "  shop ", "SHOP"):
        body = {"type": "api", "name": name, "config": {"secret": "s" * 32}}
        refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=409)
        assert refused["error"] == {
            "code": "duplicate_name",
            "message": "name: a channel named 'Shop' exists",
            "field": "name",
        }
    second = await h.create_channel("api", {"secret": "s" * 32}, name="Shop 2")
    path = f"/api/v1/channels/{second['id']}"
    refused = await h.call("PATCH", path, json_body={"name": " shop"}, expect=409)
    assert refused["error"]["code"] == "duplicate_name"
    # Renaming a channel to its own name (another case) is no conflict.
    await h.call("PATCH", f"/api/v1/channels/{first['id']}", json_body={"name": "SHOP"})
    names = sorted(c["name"] for c in (await h.call("GET", "/api/v1/channels"))["channels"])
    assert names == ["SHOP", "Shop 2"]
    # A rename gives the old name up; a deleted channel's name is free again.
    await h.call("PATCH", path, json_body={"name": "Outlet"})
    await h.create_channel("api", {"secret": "s" * 32}, name="shop 2")
    await h.call("DELETE", f"/api/v1/channels/{first['id']}")
    again = await h.create_channel("api", {"secret": "s" * 32}, name="Shop")
    assert again["name"] == "Shop"


async def test_two_admins_creating_the_same_name_at_once_get_one_channel(gateway: Harness):
    h = gateway
    body = {"type": "api", "name": "Same", "config": {"secret": "s" * 32}}
    answers = await asyncio.gather(
        *(h.call("POST", "/api/v1/channels", json_body=body, expect=None) for _ in range(5))
    )
    assert sorted("channel" in a for a in answers) == [False, False, False, False, True]
    channels = (await h.call("GET", "/api/v1/channels"))["channels"]
    assert [c["name"] for c in channels] == ["Same"]


async def test_channels_made_before_the_name_index_claim_their_names(gateway: Harness):
    h = gateway
    old = await h.create_channel("api", {"secret": "s" * 32}, name="Legacy")
    await h.gw.redis.delete(h.gw.keys.channel_names())  # as before the index existed
    await h.gw.channel_store.index_names()
    body = {"type": "api", "name": "LEGACY ", "config": {"secret": "s" * 32}}
    refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=409)
    assert refused["error"]["message"] == "name: a channel named 'Legacy' exists"
    assert old["id"] == await h.gw.redis.hget(h.gw.keys.channel_names(), "legacy")


async def test_each_channel_start_is_logged_once(
    gateway: Harness, caplog: pytest.LogCaptureFixture
):
    h = gateway
    caplog.set_level(logging.INFO, logger="gateway.channels")

    def starts(channel_id: str) -> int:
        return sum(
            1
            for r in caplog.records
            if r.name == "gateway.channels" and r.getMessage().startswith(f"channel {channel_id} ")
            and r.getMessage().endswith(" started")
        )  # fmt: skip

    channel = await h.create_channel("api", {"secret": "s" * 32}, name="Logged")
    assert h.gw.channels.adapter(channel["id"]) is not None
    # The change event (this process's bus delivers its own at once) acts on nothing new.
    await h.gw.channels.on_event({"type": "channel.changed", "data": {"channel_id": channel["id"]}})
    assert starts(channel["id"]) == 1
    # A change starts it again, once.
    await h.call("PATCH", f"/api/v1/channels/{channel['id']}", json_body={"name": "Logged 2"})
    await h.gw.channels.on_event({"type": "channel.changed", "data": {"channel_id": channel["id"]}})
    assert starts(channel["id"]) == 2


async def test_a_message_over_the_limit_is_refused_with_too_long(gateway: Harness):
    h = gateway
    channel_id = await webchat_channel(h)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    assert visitor.welcome["max_message_length"] == 2000
    refused = await visitor.say("long1", "长" * 2600)
    assert refused["type"] == "error" and refused["code"] == "too_long"
    assert refused["client_id"] == "long1"
    fits = await visitor.say("fits1", "长" * 2000)
    assert fits["type"] == "ack"
    messages = await h.call("GET", f"/api/v1/conversations/{fits['conversation_id']}/messages")
    assert [len(m["text"]) for m in messages["messages"] if m.get("text")] == [2000]
    await visitor.close()


@pytest.mark.parametrize(
    ("accept_language", "language", "text"),
    [
        ("en-US,en;q=0.9", "auto", "This chat is not enabled on this website."),
        ("zh-TW", "auto", "此網站尚未啟用本聊天。"),
        ("en-US", "zh-CN", "此网站尚未启用本聊天。"),
    ],
)
async def test_a_page_on_another_origin_is_told_why(
    gateway: Harness, accept_language: str, language: str, text: str
):
    h = gateway
    channel_id = await webchat_channel(h, language=language)
    ws = await h.client.ws_connect(
        f"/channels/{channel_id}/webchat/ws",
        headers={"Origin": "https://other.example.org", "Accept-Language": accept_language},
    )
    frame = await ws.receive_json(timeout=5)
    assert frame["code"] == "origin_not_allowed" and frame["text"].startswith(text)
    assert "https://other.example.org" in frame["message"]
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4403


def _oa(app_id: str) -> dict[str, str]:
    """A WeChat Official Account's config (a loopback API that nothing answers: never called)."""
    return {"app_id": app_id, "app_secret": "s" * 32, "token": "t" * 16,
            "api_base": "http://127.0.0.1:9"}  # fmt: skip


async def test_one_platform_account_is_received_by_one_channel(gateway: Harness):
    """Two channels of one WeChat AppID would fetch each other's access tokens out of date and
    file every message twice: the second is refused (409 duplicate_account), on create and on
    edit; the account is free again when its channel lets it go or is deleted."""
    h = gateway
    first = await h.create_channel("wechat_oa", _oa("wx1234"), name="OA one")
    body = {"type": "wechat_oa", "name": "OA two", "config": _oa(" WX1234 ")}
    refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=409)
    assert refused["error"] == {
        "code": "duplicate_account",
        "message": "config.app_id: the channel 'OA one' receives this account already "
        "(delete it, or change its settings, first)",
        "field": "config.app_id",
    }
    # Nothing was made, and the refused channel's name is not taken.
    second = await h.create_channel("wechat_oa", _oa("wx5678"), name="OA two")
    assert second["name"] == "OA two"
    path = f"/api/v1/channels/{second['id']}"
    patch = {"config": {"app_id": "wx1234", "app_secret": "s" * 32}}
    refused = await h.call("PATCH", path, json_body=patch, expect=409)
    assert refused["error"]["code"] == "duplicate_account"
    assert (await h.call("GET", path))["channel"]["config"]["app_id"] == "wx5678"
    # An edit to another AppID gives the old one up; a deleted channel's AppID is free.
    await h.call("PATCH", path, json_body={"config": {"app_id": "wx9999"}})
    await h.create_channel("wechat_oa", _oa("wx5678"), name="OA three")
    await h.call("DELETE", f"/api/v1/channels/{first['id']}")
    await h.create_channel("wechat_oa", _oa("wx1234"), name="OA one again")
    # A renamed channel keeps its account.
    await h.call("PATCH", path, json_body={"name": "OA two renamed"})
    body = {"type": "wechat_oa", "name": "OA four", "config": _oa("wx9999")}
    await h.call("POST", "/api/v1/channels", json_body=body, expect=409)


async def test_one_mailbox_folder_one_channel(gateway: Harness):
    h = gateway
    config = {"imap_host": "127.0.0.1", "imap_port": 9, "imap_security": "none",
              "imap_user": "Support@Example.com", "imap_password": "p", "smtp_host": "127.0.0.1",
              "smtp_port": 9, "smtp_security": "none", "from_address": "support@example.com",
              "poll_interval_seconds": 3600}  # fmt: skip
    await h.create_channel("email", config, name="Mail")
    twice = {**config, "imap_user": "support@example.com"}
    body = {"type": "email", "name": "Mail 2", "config": twice}
    refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=409)
    assert refused["error"]["field"] == "config.imap_host"
    # Another folder of the same mailbox is another channel's to read.
    body["config"] = {**twice, "imap_folder": "Complaints"}
    await h.call("POST", "/api/v1/channels", json_body=body, expect=201)


async def test_channels_made_before_the_account_index_claim_their_accounts(gateway: Harness):
    h = gateway
    old = await h.create_channel("wechat_oa", _oa("wxlegacy"), name="Legacy OA")
    await h.gw.redis.delete(h.gw.keys.channel_accounts())  # as before the index existed
    await h.gw.channel_store.index_names()
    body = {"type": "wechat_oa", "name": "New OA", "config": _oa("wxlegacy")}
    refused = await h.call("POST", "/api/v1/channels", json_body=body, expect=409)
    assert refused["error"]["code"] == "duplicate_account"
    assert old["id"] == await h.gw.redis.hget(h.gw.keys.channel_accounts(), "wechat_oa:wxlegacy")
