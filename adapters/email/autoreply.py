"""Mail that no human wrote: auto-replies, bounces, read receipts and list traffic.

None of it may open a conversation or be answered (RFC 3834): answering an out-of-office with
an auto-acknowledgement is how mail loops start. A bounce of one of our replies is reported so
that reply can be marked failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from adapters.email.mime import ParsedMail, message_ids


class MailKind(StrEnum):
    HUMAN = "human"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    RECEIPT = "receipt"  # read / disposition notification
    LIST = "list"


_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|out of (?:the )?office(?: ?auto ?reply)?"
    r"|自动回复|自動回覆|自动答复|自動回复|休假自动回复)"
    # with a note in brackets: "自动回复(休假):", "Automatic reply (Out of office):"
    r"\s*(?:[(（][^()（）\n]{1,20}[)）]\s*)?[:：]"
    # website and shop systems (PHPMailer...): "【自动回复】感谢您的咨询", "【自動返信】..."
    r"|[【\[]\s*(?:自动回复|自動回覆|自动答复|自動返信|auto[- ]?reply)\s*[】\]]"
    # Lotus Notes: "AUTO: Wang Wei is out of the office (returning 2013/10/14)"
    r"|auto:\s[^\n]{0,200}?\bout of (?:the )?office)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:ed|able)|delivery status notification|delivery (?:status|failure)"
    r"|mail delivery (?:failed|failure|system)|returned mail|failure notice"
    r"|系统退信|退信|邮件投递失败|未送达|無法傳遞|无法投递)",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help", "list-owner")
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply")


def classify(mail: ParsedMail) -> MailKind:
    """What kind of sender wrote this mail; everything not HUMAN opens nothing."""
    report = mail.report
    if report is not None:
        # RFC 6533's "global-" forms carry internationalized addresses; they read the same.
        if report.report_type.removeprefix("global-") == "disposition-notification":
            return MailKind.RECEIPT
        return MailKind.BOUNCE
    return_path = mail.headers.get("return-path")
    null_sender = bool(return_path) and all(v.strip() in ("<>", "") for v in return_path)
    if (mail.from_addr and _DAEMON.match(mail.from_addr)) or (
        null_sender and _BOUNCE_SUBJECT.match(mail.subject)
    ):
        return MailKind.BOUNCE
    auto = mail.header("auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return MailKind.AUTO_REPLY
    if any(_says_yes(v) for h in _AUTO_HEADERS for v in mail.headers.get(h) or ()):
        return MailKind.AUTO_REPLY
    if _AUTO_SUBJECT.match(mail.subject):
        return MailKind.AUTO_REPLY
    precedence = mail.header("precedence").strip().lower()
    if precedence in _PRECEDENCE:
        return MailKind.AUTO_REPLY if precedence.startswith("auto") else MailKind.LIST
    if any(mail.headers.get(h) for h in _LIST_HEADERS):
        return MailKind.LIST
    if null_sender:
        return MailKind.AUTO_REPLY
    return MailKind.HUMAN


def _says_yes(value: str) -> bool:
    """An X-Autoreply-style header set, not one a client writes to say "no" ("X-Autoreply: no",
    "X-Auto-Reply: false")."""
    return value.strip().lower() not in ("", "no", "false", "0", "off")


@dataclass(frozen=True)
class Bounce:
    original_message_ids: list[str]
    failed: bool  # False for "delayed" or "delivered" notices
    reason: str


def bounce_details(mail: ParsedMail) -> Bounce:
    """Which of our messages bounced, and why, from a DSN or a free-form bounce."""
    report = mail.report
    ids: list[str] = []
    if report is not None:
        ids.extend(report.original_message_ids)
    ids.extend(mail.embedded_message_ids)
    if not ids:
        # Free-form bounces quote the original headers in their text.
        for match in re.finditer(r"(?im)^\s*>?\s*Message-ID:\s*(<[^>\s]+>)", mail.text):
            ids.extend(message_ids(match.group(1)))
    unique = list(dict.fromkeys(ids))
    failed = True
    reason = ""
    if report is not None and report.actions:
        failed = any(a == "failed" for a in report.actions)
        parts = []
        for i, action in enumerate(report.actions):
            status = report.statuses[i] if i < len(report.statuses) else ""
            recipient = report.recipients[i] if i < len(report.recipients) else ""
            diagnostic = report.diagnostics[i] if i < len(report.diagnostics) else ""
            parts.append(" ".join(p for p in (recipient, action, status, diagnostic) if p))
        reason = "; ".join(parts)
    if not reason:
        first = next((line.strip() for line in mail.text.splitlines() if line.strip()), "")
        reason = mail.subject or first
    return Bounce(unique, failed, f"bounced: {reason}"[:500])
