"""Decoding bytes and encoded headers the way Chinese mail really arrives.

Mail labelled GB2312 routinely holds GBK characters, and mail labelled Big5 holds Microsoft's
CP950 additions, so each label is decoded with its widest superset; UTF-8 under a single-byte
label (Latin-1, Windows-125x) is read as UTF-8, and so is Chinese UTF-8 under a GB or Big5 label
(see looks_like_utf8). Unknown or missing labels fall back through UTF-8, GB18030 and Big5
before Latin-1, which never fails: a message is never dropped for its charset.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from itertools import islice

# Label (lower case) -> codecs to try, widest first.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "ms936": ("gb18030",),
    "windows-936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "x-euc-cn": ("gb18030",),
    "csgb2312": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "hz-gb-2312": ("hz", "gb18030"),
    "gb18030": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "x-big5": ("cp950", "big5hkscs"),
    "big-5": ("cp950", "big5hkscs"),
    "cn-big5": ("cp950", "big5hkscs"),
    "csbig5": ("cp950", "big5hkscs"),
    "cp950": ("cp950", "big5hkscs"),
    "big5-hkscs": ("big5hkscs", "cp950"),
    "unicode-1-1-utf-7": ("utf-7",),
    "utf8": ("utf-8",),
    "us-ascii": ("utf-8",),  # mislabelled UTF-8 is common; ASCII decodes the same either way
    "ascii": ("utf-8",),
}
# Tried in this order when a label is missing, unknown or wrong.
_GUESSES = ("utf-8", "gb18030", "cp950")
# Double-byte Chinese labels that UTF-8 is sent under (QQ Mail's web composer labels UTF-8 HTML
# "gbk"; nodemailer/mailparser#130): GB18030 and CP950 decode most UTF-8 without an error, so
# the label alone would turn it into mojibake.
_DOUBLE_BYTE = frozenset({"gb18030", "cp950", "big5hkscs"})


def looks_like_utf8(data: bytes) -> bool:
    """Whether bytes under a GB or Big5 label are really UTF-8 text.

    Valid UTF-8 alone is not enough: GBK and Big5 text of a few characters often is valid UTF-8
    by chance ("谢谢" in GBK, D0 BB D0 BB, reads as UTF-8 "лл"; so do 14% of random
    one-character, 2% of two-character and 0.3% of three-character GBK strings), nearly always
    as two-byte sequences, which spell Latin, Greek, Cyrillic, Hebrew... Chinese in UTF-8 is
    three-byte sequences. So this asks for at least two characters of three or four bytes, all
    of them CJK, CJK or general punctuation, full-width forms, symbols, kana or emoji, and no
    two-byte character beyond Latin (é, ·, ×): see _NOT_CHINESE_TEXT. Of a million random GBK
    strings of each length from one to six characters (GB2312 hanzi, rare ones as likely as
    common ones, and punctuation), only three-character ones passed, 24 in a million; of Big5
    strings, 16 in a million of three characters and 3 of four. Real text, with its punctuation
    and common characters, passes less often still; a UTF-8 "好的" passes.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if _NOT_CHINESE_TEXT.search(text):
        return False
    return next(islice(_WIDE.finditer(text), 1, None), None) is not None  # two or more


# Characters of more than one byte that are not in Chinese text written in UTF-8: two-byte ones
# beyond Latin (Greek, Cyrillic, Hebrew...), and three- or four-byte ones outside punctuation
# and symbols (U+2000-2BFF), CJK punctuation, kana, bopomofo and units (U+3000-33FF), the
# ideographs (U+4E00-9FFF), variation selectors and vertical forms (U+FE00-FE4F), the byte order
# mark, full-width forms (U+FF00-FFEF) and emoji (U+1F000-1FAFF).
_NOT_CHINESE_TEXT = re.compile(
    "[\u0250-\u1fff\u2c00-\u2fff\u3400-\u4dff\ua000-\ufdff\ufe50-\ufefe\ufff0-\uffff"
    "\U00010000-\U0001efff\U0001fb00-\U0010ffff]"
)
_WIDE = re.compile(
    "[\u2000-\u2bff\u3000-\u33ff\u4e00-\u9fff\ufe10-\ufe4f\uff00-\uffef\U0001f000-\U0001faff]"
)


