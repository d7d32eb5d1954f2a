"""Outlook's winmail.dat (application/ms-tnef): the customer's files and body inside it reach
the agent; a winmail.dat that cannot be read stays the file it came as.

The TNEF bytes are built here from the format's published layout ([MS-OXTNEF]: signature, key,
then attributes of level, id, type, length, data and a 16-bit byte-sum checksum)."""

from __future__ import annotations

import base64
import struct

from adapters.email.mime import parse_message

LIMIT = 10 * 1024 * 1024
PDF = b"%PDF-1.4 invoice 7781"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64))

LVL_MESSAGE, LVL_ATTACHMENT = 1, 2
ATT_BODY = (0x800C, 0x0002)  # text, in the OEM code page
ATT_OEM_CODEPAGE = (0x9007, 0x0006)
ATT_RENDDATA = (0x9002, 0x0006)  # starts each attachment
ATT_TITLE = (0x8010, 0x0001)  # its short (8.3) name
ATT_DATA = (0x800F, 0x0006)
ATT_ATTACHMENT = (0x9005, 0x0006)  # the attachment's MAPI properties
PR_ATTACH_LONG_FILENAME = 0x3707
PT_UNICODE = 0x001F


def _attribute(level: int, attribute: tuple[int, int], data: bytes) -> bytes:
    name, kind = attribute
    head = struct.pack("<BHHI", level, name, kind, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def _long_filename(name: str) -> bytes:
    """One MAPI property, PR_ATTACH_LONG_FILENAME as UTF-16: how Outlook names a file."""
    value = name.encode("utf-16-le") + b"\0\0"
    padded = value + b"\0" * (-len(value) % 4)
    return struct.pack("<IHHII", 1, PT_UNICODE, PR_ATTACH_LONG_FILENAME, 1, len(value)) + padded


def winmail(files: list[tuple[str, bytes]], body: bytes | None = None) -> bytes:
    out = struct.pack("<IH", 0x223E9F78, 0x1234)
    out += _attribute(LVL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", 936, 0))
    if body is not None:
        out += _attribute(LVL_MESSAGE, ATT_BODY, body)
    for name, data in files:
        out += _attribute(LVL_ATTACHMENT, ATT_RENDDATA, struct.pack("<HIIIH", 1, 0, 0, 0, 0))
        out += _attribute(LVL_ATTACHMENT, ATT_TITLE, b"ATTACH~1.DAT\0")
        out += _attribute(LVL_ATTACHMENT, ATT_DATA, data)
        out += _attribute(LVL_ATTACHMENT, ATT_ATTACHMENT, _long_filename(name))
    return out


def outlook_mail(tnef: bytes, text: str | None = "请看附件中的发票。") -> bytes:
    """A mail as Outlook sends it in rich text to a non-Outlook client: a plain body (or
    none) and the rest in winmail.dat."""
    parts = [b"From: Li Lei <li@customer.example>\r\nTo: support@example.com\r\n"
             b"Subject: invoice\r\nMessage-ID: <tnef-1@customer.example>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"]  # fmt: skip
    if text is not None:
        parts.append(b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Content-Transfer-Encoding: base64\r\n\r\n"
                     + base64.encodebytes(text.encode()) + b"\r\n")  # fmt: skip
    parts.append(b"--b1\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
                 b"Content-Disposition: attachment; filename=\"winmail.dat\"\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n"
                 + base64.encodebytes(tnef) + b"\r\n--b1--\r\n")  # fmt: skip
    return b"".join(parts)


def test_the_files_inside_winmail_dat_become_the_attachments():
    tnef = winmail([("发票 7781.pdf", PDF), ("破损照片.jpg", JPEG)])
    mail = parse_message(outlook_mail(tnef), max_attachment_bytes=LIMIT)
    assert mail.text == "请看附件中的发票。"
    assert [(a.name, a.content_type, a.data) for a in mail.attachments] == [
        ("发票 7781.pdf", "application/pdf", PDF),
        ("破损照片.jpg", "image/jpeg", JPEG),
    ]


def test_a_body_only_inside_winmail_dat_is_the_text():
    tnef = winmail([("label.pdf", PDF)], body="货还没到，请帮忙查一下。".encode("gbk") + b"\0")
    mail = parse_message(outlook_mail(tnef, text=None), max_attachment_bytes=LIMIT)
    assert mail.text == "货还没到，请帮忙查一下。"  # in the OEM code page it declares (936)
    assert [a.name for a in mail.attachments] == ["label.pdf"]


def test_the_mails_own_body_wins_over_the_copy_inside_winmail_dat():
    tnef = winmail([], body=b"the same words in Outlook's copy\0")
    mail = parse_message(outlook_mail(tnef, text="Where is my parcel?"), max_attachment_bytes=LIMIT)
    assert mail.text == "Where is my parcel?"
    assert mail.attachments == []


def test_an_unreadable_winmail_dat_stays_the_file_it_came_as():
    for broken in (b"not tnef at all", winmail([("a.pdf", PDF)])[:40]):
        mail = parse_message(outlook_mail(broken), max_attachment_bytes=LIMIT)
        assert mail.text == "请看附件中的发票。"
        [attachment] = mail.attachments
        assert attachment.name == "winmail.dat" and attachment.data == broken


def test_a_file_inside_over_the_limit_is_listed_not_kept():
    mail = parse_message(outlook_mail(winmail([("big.pdf", PDF * 100)])), max_attachment_bytes=1000)
    [attachment] = mail.attachments
    assert attachment.name == "big.pdf" and attachment.data is None
    assert attachment.skipped == "too large" and attachment.size == len(PDF) * 100
