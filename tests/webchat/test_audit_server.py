"""Gateway side of the web chat audit: "connected" is decided from every process's open
sockets (two gateway processes on one Redis), a binary frame after hello is answered, and an
upload's image type is believed only when its leading bytes are that image."""

from __future__ import annotations

import asyncio

from adapters.webchat.adapter import WebchatAdapter
from tests.conftest import Harness, wait_for
from tests.webchat.test_offline import Mailbox, _admin_reply, _delivered, _free_port, smtp
from tests.webchat.visitor import ORIGIN, Visitor, webchat_channel

__all__ = ["smtp"]  # the SMTP server fixture of test_offline.py

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 100 + b"This program cannot be run in DOS mode"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


async def _email_channel(h: Harness, port: int) -> str:
    config = {
        "imap_host": "127.0.0.1", "imap_port": _free_port(), "imap_security": "none",
        "imap_user": "support", "imap_password": "unused-password", "smtp_host": "127.0.0.1",
        "smtp_port": port, "smtp_security": "none", "smtp_user": "",
        "from_address": "support@shop.example.com", "from_name": "Tea Shop",
    }  # fmt: skip
    return (await h.create_channel("email", config, name="Support mail"))["id"]


async def _adapter(h: Harness, channel_id: str) -> WebchatAdapter:
    adapter = await wait_for(lambda: _running(h, channel_id))
    assert isinstance(adapter, WebchatAdapter)
    adapter.ctx.extra.setdefault("adapter", h.gw.channels.adapter)
    return adapter


async def _running(h: Harness, channel_id: str):
    return h.gw.channels.adapter(channel_id)


async def test_a_tab_open_in_another_process_keeps_the_visitor_connected(
    make_gateway, smtp: tuple[int, Mailbox]
):
    """Two gateway processes on one Redis: the visitor's tab on g1 closes while another tab on
    g2 stays open. The reply reaches that tab and is not e-mailed; once the last tab closes,
    the next reply is."""
    port, mailbox = smtp
    g1 = await make_gateway()
    g2 = await make_gateway()
    email_id = await _email_channel(g1, port)
    channel_id = await webchat_channel(g1, offline_email_channel_id=email_id, language="en")
    await _adapter(g1, channel_id)
    await _adapter(g2, channel_id)
    tab1 = Visitor(g1, channel_id)
    await tab1.connect()
    tab2 = Visitor(g2, channel_id)
    await tab2.connect(token=tab1.token)
    await tab1.send_frame({"type": "profile", "email": "guest@example.com"})
    await tab1.next("profile")
    ack = await tab1.say("c1", "hello")
    conversation_id = ack["conversation_id"]
    await tab1.close()  # g1 holds no socket of this session any more; g2 still does
    await asyncio.sleep(0.5)

    for g in (g1, g2):  # whichever process sends it
        text = f"Answer sent by {'g1' if g is g1 else 'g2'}"
        seq = await _admin_reply(g, conversation_id, text)
        await tab2.next(lambda f, t=text: f["type"] == "message" and f["message"]["text"] == t)
        sent = await wait_for(lambda g=g, seq=seq: _delivered(g, conversation_id, seq))
        assert sent["platform_message_id"].startswith("webchat:")
    assert mailbox.received == []

    await tab2.close()  # the last tab, in any process
    await asyncio.sleep(0.5)
    seq = await _admin_reply(g1, conversation_id, "Gone: by email too")
    sent = await wait_for(lambda: _delivered(g1, conversation_id, seq))
    assert sent["platform_message_id"].startswith("email:")
    assert len(mailbox.received) == 1


async def test_a_binary_frame_after_hello_is_answered_with_invalid_frame(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    assert visitor.ws is not None
    await visitor.ws.send_bytes(b'{"type": "message", "client_id": "c1", "text": "hi"}')
    refused = await visitor.next("error")
    assert refused["code"] == "invalid_frame"
    assert (await visitor.say("c2", "still here"))["type"] == "ack"  # the socket stays open
    await visitor.close()


async def _upload(h: Harness, channel_id: str, token: str, name: str, data: bytes, ctype: str):
    resp = await h.client.post(
        f"/channels/{channel_id}/webchat/upload",
        params={"name": name},
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype, "Origin": ORIGIN},
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["attachment"]


async def test_an_upload_is_an_image_only_when_its_bytes_are_one(gateway: Harness):
    channel_id = await webchat_channel(gateway)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    assert visitor.token is not None
    cases = [
        ("photo.png", PNG, "image/png", "image", "image/png"),
        ("photo.jpg", JPEG, "image/jpeg", "image", "image/jpeg"),
        ("anim.gif", GIF, "image/gif", "image", "image/gif"),
        ("pic.webp", WEBP, "image/webp", "image", "image/webp"),
        ("labelled.png", JPEG, "image/png", "image", "image/jpeg"),  # the bytes say which
        ("invoice.png", EXE, "image/png", "file", "application/octet-stream"),
        ("x.svg", SVG, "image/svg+xml", "file", "application/octet-stream"),
        ("manual.pdf", b"%PDF-1.4 manual", "application/pdf", "file", "application/pdf"),
    ]
    for name, data, declared, kind, ctype in cases:
        attachment = await _upload(gateway, channel_id, visitor.token, name, data, declared)
        assert (name, attachment["kind"], attachment["content_type"]) == (name, kind, ctype)
    # What the message carries (and the agent sees) is the checked description too.
    fake = await _upload(gateway, channel_id, visitor.token, "invoice.png", EXE, "image/png")
    await visitor.send_frame({"type": "message", "client_id": "f1", "text": "",
                              "attachments": [{"url": fake["url"]}]})  # fmt: skip
    ack = await visitor.next("ack")
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    [message] = (await gateway.call("GET", path))["messages"]
    [stored] = message["attachments"]
    assert (stored["kind"], stored["content_type"]) == ("file", "application/octet-stream")
    await visitor.close()
