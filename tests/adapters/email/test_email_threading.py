"""Threads that hold: our reply goes out through a real SMTP server (aiosmtpd) with the threading
headers, and the customer's answer, in the shape each real mail client writes it, comes back
through a real IMAP server (pymap) into the same thread. Also: bounces of our replies, and how
SMTP failures are reported to the outbox."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re

import pytest
from email_testkit import (
    ImapServer,
    Recorder,
    SmtpServer,
    email_config,
    fixture_mail,
    free_port,
    make_mail,
    new_id,
)

from adapters.base import PermanentSendError, TransientSendError
from adapters.email import adapter as email_adapter
from adapters.email.mime import parse_message
from gateway.models import Attachment, InboundMessage, OutboundMessage
from tests.conftest import wait_for


async def _is(value: object) -> object:
    return value


async def _next(rec: Recorder, count: int) -> InboundMessage:
    await wait_for(lambda: _is(len(rec.delivered) >= count), timeout=90)
    return rec.delivered[count - 1]


def outbound(first: InboundMessage, text: str, **fields) -> OutboundMessage:
    """What the outbox hands to send() for an agent's reply to ``first``."""
    return OutboundMessage(
        message_id=fields.pop("message_id", f"cv-{new_id()}:2"),
        conversation_id="cv",
        channel_id="ch-email",
        contact_external_id=first.contact.external_id,
        thread_key=first.thread_key,
        text=text,
        author_name=fields.pop("author_name", "Alice"),
        reply_context={**first.meta, "external_id": first.external_id},
        **fields,
    )


async def start_thread(imap: ImapServer, rec: Recorder, sender: str) -> InboundMessage:
    """The customer's first mail, which opens the thread."""
    count = len(rec.delivered) + 1
    await imap.append(make_mail(sender, "Order question", "My order is late.",
                                message_id=f"<first-{new_id()}@customer.example>"))  # fmt: skip
    first = await _next(rec, count)
    assert first.meta["thread_via"] == "new"
    return first


async def agent_reply(adapter, smtp: SmtpServer, first: InboundMessage, text: str):
    """Send through the adapter; return the mail as the SMTP server received it."""
    count = len(smtp.received)
    message_id = await adapter.send(outbound(first, text))
    await wait_for(lambda: _is(len(smtp.received) > count), timeout=60)
    received = smtp.received[-1]
    assert received.message["Message-ID"] == message_id
    return received.message


SENDERS = {
    "outlook_reply.eml": "john.smith@contoso.com",
    "outlook_reply_gbk.eml": "liu.zhe@example.cn",
    "gmail_reply.eml": "maria.garcia@gmail.com",
    "gmail_reply_zh_new_subject.eml": "lisi.cn@gmail.com",
    "qq_reply.eml": "1234567890@qq.com",
    "foxmail_reply.eml": "wangwu@foxmail.com",
    "apple_mail_reply.eml": "emma.chen@icloud.com",
    "big5_reply.eml": "xiaoming@example.com.tw",
    "netease_reply.eml": "zhaoliu@163.com",
}


