"""The visitor WebSocket through a real gateway: origin check, sessions, the round trip to an
agent, resume by seq, duplicate client ids, limits, typing and read state."""

from __future__ import annotations

import aiohttp
import pytest

from adapters.webchat.adapter import FRAMES_PER_MINUTE
from tests.conftest import Harness, OwnRedisGateway, wait_for
from tests.webchat.visitor import ORIGIN, Visitor, agent_socket, next_event, webchat_channel


async def _messages(h: Harness, conversation_id: str) -> list[dict]:
    return (await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages"))["messages"]


async def _offered_and_accepted(h: Harness, token: str, ws) -> str:
    offered = await next_event(ws, "conversation.offered")
    conversation_id = offered["data"]["conversation_id"]
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    return conversation_id


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 403),
        ("https://evil.example.net", 403),
        ("https://shop.example.com.evil.net", 403),
        ("http://shop.example.com", 403),  # another scheme is another origin
        ("https://SHOP.example.com", 101),
        (ORIGIN, 101),
    ],
)
async def test_origin_is_checked_before_the_session(gateway: Harness, origin, status):
    channel_id = await webchat_channel(gateway)
    headers = {"Origin": origin} if origin else {}
    if status == 403:
        # The socket only says why (for the widget to show and log), then closes for good.
        ws = await gateway.client.ws_connect(f"/channels/{channel_id}/webchat/ws", headers=headers)
        refusal = await ws.receive_json(timeout=5)
        assert refusal["type"] == "error" and refusal["code"] == "origin_not_allowed"
        assert refusal["text"].startswith("此网站尚未启用本聊天。")  # the channel's language
        assert "allowed_origins" in refusal["message"]
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4403
        resp = await gateway.client.get(f"/channels/{channel_id}/webchat/ws", headers=headers)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "origin_not_allowed"
    else:
        ws = await gateway.client.ws_connect(f"/channels/{channel_id}/webchat/ws", headers=headers)
        await ws.close()


async def test_any_origin_only_when_the_admin_says_star(gateway: Harness):
    channel_id = await webchat_channel(gateway, allowed_origins=["*"])
    visitor = Visitor(gateway, channel_id, origin="https://anything.example.org")
    await visitor.connect()
    await visitor.close()


async def test_welcome_greets_and_a_token_resumes_the_session(gateway: Harness):
    channel_id = await webchat_channel(gateway, greeting="Hello from the shop!")
    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    assert welcome["greeting"] == "Hello from the shop!"
    assert welcome["online"] is False  # nobody is online yet
    assert welcome["offline_message"]
    assert welcome["conversation_id"] is None
    ack = await visitor.say("c1", "Where is my order?")
    assert ack["type"] == "ack" and ack["seq"] == 1 and not ack["duplicate"]
    await visitor.close()

    again = Visitor(gateway, channel_id)
    welcome = await again.connect(token=visitor.token)
    assert welcome["conversation_id"] == ack["conversation_id"]
    assert [m["text"] for m in again.history["messages"]] == ["Where is my order?"]
    await again.close()

    tampered = visitor.token[:-2] + ("AA" if not visitor.token.endswith("AA") else "BB")
    stranger = Visitor(gateway, channel_id)
    welcome = await stranger.connect(token=tampered)
    assert welcome["conversation_id"] is None and welcome["token"] != visitor.token
    await stranger.close()


async def test_token_of_one_channel_is_worthless_on_another(gateway: Harness):
    first = await webchat_channel(gateway, session_secret="s" * 32)
    second = await webchat_channel(gateway, session_secret="s" * 32)
    visitor = Visitor(gateway, first)
    await visitor.connect()
    await visitor.say("c1", "hi")
    await visitor.close()
    other = Visitor(gateway, second)
    welcome = await other.connect(token=visitor.token)
    assert welcome["token"] != visitor.token and welcome["conversation_id"] is None
    await other.close()


