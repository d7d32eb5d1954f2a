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
# ("De : / Envoyé :") and Spanish ("De: / Enviado:", "Enviado el:"). "寄件人" (a parcel's
# sender) and the bare "日期"/"时间"/"時間"/"Date" are on return slips and order details too
# ("寄件人：王小明\n时间：1月5日下午"): a block using them must be proven (_header_block).
_FROM = r"(?:发件人|發件人|寄件者|寄件人|從|差出人|From|Von|De)"
_DATE_MAIL = (
    r"发送时间|發送時間|发送日期|寄件日期|已傳送|已发送|送信日時"
    r"|Sent|Gesendet|Envoyé|Enviado(?: el)?"
)
_DATE = rf"(?:{_DATE_MAIL}|日期|时间|時間|Date)"
# From names no one writes but a mail client, and date names only mail headers use: together
# they are a header block without more proof (QQ Mail's and Outlook's "发件人: 客服\n发送时间: …").
_MAIL_ONLY_FROM = frozenset({"发件人", "發件人", "差出人"})
_DATE_MAIL_RE = re.compile(rf"(?:{_DATE_MAIL})$", re.IGNORECASE)
_FROM_LINE = re.compile(rf"^{_Q}({_FROM})[ \t]*[:：]", re.MULTILINE | re.IGNORECASE)
_DATE_LINE = re.compile(rf"{_Q}({_DATE})[ \t]*[:：](.*)", re.IGNORECASE)
# The other lines of a header block: any of them near the From and date lines proves it.
_OTHER_HEADER_LINE = re.compile(
    rf"{_Q}(?:收件人|收件者|至|To|An|À|Para|宛先|主题|主旨|Subject|Betreff|Objet|Asunto|件名|抄送"
    r"|副本|Cc)[ \t]*[:：]",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"@|<[^<>\s]+>")
_YEAR_OR_TIME = re.compile(r"\d{4}|\d{1,2}:\d\d")
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
    # Gmail, Apple Mail and Thunderbird in German, French and Spanish, on one line
    # ("Le mar. 2 janv. 2024 à 10:00, Jean <jean@example.fr> a écrit :"), or wrapped by Gmail
    # with the verb on the next line ("...<anna@example.com>\nescribió:", "...>\na écrit :")
    rf"^{_Q}{_EU_START}(?:{_EU_ADDRESS}{_EU_LINES}|{_EU_LINES}{_EU_QUOTE_BELOW})",
    # Gmail in Japanese: "2024年1月2日(火) 10:00 山田太郎 <taro@example.jp>:" (the weekday left
    # out by some versions), wrapped before the address as in the other languages
    # ("山田太郎 <\ntaro@example.jp>:")
    rf"^{_Q}\d{{4}}年\d{{1,2}}月\d{{1,2}}日(?:\s?[(（][^\n]{{1,3}}?[)）])?\s?\d{{1,2}}:\d\d\s"
    rf"[^\n]{{0,300}}+(?:\n{_Q}[^\n]{{0,300}}+)?(?<=>:)$",
    # Gmail's older attribution in Chinese and Japanese: the date and the sender only,
    # "2013/6/26 张三 <zhang@example.com>" (a colon in some versions), then the quote
    rf"^{_Q}\d{{4}}/\d{{1,2}}/\d{{1,2}}\s[^\n<>]{{0,200}}"
    rf"<[^<>\s@]{{1,64}}@[^<>\s]{{1,255}}>[ \t]*[:：]?[ \t]*{_EU_QUOTE_BELOW}",
    # NetEase and some webmails: "At 2024-01-02 10:00:00, "x" <x@163.com> wrote:"
    r"^(?:At|On|于|於|在)\s[^\n]{0,300}?\bwrote\s*:\s*$",
    # Outlook's rule of underscores above its header block
    r"^[ \t]*_{20,}[ \t]*$",
]
_CUT_RE = re.compile("|".join(f"(?:{c})" for c in _CUTS), re.MULTILINE | re.IGNORECASE)
# Cut only when proven (see _first_cut): the Outlook and QQ header block, 发件人: … then
# 发送时间: … within three lines (_FROM_LINE, _header_block), and the "…写道：" line:
# "在 2024年1月2日 10:00，张三 <a@b.com> 写道："
# "张三 <a@b.com> 于2024年1月2日周二 10:00写道："
# (Gmail wraps the long line: the previous line joins when it holds an address or a date,
# or ends in the "<" of an address Gmail moved to the next line, as in English).
# Every repeat is bounded and the previous line is tested once (a lookahead, then taken
# whole): unbounded repeats were tried again at each "@" of a long line, quadratic (a
# 56 KB line of addresses took 0.3 s, 200 KB several seconds).
_WROTE_RE = re.compile(
    r"^(?:(?=[^\n]{0,200}?(?:<[^>\s]{1,64}@|@[\w.-]{1,255}\.\w|\d{4}年|\d{4}[-/]\d|<$))"
    r"[^\n]{0,300}+\n)?"
    r"[^\n]{0,300}?(?:写道|寫道)\s*[:：]\s*$",
    re.MULTILINE,
)
# A sentence ends in "写道：" too ("你们商品页面上写道：\n“七天无理由退货”"): the attribution
# line (with the line joined to it) must hold an address or a date or time, or be followed by
# the quote, as _EU_ADDRESS / _EU_QUOTE_BELOW require of the European forms.
_WROTE_PROOF = re.compile(r"@|\d{4}年|\d{4}[-/]\d|\d{1,2}:\d\d")
_QUOTE_BELOW = re.compile(r"\n(?:[ \t]*\n)?[ \t]*>")

