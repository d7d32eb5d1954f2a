"""Text length as X, Mastodon and Weibo count it: one row per awkward text."""

from __future__ import annotations

import pytest

from adapters.social.textlen import mastodon_length, weibo_length, x_weighted_length

LONG_URL = "https://example.com/" + "a" * 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        ("你好", 4),  # CJK weighs 2
        ("こんにちは", 10),
        ("안녕", 4),
        ("Привет", 6),  # Cyrillic is in the light range
        ("“quoted” – dash…", 17),  # quotes and dashes weigh 1, the ellipsis (U+2026) 2
        (LONG_URL, 23),  # any link weighs 23
        (f"see {LONG_URL}.", 4 + 23 + 1),  # the full stop is not part of the link
        ("go to example.com now", 6 + 23 + 4),  # bare domains are links too
        ("mail a@b.com", 5 + 7),  # ... but not an e-mail address's domain
        ("👍", 2),
        ("👍🏽", 2),  # skin tone modifier: one emoji
        ("👨‍👩‍👧", 2),  # ZWJ family: one emoji
        ("🇨🇳", 2),  # flag: a pair of regional indicators
        ("1️⃣", 2),  # keycap
        # Emoji presentation sequences (a text character + U+FE0F) are one emoji of weight 2.
        ("©️", 2),
        ("▶️ next", 7),
        ("™️‼️ℹ️", 6),
        ("cafe\u0301", 4),  # NFC: e + combining acute is one character
        ("a" * 280, 280),
        ("你" * 140, 280),
        ("你" * 141, 282),
    ],
)
def test_x_weighted_length(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("你好", 2),
        (LONG_URL, 23),
        ("go to example.com now", 21),  # Mastodon links only URLs with a scheme
        ("@alice@mastodon.social hi", 9),  # a remote mention counts as @alice
        ("mail me at bob@example.com", 26),  # an e-mail address is not a mention
        ("👨‍👩‍👧 ok", 4),
        ("▶️ ok ©️", 6),  # a character + U+FE0F is one user-perceived character
        ("cafe\u0301", 4),
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", 2),
        ("ab", 1),  # two half-width characters make one
        ("abc", 2),  # rounded up
        ("你好ab", 3),
        (LONG_URL, 10),
        ("你" * 140, 140),
    ],
)
def test_weibo_length(text: str, expected: int) -> None:
    assert weibo_length(text) == expected