async def test_round_trip_with_agent_name_and_typing_and_read(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    _agent_id, token = await gateway.agent_online("alice@example.com", name="Alice")
    agent_ws = await agent_socket(gateway, token)
    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    assert welcome["online"] is True

    ack = await visitor.say("c1", "Do you ship to Lyon?")
    conversation_id = await _offered_and_accepted(gateway, token, agent_ws)
    assert conversation_id == ack["conversation_id"]

    # Visitor typing reaches the agent.
    await visitor.send_frame({"type": "typing", "on": True})
    typing = await next_event(agent_ws, "conversation.typing")
    assert typing["data"] == {"conversation_id": conversation_id, "who": "customer", "on": True}

    # Agent typing reaches the visitor, with the agent's name.
    await agent_ws.send_json({"type": "typing", "conversation_id": conversation_id, "on": True})
    frame = await visitor.next("typing")
    assert frame == {"type": "typing", "on": True, "name": "Alice"}

    # The agent read the visitor's message: the visitor sees it.
    await agent_ws.send_json({"type": "read", "conversation_id": conversation_id, "seq": 1})
    assert (await visitor.next("read"))["seq"] == 1

    reply = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        token,
        {"text": "Yes, in two days."},
        expect=201,
    )
    pushed = await visitor.next(
        lambda f: f["type"] == "message" and f["message"]["from"] == "agent"
    )
    assert pushed["message"] == {
        "seq": reply["message"]["seq"],
        "conversation_id": conversation_id,
        "text": "Yes, in two days.",
        "created_at": pushed["message"]["created_at"],
        "from": "agent",
        "author_name": "Alice",
    }

    # The visitor read the reply: the agent sees it.
    await visitor.send_frame({"type": "read", "seq": reply["message"]["seq"]})
    read = await next_event(agent_ws, "conversation.read")
    assert read["data"] == {
        "conversation_id": conversation_id,
        "seq": reply["message"]["seq"],
        "by": "customer",
    }

    async def sent():
        msgs = await _messages(gateway, conversation_id)
        return any(m["seq"] == reply["message"]["seq"] and m["delivery"] == "sent" for m in msgs)

    await wait_for(sent)
    await visitor.close()
    await agent_ws.close()


