"""Text length as X, Mastodon and Weibo count it: one row per awkward text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.social.textlen import mastodon_length, weibo_length, x_weighted_length

LONG_URL = "https://example.com/" + "a" * 200
# twitter-text's conformance cases for the weighted length (source and license in the file).
TWITTER_TEXT = json.loads(
    (Path(__file__).parent / "payloads" / "twitter_text_weighted_length.json").read_text()
)["tests"]


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
        # A link ends where twitter-text ends it (values from its parseTweet): CJK text and
        # full-width punctuation after it count at their own weight.
        ("请访问 https://example.com/help，谢谢您的耐心等待", 7 + 23 + 18),
        ("詳細はhttps://example.com/faqをご覧ください", 6 + 23 + 14),
        ("请访问https://example.com/help。谢谢", 6 + 23 + 6),
        ("https://example.com谢谢", 23 + 4),
        ("see www.acme.com/help。谢谢", 4 + 23 + 6),
        ("acme.io/help，谢谢", 23 + 6),
        ("詳しくはexample.com", 8 + 23),
        ("https://example.com/?q=テスト", 23 + 6),
        ("https://пример.рф/путь，ok", 23 + 4),
        ("https://example.com/x\u200bhidden", 23 + 7),  # U+200B is no path character
        ("Visit (https://example.com/help).", 7 + 23 + 2),
        ("https://example.com/abc...", 23 + 3),
        ("foo https://example.com/abc' bar", 4 + 23 + 5),
        ("https://t.co/abcdef?x=1/yy", 23),
        ("https://localhost:8080/x", 24),  # no top-level domain: not a link
        # Without a scheme, a host is a link when it ends in one of twitter-text's top-level
        # domains (the texts are its conformance/extract.yml cases, counted as it extracts them).
        ("call acme.shop now", 5 + 23 + 4),
        ("see file.py and www.acme.zz", 4 + 23 + 5 + 11),  # .py is Paraguay; .zz no TLD
        ("Find my page at name.al-lastname.com", 16 + 23),
        ("foo.com foo.net foo.org foo.edu foo.gov", 5 * 23 + 4),
        (
            "foo.baz foo.co.jp www.xxxxxxx.baz www.foo.co.uk wwwww.xxxxxxx foo.comm foo.somecom "
            "foo.govedu foo.jp",
            3 * 23 + 72,  # foo.co.jp, www.foo.co.uk and foo.jp only
        ),
        ("twitter.jp日本語it.so中国語foo.jp it.so foo.jp", 5 * 23 + 12 + 2),
        ("MLB.tv vine.co twitch.tv t.co", 4 * 23 + 3),
        ("これは日本語です。example.com/path/index.html中国語example.com/path한국", 2 * 23 + 28),
    ],
)
def test_x_weighted_length(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


@pytest.mark.parametrize(
    "case", TWITTER_TEXT, ids=[f"{c['group']}: {c['description']}" for c in TWITTER_TEXT]
)
def test_x_weighted_length_passes_twitter_text_conformance(case: dict) -> None:
    assert x_weighted_length(case["text"]) == case["weightedLength"]


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
        ("a\r\nb", 3),  # CR LF is one grapheme cluster
        # Only links with http:// or https:// count 23 (extract_url_without_protocol: false).
        ("www.example.com/" + "a" * 100, 116),
        ("see www.acme.com/help", 21),
        ("http://localhost/x", 18),  # no top-level domain: not a link
        # Mastodon's own path rules (config/initializers/twitter_regex.rb): a path runs over any
        # non-space character but <>()?, and ends on none of ()?!*"'「」<>;:=,.$%[]~&|@.
        ("请访问 https://example.com/help，谢谢您的耐心等待", 4 + 23),
        ("https://example.com谢谢", 23 + 2),  # ... but a host name ends at its TLD
        ("(https://example.com/x).", 1 + 23 + 2),
        ("https://example.com/a.b, ok", 23 + 4),
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
        ("请访问 https://example.com/help，谢谢您的耐心等待", 23),  # the link ends at "，"
        ("see www.acme.com/help。谢谢", 15),
    ],
)
def test_weibo_length(text: str, expected: int) -> None:
    assert weibo_length(text) == expected