def utf8_over_label(data: bytes, label: str | None) -> bool:
    """Whether ``data`` is UTF-8 when a second label says so against ``label`` (an HTML part's
    <meta charset>): under a GB or Big5 label as looks_like_utf8 decides, under others when the
    bytes are strict UTF-8 with at least two multi-byte characters."""
    if codecs_for(label)[0] in _DOUBLE_BYTE:
        return looks_like_utf8(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(text) <= len(data) - 2  # each multi-byte character is one or more bytes longer


def codecs_for(label: str | None) -> list[str]:
    """The codecs to try for a declared charset label, best first."""
    out: list[str] = []
    if label:
        name = label.strip().strip('"').lower()
        out.extend(_SUPERSETS.get(name, ()))
        if not out:
            try:
                codec = codecs.lookup(name).name
            except LookupError:
                codec = ""
            if codec.startswith(("iso8859-", "cp125")):
                # A single-byte codec decodes any bytes, so UTF-8 sent under its label (Gmail
                # parts labelled windows-1252, bank statements labelled iso-8859-2) would come
                # out as "â€™": valid UTF-8 is read as UTF-8. Real single-byte text is
                # practically never valid UTF-8 (an accented letter alone is a stray byte).
                out.append("utf-8")
            if codec:
                out.append(codec)
    for guess in _GUESSES:
        if guess not in out:
            out.append(guess)
    return out


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Decode ``data`` declared as ``label``; never raises."""
    candidates = codecs_for(label)
    if candidates[0] in _DOUBLE_BYTE and looks_like_utf8(data):
        return data.decode("utf-8")
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    # Nothing fits exactly: keep the declared (or first) codec and replace the bad bytes.
    first = codecs_for(label)[0]
    try:
        return data.decode(first, errors="replace")
    except LookupError:
        return data.decode("latin-1")


def unescape(value: str, charset: str | None = None) -> str:
    """Undo the surrogateescape the parser uses for raw 8-bit header bytes; ``charset`` is the
    message's declared one, the best guess for them (a Big5 mail's raw subject is Big5, and
    would not be guessed: GB18030 decodes most Big5 bytes too)."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("utf-8", "surrogateescape"), charset)
    return value


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_header(value: object, charset: str | None = None) -> str:
    """Decode an RFC 2047 header value (or raw 8-bit bytes) to text; never raises.

    Adjacent encoded words of one charset are joined as bytes before decoding, because GBK
    and Big5 senders split a character's bytes across two words. ``charset``: the message's
    declared charset, the first guess for raw 8-bit bytes.
    """
    if value is None:
        return ""
    text = unescape(str(value), charset)
    out: list[str] = []
    run: list[bytes] = []  # bytes of adjacent encoded words sharing run_label
    run_label = ""
    after_word = False
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        label = match.group(1).split("*", 1)[0].lower()
        if not (after_word and not gap.strip()):
            # Text between words is kept; whitespace between two encoded words is not.
            _flush(out, run, run_label)
            out.append(gap)
        elif label != run_label:
            _flush(out, run, run_label)
        run.append(_word_bytes(match.group(2), match.group(3)))
        run_label = label
        after_word = True
        pos = match.end()
    _flush(out, run, run_label)
    out.append(text[pos:])
    return _unfold("".join(out))


def _flush(out: list[str], run: list[bytes], label: str) -> None:
    if run:
        out.append(decode_bytes(b"".join(run), label))
        run.clear()


def _word_bytes(encoding: str, payload: str) -> bytes:
    try:
        if encoding in "bB":
            cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
            cleaned += "=" * (-len(cleaned) % 4)
            return base64.b64decode(cleaned)
        return binascii.a2b_qp(payload.replace("_", " ").encode("ascii", "replace"), header=True)
    except (ValueError, binascii.Error):
        return payload.encode("ascii", "replace")


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", text).strip()
