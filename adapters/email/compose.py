"""Build the MIME message of an agent's reply: threading headers, text + HTML, attachments."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from gateway.i18n import quote_attribution

_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|sv|antw|vs|tr|回复|回覆|答复|答覆|转发|轉寄|轉發)\s*(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_MAX_REFERENCES = 20
_SYNTHETIC = "@no-message-id.invalid>"  # threads.synthetic_message_id: known to us only
_MAX_QUOTE = 2000
# RFC 2047 section 2: an encoded-word is at most 75 characters. Python folds a header line to
# max_line_length with encoded-words of up to max_line_length - 2 characters (76 with SMTP's 78),
# so what we send is generated with lines of 76 at most (also the RFC 2045 base64 line length).
OUT_POLICY = SMTP.clone(max_line_length=76)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class OutFile:
    name: str
    content_type: str
    data: bytes


def reply_subject(subject: str | None, fallback: str) -> str:
    """ "Re: <subject>" without piling up "Re: 回复: Re:" prefixes."""
    base = _PREFIX.sub("", subject or "").strip()
    return f"Re: {base}" if base else fallback


def display_from(author: str | None, from_name: str) -> str:
    # A line break in a display name would make the header unwritable (Python raises).
    author = _CONTROL.sub(" ", author or "").strip()
    if not author or author == from_name:
        return from_name
    return f"{author} via {from_name}"


def _known_id(value: Any) -> str | None:
    """A Message-ID the customer's client knows: not one we made up for a mail without one."""
    if not isinstance(value, str) or not value.startswith("<") or not value.endswith(">"):
        return None
    return None if value.endswith(_SYNTHETIC) else value


def reply_references(context: dict[str, Any], *, thread_root: str | None = None) -> list[str]:
    """``References`` of our answer to the customer's mail (RFC 5322 3.6.4): their References,
    or when they sent none, their In-Reply-To if it names one message; then their Message-ID.
    The thread's first Message-ID (our record: the thread key) leads, so that clients which
    trim References still thread; a long list keeps it and the newest ones."""
    theirs = _known_id(context.get("message_id"))
    parents = [r for r in context.get("references") or [] if _known_id(r)]
    if not parents:
        in_reply_to = [r for r in context.get("in_reply_to") or [] if isinstance(r, str)]
        parents = in_reply_to if len(in_reply_to) == 1 and _known_id(in_reply_to[0]) else []
    # Their Message-ID is the last one whatever else: clients take the last id for the parent.
    chain = [*(r for r in parents if r != theirs), *([theirs] if theirs else [])]
    root = _known_id(thread_root)
    if root and root not in chain:
        chain.insert(0, root)
    ids = list(dict.fromkeys(chain))  # once each, first place kept
    if len(ids) > _MAX_REFERENCES:
        ids = ids[:1] + ids[-(_MAX_REFERENCES - 1) :]
    return ids


def build_reply(
    *,
    from_name: str,
    from_address: str,
    reply_to: str,
    to: str,
    message_id: str,
    text: str,
    context: dict[str, Any],
    files: Sequence[OutFile] = (),
    quote_customer: bool = True,
    automatic: bool = False,
    date: datetime | None = None,
    thread_root: str | None = None,
    language: str = "en",
) -> EmailMessage:
    msg = EmailMessage(policy=OUT_POLICY)
    local, _, domain = from_address.rpartition("@")
    msg["From"] = Address(display_name=from_name, username=local, domain=domain)
    msg["To"] = to
    msg["Reply-To"] = reply_to
    msg["Subject"] = reply_subject(context.get("subject"), f"Message from {from_name}")
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    theirs = _known_id(context.get("message_id"))
    if theirs:
        msg["In-Reply-To"] = theirs
    references = reply_references(context, thread_root=thread_root)
    if references:
        msg["References"] = " ".join(references)
    if automatic:  # so that the customer's own auto-responder does not answer it
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    quote = _quote(context, language) if quote_customer else None
    msg.set_content(_plain(text, quote), subtype="plain", charset="utf-8")
    msg.add_alternative(_html(text, quote), subtype="html", charset="utf-8")
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        name = _CONTROL.sub(" ", file.name).strip() or "attachment"
        msg.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=name)
        _name_fallback(list(msg.iter_attachments())[-1], name)
    return msg


def _name_fallback(part: EmailMessage, name: str) -> None:
    """Python writes the file name only as RFC 2231 ``filename*=`` (``filename*0*=`` when
    long), which Outlook and QQ Mail do not always read; they read Content-Type's ``name``
    (RFC 2045 / 2046), written as encoded-words as Outlook, Gmail and Thunderbird do."""
    if name.isascii() and len(name) <= 60 and not any(c in name for c in '"\\'):
        value = f'"{name}"'
    else:  # encoded-words of at most 66 characters, one per line, never splitting a character
        value = '"' + "\n ".join(Header(name, "utf-8", maxlinelen=66).encode().split()) + '"'
    content_type = part.get_content_type()
    del part["Content-Type"]
    part.set_raw("Content-Type", f"{content_type};\n name={value}")


def _quote(context: dict[str, Any], language: str = "en") -> tuple[str, str] | None:
    """(attribution line, quoted text) of the customer's message we answer."""
    text = str(context.get("quote") or "").strip()
    if not text:
        return None
    if len(text) > _MAX_QUOTE:
        text = text[:_MAX_QUOTE].rstrip() + " …"
    who = context.get("from_name") or context.get("from") or ""
    if context.get("from_name") and context.get("from"):
        who = f"{context['from_name']} <{context['from']}>"
    # The customer's own zone (their Date header's offset) and the channel's language:
    # "在 2026年12月5日 21:44，李伟 写道：" / "On 2026-12-05 21:44 UTC+08:00, Li Wei wrote:".
    try:
        when = datetime.fromisoformat(str(context.get("date") or ""))
    except ValueError:
        when = None
    return quote_attribution(language, when, who).strip(), text


def _plain(text: str, quote: tuple[str, str] | None) -> str:
    body = text.rstrip() + "\n"
    if quote:
        attribution, quoted = quote
        body += "\n" + attribution + "\n" + "\n".join("> " + line for line in quoted.split("\n"))
        body += "\n"
    return body


def _html(text: str, quote: tuple[str, str] | None) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if quote:
        attribution, quoted = quote
        body += (
            f"<div>{html.escape(attribution)}</div>"
            '<blockquote type="cite" style="margin:0 0 0 .8ex;border-left:1px solid #ccc;'
            f'padding-left:1ex">{html.escape(quoted).replace(chr(10), "<br>")}</blockquote>'
        )
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'
