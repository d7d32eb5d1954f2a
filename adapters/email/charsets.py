"""Decoding bytes and encoded headers the way Chinese mail really arrives.

Mail labelled GB2312 routinely holds GBK characters, and mail labelled Big5 holds Microsoft's
CP950 additions, so each label is decoded with its widest superset; UTF-8 under a single-byte
label (Latin-1, Windows-125x) is read as UTF-8. Unknown or missing labels
fall back through UTF-8, GB18030 and Big5 before Latin-1, which never fails: a message is
never dropped for its charset.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

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
    for codec in codecs_for(label):
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


def unescape(value: str) -> str:
    """Undo the surrogateescape the parser uses for raw 8-bit header bytes."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("utf-8", "surrogateescape"))
    return value


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_header(value: object) -> str:
    """Decode an RFC 2047 header value (or raw 8-bit bytes) to text; never raises.

    Adjacent encoded words of one charset are joined as bytes before decoding, because GBK
    and Big5 senders split a character's bytes across two words.
    """
    if value is None:
        return ""
    text = unescape(str(value))
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
