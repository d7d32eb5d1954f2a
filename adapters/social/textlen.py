"""Text length as each platform counts it, so a reply that is too long fails before it is sent,
with a message the agent understands.

- X (twitter-text v3 rules): text is NFC-normalised; code points in a few ranges (Latin, Greek,
  Cyrillic, Arabic, Hebrew, most punctuation...) weigh 1, everything else (CJK, emoji...) weighs 2;
  an emoji sequence (ZWJ family, skin tone, flag, keycap) weighs 2 in all; every URL weighs 23
  (t.co wraps it), as far as twitter-text's extractor takes it. Limit 280.
- Mastodon: every URL starting with http:// or https:// counts 23 (as far as Mastodon's own
  path rules take it), a remote mention ``@user@domain`` counts as ``@user``; the rest counts
  user-perceived characters (an emoji sequence or a letter with combining marks is 1).
- Weibo: a comment holds 140 "characters" where a half-width (ASCII) character is half of one;
  links (a scheme or www., ending as on X) are shortened to t.cn and counted as 10. An
  approximation of Weibo's own counter: when Weibo still rejects a comment, the send fails
  permanently with Weibo's message.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

X_MAX_WEIGHTED_LENGTH = 280
X_URL_WEIGHT = 23
MASTODON_URL_LENGTH = 23
WEIBO_MAX_LENGTH = 140
WEIBO_URL_LENGTH = 10

# twitter-text v3 config: ranges of weight 100 (= 1 character); the default weight is 200.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# --- links -----------------------------------------------------------------------------------
# Where a link starts and ends, ported from twitter-text's extractor (js/src/regexp/*, Apache-2.0):
# X and (with its own path rules, below) Mastodon count a link only as far as these rules reach,
# and the characters after it at their own weight. Host names are approximated: twitter-text
# checks the top-level domain against its list; here any ASCII-letter label (or a non-ASCII
# letter run, or punycode) is taken as one.

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
# ASCII punctuation as twitter-text lists it (no '"' nor '`': those may sit in a host name).
_PUNCT = "!'#%&()*+,\\\\\\-./:;<=>?@\\[\\]^_{|}~$"

# A link starts after anything but a letter, digit, @, $, # or an invalid character.
_PRECEDING = f"(?<![A-Za-z0-9@\uff20$#\uff03{_INVALID}])"
_DOMAIN_CHAR = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
# Top-level domain (approximation of twitter-text's list, which ends each entry the same way).
_TLD_END = "(?![0-9A-Za-z@+-])"
# Possessive: a letter run that goes on past the end of a TLD is no TLD.
_TLD = f"(?:(?i:xn--[0-9a-z-]++)|[A-Za-z]{{2,}}+|(?:(?![A-Za-z])[^\\W\\d_])++){_TLD_END}"
_DOMAIN = f"{_SUBDOMAIN}*{_DOMAIN_NAME}{_TLD}"
# Without a scheme X links ASCII host names ending in one of twitter-text's top-level domains
# (x_tlds.txt: "acme.shop" and "foo.jp" are links, "foo.baz" and "www.foo.baz" are not) or in
# punycode.
_LABEL_CHAR = f"[A-Za-z0-9{_LATIN_ACCENTS}]"
_ASCII_LABEL = f"{_LABEL_CHAR}(?:[-A-Za-z0-9{_LATIN_ACCENTS}]*{_LABEL_CHAR})?"


def _x_tlds() -> str:
    lines = Path(__file__).with_name("x_tlds.txt").read_text(encoding="utf-8").splitlines()
    names = sorted((n for n in lines if n and not n.startswith("#")), key=len, reverse=True)
    return "(?i:" + "|".join(map(re.escape, names)) + "|xn--[-0-9a-z]+)"


_KNOWN_TLD = _x_tlds()
# Not after - _ . / (twitter-text's invalidUrlWithoutProtocolPrecedingChars) nor inside a word.
_NO_SCHEME_START = f"(?<![-_./{_LATIN_ACCENTS}])"
_WWW_DOMAIN = f"(?i:www)\\.(?:{_ASCII_LABEL}\\.)*[A-Za-z]{{2,}}{_TLD_END}"
_BARE_DOMAIN = f"{_NO_SCHEME_START}(?:{_ASCII_LABEL}\\.)+{_KNOWN_TLD}{_TLD_END}"


def _path_and_query(general: str, ending: str, query: str, query_end: str) -> str:
    """Path, fragment and query as twitter-text's validUrlPath / validUrlQuery* build them: a
    path runs over ``general`` characters (and balanced parentheses) but ends on an ``ending``
    one; a query ends on a ``query_end`` one. The rest (a full stop, a closing parenthesis, a
    full-width comma...) is text after the link."""
    parens = f"\\((?:{general}+|{general}*\\({general}+\\){general}*)\\)"
    unit = f"(?:{general}*(?:{parens}{general}*)*(?:{ending}|{parens})|@{general}+/)"
    return f"(?::[0-9]+)?(?P<path>/{unit}*)?(?:\\?{query}*{query_end})?"


# twitter-text (X, and Weibo as an approximation): ASCII letters, Latin accents, Cyrillic.
_TT_PATH = _path_and_query(
    f"[A-Za-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\\u2013_~@|&{_LATIN_ACCENTS}]",
    f"[+\\-A-Za-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]",
    "[A-Za-z0-9!?*'@();:&=+$/%#\\[\\]\\-_.,~|]",
    "[A-Za-z0-9\\-_&=#/]",
)
# Mastodon overrides these (config/initializers/twitter_regex.rb): any non-space character
# but <>()? is a path character, so a path runs on through CJK text up to the next space.
_WHITE_SPACE = "\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_UCHARS = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
    "\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    "\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
    "\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_MASTODON_PATH = _path_and_query(
    f"[^{_WHITE_SPACE}<>()?]",
    f"[^{_WHITE_SPACE}()?!*\"'\u300c\u300d<>;:=,.$%\\[\\]~&|@]",
    f"[A-Za-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@^{_UCHARS}]",
    f"[A-Za-z0-9_&=#/\\-{_UCHARS}]",
)
_SCHEME = "(?P<scheme>(?i:https?)://)"

# X: links with a scheme, and bare domains with a known TLD.
_X_URL_RE = re.compile(
    f"{_PRECEDING}(?P<url>(?:{_SCHEME}(?P<domain>{_DOMAIN})|(?P<bare>{_BARE_DOMAIN})){_TT_PATH})"
)
# Mastodon: only links starting with http:// or https:// (extract_url_without_protocol: false).
_MASTODON_URL_RE = re.compile(
    f"{_PRECEDING}(?P<url>{_SCHEME}(?P<domain>{_DOMAIN}){_MASTODON_PATH})"
)
# Weibo: links with a scheme or "www.", ending as on X.
_WEIBO_URL_RE = re.compile(
    f"{_PRECEDING}(?P<url>(?:{_SCHEME}(?P<domain>{_DOMAIN})"
    f"|(?P<bare>{_NO_SCHEME_START}{_WWW_DOMAIN})){_TT_PATH})"
)
# A t.co link takes no more path than its slug (twitter-text's validTcoUrl).
_TCO_RE = re.compile(
    "(?i:https?://t\\.co/)(?P<slug>[A-Za-z0-9]+)(?:\\?[A-Za-z0-9!?*'@();:&=+$/%#\\[\\]\\-_.,~|]*"
    "[A-Za-z0-9\\-_&=#/])?"
)
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_LABEL_LENGTH = 63
_IDNA_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_ASCII_DOMAIN_RE = re.compile(f"(?:[-A-Za-z0-9{_LATIN_ACCENTS}]+\\.)+{_TLD}")


def _punycode(label: str) -> str:
    """punycode.js toASCII: each non-ASCII part between IDNA dots as xn--..."""
    return ".".join(
        part if part.isascii() else "xn--" + part.encode("punycode").decode("ascii")
        for part in _IDNA_DOTS.split(label)
    )


def _ascii_domain(domain: str) -> str | None:
    """The domain in punycode, or None when a label is empty or longer than DNS allows (63):
    twitter-text's idna.toAscii, which leaves such a "link" plain text."""
    if domain[:4].lower() == "xn--" and not _ASCII_DOMAIN_RE.search(domain):
        return None  # punycode holds no non-ASCII characters
    labels = []
    for label in domain.split("."):
        try:
            label = _punycode(label)
        except UnicodeError:
            return None
        if not 1 <= len(label) <= _MAX_LABEL_LENGTH:
            return None
        labels.append(label)
    return ".".join(labels)