@pytest.mark.parametrize(
    ("fixture", "to", "via", "said", "quoted"),
    [
        # Replies that keep In-Reply-To/References, sent to the plain address: found by them.
        ("outlook_reply.eml", "plain", "references", "label created", "shipped yesterday"),
        ("outlook_reply_gbk.eml", "plain", "references", "北京喆镕科技有限公司", "发票已经寄出"),
        ("gmail_reply.eml", "plain", "references", "12 Main St", "confirm your address"),
        # the customer changed the subject: threading does not look at subjects
        ("gmail_reply_zh_new_subject.eml", "plain", "references", "退款什么时候到账",
         "退货已经收到"),
        ("foxmail_reply.eml", "plain", "references", "SF1234567890", "请提供退货单号"),
        ("apple_mail_reply.eml", "plain", "references", "send the replacement", "refund"),
        ("big5_reply.eml", "plain", "references", "台北市碁盛路", "已收到您的訂單"),
        ("netease_reply.eml", "plain", "references", "没问题", "请确认收货"),
        # QQ Mail's web client drops In-Reply-To and References: the plus token finds it.
        ("qq_reply.eml", "token", "token", "我收到货了", "包裹已经发出"),
        # Both present: the token wins (it cannot be lost by a client).
        ("outlook_reply.eml", "token", "token", "label created", "shipped yesterday"),
        ("big5_reply.eml", "token", "token", "台北市碁盛路", "已收到您的訂單"),
    ],
)  # fmt: skip
async def test_real_world_replies_join_their_thread(
    fixture, to, via, said, quoted, imap_server, smtp_server, make_adapter
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, SENDERS[fixture])
    ours = await agent_reply(adapter, smtp_server, first, "We are checking with the courier.")
    reply_to = ours["Reply-To"].addresses[0].addr_spec
    raw = fixture_mail(
        fixture,
        TO=reply_to if to == "token" else "support@example.com",
        IN_REPLY_TO=ours["Message-ID"],
        REFERENCES=f"{ours['References']} {ours['Message-ID']}",
    )
    await imap_server.append(raw)
    answer = await _next(rec, 2)
    assert answer.thread_key == first.thread_key
    assert answer.meta["thread_via"] == via
    assert said in answer.text
    assert quoted not in answer.text  # the quoted thread is stripped for the agent...
    assert quoted in answer.meta["original_text"] or quoted in (answer.meta.get("html") or "")
    assert answer.meta["quoted"] is True  # ...and kept in meta


async def test_a_different_sender_opens_a_new_thread(imap_server, smtp_server, make_adapter):
    """References and tokens are scoped to the contact: a colleague's mail to our reply (or
    forwarded token) does not land in the customer's conversation."""
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "john.smith@contoso.com")
    ours = await agent_reply(adapter, smtp_server, first, "Hello John")
    await imap_server.append(
        fixture_mail(
            "forwarded_other_sender.eml",
            TO=ours["Reply-To"].addresses[0].addr_spec,
            IN_REPLY_TO=ours["Message-ID"],
            REFERENCES=ours["Message-ID"],
        )
    )
    other = await _next(rec, 2)
    assert other.contact.external_id == "karen@contoso.com"
    assert other.thread_key == other.external_id != first.thread_key
    assert other.meta["thread_via"] == "new"


async def test_follow_up_to_own_mail_and_fresh_mail(imap_server, smtp_server, make_adapter):
    _adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "a@customer.example")
    # The customer writes again, replying to their own first mail (before we answered).
    await imap_server.append(make_mail("a@customer.example", "Re: Order question", "Any news?",
                                       in_reply_to=first.external_id))  # fmt: skip
    again = await _next(rec, 2)
    assert again.thread_key == first.thread_key
    # A brand-new mail from the same customer (no references) is a new conversation.
    await imap_server.append(make_mail("a@customer.example", "Another thing", "New question"))
    fresh = await _next(rec, 3)
    assert fresh.thread_key == fresh.external_id != first.thread_key


async def test_our_reply_headers(imap_server, smtp_server, make_adapter, tmp_path):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "Zhang San <zs@qq.com>")
    media = tmp_path / "data" / "media" / "ch-email"
    media.mkdir(parents=True)
    (media / "abc-label.pdf").write_bytes(b"%PDF-1.4 label")
    message = outbound(
        first,
        "您好，\n\n已经为您补发。",
        message_id="cv9:4",
        attachments=[
            Attachment(url="/media/ch-email/abc-label.pdf", name="label.pdf",
                       content_type="application/pdf"),
        ],
    )  # fmt: skip
    message_id = await adapter.send(message)
    assert await adapter.send(message) == message_id  # a retry keeps the same Message-ID
    received = smtp_server.received[-1]
    assert received.rcpt_tos == ["zs@qq.com"]
    assert received.mail_from == "support@example.com"
    mail = received.message
    assert str(mail["From"]) == "Alice via Acme Support <support@example.com>"
    assert mail["Subject"] == "Re: Order question"
    assert mail["In-Reply-To"] == first.external_id
    assert mail["References"] == first.external_id
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+") and reply_to.endswith("@example.com")
    assert mail["Auto-Submitted"] is None  # a person wrote it
    assert mail.get_body(("plain",)).get_content().startswith("您好，")
    assert "<p>您好，</p>" in mail.get_body(("html",)).get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "label.pdf"
    assert attachment.get_content() == b"%PDF-1.4 label"


