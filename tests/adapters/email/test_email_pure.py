"""Pure parts of the email channel, table-tested on recorded mail: charsets and encoded headers,
MIME parsing, HTML to text and sanitizing, quote and signature stripping, auto-reply and bounce
detection, reply composition, configuration."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri

import pytest
from email_testkit import fixture_mail
from pydantic import ValidationError

from adapters.email.autoreply import MailKind, bounce_details, classify
from adapters.email.charsets import decode_bytes, decode_header, looks_like_utf8
from adapters.email.compose import build_reply, display_from, reply_references, reply_subject
from adapters.email.config import EmailConfig
from adapters.email.htmltext import cut_at_quote, html_to_text, sanitize_html
from adapters.email.imap import parse_internaldate, quote_mailbox
from adapters.email.mime import message_ids, parse_message
from adapters.email.normalize import Extras, build_inbound, reply_of
from adapters.email.poller import imap_date
from adapters.email.quotes import split_reply
from adapters.email.threads import find_tokens, outbound_message_id, thread_token

LIMIT = 10 * 1024 * 1024


def _b(text: str, charset: str) -> str:
    return base64.b64encode(text.encode(charset)).decode()


# --- charsets and RFC 2047 ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?B?" + _b("订单问题", "utf-8") + "?=", "订单问题"),
        ("=?gb2312?B?" + _b("刘喆", "gbk") + "?=", "刘喆"),  # GBK char under a GB2312 label
        ("=?GBK?Q?=D6=D0=CE=C4?=", "中文"),
        ("=?big5?B?" + _b("回覆: 訂單查詢", "big5") + "?=", "回覆: 訂單查詢"),
        ("=?gb18030?B?" + _b("回复：Re: 订单问题", "gb18030") + "?=", "回复：Re: 订单问题"),
        # a character's bytes split across two encoded words (GBK senders do this)
        (
            "=?gbk?B?" + _b("你好世界", "gbk")[:4] + "?= =?gbk?B?"
            + base64.b64encode("你好世界".encode("gbk")[3:]).decode() + "?=",
            "你好世界",
        ),
        ("Re: =?utf-8?Q?W=C3=B6rld?= tail", "Re: Wörld tail"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # space between encoded words is dropped
        ("=?utf-8?q?a_b?=  and  =?utf-8?q?c?=", "a b  and  c"),
        ("=?x-unknown?B?" + _b("中文", "utf-8") + "?=", "中文"),  # unknown label: guessed
        ("=?utf-8?B?not base64 at all?= help", "=?utf-8?B?not base64 at all?= help"),
        ("folded\r\n line", "folded line"),
        ("中文".encode("gbk").decode("ascii", "surrogateescape"), "中文"),  # raw 8-bit header
        (None, ""),
    ],
)  # fmt: skip
def test_decode_header(raw, expected):
    assert decode_header(raw) == expected


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("喆镕".encode("gbk"), "gb2312", "喆镕"),
        ("中文".encode("gb18030"), "GBK", "中文"),
        ("碁銹".encode("cp950"), "big5", "碁銹"),  # CP950 extensions under a Big5 label
        ("中文".encode(), None, "中文"),
        ("中文".encode("gbk"), None, "中文"),  # no label: guessed
        ("中文".encode("gbk"), "us-ascii", "中文"),  # wrong label: guessed
        ("é".encode("latin-1"), "iso-8859-1", "é"),
        # UTF-8 under a single-byte label (mBank statements, Gmail parts) is read as UTF-8 ...
        ("Dzień dobry".encode(), "iso-8859-2", "Dzień dobry"),
        ("您好".encode(), "iso-8859-1", "您好"),
        # ... and single-byte text under its own label stays what it was
        ("Dzień dobry".encode("iso-8859-2"), "iso-8859-2", "Dzień dobry"),
        ("• It’s".encode("cp1252"), "windows-1252", "• It’s"),
        # UTF-8 under a GB or Big5 label (QQ Mail's web composer; nodemailer/mailparser#130)
        ("收到，谢谢您的帮助！".encode(), "gbk", "收到，谢谢您的帮助！"),
        ("好的".encode(), "gb2312", "好的"),
        ("谢谢".encode(), "GB18030", "谢谢"),
        ("请问何时出货？订单 2024-123".encode(), "big5", "请问何时出货？订单 2024-123"),
        ("迈克尔·杰克逊 👍".encode(), "x-gbk", "迈克尔·杰克逊 👍"),
    ],
)
def test_decode_bytes(data, label, expected):
    assert decode_bytes(data, label) == expected


# Short GBK and Big5 text is often valid UTF-8 by chance: "谢谢" in GBK is D0 BB D0 BB, UTF-8 "лл".
_SHORT_CHINESE = [
    "好的", "谢谢", "收到", "是的", "可以", "不用", "行", "嗯", "订单", "退货", "发票", "多谢",
    "谢谢！", "好的，谢谢", "请尽快发货。", "麻烦了", "已付款", "明天到", "地址没错", "没问题",
    "喆镕", "朱镕基", "刘喆", "您好，我想退货，订单号2024010212345。", "€100",
]  # fmt: skip
_SHORT_TRADITIONAL = [
    "好的", "謝謝", "收到", "是的", "可以", "訂單", "退貨", "發票", "沒問題", "請儘快出貨。",
    "台北市碁盛路", "謝謝！", "麻煩了", "已付款",
]  # fmt: skip


@pytest.mark.parametrize("text", _SHORT_CHINESE)
@pytest.mark.parametrize("label", ["gbk", "gb2312", "gb18030", "cp936"])
def test_real_gb_text_still_decodes_by_its_label(text, label):
    try:
        data = text.encode("gb2312" if label == "gb2312" else "gb18030")
    except UnicodeEncodeError:
        data = text.encode("gb18030")  # GBK characters under a GB2312 label, as sent
    assert decode_bytes(data, label) == text


@pytest.mark.parametrize("text", _SHORT_TRADITIONAL)
@pytest.mark.parametrize("label", ["big5", "cp950", "big5-hkscs"])
def test_real_big5_text_still_decodes_by_its_label(text, label):
    assert decode_bytes(text.encode("cp950"), label) == text


def test_the_gbk_text_that_is_valid_utf8_is_not_taken_for_it():
    # the reason looks_like_utf8 asks more than valid UTF-8 with two multi-byte sequences
    assert "谢谢".encode("gbk").decode("utf-8") == "лл"
    assert not looks_like_utf8("谢谢".encode("gbk"))
    assert looks_like_utf8("谢谢".encode())


def test_decode_bytes_never_raises():
    assert decode_bytes(b"\xff\xfe\x80\x81", "no-such-charset")


# --- MIME parsing of recorded mail ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "sender", "name_", "subject", "text_has"),
    [
        ("outlook_reply.eml", "john.smith@contoso.com", "John Smith",
         "RE: Order 1234 has not arrived", 'still says "label created"'),
        ("outlook_reply_gbk.eml", "liu.zhe@example.cn", "刘喆", "答复: 订单 5678 发票问题",
         "北京喆镕科技有限公司"),
        ("gmail_reply_zh_new_subject.eml", "lisi.cn@gmail.com", "李四",
         "换个问题：退款什么时候到账？", "我已经等了一周了"),
        ("qq_reply.eml", "1234567890@qq.com", "王小二", "回复：Re: 订单问题", "我收到货了"),
        ("foxmail_reply.eml", "wangwu@foxmail.com", "王五", "回复: Re: 退货", "SF1234567890"),
        ("apple_mail_reply.eml", "emma.chen@icloud.com", "Emma Chen",
         "Re: Replacement for order 9012", "send the replacement"),
        ("big5_reply.eml", "xiaoming@example.com.tw", "陳小明", "回覆: 訂單查詢", "台北市碁盛路"),
        ("netease_reply.eml", "zhaoliu@163.com", "赵六", "Re:Re: 确认收货", "没问题"),
        ("new_mail_gbk_8bit.eml", "sunqi@sina.com", "孙七", "咨询：发票怎么开？", "增值税发票"),
        ("html_only_qq.eml", "88888888@qq.com", "周八", "换货", "XL"),
        ("netease_mailmaster_reply.eml", "zhouba@163.com", "周八", "回复:Re: 退货地址",
         "周五前把衣服寄回去"),
        ("outlook_zh_original_rule.eml", "liuwei@example.cn", None,
         "回复: [PATCH] xfs: not allow rename if src is quota enabled and project IDs are "
         "different", "thanks very much"),
    ],
)  # fmt: skip
def test_parse_recorded_mail(name, sender, name_, subject, text_has):
    mail = parse_message(fixture_mail(name), max_attachment_bytes=LIMIT)
    assert mail.from_addr == sender
    assert mail.from_name == name_
    assert mail.subject == subject
    assert text_has in mail.text
    assert mail.message_id and mail.message_id.startswith("<")
    assert not mail.defects


def test_utf8_body_under_a_single_byte_label():
    mail = parse_message(fixture_mail("utf8_labelled_windows1252.eml"), max_attachment_bytes=LIMIT)
    assert mail.text.startswith("Thanks – that’s great. Two things:\n• the box should go")
    assert "I’m out on Friday" in mail.text


def test_from_written_as_one_encoded_word():
    # Python scripts: msg["From"] = Header(f"{name} <{address}>", "utf-8"), as stdlib sends it
    mail = parse_message(fixture_mail("python_header_encoded_from.eml"), max_attachment_bytes=LIMIT)
    assert (mail.from_addr, mail.from_name) == ("wangxiaoming@example.net", "王小明")
    assert mail.to == ["support@example.com"]
    assert mail.subject == "发票进度咨询"
    assert mail.text.startswith("您好，订单 20240112-0031")


def _raw(headers: str, body: bytes) -> bytes:
    head = "From: Wang <wang@example.net>\nTo: support@example.com\nMessage-ID: <t@example.net>\n"
    return (head + headers + "\n\n").replace("\n", "\r\n").encode() + body


@pytest.mark.parametrize(
    ("subject", "charset"),
    [
        ("訂單查詢：何時出貨？", "big5"),  # GB18030 would decode these bytes too, wrongly
        ("回复：订单问题", "gbk"),
        ("回复：订单问题", "utf-8"),
    ],
)
def test_raw_8bit_headers_are_read_in_the_declared_charset(subject, charset):
    name = subject[:4] + ".pdf"
    raw = (
        b"From: chen@example.com.tw\r\nTo: support@example.com\r\n"
        b"Subject: " + subject.encode(charset) + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n"
        + "請問何時出貨？".encode(charset) + b"\r\n--b\r\n"
        b"Content-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="' + name.encode(charset) + b'"\r\n\r\n'
        b"%PDF\r\n--b--\r\n"
    )  # fmt: skip
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    assert mail.subject == subject
    assert mail.text == "請問何時出貨？"
    assert [a.name for a in mail.attachments] == [name]


def test_raw_utf8_subject_under_a_gbk_body_stays_utf8():
    raw = _raw(
        "Subject: 回复：订单问题\nContent-Type: text/plain; charset=gbk",
        "好的".encode("gbk"),
    )
    assert parse_message(raw, max_attachment_bytes=LIMIT).subject == "回复：订单问题"


@pytest.mark.parametrize(
    ("ctype", "body", "text"),
    [
        # QQ Mail: UTF-8 HTML labelled gbk in the header, utf-8 in the meta (mailparser#130)
        ("text/html; charset=gbk",
         '<html><head><meta charset="utf-8"></head><body>收到，谢谢您的帮助！</body></html>'
         .encode(), "收到，谢谢您的帮助！"),
        # a meta against a label that decodes any bytes
        ("text/html; charset=koi8-r",
         '<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><p>Спасибо, 好的</p>'
         .encode(), "Спасибо, 好的"),
        # the meta alone is not believed: the bytes are GBK
        ("text/html; charset=gbk", '<meta charset="utf-8"><p>谢谢</p>'.encode("gbk"), "谢谢"),
        ("text/html; charset=gbk",
         '<meta charset="utf-8"><p>您好，请尽快发货。</p>'.encode("gbk"), "您好，请尽快发货。"),
    ],
)  # fmt: skip
def test_html_meta_charset_against_the_header(ctype, body, text):
    mail = parse_message(
        _raw(f"Subject: x\nContent-Type: {ctype}", body), max_attachment_bytes=LIMIT
    )
    assert mail.text == text


@pytest.mark.parametrize("cte", ["base64 ", " Base64\t", "base64; x", '"base64"'])
def test_base64_with_a_padded_transfer_encoding_is_decoded(cte):
    # CPython 3.11 does not strip the value (python/cpython#98188, #123742)
    text = base64.encodebytes("我的订单还没到，请帮忙查一下。".encode()).decode()
    raw = _raw(
        "Subject: cte\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
        (f"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}"
         f"\r\n\r\n{text}\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
         f"Content-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: {cte}"
         "\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n").encode(),
    )  # fmt: skip
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    assert mail.text == "我的订单还没到，请帮忙查一下。"
    assert mail.attachments[0].data == b"%PDF-1.4\n"


def test_quoted_printable_with_a_padded_transfer_encoding_is_decoded():
    raw = _raw(
        "Subject: cte\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable ",
        b"=E5=A5=BD=E7=9A=84=EF=BC=8C=E8=B0=A2=\r\n=E8=B0=A2",
    )
    assert parse_message(raw, max_attachment_bytes=LIMIT).text == "好的，谢谢"


_INNER = (
    "From: shop@example.org\r\nTo: wang@example.net\r\nSubject: =?utf-8?B?6K6i5Y2V56Gu6K6k?=\r\n"
    "Message-ID: <order-confirm@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "order ok\r\n"
)


@pytest.mark.parametrize(
    ("headers", "body", "name"),
    [
        ('Content-Type: message/rfc822; name="order.eml"\nContent-Disposition: attachment; '
         'filename="order.eml"\nContent-Transfer-Encoding: base64',
         base64.encodebytes(_INNER.encode()).decode(), "order.eml"),
        ("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
         base64.encodebytes(_INNER.encode()).decode(), "订单确认.eml"),
        ("Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable",
         quopri.encodestring(_INNER.encode()).decode(), "订单确认.eml"),
        # unencoded, the part's own name is preferred to the subject too
        ("Content-Type: message/rfc822\nContent-Disposition: attachment; "
         "filename=\"=?utf-8?B?5Y6f6YKu5Lu2LmVtbA==?=\"", _INNER, "原邮件.eml"),
    ],
)  # fmt: skip
def test_attached_message_in_a_transfer_encoding_is_decoded(headers, body, name):
    raw = _raw(
        "Subject: see attached\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
        ("--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n请看附件。\r\n--b\r\n"
         + headers.replace("\n", "\r\n") + f"\r\n\r\n{body}\r\n--b--\r\n").encode(),
    )  # fmt: skip
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    [attached] = mail.attachments
    assert (attached.name, attached.content_type) == (name, "message/rfc822")
    inner = email.message_from_bytes(attached.data, policy=email.policy.compat32)
    assert inner["Message-ID"] == "<order-confirm@example.org>"
    assert inner.get_payload().strip() == "order ok"
    assert mail.embedded_message_ids == ["<order-confirm@example.org>"]


def test_parse_attachments_and_inline_images():
    mail = parse_message(fixture_mail("attachments.eml"), max_attachment_bytes=LIMIT)
    assert mail.text == "The box arrived crushed, see the photo. Invoice attached."
    names = [(a.name, a.content_type, a.inline) for a in mail.attachments]
    assert names == [
        ("box.png", "image/png", True),
        ("发票.pdf", "application/pdf", False),  # RFC 2231 name
        ("退货说明.docx",  # RFC 2047 name in GB2312 (what Outlook and Foxmail send)
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
    ]  # fmt: skip
    assert mail.attachments[0].content_id == "photo1@example.org"
    assert mail.attachments[1].data.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # gomail (Go) writes the UTF-8 name raw into both headers, as its documentation shows
        ("gomail_raw_utf8_filename.eml", [("附件.txt", "text/plain", b"foo.bar\n")]),
        # Foxmail labels RFC 2231 names gb2312 whatever they hold: 喆 is GBK only
        ("foxmail_gb2312_rfc2231_filename.eml",
         [("刘喆-2024年1月对账单.xls", "application/octet-stream", b"fake xls")]),
    ],
)  # fmt: skip
def test_attachment_names_as_clients_write_them(name, expected):
    mail = parse_message(fixture_mail(name), max_attachment_bytes=LIMIT)
    assert [(a.name, a.content_type, a.data) for a in mail.attachments] == expected
    assert mail.text


def test_attachment_over_the_limit_is_listed_not_kept():
    mail = parse_message(fixture_mail("attachments.eml"), max_attachment_bytes=50)
    image, pdf, docx = mail.attachments
    assert image.data is None and image.skipped == "too large" and image.size == 70
    assert pdf.data is not None and pdf.size == 45 and pdf.skipped is None
    assert docx.data == b"PK fake docx"


def test_broken_mime_keeps_what_can_be_read():
    mail = parse_message(fixture_mail("broken_mime.eml"), max_attachment_bytes=LIMIT)
    assert "Hello, my order is broken." in mail.text  # bad base64 tail, unknown charset
    assert "this part says multipart but has no boundary" in mail.text
    assert "The second line of my message 你好" in mail.text
    assert mail.from_addr == "broken.sender@example.com"
    assert mail.date is None  # "someday soon"
    assert "NoBoundaryInMultipartDefect" in mail.defects
    assert [a.name for a in mail.attachments] == ["data.bin"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02 garbage without headers",
        b"Subject: only headers",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x--",
        b"From: a@b.c\r\nContent-Type: text/plain; charset=\"\r\n\r\nbody",
        b"From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@",
        b"Content-Type: message/rfc822\r\n\r\nnot a message",
        # 200 nested multiparts
        b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                 for i in range(200)) + b"\r\ndeep",
    ],
)  # fmt: skip
def test_any_bytes_parse(raw):
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    assert mail.fingerprint
    inbound = build_inbound(
        mail, Extras(message_id="<x@y>", thread_key="<x@y>", thread_via="new"), channel_id="c"
    )
    assert inbound.contact.external_id


def test_a_long_references_chain_keeps_its_root_and_the_newest_ids():
    """RFC 5322 3.6.4: a trimmed References keeps the first id (the thread's root, which
    clients thread on) and the newest, so our reply to a 40-mail thread still threads."""
    chain = [f"<m{i}@customer.example>" for i in range(40)]
    raw = (
        "From: a@customer.example\r\nMessage-ID: <m40@customer.example>\r\n"
        f"References: {' '.join(chain)}\r\nSubject: Re: order\r\n\r\nStill waiting."
    ).encode()
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    extras = Extras(message_id="<m40@customer.example>", thread_key="<x@y>", thread_via="new")
    kept = build_inbound(mail, extras, channel_id="c").meta["references"]
    assert kept == [chain[0], *chain[-29:]]
    reply = reply_references({"message_id": "<m40@customer.example>", "references": kept})
    assert reply[0] == chain[0] and reply[-1] == "<m40@customer.example>"


def test_message_without_id_has_a_stable_fingerprint():
    raw = fixture_mail("no_message_id.eml")
    first = parse_message(raw, max_attachment_bytes=LIMIT)
    assert first.message_id is None
    assert first.text == "My mail client forgot the Message-ID."
    assert parse_message(raw, max_attachment_bytes=LIMIT).fingerprint == first.fingerprint


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("<a@b> <c@d>", ["<a@b>", "<c@d>"]),
        ("  <a@b>\r\n\t<c@d>", ["<a@b>", "<c@d>"]),
        ("a@b", ["<a@b>"]),
        ("Your message of Tue <x@y>", ["<x@y>"]),
        ("", []),
        ("no id here", []),
    ],
)
def test_message_ids(value, ids):
    assert message_ids(value) == ids


# --- HTML ----------------------------------------------------------------------------------------
def test_html_to_text_marks_the_quote():
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><div>Hello <b>there</b>,"
        "<br>see <a href='https://x.example/a'>this</a></div><ul><li>one</li><li>two</li></ul>"
        "<script>alert(1)</script><div class='gmail_quote'>On Tue, Bob wrote:<blockquote>old"
        "</blockquote></div></body></html>"
    )
    reply, quoted = cut_at_quote(html_to_text(html))
    assert reply == "Hello there,\nsee this <https://x.example/a>\n\n- one\n- two"
    assert quoted == "On Tue, Bob wrote:\nold"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # a <head> never closed, as scripts send it: the body closes it
        ('<html><head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
         "<body><h3>1.1 我的订单</h3><p>请尽快发货</p></body></head></html>",
         "1.1 我的订单\n\n请尽快发货"),
        ('<html><head><meta charset="utf-8"><title>订单</title><body><p>请尽快发货</p></body>'
         "</html>", "请尽快发货"),
        ("<html><head><title>订单<body><p>请尽快发货</p></body></html>", "请尽快发货"),
        ("<html><head><meta charset=utf-8><p>请尽快发货</p></html>", "请尽快发货"),
        # Outlook's head: its <xml> and namespaced tags do not open the body
        ("<html><head><style>p{}</style><!--[if gte mso 9]><xml><o:OfficeDocumentSettings>"
         "<o:AllowPNG/>hidden</o:OfficeDocumentSettings></xml><![endif]--></head><body><p>ok</p>"
         "</body></html>", "ok"),
        # everything skipped: the text without the skip beats an empty message
        ("<html><head><title>请尽快发货</title></head><body></body></html>", "请尽快发货"),
        ("<html><head><style>p{}</style></head><body></body></html>", ""),
    ],
)  # fmt: skip
def test_html_with_an_unclosed_head_keeps_its_text(html, text):
    assert html_to_text(html) == text


def test_unclosed_head_through_the_parser():
    raw = _raw(
        "Subject: x\nContent-Type: text/html; charset=utf-8",
        '<html><head>\r\n<meta charset="utf-8"><body><p>我的订单还没发货。</p></body></head></html>'
        .encode(),
    )  # fmt: skip
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    assert mail.text == "我的订单还没发货。" and mail.text_from_html


@pytest.mark.parametrize(
    ("html", "reply"),
    [
        ('<p>ok</p><blockquote type="cite">old</blockquote>', "ok"),  # Apple Mail
        ('<p>ok</p><div id="divRplyFwdMsg">From: x</div>', "ok"),  # Outlook
        ('<p>ok</p><div id="appendonsend"></div><hr><p>old</p>', "ok"),  # new Outlook
        ('<p>ok</p><div class="yahoo_quoted">old</div>', "ok"),
        # QQ Mail's new web composer
        ('<div>ok</div><div class="xm_compose_origin_mail_container"><div>old</div></div>', "ok"),
        # QQ Mail's mobile web (X-QQ-WAPMAIL)
        ('<div>是的</div><font color="#444444">B.R</font><br><div id="original-content"><br>'
         '<div style="font-size:70%">------------------ 原始邮件 ------------------</div>old</div>',
         "是的\nB.R"),
        # NetEase webmail (163 / 126)
        ('<div>ok</div><div id="isReplyContent"><div>在 2024-01-02 09:00:00，"A" &lt;a@b.c&gt;'
         " 写道：</div><blockquote id=\"isReplyContent\">old</blockquote></div>", "ok"),
        ("<p>ok</p><blockquote>a quote the customer typed</blockquote>",
         "ok\n\na quote the customer typed"),  # an ordinary blockquote is content
    ],
)  # fmt: skip
def test_html_quote_containers(html, reply):
    assert cut_at_quote(html_to_text(html))[0] == reply


def test_sanitize_html_drops_active_content_and_remote_images():
    html = (
        '<div onclick="x()">Hi<script>alert(1)</script><style>b{}</style>'
        '<img src="cid:logo@x" onerror="alert(1)"><img src="https://tracker.example/p.gif">'
        '<a href="javascript:alert(1)">j</a><a href="https://ok.example">ok</a>'
        '<iframe src="https://evil.example"></iframe></div>'
    )
    clean = sanitize_html(
        html, image_url=lambda src: "/media/c/logo.png" if src == "cid:logo@x" else None
    )
    assert "script" not in clean and "alert" not in clean and "onclick" not in clean
    assert "iframe" not in clean and "style" not in clean and "javascript" not in clean
    assert '<img src="/media/c/logo.png">' in clean
    assert "tracker.example" not in clean
    assert 'href="https://ok.example"' in clean and "nofollow" in clean


# --- what the customer wrote ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reply", "quoted", "signature"),
    [
        # English: Gmail's wrapped header, Outlook's block, Apple's "Sent from"
        ("Sure.\n\nOn Tue, Jan 2, 2024 at 9:00 AM Support <s@x.com>\nwrote:\n> old", "Sure.",
         True, ""),
        ("Hi\n\nFrom: Support <s@x.com>\nSent: Tuesday\nTo: me\nSubject: Re: x\n\nold", "Hi",
         True, ""),
        ("Yes please\n\nSent from my iPhone\n\n> On 2 Jan, Support <s@x.com> wrote:\n> old",
         "Yes please", True, "Sent from my iPhone"),
        ("Short answer\n\n-- \nJohn Doe\nACME Corp", "Short answer", False,
         "--\nJohn Doe\nACME Corp"),
        ("See below\n-----Original Message-----\nFrom: x\nold", "See below", True, ""),
        # a closing line followed by a name is a signature; "Thanks, but ..." is not
        ("Please check.\n\nBest regards,\nJohn", "Please check.", False, "Best regards,\nJohn"),
        ("Hi,\nThanks, but the parcel never arrived.\nOrder 123.",
         "Hi,\nThanks, but the parcel never arrived.\nOrder 123.", False, ""),
        ("- one\n- two", "- one\n- two", False, ""),  # hyphen lists are not signatures
        # Chinese forms
        ("好的，谢谢！\n\n------------------ 原始邮件 ------------------\n"
         "发件人: \"客服\"<s@x.com>;\n发送时间: 2024年1月2日\n收件人: 我\n主题: 订单\n\n您好",
         "好的，谢谢！", True, ""),
        ("收到了。\n\n发件人: 客服 <s@x.com>\n发送时间: 2024年1月2日 10:00\n"
         "收件人: 张三\n主题: 回复: 订单", "收到了。", True, ""),
        # full-width colons
        ("收到了。\n\n发件人：客服\n日期：2024年1月2日\n\n旧", "收到了。", True, ""),
        ("已解决\n\n张三 <zs@gmail.com> 于2024年1月2日周二 10:00写道：\n> 旧", "已解决", True, ""),
        ("已解决\n\n客服 <s@x.com>\n于2024年1月2日周二 10:00写道：\n> 旧", "已解决", True, ""),
        # ... or after the "<" of a long address, as Gmail wraps "On ... Name <\naddr> wrote:"
        ("好的，明天寄出。\n\nAcme International Trading Company Customer Service Team <\n"
         "support@acme-trading.example.com> 于2024年1月2日周二 10:00写道：\n\n> 您好",
         "好的，明天寄出。", True, ""),
        ("好的\n\n在 2024年1月2日，10:00，客服 <s@x.com> 写道：\n\n> 旧", "好的", True, ""),
        ("没问题\n\n在 2024-01-02 09:00:00，\"客服\" <s@x.com> 写道：\n>旧", "没问题", True, ""),
        ("收到\n\n------------------ Original ------------------\nFrom:  \"s\"<s@x.com>;", "收到",
         True, ""),
        # QQ Mail's plain-text part as it sends it: "&nbsp;" written out around 原始邮件 and
        # after the header names, the sender padded with spaces.
        ("好的，明天上午在家，可以送货。\n\n\n\n\n------------------&nbsp;原始邮件&nbsp;"
         "------------------\n发件人:" + " " * 60 + "\"Acme 客服\"" + " " * 40
         + "<support@example.com>;\n发送时间:&nbsp;2024年1月2日(星期二) 上午10:00\n"
         "收件人:&nbsp;\"张三\"<1234567890@qq.com>;\n\n主题:&nbsp;回复：订单 7781 的配送时间"
         "\n\n\n\n您好，快递明天送达，请问家里有人吗？",
         "好的，明天上午在家，可以送货。", True, ""),
        # ... the rule alone at the end, with the real no-break space, and with plain spaces
        ("好的\n\n------------------&nbsp;原始邮件&nbsp;------------------", "好的", True, ""),
        ("好的\n\n------------------\u00a0原始邮件\u00a0------------------\n发件人: s",
         "好的", True, ""),
        ("好的\n\n------------------ 原始邮件 ------------------\n旧", "好的", True, ""),
        ("好的\n\n------------------&#160;原始邮件&#160;------------------\n旧", "好的", True, ""),
        # Foxmail's English rule with its header block
        ("退货单号 SF1234567890\n\n------------------ Original ------------------\n"
         "From:  \"Acme Support\"<support@example.com>;\nDate:  Tue, Jan 2, 2024 10:00 AM\n"
         "To:  \"wangwu\"<wangwu@foxmail.com>;\nSubject:  Re: 退货\n\n请提供退货单号",
         "退货单号 SF1234567890", True, ""),
        ("請問何時出貨？\n\n寄件者: 客服 <s@x.com>\n寄件日期: 2024年1月2日\n收件者: 我\n主旨: 訂單",
         "請問何時出貨？", True, ""),
        ("好的\n\n發件人: 客服\n發送時間: 2024年1月2日\n\n舊", "好的", True, ""),
        # Outlook in Chinese writes "-----邮件原件-----" above its header block
        ("好的，谢谢。\n\n-----邮件原件-----\n发件人: Acme [mailto:support@example.com]\n"
         "发送时间: 2024年1月2日 15:49\n收件人: 张三\n主题: RE: 订单\n\n您好",
         "好的，谢谢。", True, ""),
        # NetEase Mail Master (网易邮箱大师): a rule above a "| From | ... |" table, no "From:"
        ("Thanks, I will try it.\n\n\n\n---- Replied Message ----\n"
         "| From | Acme Support<support@example.com> |\n| Date | 08/10/2023 17:08 |\n"
         "| To | zhouba<zhouba@163.com> |\n| Subject | Re: order 1234 |\n"
         "10.08.2023 11:57, zhouba wrote:\nHi, all", "Thanks, I will try it.", True, ""),
        ("已读\n\n---- 回复的原邮件 ----\n| 发件人 | Acme<support@example.com> |\n"
         "| 发送日期 | 2026年09月21日 18:46 |\n| 主题 | 日报 |\n旧", "已读", True, ""),
        # Outlook for iOS in Chinese
        ("好的\n\n获取 Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\n"
         "发件人: Acme <support@example.com>\n发送时间: Monday, June 7, 2021 8:41:49 PM\n旧",
         "好的", True, "获取 Outlook for iOS<https://aka.ms/o0ukef>"),
        ("谢谢\n\n发自我的iPhone", "谢谢", False, "发自我的iPhone"),
        ("请尽快处理。\n\n此致\n敬礼\n张三", "请尽快处理。", False, "此致\n敬礼\n张三"),
        # a line that only mentions a date and 在 is content, not a header
        ("我在等你的回复，在2024年1月1日下的单", "我在等你的回复，在2024年1月1日下的单", False, ""),
        # answers between quoted lines: shown whole rather than cut to nothing
        ("> question one\nanswer one\n> question two\nanswer two",
         "> question one\nanswer one\n> question two\nanswer two", False, ""),
        ("", "", False, ""),
    ],
)  # fmt: skip
def test_split_reply(text, reply, quoted, signature):
    result = split_reply(text)
    assert result.text == reply
    assert result.quoted is quoted
    assert result.signature == signature


@pytest.mark.parametrize(
    ("name", "reply", "hidden"),
    [
        ("outlook_reply.eml",
         'Hi,\n\nThe tracking page still says "label created". Can you check with the courier?',
         "shipped yesterday"),
        ("outlook_reply_gbk.eml",
         "您好，\n发票抬头应该是“北京喆镕科技有限公司”，麻烦重新开一张。\n\n刘喆",
         "发票已经寄出"),
        ("gmail_reply.eml",
         "Sure, my address is 12 Main St, Springfield.\n- Apartment 4\n- Ring twice",
         "confirm your address"),
        ("gmail_reply_zh_new_subject.eml", "请问退款什么时候到账？我已经等了一周了。",
         "退货已经收到"),
        ("qq_reply.eml", "好的，我收到货了，谢谢！", "包裹已经发出"),
        ("foxmail_reply.eml", "退货单号是 SF1234567890，请查收。\n\n王五", "请提供退货单号"),
        ("apple_mail_reply.eml", "Yes, please send the replacement to the same address.",
         "refund"),
        ("big5_reply.eml", "請問什麼時候出貨？地址是台北市碁盛路 8 號。", "已收到您的訂單"),
        ("netease_reply.eml", "已经收到了，没问题。", "请确认收货"),
        ("html_only_qq.eml", "尺码不合适，可以换一个 XL 的吗？", "旧内容"),
        ("netease_mailmaster_reply.eml", "好的，我周五前把衣服寄回去。\n单号出来后再发给你们。",
         "回复的原邮件"),
        ("outlook_zh_original_rule.eml",
         "That's make sense, thanks very much for your detailed response!", "邮件原件"),
        ("gmail_reply_fr_wrapped.eml",
         "Bonjour,\n\nLe colis n'est toujours pas arrivé. Pouvez-vous vérifier ?", "expédié hier"),
        # "谢谢" then more of the mail: no signature
        ("foxmail_reply_thanks_then_more.eml",
         "你好，我的订单还没到。\n谢谢\n"
         "另外，订单号是 2024010212345，收货地址改成上海市浦东新区xx路1号可以吗？", "包裹已经发出"),
    ],
)  # fmt: skip
def test_reply_of_recorded_mail(name, reply, hidden):
    mail = parse_message(fixture_mail(name), max_attachment_bytes=LIMIT)
    result = reply_of(mail)
    assert result.text == reply
    assert hidden not in result.text
    assert hidden in mail.text or (mail.html and hidden in mail.html)  # the original is kept
    assert hidden not in result.signature


def test_a_forward_is_shown_whole():
    # Gmail's forward: the forwarded mail is what the customer sends, not a quoted thread
    mail = parse_message(fixture_mail("gmail_forward.eml"), max_attachment_bytes=LIMIT)
    result = reply_of(mail)
    assert result.text.startswith("Can you check this?")
    assert "Forwarded message" in result.text and "EUR 149.00" in result.text
    assert result.text.endswith("Zürich Bank")
    assert not result.quoted and not result.signature


def test_outlook_zh_rule_is_not_part_of_the_signature():
    mail = parse_message(fixture_mail("outlook_zh_original_rule.eml"), max_attachment_bytes=LIMIT)
    assert reply_of(mail).signature == "Regards,\nLiuWei"


# --- auto-replies, bounces, lists ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("auto_reply_outlook.eml", MailKind.AUTO_REPLY),  # Auto-Submitted: auto-replied
        ("auto_reply_qq.eml", MailKind.AUTO_REPLY),  # only the subject says 自动回复
        ("auto_reply_x_autoreply.eml", MailKind.AUTO_REPLY),
        # a company website's PHPMailer acknowledgement: no header says so, the subject does
        ("auto_reply_website_form.eml", MailKind.AUTO_REPLY),
        ("bounce_dsn.eml", MailKind.BOUNCE),
        ("bounce_delayed.eml", MailKind.BOUNCE),
        ("bounce_qq.eml", MailKind.BOUNCE),  # free-form, from postmaster@
        ("list_newsletter.eml", MailKind.LIST),
        ("read_receipt.eml", MailKind.RECEIPT),
        # RFC 6533 reports, for internationalized addresses
        ("bounce_global_delayed.eml", MailKind.BOUNCE),
        ("bounce_global_failed_base64.eml", MailKind.BOUNCE),
        ("read_receipt_global.eml", MailKind.RECEIPT),
        ("outlook_reply.eml", MailKind.HUMAN),
        ("qq_reply.eml", MailKind.HUMAN),
        ("new_mail_gbk_8bit.eml", MailKind.HUMAN),
        ("broken_mime.eml", MailKind.HUMAN),
    ],
)
def test_classify(name, kind):
    assert classify(parse_message(fixture_mail(name), max_attachment_bytes=LIMIT)) is kind


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"Auto-Submitted": "auto-generated"}, MailKind.AUTO_REPLY),
        ({"Auto-Submitted": "no"}, MailKind.HUMAN),
        ({"Precedence": "bulk"}, MailKind.LIST),
        ({"Precedence": "auto_reply"}, MailKind.AUTO_REPLY),
        ({"Precedence": "junk"}, MailKind.LIST),
        ({"List-Id": "<x.example>"}, MailKind.LIST),
        ({"X-Autorespond": "yes"}, MailKind.AUTO_REPLY),
        ({"X-Autoreply": "no"}, MailKind.HUMAN),  # some clients write it to say so
        ({"X-Auto-Reply": "false"}, MailKind.HUMAN),
        ({"Return-Path": "<>"}, MailKind.AUTO_REPLY),
        ({"Return-Path": "<>", "Subject": "Undeliverable: hi"}, MailKind.BOUNCE),
        ({"Return-Path": "<a@b.c>"}, MailKind.HUMAN),
        ({"Subject": "Automatic reply: hello"}, MailKind.AUTO_REPLY),
        ({"Subject": "自动回复：你好"}, MailKind.AUTO_REPLY),
        ({"Subject": "自动回复(休假): 你好"}, MailKind.AUTO_REPLY),
        ({"Subject": "自动回复（出差）：关于订单"}, MailKind.AUTO_REPLY),
        ({"Subject": "Automatic reply (Out of office): hello"}, MailKind.AUTO_REPLY),
        ({"Subject": "自动回复(休假)失败了怎么办"}, MailKind.HUMAN),
        ({"Subject": "【自动回复】感谢您的咨询"}, MailKind.AUTO_REPLY),
        ({"Subject": "Re: 【自动回复】感谢您的咨询"}, MailKind.HUMAN),
        ({"Subject": "Out of Office AutoReply: Export failure"}, MailKind.AUTO_REPLY),  # GroupWise
        # Lotus Notes
        (
            {"Subject": "AUTO: Wang Wei is out of the office (returning 2013/10/14)"},
            MailKind.AUTO_REPLY,
        ),
        ({"Subject": "Re: automatic reply settings do not work"}, MailKind.HUMAN),
    ],
)
def test_classify_headers(headers, kind):
    lines = {"From": "a@example.com", "Subject": "hello", **headers}
    raw = "".join(f"{k}: {v}\r\n" for k, v in lines.items()).encode() + b"\r\nbody"
    assert classify(parse_message(raw, max_attachment_bytes=LIMIT)) is kind


@pytest.mark.parametrize(
    ("name", "failed", "reason_has"),
    [
        ("bounce_dsn.eml", True, "5.1.1"),
        ("bounce_delayed.eml", False, "delayed"),
        ("bounce_qq.eml", True, "系统退信"),
        # RFC 6533: message/global-delivery-status (UTF-8, may be base64), global-headers
        ("bounce_global_delayed.eml", False, "用户@例子.中国 delayed 4.4.1"),
        ("bounce_global_failed_base64.eml", True, "用户@例子.中国 failed 5.1.1"),
    ],
)
def test_bounce_details_find_our_message(name, failed, reason_has):
    ours = "<0123abcd.gw@example.com>"
    mail = parse_message(fixture_mail(name, OUR_MESSAGE_ID=ours), max_attachment_bytes=LIMIT)
    bounce = bounce_details(mail)
    assert bounce.original_message_ids == [ours]
    assert bounce.failed is failed
    assert reason_has in bounce.reason


# --- composing our reply -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 1234", "Re: Order 1234"),
        ("Re: Order 1234", "Re: Order 1234"),
        ("RE: Re: 回复: 答复：Order", "Re: Order"),
        ("回复：订单问题", "Re: 订单问题"),
        ("Fwd: AW: SV: x", "Re: x"),
        ("Re[2]: x", "Re: x"),
        ("", "Message from Acme"),
        (None, "Message from Acme"),
    ],
)
def test_reply_subject(subject, expected):
    assert reply_subject(subject, "Message from Acme") == expected


def test_build_reply_headers_and_parts():
    msg = build_reply(
        from_name=display_from("Alice 李", "Acme Support"),
        from_address="support@example.com",
        reply_to="support+0123456789abcdef@example.com",
        to="zs@qq.com",
        message_id="<m1.gw@example.com>",
        text="您好，\n\n已经为您退款。",
        context={
            "message_id": "<c2@qq.com>",
            "references": ["<c1@qq.com>", "<m0.gw@example.com>"],
            "subject": "回复：订单问题",
            "quote": "退款什么时候到账？",
            "from": "zs@qq.com",
            "from_name": "张三",
            "date": "2024-01-02T10:00:00+08:00",
        },
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert str(parsed["From"]) == "Alice 李 via Acme Support <support@example.com>"
    assert parsed["Subject"] == "Re: 订单问题"
    assert parsed["In-Reply-To"] == "<c2@qq.com>"
    assert parsed["References"] == "<c1@qq.com> <m0.gw@example.com> <c2@qq.com>"
    assert parsed["Reply-To"] == "support+0123456789abcdef@example.com"
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = parsed.get_body(("html",)).get_content()
    assert plain.startswith("您好，\n\n已经为您退款。\n")
    assert "> 退款什么时候到账？" in plain and "张三 <zs@qq.com> wrote:" in plain
    assert "<p>您好，</p><p>已经为您退款。</p>" in html and "<blockquote" in html


@pytest.mark.parametrize(
    ("context", "root", "expected"),
    [
        # Their References, then their Message-ID (RFC 5322 3.6.4); the root already leads.
        ({"message_id": "<c2@qq.com>", "references": ["<c1@qq.com>", "<m1.gw@ex.com>"],
          "in_reply_to": ["<m1.gw@ex.com>"]}, "<c1@qq.com>",
         ["<c1@qq.com>", "<m1.gw@ex.com>", "<c2@qq.com>"]),
        # No References: their In-Reply-To stands for them; the thread's first id leads.
        ({"message_id": "<c2@qq.com>", "in_reply_to": ["<m1.gw@ex.com>"]}, "<c1@qq.com>",
         ["<c1@qq.com>", "<m1.gw@ex.com>", "<c2@qq.com>"]),
        # ... also when the client trimmed References to the last one
        ({"message_id": "<c3@qq.com>", "references": ["<m2.gw@ex.com>"],
          "in_reply_to": ["<m2.gw@ex.com>"]}, "<c1@qq.com>",
         ["<c1@qq.com>", "<m2.gw@ex.com>", "<c3@qq.com>"]),
        # In-Reply-To naming two messages says nothing certain: not used
        ({"message_id": "<c2@qq.com>", "in_reply_to": ["<a@x.com>", "<b@x.com>"]},
         "<c1@qq.com>", ["<c1@qq.com>", "<c2@qq.com>"]),
        # The first mail of the thread: just its id, once
        ({"message_id": "<c1@qq.com>"}, "<c1@qq.com>", ["<c1@qq.com>"]),
        # An id we made up for a mail without one is known to nobody else: left out
        ({"message_id": "<f00@no-message-id.invalid>", "in_reply_to": ["<m1.gw@ex.com>"]},
         "<f00@no-message-id.invalid>", ["<m1.gw@ex.com>"]),
        ({}, "not-a-message-id", []),
        # The customer's first mail was itself a reply (it opened our thread, so it is the
        # thread key): their References, then their id, which stays the last one
        ({"message_id": "<c1@qq.com>", "references": ["<a@x.com>", "<b@x.com>"]},
         "<c1@qq.com>", ["<a@x.com>", "<b@x.com>", "<c1@qq.com>"]),
        # A long chain keeps the root and the newest ones (20 in all)
        ({"message_id": "<c30@x.com>", "references": [f"<c{i}@x.com>" for i in range(30)]},
         "<c0@x.com>", ["<c0@x.com>"] + [f"<c{i}@x.com>" for i in range(12, 31)]),
    ],
)  # fmt: skip
def test_reply_references(context, root, expected):
    assert reply_references(context, thread_root=root) == expected


def test_build_reply_without_quote():
    msg = build_reply(
        from_name="Acme", from_address="support@example.com", reply_to="support@example.com",
        to="a@b.example", message_id="<m@example.com>", text="Hello",
        context={"quote": "old words", "from": "a@b.example"}, quote_customer=False,
    )  # fmt: skip
    assert "old words" not in msg.as_string()
    assert msg["Auto-Submitted"] is None


def test_display_from():
    assert display_from("Alice", "Acme") == "Alice via Acme"
    # a line break would make the From header unwritable
    assert display_from("Alice\r\nBcc: x@evil.example", "Acme") == (
        "Alice Bcc: x@evil.example via Acme"
    )
    assert display_from(None, "Acme") == "Acme"
    assert display_from("Acme", "Acme") == "Acme"


# --- threading helpers ---------------------------------------------------------------------------
def test_tokens_are_stable_and_found_in_any_case():
    token = thread_token("ch1", "<t@x>", "ZS@qq.com")
    assert token == thread_token("ch1", "<t@x>", "zs@qq.com")
    assert token != thread_token("ch2", "<t@x>", "zs@qq.com")
    assert len(token) == 16 and token == token.lower()
    addresses = ["someone@else.com", f"Support+{token.upper()}@Example.com", "support@example.com"]
    assert find_tokens(addresses, "support", "example.com") == [token]
    assert find_tokens([f"support+{token}@other.com"], "support", "example.com") == []
    assert find_tokens([f"sales+{token}@example.com"], "support", "example.com") == []


def test_outbound_message_id_is_stable_per_message():
    first = outbound_message_id("ch1", "cv1:4", "example.com")
    assert first == outbound_message_id("ch1", "cv1:4", "example.com")
    assert first != outbound_message_id("ch1", "cv1:5", "example.com")
    assert first.startswith("<") and first.endswith("@example.com>")


# --- configuration -------------------------------------------------------------------------------
def _config(**values):
    base = {
        "imap_host": "imap.example.com",
        "imap_user": "support@example.com",
        "imap_password": "pw",
        "smtp_host": "smtp.example.com",
        "from_address": "Support@Example.com",
    }
    return EmailConfig(**{**base, **values})


def test_config_defaults():
    cfg = _config()
    assert cfg.imap_port_effective == 993 and cfg.smtp_port_effective == 465
    assert cfg.local_part == "Support" and cfg.domain == "example.com"
    assert cfg.reply_local is None  # derived, not stored: follows later from_address changes
    assert (
        _config(reply_local="help", reply_domain="Help.Example.com").reply_address_for("abc")
        == "help+abc@help.example.com"
    )
    assert cfg.reply_address_for("abc") == "Support+abc@example.com"
    assert cfg.smtp_login == ("support@example.com", "pw")  # SMTP reuses the IMAP login
    assert _config(smtp_user="").smtp_login is None
    assert _config(imap_security="starttls", smtp_security="starttls").smtp_port_effective == 587
    assert _config(plus_tokens=False).reply_address_for("abc") == "Support@example.com"
    assert "pw" not in repr(cfg)


@pytest.mark.parametrize(
    "values",
    [
        {"from_address": "not an address"},
        {"reply_local": "bad local"},
        {"imap_security": "tls13"},
        {"imap_folder": "a\r\nb"},
        {"max_attachment_bytes": 0},
    ],
)
def test_config_rejects(values):
    with pytest.raises(ValidationError):
        _config(**values)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("INBOX", '"INBOX"'),
        ("Support Tickets", '"Support Tickets"'),
        ("客服", '"&W6JnDQ-"'),
        ("A&B", '"A&-B"'),
        ('Say "hi"', '"Say \\"hi\\""'),
    ],
)
def test_quote_mailbox(name, quoted):
    assert quote_mailbox(name) == quoted


def test_imap_date():
    import datetime as dt

    assert imap_date(dt.datetime(2024, 1, 2, tzinfo=dt.UTC)) == "02-Jan-2024"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'* 1 FETCH (UID 7 SIZE 12 INTERNALDATE "17-Jul-1996 02:44:25 -0700")', 837596665.0),
        (b'* 1 FETCH (UID 7 INTERNALDATE " 7-Jul-1996 09:44:25 +0000" SIZE 12)', 836732665.0),
        (b'* 1 FETCH (UID 7 INTERNALDATE "01-Jan-2024 08:00:00 +0800")', 1704067200.0),
        (b'* 1 FETCH (UID 7 RFC822.SIZE 12)', None),
        (b'* 1 FETCH (UID 7 INTERNALDATE "31-Foo-2024 08:00:00 +0800")', None),
        (b'* 1 FETCH (UID 7 INTERNALDATE "31-Feb-2024 08:00:00 +0800")', None),
    ],
)  # fmt: skip
def test_parse_internaldate(line, expected):
    assert parse_internaldate(line) == expected
