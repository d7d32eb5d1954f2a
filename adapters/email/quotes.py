"""What the customer wrote in this mail, without the quoted thread and the signature.

mail-parser-reply knows the English and European reply headers; the forms Chinese clients write
(QQ Mail and Foxmail's "原始邮件" rule, with QQ Mail's literal "&nbsp;" around it too, Outlook's
"-----邮件原件-----" rule and "发件人: / 发送时间:" block, NetEase Mail Master's "回复的原邮件"
rule, Gmail's and Apple Mail's "…写道：" line, and their traditional-Chinese twins) are cut
here first. Signatures are cut conservatively: a wrong cut hides the customer's words, a missed
one only shows a name. The caller keeps the full original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailparser_reply.parser import EmailMessage

_LANGUAGES = ["en", "zh", "ja", "de", "fr", "es"]
_MAX_SCAN = 200_000  # characters; reply detection on megabytes of text is not worth the time

_Q = r"[ \t>*]*"  # quote markers and bold stars before a header line
# Space as clients write it in a text part: QQ Mail leaves the HTML entity "&nbsp;" literally
# ("------------------&nbsp;原始邮件&nbsp;------------------"); U+00A0 became a space already.
_SP = r"(?:\s|&nbsp;|&#160;|&#xa0;)"
_FROM = r"(?:发件人|發件人|寄件者|寄件人|From)"
_DATE = r"(?:发送时间|發送時間|发送日期|寄件日期|日期|时间|時間|Sent|Date)"
_CUTS = [
    # QQ Mail, Foxmail: "------------------ 原始邮件 ------------------" / "-- Original --";
    # Outlook in Chinese: "-----邮件原件-----"; NetEase Mail Master (网易邮箱大师):
    # "---- 回复的原邮件 ----" / "---- Replied Message ----" above a "| From | ... |" table
    rf"^{_Q}-{{2,}}{_SP}*(?:原始邮件|原始郵件|原始信件|原邮件|邮件原件|回复的原邮件"
    rf"|Original(?: Message)?|Replied Message){_SP}*-{{2,}}{_SP}*$",
    # Outlook and QQ header block: 发件人: … then 发送时间: … within three lines
    rf"^{_Q}{_FROM}\s*[:：][^\n]*\n(?:[^\n]*\n){{0,2}}?{_Q}{_DATE}\s*[:：]",
    # "在 2024年1月2日 10:00，张三 <a@b.com> 写道："
    # "张三 <a@b.com> 于2024年1月2日周二 10:00写道："
    # (Gmail wraps the long line: the previous line joins when it holds an address or a date,
    # or ends in the "<" of an address Gmail moved to the next line, as in English).
    # Every repeat is bounded and the previous line is tested once (a lookahead, then taken
    # whole): unbounded repeats were tried again at each "@" of a long line, quadratic (a
    # 56 KB line of addresses took 0.3 s, 200 KB several seconds).
    r"^(?:(?=[^\n]{0,200}?(?:<[^>\s]{1,64}@|@[\w.-]{1,255}\.\w|\d{4}年|\d{4}[-/]\d|<$))"
    r"[^\n]{0,300}+\n)?"
    r"[^\n]{0,300}?(?:写道|寫道)\s*[:：]\s*$",
    # NetEase and some webmails: "At 2024-01-02 10:00:00, "x" <x@163.com> wrote:"
    r"^(?:At|On|于|於|在)\s[^\n]{0,300}?\bwrote\s*:\s*$",
    # Outlook's rule of underscores above its header block
    r"^[ \t]*_{20,}[ \t]*$",
]
_CUT_RE = re.compile("|".join(f"(?:{c})" for c in _CUTS), re.MULTILINE | re.IGNORECASE)

_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
_SENT_FROM = re.compile(
    r"^(?:Sent from (?:my )?\S.{0,40}|(?:Get|获取) Outlook for .{0,40}|Sent with .{0,40}"
    r"|(?:发自|來自|来自|從|从)我的.{0,30}|从我的.{0,30}发送|發自我的.{0,30}"
    r"|发自.{0,15}(?:邮箱|郵箱|邮件|客户端|手机|Mail|iPhone|iPad|Android).{0,15})$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(?:best regards|kind regards|warm regards|regards|best wishes|best|cheers|thanks|"
    r"thank you|many thanks|thanks again|sincerely|yours sincerely|yours truly|br|"
    r"此致|此致敬礼|敬礼|祝好|顺祝商祺|顺颂商祺|顺祝|祝商祺|谢谢|多谢|感谢|谢谢您|謝謝|祝好運)"
    r"[\s,，.。!！~～]*$",
    re.IGNORECASE,
)
_SIG_MAX_LINES = 6
_SIG_MAX_LINE = 80


@dataclass(frozen=True)
class Reply:
    text: str  # what the customer wrote in this mail
    quoted: bool  # a quoted thread was cut
    signature: str  # the cut signature, if any


def split_reply(text: str) -> Reply:
    full = _normalize(text)
    if not full:
        return Reply("", False, "")
    scan = full[:_MAX_SCAN]
    head = scan
    match = _CUT_RE.search(scan)
    if match:
        head = scan[: match.start()]
    reply, cut = _mail_parser_reply(head)
    quoted = match is not None or cut
    reply = _drop_trailing_quote(reply)
    reply, signature = _cut_signature(reply)
    if not reply:
        # Answers written between quoted lines, or nothing but a quote: show it all rather
        # than nothing.
        return Reply(full, False, "")
    return Reply(reply, quoted, signature)


def whole(text: str) -> Reply:
    """A mail shown whole, as for a forward: what it forwards is what the customer sends."""
    return Reply(_normalize(text), False, "")


def _normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _mail_parser_reply(text: str) -> tuple[str, bool]:
    """(the newest reply, whether a quoted part was cut)"""
    if not text.strip():
        return "", False
    try:
        message = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True)
        message.read()
    except Exception:  # a third-party regex engine on customer text: never let it fail a mail
        return text.strip(), False
    if not message.replies:
        return text.strip(), False
    first = message.replies[0]
    if first.headers:  # the mail starts with a quote header: nothing written above it
        return "", True
    # full_body keeps signatures: they are cut below, more carefully.
    return _normalize(first.full_body), len(message.replies) > 1


def _drop_trailing_quote(text: str) -> str:
    lines = text.split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    return "\n".join(lines).strip()


def _cut_signature(text: str) -> tuple[str, str]:
    lines = text.split("\n")
    # 1. the RFC 3676 delimiter "-- " (mail-parser-reply trims it to "--")
    for i, line in enumerate(lines):
        if i > 0 and (line in ("--", "-- ")):
            return _split(lines, i)
    # 2. "Sent from my iPhone" and friends near the end
    for i in range(len(lines) - 1, max(0, len(lines) - 1 - _SIG_MAX_LINES), -1):
        if i > 0 and _SENT_FROM.match(lines[i].strip()) and _short_tail(lines[i + 1 :]):
            return _split(lines, i)
    # 3. a closing line ("Best regards,", "此致 敬礼") followed by a few short lines (a name)
    for i in range(max(1, len(lines) - 1 - _SIG_MAX_LINES), len(lines)):
        if _CLOSING.match(lines[i].strip()) and _short_tail(lines[i + 1 :]):
            return _split(lines, i)
    return text, ""


def _short_tail(lines: list[str]) -> bool:
    filled = [line for line in lines if line.strip()]
    return len(filled) <= _SIG_MAX_LINES and all(len(line) <= _SIG_MAX_LINE for line in filled)


def _split(lines: list[str], at: int) -> tuple[str, str]:
    body = "\n".join(lines[:at]).strip()
    if not body:
        return "\n".join(lines).strip(), ""
    return body, "\n".join(lines[at:]).strip()
