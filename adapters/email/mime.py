"""Parse a raw RFC 5322 message into plain data: addresses, ids, bodies, attachments, report.

Pure and total: any byte string yields a ParsedMail. What cannot be read is recorded in
``defects``; a message is never dropped for being malformed. The compat32 parser is used on
purpose: it is the most forgiving one, and charsets are decoded by charsets.py, which knows
what Chinese mail clients really send.
"""

from __future__ import annotations

import binascii
import email
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from adapters.email.charsets import decode_bytes, decode_header, unescape, utf8_over_label
from adapters.email.htmltext import cut_at_quote, html_to_text
from adapters.email.tnef import is_tnef, unpack

_MAX_DEPTH = 24  # nested multiparts; deeper trees are broken or hostile
_MAX_PARTS = 500
_MSGID = re.compile(r"<([^<>\s]{1,500})>")
# Delivery and read reports, and their RFC 6533 forms for internationalized addresses.
_STATUS_TYPES = frozenset(
    {"message/delivery-status", "message/disposition-notification",
     "message/global-delivery-status", "message/global-disposition-notification"}
)  # fmt: skip
_META_CHARSET = re.compile(rb"<meta\b[^>]{0,300}?charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.I)
# Headers that may carry the address a reply went to (plus tokens live there).
_RECIPIENT_HEADERS = (
    "to",
    "cc",
    "delivered-to",
    "x-original-to",
    "x-delivered-to",
    "envelope-to",
    "x-envelope-to",
    "resent-to",
    "x-forwarded-to",
)


@dataclass
class MimeAttachment:
    name: str
    content_type: str
    size: int
    data: bytes | None  # None when skipped (too large)
    content_id: str | None = None
    inline: bool = False
    skipped: str | None = None


@dataclass
class ReportInfo:
    """A multipart/report: a delivery status notification (bounce) or a read receipt."""

    report_type: str
    actions: list[str] = field(default_factory=list)  # failed, delayed, delivered, relayed...
    statuses: list[str] = field(default_factory=list)  # 5.1.1
    diagnostics: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)


@dataclass
class ParsedMail:
    message_id: str | None = None
    subject: str = ""
    from_addr: str | None = None
    from_name: str | None = None
    reply_to: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # every address a copy was sent to
    date: datetime | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""  # the plain-text body (from the HTML when there is no text part)
    html: str | None = None  # the raw HTML body, not yet sanitized
    html_reply: str | None = None  # text of the HTML up to its quote container, if it has one
    text_from_html: bool = False
    attachments: list[MimeAttachment] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> values
    # Each Authentication-Results value, top first, with the nearest Received value above it
    # (senderauth.py attributes Microsoft's header, which names no server, by that).
    auth_results: list[tuple[str, str | None]] = field(default_factory=list)
    content_type: str = "text/plain"
    report: ReportInfo | None = None
    embedded_message_ids: list[str] = field(default_factory=list)  # of attached messages
    defects: list[str] = field(default_factory=list)
    fingerprint: str = ""  # sha256 of the header block: identity when Message-ID is missing

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""


def parse_message(raw: bytes, *, max_attachment_bytes: int) -> ParsedMail:
    out = ParsedMail(fingerprint=_fingerprint(raw))
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # not seen in practice; compat32 reads anything
        out.defects.append(f"unparseable: {type(exc).__name__}")
        out.text = decode_bytes(raw)
        return out
    charset = _declared_charset(msg)
    try:
        _read_headers(msg, out, charset)
    except Exception as exc:
        out.defects.append(f"headers: {type(exc).__name__}: {exc}")
    walker = _Walker(out, max_attachment_bytes, charset)
    try:
        walker.walk(msg, 0)
    except Exception as exc:
        out.defects.append(f"body: {type(exc).__name__}: {exc}")
    walker.finish()
    if not out.text and not out.html and not out.attachments and not msg.is_multipart():
        # Whatever the headers claimed, show the bytes after them.
        _, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        out.text = decode_bytes(body).strip()
    for defect in msg.defects:
        out.defects.append(type(defect).__name__)
    return out


def _declared_charset(msg: Message) -> str | None:
    """The charset the message declares, top level or on its first text part: the best first
    guess for raw 8-bit bytes in its headers (subject, attachment names)."""
    for n, part in enumerate(msg.walk()):
        if n > 50:
            break
        if part.get_content_maintype() not in ("text", "multipart"):
            continue
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        if charset and charset not in ("us-ascii", "ascii"):
            return str(charset)
    return None