async def test_references_fall_back_to_in_reply_to_and_keep_the_first_id(
    imap_server, smtp_server, make_adapter
):
    """The customer answers our reply from a client that writes In-Reply-To but no References:
    our next reply's References are the thread's first Message-ID, their In-Reply-To and their
    Message-ID (RFC 5322 3.6.4), so every client threads it."""
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "zs@customer.example")
    ours = await agent_reply(adapter, smtp_server, first, "Which order number?")
    assert ours["References"] == first.external_id
    theirs = f"<second-{new_id()}@customer.example>"
    answer = make_mail("zs@customer.example", "Re: Order question", "Order 7781.",
                       message_id=theirs, in_reply_to=ours["Message-ID"])  # fmt: skip
    await imap_server.append(answer)
    second = await _next(rec, 2)
    assert second.thread_key == first.thread_key and "references" not in second.meta
    again = await agent_reply(adapter, smtp_server, second, "Found it, it ships today.")
    assert again["In-Reply-To"] == theirs
    assert again["References"].split() == [first.external_id, ours["Message-ID"], theirs]


async def test_system_messages_are_marked_automatic(imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "d@customer.example")
    await adapter.send(outbound(first, "We received your mail.", author_name=None))
    mail = smtp_server.received[-1].message
    assert mail["Auto-Submitted"] == "auto-replied"  # the customer's auto-responder stays quiet
    assert str(mail["From"]) == "Acme Support <support@example.com>"


