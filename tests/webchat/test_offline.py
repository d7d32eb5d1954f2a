"""No agent online: the widget shows the offline message, and asks for an email address only
when an email channel exists; a reply written while the visitor is away waits in the chat and,
when an email channel exists, also goes to that address by email (a real aiosmtpd SMTP server
receives it)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import Harness, wait_for
from tests.webchat.visitor import Visitor, webchat_channel


@dataclass
class Mailbox:
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()


async def _delivered(h: Harness, conversation_id: str, seq: int) -> dict[str, Any] | None:
    msgs = (await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages"))["messages"]
    found = [m for m in msgs if m["seq"] == seq and m["delivery"] == "sent"]
    return found[0] if found else None


async def _admin_reply(h: Harness, conversation_id: str, text: str) -> int:
    body = {"text": text}
    path = f"/api/v1/conversations/{conversation_id}/messages"
    return (await h.call("POST", path, json_body=body, expect=201))["message"]["seq"]


async def test_offline_reply_waits_in_the_chat_without_an_email_channel(gateway: Harness):
    channel_id = await webchat_channel(
        gateway, offline_message="Answer by email", offline_message_chat_only="Back at 9."
    )
    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    # No email channel: no promise of an email answer, no email form.
    assert welcome["online"] is False and welcome["offline_message"] == "Back at 9."
    assert welcome["email_capture"] is False
    await visitor.send_frame({"type": "profile", "email": "guest@example.com"})
    await visitor.next("profile")
    ack = await visitor.say("c1", "Please call me back")
    await visitor.close()

    seq = await _admin_reply(gateway, ack["conversation_id"], "We will, tomorrow.")
    sent = await wait_for(lambda: _delivered(gateway, ack["conversation_id"], seq))
    assert sent["platform_message_id"].startswith("webchat:")

    back = Visitor(gateway, channel_id)
    await back.connect(token=visitor.token)
    assert [m["text"] for m in back.history["messages"]] == [
        "Please call me back",
        "We will, tomorrow.",
    ]
    await back.close()


async def test_offline_reply_goes_by_email_when_the_visitor_left(
    gateway: Harness, smtp: tuple[int, Mailbox]
):
    port, mailbox = smtp
    email_channel = await gateway.create_channel(
        "email",
        {
            "imap_host": "127.0.0.1",
            "imap_port": _free_port(),  # nothing listens: inbound mail is not part of this test
            "imap_security": "none",
            "imap_user": "support",
            "imap_password": "unused-password",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_user": "",
            "from_address": "support@shop.example.com",
            "from_name": "Tea Shop",
        },
        name="Support mail",
    )
    # English: the channel's system messages are zh-CN unless it says otherwise.
    channel_id = await webchat_channel(
        gateway, offline_email_channel_id=email_channel["id"], language="en"
    )
    adapter = gateway.gw.channels.adapter(channel_id)
    assert adapter is not None
    # The core's adapter lookup (ctx.extra["adapter"]); wired here until the core passes it.
    adapter.ctx.extra.setdefault("adapter", gateway.gw.channels.adapter)

    visitor = Visitor(gateway, channel_id)
    welcome = await visitor.connect()
    assert welcome["email_capture"] is True  # an email channel can carry the answer
    assert "email" in welcome["offline_message"]
    await visitor.send_frame({"type": "profile", "email": "guest@example.com"})
    await visitor.next("profile")
    ack = await visitor.say("c1", "Is the shop open on Sunday?")
    conversation_id = ack["conversation_id"]

    # Still connected: the reply goes to the widget only.
    seq = await _admin_reply(gateway, conversation_id, "Yes, from 10.")
    sent = await wait_for(lambda: _delivered(gateway, conversation_id, seq))
    assert sent["platform_message_id"].startswith("webchat:")
    frame = await visitor.next(lambda f: f["type"] == "message" and f["message"]["from"] == "agent")
    assert frame["message"]["text"] == "Yes, from 10."
    await visitor.close()

    # Gone: the next reply also goes by email.
    seq = await _admin_reply(gateway, conversation_id, "And until 18 on Sundays.")
    sent = await wait_for(lambda: _delivered(gateway, conversation_id, seq))
    assert sent["platform_message_id"].startswith("email:")
    assert len(mailbox.received) == 1
    recipients, raw = mailbox.received[0]
    assert recipients == ["guest@example.com"]
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "Re: Chat with us: a reply to your chat"  # the language's title
    assert "And until 18 on Sundays." in mail.get_body(preferencelist=("plain",)).get_content()
