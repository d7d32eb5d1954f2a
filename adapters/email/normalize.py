"""A parsed mail -> the InboundMessage the inbox files. Pure: storage happened before."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from adapters.email.mime import ParsedMail
from adapters.email.quotes import Reply, split_reply, whole
from adapters.email.senderauth import UNVERIFIED, SenderAuth
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage

MAX_TEXT = 100_000  # characters shown to the agent
MAX_ORIGINAL = 100_000  # characters of the full original text kept in meta
MAX_HTML = 200_000  # characters of sanitized HTML kept in meta
MAX_QUOTE = 2_000  # characters of this mail quoted in our answer
_MAX_REFERENCES = 30
_FUTURE_SLACK_MS = 15 * 60 * 1000
UNKNOWN_SENDER = "unknown-sender@invalid"
# The contact identity of mail whose From address did not pass the check: its own contact, so it
# never joins the history (nor the threads) of the customer it claims to be.
UNVERIFIED_PREFIX = "unverified:"
# Gmail and Apple Mail "Fwd:", Outlook "FW:" / "转发:" / "轉寄:", QQ Mail "转发：": the mail
# under the forward header (a payment notice, a courier's message) is what the customer sends.
_FORWARD = re.compile(r"^\s*(?:fwd?|转发|轉寄|轉發)\s*[:：]", re.IGNORECASE)


@dataclass
class Extras:
    """What the adapter worked out around the parse."""

    message_id: str  # the Message-ID, or a stable synthetic one
    thread_key: str
    thread_via: str  # token, references, new
    attachments: list[Attachment] = field(default_factory=list)
    html: str | None = None  # sanitized
    notices: list[str] = field(default_factory=list)  # told to the agent under the text
    uid: int | None = None
    truncated: bool = False
    sender_auth: SenderAuth | None = None


def sender_address(mail: ParsedMail) -> str:
    return mail.from_addr or (mail.reply_to[0] if mail.reply_to else UNKNOWN_SENDER)


def contact_of(mail: ParsedMail, auth: SenderAuth | None = None) -> ContactIdentity:
    """The customer: their From address; an unverified sender under ``unverified:<address>``,
    a contact of its own (shown with the address it claims)."""
    address = sender_address(mail)
    external_id = address
    if (auth is not None and auth.status == UNVERIFIED) or address.startswith(UNVERIFIED_PREFIX):
        external_id = UNVERIFIED_PREFIX + address
    return ContactIdentity(external_id=external_id, name=mail.from_name, email=address)


def address_of(contact_external_id: str) -> str:
    """The mail address of a contact identity (see contact_of)."""
    if contact_external_id.startswith(UNVERIFIED_PREFIX):
        return contact_external_id[len(UNVERIFIED_PREFIX) :]
    return contact_external_id


def reply_of(mail: ParsedMail) -> Reply:
    """What the customer wrote in this mail, from the text part or else the HTML; a forwarded
    mail whole."""
    if _FORWARD.match(mail.subject):
        return whole(mail.text)
    if mail.text_from_html and mail.html_reply is not None:
        reply = split_reply(mail.html_reply)
        if reply.text:
            return Reply(reply.text, True, reply.signature)
    return split_reply(mail.text)


def build_inbound(mail: ParsedMail, extras: Extras, *, channel_id: str) -> InboundMessage:
    reply = reply_of(mail)
    auth = extras.sender_auth
    contact = contact_of(mail, auth)
    text = reply.text
    notices = list(extras.notices)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
        notices.append(f"The text was cut at {MAX_TEXT} characters; the mailbox has all of it.")
    if notices:
        text = (text + "\n\n" if text else "") + "\n".join(f"[{n}]" for n in notices)
    meta = {
        "message_id": extras.message_id,
        "subject": mail.subject,
        "from": contact.email,
        "from_name": mail.from_name,
        "reply_to": mail.reply_to[0] if mail.reply_to else None,
        # verified / unverified (with the reason) / unknown: see senderauth.py
        "sender_auth": auth.as_meta() if auth is not None else None,
        "claimed_from": contact.email if contact.external_id != contact.email else None,
        "to": mail.to[:20],
        "cc": mail.cc[:20],
        "in_reply_to": mail.in_reply_to[:5],
        "references": _kept_references(mail.references),
        "date": mail.date.isoformat() if mail.date else None,
        "thread_via": extras.thread_via,
        "quoted": reply.quoted,
        "signature": reply.signature[:1000],
        "quote": reply.text[:MAX_QUOTE],
        "original_text": mail.text[:MAX_ORIGINAL],
        "html": extras.html[:MAX_HTML] if extras.html else None,
        "truncated": extras.truncated,
        "notices": notices,
        "defects": list(dict.fromkeys(mail.defects))[:10],
        "uid": extras.uid,
    }
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.EMAIL,
        external_id=extras.message_id,
        contact=contact,
        thread_key=extras.thread_key,
        text=text,
        attachments=extras.attachments,
        sent_at=_sent_at(mail),
        meta={k: v for k, v in meta.items() if v not in (None, [], "")},
    )


def _sent_at(mail: ParsedMail) -> int:
    now = int(time.time() * 1000)
    if mail.date is None:
        return now
    stamp = int(mail.date.timestamp() * 1000)
    # A sender's clock is not ours to trust into the future.
    return now if stamp > now + _FUTURE_SLACK_MS or stamp <= 0 else stamp


def _kept_references(references: list[str]) -> list[str]:
    """A long References chain kept as RFC 5322 3.6.4 suggests trimming it: the first id (the
    thread's root, which clients thread on) and the newest ones."""
    if len(references) <= _MAX_REFERENCES:
        return list(references)
    return references[:1] + references[-(_MAX_REFERENCES - 1) :]