async def test_resume_replays_only_what_was_missed_by_seq(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    _agent_id, token = await gateway.agent_online("bob@example.com", name="Bob")
    agent_ws = await agent_socket(gateway, token)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    await visitor.say("c1", "first")
    conversation_id = await _offered_and_accepted(gateway, token, agent_ws)
    await visitor.say("c2", "second")
    seen = 3  # 1 first, 2 "Assigned to Bob" event, 3 second
    await visitor.close()

    # While the visitor is away: two replies and an internal note.
    base = f"/api/v1/conversations/{conversation_id}/messages"
    await gateway.call("POST", base, token, {"text": "reply one"}, expect=201)
    await gateway.call("POST", base, token, {"text": "secret note", "type": "note"}, expect=201)
    await gateway.call("POST", base, token, {"text": "reply two"}, expect=201)

    back = Visitor(gateway, channel_id)
    await back.connect(token=visitor.token, conversation_id=conversation_id, last_seq=seen)
    history = back.history
    assert history["reset"] is False
    assert [(m["from"], m["text"]) for m in history["messages"]] == [
        ("agent", "reply one"),
        ("agent", "reply two"),
    ]
    assert all(m["seq"] > seen for m in history["messages"])
    await back.close()

    # A reload knows nothing: the whole conversation, without notes or system lines.
    reloaded = Visitor(gateway, channel_id)
    await reloaded.connect(token=visitor.token)
    assert reloaded.history["reset"] is True
    assert [m["text"] for m in reloaded.history["messages"]] == [
        "first",
        "second",
        "reply one",
        "reply two",
    ]
    assert reloaded.history["messages"][0]["client_id"] == "c1"
    await reloaded.close()
    await agent_ws.close()


async def test_a_resent_client_id_is_never_shown_twice(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    first = await visitor.say("same-id", "Hello?")
    again = await visitor.say("same-id", "Hello?")
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    await visitor.close()

    # After a dropped connection the widget resends what was not acknowledged.
    resumed = Visitor(gateway, channel_id)
    await resumed.connect(token=visitor.token)
    third = await resumed.say("same-id", "Hello?")
    assert third["duplicate"] is True and third["seq"] == first["seq"]
    msgs = await _messages(gateway, first["conversation_id"])
    assert [m["text"] for m in msgs if m["direction"] == "in"] == ["Hello?"]
    await resumed.close()


async def test_limits_per_session_per_ip_and_length(gateway: Harness):
    channel_id = await webchat_channel(
        gateway,
        max_message_length=20,
        messages_per_minute_per_session=3,
        messages_per_minute_per_ip=5,
    )
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    too_long = await visitor.say("long", "x" * 21)
    assert too_long["type"] == "error" and too_long["code"] == "too_long"
    acks = [await visitor.say(f"s{i}", f"message {i}") for i in range(3)]
    assert [a["type"] for a in acks] == ["ack"] * 3
    refused = await visitor.say("s3", "one too many")
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after"] <= 60

    # Another session from the same address has its own session budget, but shares the IP's.
    other = Visitor(gateway, channel_id)
    await other.connect()
    assert (await other.say("o1", "hello"))["type"] == "ack"
    assert (await other.say("o2", "hello again"))["type"] == "ack"
    refused = await other.say("o3", "and again")
    assert refused["code"] == "rate_limited"

    texts = [m["text"] for m in await _messages(gateway, acks[0]["conversation_id"])]
    assert texts == ["message 0", "message 1", "message 2"]
    await visitor.close()
    await other.close()


async def test_prechat_form_and_profile(gateway: Harness):
    channel_id = await webchat_channel(gateway, prechat_form=True)
    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    assert welcome["prechat"] is True
    refused = await visitor.say("c1", "hi")
    assert refused["code"] == "prechat_required"

    await visitor.send_frame({"type": "profile", "name": "Li Lei", "email": "not-an-email"})
    assert (await visitor.next("error"))["code"] == "invalid_email"
    await visitor.send_frame({"type": "profile", "name": " Li  Lei ", "email": "li@example.com"})
    profile = await visitor.next("profile")
    assert profile["profile"] == {"name": "Li Lei", "email": "li@example.com"}
    ack = await visitor.say("c1", "hi")
    assert ack["type"] == "ack"
    detail = await gateway.call("GET", f"/api/v1/conversations/{ack['conversation_id']}")
    assert detail["contact"]["name"] == "Li Lei"
    assert detail["contact"]["email"] == "li@example.com"
    await visitor.close()

    again = Visitor(gateway, channel_id)
    welcome = await again.connect(token=visitor.token)
    assert welcome["prechat"] is False
    assert welcome["profile"] == {"name": "Li Lei", "email": "li@example.com"}
    await again.close()


async def test_bad_frames_are_answered_not_fatal(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    ws = await gateway.client.ws_connect(
        f"/channels/{channel_id}/webchat/ws", headers={"Origin": ORIGIN}
    )
    await ws.send_str('{"type": "message"}')  # not a hello
    refused = await ws.receive_json(timeout=10)
    assert (refused["type"], refused["code"]) == ("error", "hello_expected")
    closed = await ws.receive(timeout=10)
    assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4400
    assert closed.extra == 'the first frame must be {"type": "hello"}, not type \'message\''
    for first, code, reason in [
        ("hello", "invalid_json", "the first frame is no JSON: "),
        ("[1]", "hello_expected", 'the first frame must be {"type": "hello"}, not no type'),
        (b"{}", "invalid_json", "the first frame must be a text frame"),
        ('{"type": "' + "😀" * 60 + '"}', "hello_expected", "the first frame must be"),
    ]:
        ws = await gateway.client.ws_connect(
            f"/channels/{channel_id}/webchat/ws", headers={"Origin": ORIGIN}
        )
        await (ws.send_bytes(first) if isinstance(first, bytes) else ws.send_str(first))
        refused = await ws.receive_json(timeout=10)
        assert (refused["code"], refused["message"][: len(reason)]) == (code, reason)
        closed = await ws.receive(timeout=10)
        assert (closed.data, closed.extra[: len(reason)]) == (4400, reason)

    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    assert visitor.ws is not None
    await visitor.ws.send_str("not json")
    assert (await visitor.next("error"))["code"] == "invalid_json"
    await visitor.send_frame({"type": "dance"})
    assert (await visitor.next("error"))["code"] == "unknown_type"
    bad = await visitor.say("bad id with spaces", "hello")
    assert bad["code"] == "invalid_client_id"
    await visitor.send_frame({"type": "ping"})
    await visitor.next("pong")
    await visitor.close()


async def test_a_lone_surrogate_is_refused_and_the_socket_stays_open(gateway: Harness):
    """JSON lets "\\ud800" stand alone; it is no character. In a message, a profile or a hello
    it closed the socket with 1011 (a traceback in the log): now the frame is refused, naming
    the message it was, and the socket goes on."""
    channel_id = await webchat_channel(gateway)
    ws = await gateway.client.ws_connect(
        f"/channels/{channel_id}/webchat/ws", headers={"Origin": ORIGIN}
    )
    await ws.send_str('{"type": "hello", "token": "v1.AAAAAAAAAAAAAAAAAAAAAAAA.\\ud800"}')
    refused = await ws.receive_json(timeout=10)
    assert refused["code"] == "invalid_json" and "surrogate" in refused["message"]
    closed = await ws.receive(timeout=10)
    assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4400

    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    assert visitor.ws is not None
    await visitor.ws.send_str('{"type": "message", "client_id": "c1", "text": "a\\ud800"}')
    refused = await visitor.next("error")
    assert (refused["code"], refused["client_id"]) == ("invalid_json", "c1")
    assert "surrogate" in refused["message"]
    await visitor.ws.send_str('{"type": "profile", "name": "\\udfff"}')
    assert (await visitor.next("error"))["code"] == "invalid_json"
    assert (await visitor.say("c2", "still here"))["type"] == "ack"
    await visitor.close()


async def test_reply_sent_by_another_process_reaches_the_visitor(make_gateway):
    a = await make_gateway()
    b = await make_gateway()
    channel_id = await webchat_channel(a)
    _agent_id, token = await b.agent_online("carol@example.com", name="Carol")
    await wait_for(lambda: _running(b, channel_id))
    visitor = Visitor(a, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "anyone there?")
    conversation_id = ack["conversation_id"]

    async def offered():
        conv = await b.call("GET", f"/api/v1/conversations/{conversation_id}", token)
        return conv["conversation"].get("offered_to")

    await wait_for(offered)
    await b.call("POST", f"/api/v1/conversations/{conversation_id}/accept", token)
    await b.call(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        token,
        {"text": "Carol here."},
        expect=201,
    )
    frame = await visitor.next(lambda f: f["type"] == "message" and f["message"]["from"] == "agent")
    assert frame["message"]["author_name"] == "Carol"
    await visitor.close()


async def _running(h: Harness, channel_id: str) -> bool:
    return h.gw.channels.adapter(channel_id) is not None


async def test_a_changed_channel_takes_effect_and_widgets_reconnect(gateway: Harness):
    channel_id = await webchat_channel(gateway, greeting="Old greeting")
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "hello")
    await gateway.call(
        "PATCH", f"/api/v1/channels/{channel_id}", json_body={"config": {"greeting": "New one"}}
    )
    assert await visitor.closed_with() == 1012  # service restart: reconnect

    again = Visitor(gateway, channel_id)
    welcome = await again.connect(
        token=visitor.token, conversation_id=ack["conversation_id"], last_seq=ack["seq"]
    )
    assert welcome["greeting"] == "New one"
    assert welcome["conversation_id"] == ack["conversation_id"]  # same secret, same session
    assert again.history["messages"] == []  # nothing missed
    await again.close()


async def test_typing_read_and_profile_frames_have_their_own_budget(gateway: Harness):
    channel_id = await webchat_channel(gateway, messages_per_minute_per_session=2)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    for _ in range(FRAMES_PER_MINUTE):
        await visitor.send_frame({"type": "typing", "on": True})
    await visitor.send_frame({"type": "read", "seq": 1})
    refused = await visitor.next("error")
    assert refused["code"] == "rate_limited"
    # The message budget is untouched.
    ack = await visitor.say("c1", "still here")
    assert ack["type"] == "ack"
    await visitor.close()
    assert [m["text"] for m in await _messages(gateway, ack["conversation_id"])] == ["still here"]


async def test_storage_down_closes_the_visitor_socket_with_try_again_later(
    own_redis_gateway: OwnRedisGateway,
):
    """Redis gone mid-chat: the widget's socket closes with 1013 (it reconnects later); the
    message it sent was refused, never acknowledged."""
    harness = own_redis_gateway.harness
    visitor = Visitor(harness, await webchat_channel(harness))
    await visitor.connect()
    own_redis_gateway.redis.kill()
    await visitor.send_frame({"type": "message", "client_id": "c1", "text": "anyone?"})
    assert await visitor.closed_with(timeout=30) == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert not [f for f in visitor.frames if f.get("type") == "ack"]