def _fingerprint(raw: bytes) -> str:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw[: end if end >= 0 else 4096]
    return hashlib.sha256(head).hexdigest()


def message_ids(value: str | None) -> list[str]:
    """Message-IDs in a header value, as "<id>"; a bare id without brackets counts too."""
    if not value:
        return []
    found = [f"<{m}>" for m in _MSGID.findall(value)]
    if not found:
        bare = value.strip()
        if bare and " " not in bare and "@" in bare and len(bare) <= 500:
            found = [f"<{bare.strip('<>')}>"]
    return found


def _addresses(values: list[str], charset: str | None = None) -> list[tuple[str, str]]:
    """(decoded display name, lower-case address) pairs from raw header values."""
    out = []
    for value in values:
        value = value.replace("\r", "").replace("\n", " ")
        if "@" not in value:
            # Python scripts writing ``msg["From"] = Header(f"{name} <{address}>", "utf-8")``
            # send the whole "name <address>" as encoded words: parse what they decode to.
            value = decode_header(value, charset)
        for name, addr in getaddresses([value]):
            addr = decode_header(addr, charset).strip().strip("<>").lower()
            if "@" in addr:
                out.append((decode_header(name, charset).strip().strip('"').strip(), addr))
    return out


def _read_headers(msg: Message, out: ParsedMail, charset: str | None = None) -> None:
    raw_headers: dict[str, list[str]] = {}
    received: str | None = None
    # raw_items: compat32's items() would turn raw 8-bit header bytes into U+FFFD.
    for name, value in msg.raw_items():
        lower = name.lower()
        raw_headers.setdefault(lower, []).append(str(value))
        if lower == "received":
            received = str(value)
        elif lower == "authentication-results":
            out.auth_results.append((str(value), received))
    out.headers = {k: [decode_header(v, charset) for v in vs] for k, vs in raw_headers.items()}

    def raw(name: str) -> list[str]:
        return raw_headers.get(name, [])

    ids = message_ids(raw("message-id")[0]) if raw("message-id") else []
    out.message_id = ids[0] if ids else None
    out.subject = out.header("subject")
    senders = _addresses(raw("from"), charset) or _addresses(raw("sender"), charset)
    if senders:
        out.from_name = senders[0][0] or None
        out.from_addr = senders[0][1]
    out.reply_to = [a for _, a in _addresses(raw("reply-to"), charset)]
    out.to = [a for _, a in _addresses(raw("to"), charset)]
    out.cc = [a for _, a in _addresses(raw("cc"), charset)]
    seen: list[str] = []
    for name in _RECIPIENT_HEADERS:
        for _, addr in _addresses(raw(name)):
            if addr not in seen:
                seen.append(addr)
    out.recipients = seen
    out.in_reply_to = message_ids(" ".join(raw("in-reply-to")))
    out.references = message_ids(" ".join(raw("references")))
    out.date = _date(out.header("date"))
    out.content_type = msg.get_content_type()


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Walker:
    def __init__(self, out: ParsedMail, max_attachment_bytes: int, charset: str | None) -> None:
        self.out = out
        self.max_attachment_bytes = max_attachment_bytes
        self.charset = charset  # the message's declared one, for raw 8-bit names
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.tnef_bodies: list[tuple[str, str]] = []  # (text, html) of winmail.dat files
        self.parts = 0

    def walk(self, part: Message, depth: int) -> None:
        self.parts += 1
        if depth > _MAX_DEPTH or self.parts > _MAX_PARTS:
            self.out.defects.append("MIME tree too deep or too large; the rest was not read")
            return
        for defect in part.defects if depth else ():
            self.out.defects.append(type(defect).__name__)
        ctype = part.get_content_type()
        if ctype in _STATUS_TYPES:
            self._status(part, ctype)
            return
        if ctype.startswith("message/"):
            self._attached_message(part)
            return
        if ctype == "text/rfc822-headers":
            self._original_headers(_leaf_text(part))
            return
        if part.is_multipart():
            if ctype == "multipart/report":
                report_type = (part.get_param("report-type") or "").lower()
                self.out.report = ReportInfo(report_type=str(report_type))
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    self.walk(sub, depth + 1)
            return
        self._leaf(part, ctype)

    def _leaf(self, part: Message, ctype: str) -> None:
        if ctype.startswith("multipart/"):
            ctype = "text/plain"  # a multipart without a boundary: its body is plain text
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part, self.charset)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = _leaf_text(part)
            (self.texts if ctype == "text/plain" else self.htmls).append(text)
            return
        data = _payload(part)
        if is_tnef(ctype, filename) and self._unpacked_tnef(data):
            return
        size = len(data)
        content_id = part.get("Content-ID")
        attachment = MimeAttachment(
            name=filename or _default_name(ctype, len(self.out.attachments) + 1),
            content_type=ctype,
            size=size,
            data=data,
            content_id=str(content_id).strip().strip("<>") if content_id else None,
            inline=disposition == "inline" or (disposition == "" and content_id is not None),
        )
        if size > self.max_attachment_bytes:
            attachment.data = None
            attachment.skipped = "too large"
        self.out.attachments.append(attachment)

    def _unpacked_tnef(self, data: bytes) -> bool:
        """Outlook's winmail.dat: its files become the mail's attachments, and its body the
        mail's when the mail has none of its own (False: it stays the file it came as)."""
        content = unpack(data)
        if content is None or not (content.files or content.text or content.html):
            return False
        for file in content.files:
            n = len(self.out.attachments) + 1
            attachment = MimeAttachment(
                name=_safe_name(file.name) if file.name else _default_name(file.content_type, n),
                content_type=file.content_type,
                size=len(file.data),
                data=file.data,
            )
            if attachment.size > self.max_attachment_bytes:
                attachment.data, attachment.skipped = None, "too large"
            self.out.attachments.append(attachment)
        self.tnef_bodies.append((content.text, content.html))
        return True

    def _attached_message(self, part: Message) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if _cte(part) in ("base64", "quoted-printable"):
            # The parser read the encoded text as the message: decode it, then parse that.
            data = _message_bytes(part)
            inner = email.message_from_bytes(data, policy=compat32)
            self.out.embedded_message_ids.extend(message_ids(str(inner.get("Message-ID", ""))))
        elif isinstance(inner, Message):
            self.out.embedded_message_ids.extend(message_ids(str(inner.get("Message-ID", ""))))
            try:
                data = inner.as_bytes(policy=compat32)
            except Exception:
                data = b""
        else:
            data = _payload(part)
            self._original_headers(decode_bytes(data))
        if self.out.report is not None:
            self.out.report.original_message_ids.extend(self.out.embedded_message_ids)
            return  # the bounced original is evidence, not an attachment for the agent
        name = _filename(part, self.charset)
        if not name:
            subject = decode_header(inner.get("Subject", "")) if isinstance(inner, Message) else ""
            name = _safe_name(subject)[:80] + ".eml" if subject else "message.eml"
        attachment = MimeAttachment(name=name, content_type="message/rfc822", size=len(data),
                                    data=data)  # fmt: skip
        if attachment.size > self.max_attachment_bytes:
            attachment.data, attachment.skipped = None, "too large"
        self.out.attachments.append(attachment)

    def _original_headers(self, text: str) -> None:
        headers = email.message_from_string(text, policy=compat32)
        ids = message_ids(str(headers.get("Message-ID", "")))
        self.out.embedded_message_ids.extend(ids)
        if self.out.report is not None:
            self.out.report.original_message_ids.extend(ids)

    def _status(self, part: Message, ctype: str) -> None:
        report = self.out.report
        if report is None:
            kind = ctype.split("/", 1)[1].removeprefix("global-")
            report = self.out.report = ReportInfo(report_type=kind)
        # The parser splits message/delivery-status into its blocks but reads the others (the
        # RFC 6533 global forms, which may also be base64) as one message: read them all from
        # their text. Global reports are UTF-8 ("Final-Recipient: utf-8; 用户@例子.中国").
        text = decode_bytes(_message_bytes(part), "utf-8").replace("\r\n", "\n")
        blocks = [email.message_from_string(b.strip(), policy=compat32)
                  for b in re.split(r"\n[ \t]*\n", text) if b.strip()]  # fmt: skip
        for block in blocks:
            if not isinstance(block, Message):
                continue
            if action := block.get("Action"):
                report.actions.append(str(action).strip().lower())
            if status := block.get("Status"):
                report.statuses.append(str(status).strip())
            if diagnostic := block.get("Diagnostic-Code"):
                report.diagnostics.append(decode_header(diagnostic))
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if recipient:
                report.recipients.append(str(recipient).split(";", 1)[-1].strip())
            if original := block.get("Original-Message-ID"):
                report.original_message_ids.extend(message_ids(str(original)))

    def finish(self) -> None:
        out = self.out
        if not any(t.strip() for t in self.texts) and not self.htmls:  # Outlook's body only
            self.texts.extend(text for text, _ in self.tnef_bodies)  # inside its winmail.dat
            self.htmls.extend(html for text, html in self.tnef_bodies if html and not text)
        out.text = "\n\n".join(t.strip() for t in self.texts if t.strip())
        if self.htmls:
            out.html = "\n".join(self.htmls)
            reply, quoted = cut_at_quote(html_to_text(out.html))
            if quoted:
                out.html_reply = reply
            if not out.text:
                out.text = (reply + "\n\n" + quoted).strip() if quoted else reply
                out.text_from_html = True