async def test_no_address_to_reply_to(imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    await imap_server.append(b"To: support@example.com\r\nSubject: who am I\r\n\r\nno sender")
    [anonymous] = [await _next(rec, 1)]
    assert anonymous.contact.external_id == "unknown-sender@invalid"
    with pytest.raises(PermanentSendError, match="no address"):
        await adapter.send(outbound(anonymous, "hello?"))
    assert not smtp_server.received


async def test_sending_without_plus_tokens(imap_server, smtp_server, make_adapter):
    config = email_config(imap_server, smtp_server, plus_tokens=False)
    adapter, rec = await make_adapter(config)
    first = await start_thread(imap_server, rec, "b@customer.example")
    ours = await agent_reply(adapter, smtp_server, first, "Hello")
    assert ours["Reply-To"].addresses[0].addr_spec == "support@example.com"
    await imap_server.append(make_mail("b@customer.example", "Re: Order question", "Thanks",
                                       in_reply_to=ours["Message-ID"]))  # fmt: skip
    assert (await _next(rec, 2)).thread_key == first.thread_key


async def test_our_own_mail_coming_back_is_ignored(imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "c@customer.example")
    ours = await agent_reply(adapter, smtp_server, first, "Hello")
    await imap_server.append(smtp_server.received[-1].data)  # a Bcc copy lands in the inbox
    await imap_server.append(make_mail("c@customer.example", "Re: x", "ok",
                                       in_reply_to=ours["Message-ID"]))  # fmt: skip
    answer = await _next(rec, 2)
    assert answer.text == "ok" and len(rec.delivered) == 2


async def test_bounces_mark_our_reply_failed_and_open_nothing(
    imap_server, smtp_server, make_adapter, redis, keys
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "nobody@contoso.com")
    sent = {}
    for name in ("bounce_dsn.eml", "bounce_delayed.eml", "bounce_qq.eml"):
        message = outbound(first, f"reply {name}")
        await adapter.send(message)
        sent[name] = (message.message_id, smtp_server.received[-1].message["Message-ID"])
    for name, (_, mid) in sent.items():
        await imap_server.append(fixture_mail(name, OUR_MESSAGE_ID=mid))
    for name in ("auto_reply_outlook.eml", "auto_reply_qq.eml", "auto_reply_x_autoreply.eml",
                 "list_newsletter.eml", "read_receipt.eml"):  # fmt: skip
        await imap_server.append(
            fixture_mail(
                name,
                IN_REPLY_TO=first.external_id,
                REFERENCES=first.external_id,
                OUR_MESSAGE_ID=sent["bounce_dsn.eml"][1],
            )
        )
    await imap_server.append(make_mail("nobody@contoso.com", "Re: x", "the last one"))
    last = await _next(rec, 2)
    assert last.text == "the last one"  # nothing in between was delivered
    assert len(rec.delivered) == 2
    failed = dict(rec.failed)
    assert set(failed) == {sent["bounce_dsn.eml"][0], sent["bounce_qq.eml"][0]}  # not "delayed"
    assert "5.1.1" in failed[sent["bounce_dsn.eml"][0]]
    ignored = await redis.hgetall(keys.channel_state("ch-email", "ignored"))
    assert ignored == {"bounce": "3", "auto_reply": "3", "list": "1", "receipt": "1"}


@pytest.mark.parametrize(
    ("refusal", "error"),
    [
        ("550 5.1.1 No such user here", PermanentSendError),
        ("553 5.7.1 Sender address rejected", PermanentSendError),
        ("451 4.3.0 Try again later", TransientSendError),
        ("452 4.2.2 Mailbox full", TransientSendError),
    ],
)
async def test_smtp_refusals(refusal, error, imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "refused@customer.example")
    smtp_server.recorder.refuse["refused@"] = refusal
    with pytest.raises(error, match=refusal.split()[0]):
        await adapter.send(outbound(first, "hello"))


async def test_smtp_down_or_login_rejected(imap_server, smtp_server, make_adapter):
    _adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "x@customer.example")
    down, _ = await make_adapter(
        email_config(imap_server, smtp_server, smtp_port=free_port()),
        channel_id="ch-down", start=False,
    )  # fmt: skip
    with pytest.raises(TransientSendError):
        await down.send(outbound(first, "hello"))
    bad, _ = await make_adapter(
        email_config(imap_server, smtp_server, smtp_password="wrong"),
        channel_id="ch-bad", start=False,
    )  # fmt: skip
    with pytest.raises(PermanentSendError, match="SMTP login rejected: 535"):
        await bad.send(outbound(first, "hello"))


def test_reply_headers_parse_back():
    """What we send is readable by our own parser (headers and body survive the round trip)."""
    from adapters.email.compose import build_reply

    msg = build_reply(
        from_name="Alice via 客服", from_address="support@example.com",
        reply_to="support+0123456789abcdef@example.com", to="a@b.example",
        message_id="<x.gw@example.com>", text="好的", context={"subject": "订单"},
    )  # fmt: skip
    parsed = parse_message(msg.as_bytes(policy=email.policy.SMTP), max_attachment_bytes=10**6)
    assert parsed.from_name == "Alice via 客服" and parsed.subject == "Re: 订单"
    assert parsed.text.startswith("好的")
    assert parsed.recipients == ["a@b.example"]