_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
# Phone and app footers. The forms alone match sentences too ("从我的支付宝账户扣了两次款",
# "来自我的朋友推荐", "Sent from Shenzhen on Jan 3."): see _is_sent_from.
_SENT_FROM = re.compile(
    r"^(?:Sent from (?:my )?\S.{0,40}|(?:Get|获取) Outlook for .{0,40}|Sent with .{0,40}"
    r"|(?:发自|來自|来自)我的.{0,30}|發自我的.{0,30}"
    r"|发自.{0,15}(?:邮箱|郵箱|邮件|客户端|手机|Mail|iPhone|iPad|Android).{0,15})$",
    re.IGNORECASE,
)
# iOS in Chinese: "从我的 iPhone 发送", "從我的 iPhone 傳送" (the ending is proof enough).
_SENT_FROM_ENDING = re.compile(r"^(?:从|從)我的.{1,30}(?:发送|發送|传送|傳送)$")
# A device, a mail app or a mail service: what every real footer names. Latin words must not be
# part of a longer word ("Email", "OPPOSITE"), but may touch Chinese ("发自我的iPhone").
_DEVICE = re.compile(
    r"(?<![A-Za-z])(?:iPhone|iPad|iPod|iOS|Android|Apple Watch|Mac|mobile|phone|smartphone"
    r"|tablet|BlackBerry|Samsung|Galaxy|Huawei|Honor|Xiaomi|Redmi|OPPO|vivo|OnePlus|Meizu"
    r"|Nokia|Pixel|Windows|Mail|Outlook|Gmail|Yahoo|AOL|ProtonMail|Proton|Spark|Yandex|Zoho"
    r"|QQ|Foxmail|WPS|DingTalk|Lark)(?![A-Za-z])"
    r"|手机|手機|华为|華為|荣耀|榮耀|小米|红米|紅米|魅族|一加|三星|苹果|蘋果|平板|邮箱|郵箱|邮件"
    r"|郵件|客户端|客戶端|网易|網易|企业微信|钉钉|飞书",
    re.IGNORECASE,
)
# Sentence punctuation, or a full stop with more words after it: written text, not a footer
# (a "." inside a link, "aka.ms/o0ukef", or at the very end is neither).
_SENTENCE_PUNCTUATION = re.compile(r"[，。！？；?!]|\.\s+\S")
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
    at = _first_cut(scan)
    if at is not None:
        head = scan[:at]
    reply, cut = _mail_parser_reply(head)
    quoted = at is not None or cut
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