def _cte(part: Message) -> str:
    """The Content-Transfer-Encoding as a bare lower-case token: "base64 " (a trailing space),
    "Base64", "base64; x" name base64 too."""
    value = str(part.get("Content-Transfer-Encoding", ""))
    return re.split(r"[\s;(]", value.strip().strip('"').lower(), maxsplit=1)[0]


def _payload(part: Message) -> bytes:
    cte = _cte(part)
    raw_cte = str(part.get("Content-Transfer-Encoding", ""))
    if cte in ("base64", "quoted-printable") and raw_cte.lower() != cte:
        # CPython 3.11 only lower-cases the value (stripping came upstream in 2025:
        # python/cpython#98188, #123742), so "base64 " would come back still encoded.
        raw = part.get_payload()
        if isinstance(raw, str):
            return _decode_cte(raw.encode("utf-8", "surrogateescape"), cte)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _decode_cte(data: bytes, cte: str) -> bytes:
    """Base64 or quoted-printable bytes decoded as forgivingly as the email package does."""
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    try:
        return binascii.a2b_base64(data)  # skips characters outside the alphabet
    except binascii.Error:
        # Missing padding ("…QQ" for "…QQ=="): the email package pads and retries too.
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else None]
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except binascii.Error:
            return data


def _message_bytes(part: Message) -> bytes:
    """The body of a message/* part as bytes, decoded from base64 or quoted-printable."""
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                try:
                    chunks.append(sub.as_bytes(policy=compat32))
                except Exception:
                    continue
        data = b"\n".join(chunks)
    elif isinstance(payload, str):
        data = payload.encode("utf-8", "surrogateescape")
    else:
        data = b""
    cte = _cte(part)
    if cte in ("base64", "quoted-printable"):
        data = _decode_cte(data, cte)
    return data


