"""Files in the web chat: a visitor uploads (CORS, session token, limits) and sends them in a
message; an agent's attachment reaches the widget; both survive a reload (history)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import Harness
from tests.rawhttp import raw_request
from tests.webchat.visitor import ORIGIN, Visitor, reply_with_manual, webchat_channel

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def visitor_upload(
    h: Harness,
    visitor: Visitor,
    data: bytes = PHOTO,
    name: str = "broken lid.png",
    *,
    token: str | None = None,
    origin: str = ORIGIN,
) -> aiohttp.ClientResponse:
    return await h.client.post(
        f"/channels/{visitor.channel_id}/webchat/upload",
        params={"name": name},
        data=data,
        headers={
            "Origin": origin,
            "Authorization": f"Bearer {visitor.token if token is None else token}",
            "Content-Type": "image/png",
        },
    )


async def _messages(h: Harness, conversation_id: str) -> list[dict[str, Any]]:
    return (await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages"))["messages"]


async def test_a_visitor_sends_a_photo(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    assert welcome["max_upload_bytes"] == 10 * 1024 * 1024
    # The browser asks first (another origin): allowed for the channel's origins only.
    preflight = await gateway.client.options(
        f"/channels/{channel_id}/webchat/upload",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

    resp = await visitor_upload(gateway, visitor)
    assert resp.status == 201
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    uploaded = (await resp.json())["attachment"]
    assert uploaded["link"] == gateway.base_url + uploaded["url"]
    assert (uploaded["kind"], uploaded["size"]) == ("image", len(PHOTO))

    await visitor.send_frame({"type": "message", "client_id": "f1", "text": "",
                              "attachments": [{"url": uploaded["url"]}]})  # fmt: skip
    ack = await visitor.next("ack")
    echo = await visitor.next(lambda f: f["type"] == "message")
    assert echo["message"]["attachments"][0]["url"] == uploaded["link"]
    [message] = [m for m in await _messages(gateway, ack["conversation_id"]) if m["seq"] == 1]
    [stored] = message["attachments"]
    assert stored["url"] == uploaded["url"]  # the inbox keeps the gateway's own path
    assert (stored["name"], stored["content_type"]) == ("broken lid.png", "image/png")
    fetched = await gateway.client.get(stored["url"])
    assert await fetched.read() == PHOTO
    await visitor.close()


async def test_uploads_refused_with_a_reason(gateway: Harness):
    channel_id = await webchat_channel(gateway, max_upload_bytes=2048)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    other = Visitor(gateway, channel_id)
    await other.connect()
    cases = [
        (await visitor_upload(gateway, visitor, origin="https://evil.example.net"), 403),
        (await visitor_upload(gateway, visitor, token="v1.forged.token"), 401),
        (await visitor_upload(gateway, visitor, PHOTO * 2), 413),
        (await visitor_upload(gateway, visitor, b""), 400),
        (await visitor_upload(gateway, visitor, name="../x.png"), 400),
    ]
    for resp, status in cases:
        assert resp.status == status
        assert (await resp.json())["error"]["message"]
    # Errors carry CORS headers too, so the widget can show why.
    assert cases[1][0].headers["Access-Control-Allow-Origin"] == ORIGIN
    # A file another visitor uploaded cannot be sent by this one.
    theirs = (await (await visitor_upload(gateway, other)).json())["attachment"]
    await visitor.send_frame({"type": "message", "client_id": "f2", "text": "look",
                              "attachments": [{"url": theirs["url"]}]})  # fmt: skip
    refused = await visitor.next("error")
    assert (refused["code"], refused["client_id"]) == ("invalid_attachment", "f2")
    await visitor.close()
    await other.close()

    closed = await webchat_channel(gateway, max_upload_bytes=0)
    quiet = Visitor(gateway, closed)
    assert (await quiet.connect())["max_upload_bytes"] == 0
    resp = await visitor_upload(gateway, quiet)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "uploads_off"
    await quiet.close()


async def test_a_token_of_bytes_that_are_no_utf8_is_401(gateway: Harness):
    """Such bytes reach the handler as surrogates, which the token's check could not encode (a
    500)."""
    visitor = Visitor(gateway, await webchat_channel(gateway))
    await visitor.connect()
    assert visitor.token is not None
    session = visitor.token.rsplit(".", 1)[0].encode()
    headers = [("Origin", ORIGIN), ("Authorization", b"Bearer " + session + b".\xff\xfe")]
    path = f"/channels/{visitor.channel_id}/webchat/upload?name=a.png"
    answer = await raw_request(gateway.client, "POST", path, headers, PHOTO)
    assert answer.status == 401, answer
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    await visitor.close()


async def test_an_agents_file_reaches_the_widget_and_the_history(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "Do you have the manual?")
    conv = ack["conversation_id"]
    attachment = await reply_with_manual(gateway, conv, "Here:")
    frame = await visitor.next(
        lambda f: f["type"] == "message" and f["message"]["from"] != "visitor"
    )
    [shown] = frame["message"]["attachments"]
    assert shown["url"] == gateway.base_url + attachment["url"]
    assert shown["name"] == "manual.pdf"
    await visitor.close()
    # A reload replays it from the log, link included.
    again = Visitor(gateway, channel_id)
    again.token = visitor.token
    await again.connect()
    files = [m.get("attachments") for m in again.history["messages"]]
    assert [f[0]["url"] for f in files if f] == [shown["url"]]
    await again.close()