_ZWJ = 0x200D
_VS15, _VS16 = 0xFE0E, 0xFE0F
_KEYCAP = 0x20E3


def _is_skin_tone(cp: int) -> bool:
    return 0x1F3FB <= cp <= 0x1F3FF


def _is_tag(cp: int) -> bool:
    return 0xE0020 <= cp <= 0xE007F


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_pictographic(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2190 <= cp <= 0x21FF
        or 0x2300 <= cp <= 0x23FF
        or cp in (0x3030, 0x303D, 0x3297, 0x3299)
    )


def _emoji_end(text: str, i: int) -> int | None:
    """If an emoji sequence starts at ``text[i]``, the index just past it; else None."""
    n = len(text)
    cp = ord(text[i])
    if _is_regional_indicator(cp):
        # A flag is a pair of regional indicators.
        if i + 1 < n and _is_regional_indicator(ord(text[i + 1])):
            return i + 2
        return i + 1
    if text[i] in "0123456789#*":
        # Keycap: digit, optional VS16, U+20E3.
        j = i + 1
        if j < n and ord(text[j]) == _VS16:
            j += 1
        if j < n and ord(text[j]) == _KEYCAP:
            return j + 1
        return None
    # A character followed by U+FE0F asks for its emoji presentation: one emoji (e.g. ©️, ▶️).
    if not _is_pictographic(cp) and not (i + 1 < n and ord(text[i + 1]) == _VS16):
        return None
    j = i + 1
    while j < n:
        c = ord(text[j])
        if c in (_VS15, _VS16, _KEYCAP) or _is_skin_tone(c) or _is_tag(c):
            j += 1
        elif c == _ZWJ and j + 1 < n and _is_pictographic(ord(text[j + 1])):
            j += 2
        else:
            break
    return j