def _first_cut(text: str) -> int | None:
    """Where the quoted thread starts: the first reply header, of those that need proof the
    first one that has it."""
    match = _CUT_RE.search(text)
    end = match.start() if match else len(text)
    for wrote in _WROTE_RE.finditer(text):
        if wrote.start() >= end:
            break
        if _WROTE_PROOF.search(wrote.group(0)) or _QUOTE_BELOW.match(text, wrote.end()):
            end = wrote.start()
            break
    for block in _FROM_LINE.finditer(text):
        if block.start() >= end:
            break
        if _header_block(block.group(1), _lines_at(text, block.start(), 7)):
            end = block.start()
            break
    return end if end < len(text) else None


def _lines_at(text: str, start: int, count: int) -> list[str]:
    lines: list[str] = []
    while len(lines) < count and start <= len(text):
        stop = text.find("\n", start)
        if stop < 0:
            stop = len(text)
        lines.append(text[start:stop])
        start = stop + 1
    return lines


def _header_block(from_name: str, lines: list[str]) -> bool:
    """Whether the From line ``lines[0]`` opens a header block rather than lines the customer
    wrote in that form (a return slip: "寄件人：王小明" then "寄件日期：2024年1月5日"; order
    details: "From: John Smith, 12 Main St" then "Date: 5 Jan 2024"). A date line must follow
    within three lines, and then: an address on the From line, another header line (To,
    Subject...) among the lines between or the three after, or a pair of names only mail
    clients write ("发件人" with "发送时间", or with a bare "日期" that gives a year or a time)."""
    for at in range(1, min(4, len(lines))):
        date = _DATE_LINE.match(lines[at])
        if date:
            break
    else:
        return False
    if _ADDRESS.search(lines[0]):
        return True
    if any(_OTHER_HEADER_LINE.match(line) for line in lines[1:at] + lines[at + 1 : at + 4]):
        return True
    if from_name in _MAIL_ONLY_FROM:
        return bool(_DATE_MAIL_RE.match(date.group(1)) or _YEAR_OR_TIME.search(date.group(2)))
    return False


class _VettedHeaders:
    """mail-parser-reply's header pattern, minus the header blocks not proven: its English one
    takes any two lines of From/Sent/To/Subject/Date ("From: Shanghai\nDate: January 5")."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def findall(self, text: str) -> list[tuple[str, ...]]:
        return [groups for groups in self.pattern.findall(text) if _proven(groups)]


def _proven(groups: tuple[str, ...] | str) -> bool:
    header = max(groups, key=len) if isinstance(groups, tuple) else groups
    lines = [line for line in header.strip().split("\n") if line.strip()]
    names = [line for line in lines if _NAME_LINE.match(line)]
    if len(lines) < 2 or not names or names[0] != lines[0]:
        return True  # an attribution line ("On … wrote:") or a rule, not a header block
    return len(names) >= 3 or any(_ADDRESS.search(line) for line in names)


_NAME_LINE = re.compile(r"^[ \t>*]*[^\s:：]{1,20}[ \t]*[:：]")


class _Message(EmailMessage):
    @property
    def HEADER_REGEX(self) -> _VettedHeaders:  # type: ignore[override]
        return _VettedHeaders(super().HEADER_REGEX)


def _mail_parser_reply(text: str) -> tuple[str, bool]:
    """(the newest reply, whether a quoted part was cut)"""
    if not text.strip():
        return "", False
    try:
        message = _Message(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True)
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
        if i > 0 and _is_sent_from(lines[i].strip()) and _short_tail(lines[i + 1 :]):
            return _split(lines, i)
    # 3. a closing line ("Best regards,", "此致 敬礼") followed by a signature block (a name)
    for i in range(max(1, len(lines) - 1 - _SIG_MAX_LINES), len(lines)):
        if _CLOSING.match(lines[i].strip()) and _signature_block(lines[i + 1 :]):
            return _split(lines, i)
    return text, ""


def _is_sent_from(line: str) -> bool:
    """A phone or app footer: its form, a device or app named (or iOS's "…发送" ending), and no
    sentence punctuation."""
    if _SENTENCE_PUNCTUATION.search(line):
        return False
    if _SENT_FROM_ENDING.match(line):
        return True
    return bool(_SENT_FROM.match(line) and _DEVICE.search(line))


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
