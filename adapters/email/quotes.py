"""What the customer wrote in this mail, without the quoted thread and the signature.

mail-parser-reply knows the English and Japanese reply headers; the forms Chinese clients write
(QQ Mail and Foxmail's "原始邮件" rule, with QQ Mail's literal "&nbsp;" around it too, Outlook's
"-----邮件原件-----" rule and "发件人: / 发送时间:" block, NetEase Mail Master's "回复的原邮件"
rule, Gmail's and Apple Mail's "…写道：" line, and their traditional-Chinese twins) are cut
here first, and so are the German, French, Spanish and Japanese forms it misses (Gmail's
attribution line wrapped over two lines, Gmail's Spanish line, Outlook's localized "-----Original
Message-----" rules and Japanese header block). Signatures are cut conservatively: a wrong cut
hides the customer's words, a missed one only shows a name. The caller keeps the full original
text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailparser_reply.parser import EmailMessage

# Not "de", "fr", "es": the library's patterns for them cut customers' own sentences ("Am Montag
# schrieb ich Ihnen:") and its German one took 12 s on 190 KB of "Am 1:00 schrieb …" lines;
# the German, French and Spanish forms are cut by _CUTS below.
_LANGUAGES = ["en", "zh", "ja"]
_MAX_SCAN = 200_000  # characters; reply detection on megabytes of text is not worth the time

_Q = r"[ \t>*]*"  # quote markers and bold stars before a header line
# Space as clients write it in a text part: QQ Mail leaves the HTML entity "&nbsp;" literally
# ("------------------&nbsp;原始邮件&nbsp;------------------"); U+00A0 became a space already.
_SP = r"(?:\s|&nbsp;|&#160;|&#xa0;)"
# Outlook's header block names, as Outlook writes them in Chinese (simplified and traditional,
# "從:" in older versions, "已傳送:" for "Sent:" in the new Outlook and on the web), Japanese
# ("差出人: / 送信日時:"), German ("Von: / Gesendet:"), French
# ("De : / Envoyé :") and Spanish ("De: / Enviado:", "Enviado el:").
_FROM = r"(?:发件人|發件人|寄件者|寄件人|從|差出人|From|Von|De)"
_DATE = (
    r"(?:发送时间|發送時間|发送日期|寄件日期|已傳送|已发送|日期|时间|時間|送信日時"
    r"|Sent|Date|Gesendet|Envoyé|Enviado(?: el)?)"
)
# German, French and Spanish attribution lines begin with "Am", "Le" or "El" (case-sensitive:
# "le"/"el" begin sentences too) and give the time ("um 10:00 Uhr", "à 10:00", "a las 8:16").
_EU_START = r"(?-i:Am|Le|El)\s(?=[^\n]{0,80}?\d:\d\d)"
# ... and end with the verb and a colon: "schrieb Max <max@example.de>:", "a écrit :" (French
# puts a space, often a no-break one, before the colon), "escribió:".
_EU_WROTE = r"(?:\bschrieb(?:\s[^\n:]{1,200}+)?|\bécrit|\bescribió)\s*:$"
# The line, or Gmail's wrap of it over two lines, each taken whole by a possessive repeat and
# searched once for the verb; in German the address may be what moved to the next line
# ("schrieb Max <\nmax@example.de>:", "schrieb Max\n<max@example.de>:").
_EU_LINES = (
    rf"(?:[^\n]{{0,300}}?{_EU_WROTE}"
    rf"|[^\n]{{0,300}}+\n{_Q}[^\n]{{0,200}}?{_EU_WROTE}"
    rf"|(?=[^\n]{{0,300}}?\bschrieb\b)[^\n]{{0,300}}+\n{_Q}[^\n]{{0,200}}+(?<=>:)$)"
)
# A sentence can read the same ("Le 2 janvier à 10:00, le livreur a écrit :"): the line must
# also hold the sender's address (Gmail, Apple Mail) or be followed by the quote (Thunderbird
# gives only the name, then quotes with ">").
_EU_ADDRESS = r"(?=[^\n@]{0,300}+(?:@|\n[^\n@]{0,300}+@))"
_EU_QUOTE_BELOW = r"(?=\n(?:[ \t]*\n)?[ \t]*>)"
_CUTS = [
    # QQ Mail, Foxmail: "------------------ 原始邮件 ------------------" / "-- Original --";
    # Outlook in Chinese: "-----邮件原件-----"; NetEase Mail Master (网易邮箱大师):
    # "---- 回复的原邮件 ----" / "---- Replied Message ----" above a "| From | ... |" table
    # Outlook in German, French, Spanish and Japanese: "-----Ursprüngliche Nachricht-----",
    # "-----Message d'origine-----", "-----Mensaje original-----", "-----元のメッセージ-----"
    rf"^{_Q}-{{2,}}{_SP}*(?:原始邮件|原始郵件|原始信件|原邮件|邮件原件|回复的原邮件"
    rf"|Original(?: Message)?|Replied Message|Ursprüngliche Nachricht|Message d'origine"
    rf"|Mensaje original|元のメッセージ){_SP}*-{{2,}}{_SP}*$",
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
    # Gmail, Apple Mail and Thunderbird in German, French and Spanish, on one line
    # ("Le mar. 2 janv. 2024 à 10:00, Jean <jean@example.fr> a écrit :"), or wrapped by Gmail
    # with the verb on the next line ("...<anna@example.com>\nescribió:", "...>\na écrit :")
    rf"^{_Q}{_EU_START}(?:{_EU_ADDRESS}{_EU_LINES}|{_EU_LINES}{_EU_QUOTE_BELOW})",
    # Gmail in Japanese: "2024年1月2日(火) 10:00 山田太郎 <taro@example.jp>:", wrapped before
    # the address as in the other languages ("山田太郎 <\ntaro@example.jp>:")
    rf"^{_Q}\d{{4}}年\d{{1,2}}月\d{{1,2}}日\s?[(（][^\n]{{1,3}}?[)）]\s?\d{{1,2}}:\d\d\s"
    rf"[^\n]{{0,300}}+(?:\n{_Q}[^\n]{{0,300}}+)?(?<=>:)$",
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
# What a customer writes after "谢谢" and a signature block does not hold (see _signature_block).
_SENTENCE_END = ("?", "？", "。", "！", "!")
_ABBREVIATION_END = re.compile(r"\b[A-Z][A-Za-z]{0,3}\.$")  # "Co., Ltd.", "Inc.", "Main St."
_CLAUSE = re.compile(r"[，；]")  # running Chinese text; a name, title or company has none
_ADD_ON = re.compile(
    r"另外|还有|還有|补充|補充|顺便|順便|\bP\.?S\b|\bby the way\b|\bbtw\b|\balso\b", re.IGNORECASE
)
# Someone speaking to us or of themselves ("明天下午我在家", "请您尽快", "I will be home"), or a
# Chinese question or suggestion particle: a name, title, company or address line has none.
_PERSONAL = re.compile(
    r"[我你您咱吗嗎呢吧]|\b(?:I|I'm|I'll|I've|me|my|we|we're|our|us|you|your)\b", re.IGNORECASE
)
_LONG_NUMBER = re.compile(r"\d{8,}")  # an order or tracking number ... or a phone number:
_CONTACT_LINE = re.compile(
    r"^(?:(?:tel|phone|mobile|mob|cell|fax|qq|wechat|whatsapp|电话|電話|手机|手機|传真|傳真|座机"
    r"|微信)\.?\s*[:：]?|[tmfp]\s*[:：])\s*[+(\d]",
    re.IGNORECASE,
)
_PHONE = re.compile(r"[+(0][\d\s()./-]{7,24}|1[3-9]\d{9}")  # "+86 21 …", "021-…", a mobile


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
    # 3. a closing line ("Best regards,", "此致 敬礼") followed by a signature block (a name)
    for i in range(max(1, len(lines) - 1 - _SIG_MAX_LINES), len(lines)):
        if _CLOSING.match(lines[i].strip()) and _signature_block(lines[i + 1 :]):
            return _split(lines, i)
    return text, ""


def _short_tail(lines: list[str]) -> bool:
    filled = [line for line in lines if line.strip()]
    return len(filled) <= _SIG_MAX_LINES and all(len(line) <= _SIG_MAX_LINE for line in filled)


def _signature_block(lines: list[str]) -> bool:
    """Whether the lines after a closing line are a signature block rather than more of the mail.

    A closing word does not end what customers write: "谢谢" (or "Thanks") then "另外，订单号是
    …，地址改成…可以吗？" is common, and cutting there hides the question from the agent. A
    signature block is a name, a title, a company, an address and contact lines: a few short
    lines none of which reads as written to us. So any line that does keeps the whole text:
    a question or a sentence (it ends in ? ？ 。 ！ !, or in a full stop that ends no
    abbreviation such as "Ltd."), running Chinese text (a "，" or "；"), an add-on ("另外",
    "还有", "P.S.", "by the way", "also"), someone speaking ("我", "您", "I", "you", or a particle
    such as "吗" or "吧": "明天下午我在家" has no punctuation at all), or a long number that is
    no phone number (an order or tracking number; a phone number has its label, a "+", an area
    code or a mobile's shape).
    A missed cut only shows a name, so when in doubt this says no.
    """
    if not _short_tail(lines):
        return False
    for line in (line.strip() for line in lines):
        if (
            line.endswith(_SENTENCE_END)
            or (line.endswith(".") and not _ABBREVIATION_END.search(line))
            or _CLAUSE.search(line)
            or _ADD_ON.search(line)
            or _PERSONAL.search(line)
            or (
                _LONG_NUMBER.search(line)
                and not _CONTACT_LINE.match(line)
                and not _PHONE.fullmatch(line)
            )
        ):
            return False
    return True


def _split(lines: list[str], at: int) -> tuple[str, str]:
    body = "\n".join(lines[:at]).strip()
    if not body:
        return "\n".join(lines).strip(), ""
    return body, "\n".join(lines[at:]).strip()