def _url_spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """(start, end) of each link the platform counts as one, kept as twitter-text's
    extractUrlsWithIndices keeps them: a match whose host is no valid DNS name, or which is
    longer than 4096, stays plain text."""
    spans = []
    for m in pattern.finditer(text):
        groups = m.groupdict()
        domain = groups["domain"] or groups.get("bare") or ""
        ascii_domain = _ascii_domain(domain)
        if ascii_domain is None:
            continue
        url = m.group("url")
        # isValidUrl: the protocol (https:// when there is none) + the URL with its host in
        # punycode.
        scheme = groups["scheme"] or "https://"
        if len(scheme) + len(url) - len(domain) + len(ascii_domain) > _MAX_URL_LENGTH:
            continue
        start, end = m.span("url")
        if not groups["scheme"] and not groups["path"]:
            end = m.end("bare")  # without a path, twitter-text drops a bare domain's query
        elif groups["scheme"] and (tco := _TCO_RE.match(url)):
            if len(tco.group("slug")) > _MAX_TCO_SLUG_LENGTH:
                continue
            end = start + tco.end()
        spans.append((start, end))
    return spans


def _x_char_weight(cp: int) -> int:
    for lo, hi in _X_LIGHT_RANGES:
        if lo <= cp <= hi:
            return 1
    return 2


def too_long(
    length: int, limit: int, *, noun: str, platform: str, rule: str | None, allowed_by: str
) -> str | None:
    """The one message an agent reads about a reply the platform would refuse for its length
    (the API's check before queueing, and the adapter's at send); None when it fits."""
    if length <= limit:
        return None
    how = f" ({rule})" if rule else ""
    return (
        f"This {noun} is {length} characters as {platform} counts them{how}; "
        f"{allowed_by} allows {limit}. Shorten it by {length - limit}."
    )


def x_weighted_length(text: str) -> int:
    """The length X counts for a post (the limit is 280)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    i = 0
    spans = _url_spans(text, _X_URL_RE)
    span_i = 0
    n = len(text)
    while i < n:
        if span_i < len(spans) and spans[span_i][0] == i:
            total += X_URL_WEIGHT
            i = spans[span_i][1]
            span_i += 1
            continue
        end = _emoji_end(text, i)
        if end is not None:
            total += 2
            i = end
            continue
        total += _x_char_weight(ord(text[i]))
        i += 1
    return total


_REMOTE_MENTION_RE = re.compile(r"(?<![\w/])(@\w+)@[\w.-]+\w", re.UNICODE)


def mastodon_length(text: str) -> int:
    """Characters as Mastodon counts them against the instance limit (500 by default)."""
    text = _REMOTE_MENTION_RE.sub(r"\1", text)
    total = 0
    i = 0
    spans = _url_spans(text, _MASTODON_URL_RE)
    span_i = 0
    n = len(text)
    while i < n:
        if span_i < len(spans) and spans[span_i][0] == i:
            total += MASTODON_URL_LENGTH
            i = spans[span_i][1]
            span_i += 1
            continue
        end = _emoji_end(text, i)
        if end is not None:
            total += 1
            i = end
            continue
        if text.startswith("\r\n", i):  # one grapheme cluster
            total += 1
            i += 2
            continue
        if not unicodedata.combining(text[i]):
            total += 1
        i += 1
    return total


def weibo_length(text: str) -> int:
    """Weibo "characters": a half-width character counts a half, a link 10; rounded up."""
    halves = 0
    i = 0
    spans = _url_spans(text, _WEIBO_URL_RE)
    span_i = 0
    n = len(text)
    while i < n:
        if span_i < len(spans) and spans[span_i][0] == i:
            halves += 2 * WEIBO_URL_LENGTH
            i = spans[span_i][1]
            span_i += 1
            continue
        halves += 1 if ord(text[i]) < 0x100 else 2
        i += 1
    return math.ceil(halves / 2)
