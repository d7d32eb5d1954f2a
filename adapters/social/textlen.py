"""Text length as each platform counts it, so a reply that is too long fails before it is sent,
with a message the agent understands.

- X (twitter-text v3 rules): text is NFC-normalised; code points in a few ranges (Latin, Greek,
  Cyrillic, Arabic, Hebrew, most punctuation...) weigh 1, everything else (CJK, emoji...) weighs 2;
  an emoji sequence (ZWJ family, skin tone, flag, keycap) weighs 2 in all; every URL weighs 23
  (t.co wraps it). Limit 280.
- Mastodon: every URL counts 23, a remote mention ``@user@domain`` counts as ``@user``; the rest
  counts user-perceived characters (an emoji sequence or a letter with combining marks is 1).
- Weibo: a comment holds 140 "characters" where a half-width (ASCII) character is half of one;
  links are shortened to t.cn and counted as 10. An approximation of Weibo's own counter: when
  Weibo still rejects a comment, the send fails permanently with Weibo's message.
"""

from __future__ import annotations

import math
import re
import unicodedata

X_MAX_WEIGHTED_LENGTH = 280
X_URL_WEIGHT = 23
MASTODON_URL_LENGTH = 23
WEIBO_MAX_LENGTH = 140
WEIBO_URL_LENGTH = 10

# twitter-text v3 config: ranges of weight 100 (= 1 character); the default weight is 200.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# URLs with a scheme or a "www." host; for X also bare domains with a common TLD (twitter-text
# links those too, but not the domain of an e-mail address). Trailing punctuation is not part of
# a URL.
_SCHEME_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_X_URL_RE = re.compile(
    _SCHEME_URL_RE.pattern
    + r"|(?<![@\w.-])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"\.(?:com|net|org|io|co|cn|de|uk|jp|fr|info|biz|me|ly|app|dev|ai|gov|edu)\b"
    r"(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,!?;:)]}'\"…。，！？；："

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


def _url_spans(text: str, pattern: re.Pattern[str] = _SCHEME_URL_RE) -> list[tuple[int, int]]:
    spans = []
    for m in pattern.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        if end > start:
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
    spans = _url_spans(text)
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
        if not unicodedata.combining(text[i]):
            total += 1
        i += 1
    return total


def weibo_length(text: str) -> int:
    """Weibo "characters": a half-width character counts a half, a link 10; rounded up."""
    halves = 0
    i = 0
    spans = _url_spans(text)
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