async def test_headers_as_strict_clients_read_them(imap_server, smtp_server, make_adapter):
    """The bytes the SMTP server gets: encoded-words of 75 characters at most (RFC 2047 2),
    lines of 76, and a Chinese attachment name also in Content-Type's name= (Outlook, QQ
    Mail), besides RFC 2231's filename*."""
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    subject = "关于订单 2024010212345 的退款问题，请尽快处理，谢谢！我已经等了很久了😀"
    theirs = f"<zh-{new_id()}@customer.example>"
    await imap_server.append(
        make_mail("Li Wei <lw@customer.example>", f"回复：{subject}", "在吗？", message_id=theirs)
    )
    first = await _next(rec, 1)
    name = "发票 2024年1月 第一季度的非常长的文件名称.pdf"
    payload = base64.b64encode(b"%PDF-1.4").decode()
    await adapter.send(
        outbound(first, "您好，" * 200, author_name="客服 小王",
                 attachments=[Attachment(url=f"data:application/pdf;base64,{payload}",
                                         name=name, content_type="application/pdf")])
    )  # fmt: skip
    raw = smtp_server.received[-1].data
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    words = re.findall(r"=\?[^?]+\?[bq]\?[^?]*\?=", raw.decode(), re.IGNORECASE)
    assert words and max(len(w) for w in words) <= 75
    assert max(len(line) for line in raw.split(b"\r\n")) <= 76
    assert re.search(r'Content-Type: application/pdf;\r\n name="=\?utf-8\?b\?', raw.decode())
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == f"Re: {subject}" and "Subject: Re: =?utf-8?" in head
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == name and attachment.get_param("name") == name
    assert parse_message(raw, max_attachment_bytes=10**6).attachments[0].name == name


async def test_a_slow_answer_to_the_data_is_waited_for(imap_server, smtp_server, make_adapter):
    """A server that takes longer than timeout_seconds to answer the final "." (scanning the
    message) has accepted it: giving up would make the outbox send it a second time. RFC 5321
    4.5.3.2.6 asks the client to wait 10 minutes."""
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server, timeout_seconds=1))
    first = await start_thread(imap_server, rec, "slow@customer.example")
    smtp_server.recorder.data_delay = 2.0
    await adapter.send(outbound(first, "hello"))
    assert len(smtp_server.received) == 1


async def test_a_reply_is_never_sent_twice(imap_server, smtp_server, make_adapter):
    """The outbox sends a reply again when another process claims it while this one is still
    sending, or after a crash before it recorded the send: the customer gets it once."""
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "once@customer.example")
    message = outbound(first, "hello")
    smtp_server.recorder.data_delay = 1.0
    results = await asyncio.gather(
        adapter.send(message), adapter.send(message), return_exceptions=True
    )
    sent = [r for r in results if isinstance(r, str)]
    assert len(sent) == 1 and isinstance(
        next(r for r in results if not isinstance(r, str)), TransientSendError
    )
    assert await adapter.send(message) == sent[0]  # the retry after a crash: not sent again
    assert len(smtp_server.received) == 1
    # A bounce says it did not arrive: the agent's retry sends it again.
    await imap_server.append(fixture_mail("bounce_dsn.eml", OUR_MESSAGE_ID=sent[0]))
    await wait_for(lambda: _is(bool(rec.failed)), timeout=60)
    await adapter.send(message)
    assert len(smtp_server.received) == 2


async def test_a_slow_send_keeps_its_claim_and_a_dead_senders_claim_expires(
    imap_server, smtp_server, make_adapter, monkeypatch
):
    """The claim on a reply being sent is renewed while the send lasts (a second process still
    gets "being sent" after the claim's first TTL), and a claim whose sender died (not renewed)
    expires: the retry then sends instead of waiting for the longest possible send."""
    monkeypatch.setattr(email_adapter, "SENDING_TTL_MS", 600)
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    first = await start_thread(imap_server, rec, "claim@customer.example")
    message = outbound(first, "hello")
    smtp_server.recorder.data_delay = 2.0
    sending = asyncio.create_task(adapter.send(message))
    await asyncio.sleep(1.2)  # two TTLs: alive only if renewed
    with pytest.raises(TransientSendError, match="being sent"):
        await adapter.send(message)
    await sending
    assert len(smtp_server.received) == 1
    # A sender that died holding the claim: its claim is not renewed, so it lapses.
    smtp_server.recorder.data_delay = 0.0
    second = outbound(first, "again")
    mid = await adapter.send(second)
    key = adapter._send_key(mid)
    await adapter.ctx.redis.set(key, "dead-host:1:abc", px=600)
    with pytest.raises(TransientSendError, match="being sent"):
        await adapter.send(second)
    await asyncio.sleep(0.7)
    assert await adapter.send(second) == mid
    assert len(smtp_server.received) == 3