def _leaf_text(part: Message) -> str:
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:
        pass
    data = _payload(part)
    if part.get_content_type() == "text/html" and _meta_says_utf8(data, charset):
        charset = "utf-8"
    return decode_bytes(data, charset).replace("\r\n", "\n")


def _meta_says_utf8(data: bytes, charset: str | None) -> bool:
    """An HTML part whose <meta charset> says UTF-8 against its header: believed only when the
    bytes are strict UTF-8 (charsets.utf8_over_label), for a stale meta in a template is as
    common as a wrong header."""
    meta = _META_CHARSET.search(data[:4096])
    if not meta or meta.group(1).lower() not in (b"utf-8", b"utf8"):
        return False
    return (charset or "").lower() not in ("utf-8", "utf8") and utf8_over_label(data, charset)


def _filename(part: Message, charset: str | None = None) -> str | None:
    name = _param(part, "content-disposition", "filename", charset) or _param(
        part, "content-type", "name", charset
    )
    return _safe_name(name) or None


def _param(part: Message, header: str, name: str, charset: str | None = None) -> str:
    """A header parameter as text, decoded the way names really arrive: RFC 2231 in its own
    charset (Foxmail's ``filename*=gb2312''...`` holds GBK characters), RFC 2047 words, raw
    8-bit UTF-8 or GBK (compat32's get_param turns those bytes into U+FFFD), and a whole
    header written as one encoded word (Python scripts sending with compat32 do that)."""
    raw = next((str(v) for k, v in part.raw_items() if k.lower() == header), None)
    if raw is None:
        return ""
    value = unescape(raw, charset)
    if value.lstrip().startswith("=?"):
        value = decode_header(value, charset)
    holder = Message()
    holder[header] = value
    try:
        param = holder.get_param(name, header=header)
    except Exception:
        return ""
    if isinstance(param, tuple):  # RFC 2231: (charset, language, %-decoded text as Latin-1)
        charset, _, text = param
        try:
            return decode_bytes(text.encode("latin-1"), charset or None).strip()
        except UnicodeEncodeError:
            return text.strip()
    return decode_header(param, charset) if param else ""


def _safe_name(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", name).strip(" ._")
    return name[:200]


def _default_name(ctype: str, n: int) -> str:
    ext = mimetypes.guess_extension(ctype) or ".bin"
    return f"attachment-{n}{ext}"
