"""Table tests of the web chat's pure parts: session tokens, origins, frames, the visitor's view
of the log, the config; and the Redis rate limiter on a controlled clock."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.webchat import session as tokens
from adapters.webchat.config import WebchatConfig, normalize_origin
from adapters.webchat.protocol import (
    FrameError,
    parse_hello,
    parse_message,
    parse_profile,
    parse_survey_answer,
    split_survey,
    visitor_view,
)
from adapters.webchat.ratelimit import WINDOW_MS, RateLimiter

SECRET = "a-secret-of-enough-length"


def test_token_round_trip_and_binding():
    sid = tokens.new_session_id()
    token = tokens.issue(SECRET, "ch_1", sid)
    assert tokens.session_of(SECRET, "ch_1", token) == sid
    assert tokens.session_of(SECRET, "ch_2", token) is None  # another channel
    assert tokens.session_of("another-secret-entirely", "ch_1", token) is None
    assert tokens.new_session_id() != sid


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        123,
        "v1.short.sig",
        "v2.AAAAAAAAAAAAAAAAAAAAAAAA.sig",
        "v1.AAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.AAAAAAAAAAAAAAAAAAAAAAAA.sig.extra",
        "v1.AAAA AAAAAAAAAAAAAAAAAAAA.sig",
        "v1." + "A" * 300 + ".sig",
    ],
)
def test_malformed_tokens_are_refused(token):
    assert tokens.session_of(SECRET, "ch_1", token) is None


def test_tampered_token_is_refused():
    token = tokens.issue(SECRET, "ch_1", "B" * 24)
    head, sig = token.rsplit(".", 1)
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert tokens.session_of(SECRET, "ch_1", f"{head}.{flipped}") is None
    other = tokens.issue(SECRET, "ch_1", "C" * 24)
    assert tokens.session_of(SECRET, "ch_1", f"{head}.{other.rsplit('.', 1)[1]}") is None


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://shop.example.com:80", "http://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        (" * ", "*"),
    ],
)
def test_origins_are_normalized(raw, origin):
    assert normalize_origin(raw) == origin


@pytest.mark.parametrize(
    "raw",
    ["shop.example.com", "ftp://shop.example.com", "https://shop.example.com/chat", "https://",
     "https://shop.example.com/?q=1", "javascript:alert(1)"],
)  # fmt: skip
def test_bad_origins_are_refused(raw):
    with pytest.raises(ValueError):
        normalize_origin(raw)


def test_origin_allowed():
    cfg = WebchatConfig(allowed_origins=["https://shop.example.com", "https://SHOP.example.com/"])
    assert cfg.allowed_origins == ["https://shop.example.com"]
    assert cfg.origin_allowed("https://shop.example.com")
    assert cfg.origin_allowed("https://shop.example.com:443")
    for origin in (None, "", "null", "http://shop.example.com", "https://evil.com", "garbage"):
        assert not cfg.origin_allowed(origin)
    assert WebchatConfig(allowed_origins=["*"]).origin_allowed(None)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"allowed_origins": []}, "allowed_origins"),
        ({"allowed_origins": ["https://a.example"], "session_secret": "short"}, "session_secret"),
        ({"allowed_origins": ["https://a.example"], "color": "red"}, "color"),
        ({"allowed_origins": ["https://a.example"], "max_message_length": 0}, "max_message_length"),
        ({}, "allowed_origins"),
    ],
)
def test_config_rejects(values, field):
    with pytest.raises(ValidationError) as info:
        WebchatConfig(**values)
    assert info.value.errors()[0]["loc"][0] == field


def test_parse_hello_keeps_only_sane_values():
    hello = parse_hello({"type": "hello", "token": 5, "conversation_id": "x" * 101,
                         "last_seq": -3, "page": "javascript:alert(1)"})  # fmt: skip
    assert hello.token is None and hello.conversation_id is None
    assert hello.last_seq == 0 and hello.page is None
    hello = parse_hello({"token": "t", "conversation_id": "cv_1", "last_seq": 7,
                         "page": "https://shop.example.com/" + "p" * 600})  # fmt: skip
    assert (hello.token, hello.conversation_id, hello.last_seq) == ("t", "cv_1", 7)
    assert hello.page is not None and len(hello.page) == 500


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"client_id": "ok-1", "text": "hello"}, None),
        ({"client_id": "ok_1", "text": "x" * 10}, None),
        ({"client_id": "ok", "text": "x" * 11}, "too_long"),
        ({"client_id": "ok", "text": "   \n"}, "empty"),
        ({"client_id": "ok", "text": 5}, "empty"),
        ({"client_id": "", "text": "hi"}, "invalid_client_id"),
        ({"client_id": "a b", "text": "hi"}, "invalid_client_id"),
        ({"client_id": "x" * 65, "text": "hi"}, "invalid_client_id"),
        ({"client_id": 7, "text": "hi"}, "invalid_client_id"),
        ({"text": "hi"}, "invalid_client_id"),
    ],
)
def test_parse_message(frame, code):
    if code is None:
        assert parse_message(frame, 10).text == frame["text"]
    else:
        with pytest.raises(FrameError) as info:
            parse_message(frame, 10)
        assert info.value.code == code


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"name": "  Li   Lei ", "email": " li@example.com "}, ("Li Lei", "li@example.com")),
        ({"name": "", "email": ""}, (None, None)),
        ({}, (None, None)),
        ({"name": "x" * 300}, ("x" * 100, None)),
        ({"name": 5}, "invalid_name"),
        ({"email": "nope"}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
        ({"email": "<a@b.com>"}, "invalid_email"),
        ({"email": ["a@b.com"]}, "invalid_email"),
    ],
)
def test_parse_profile(frame, expected):
    if isinstance(expected, str):
        with pytest.raises(FrameError) as info:
            parse_profile(frame)
        assert info.value.code == expected
    else:
        profile = parse_profile(frame)
        assert (profile.name, profile.email) == expected


@pytest.mark.parametrize(
    ("message", "view"),
    [
        (
            {"seq": 1, "conversation_id": "cv", "direction": "in", "text": "hi",
             "author_id": "ct_1", "author_name": "Li", "created_at": 5,
             "meta": {"client_id": "c1", "page": "https://x"}},
            {"seq": 1, "conversation_id": "cv", "text": "hi", "created_at": 5,
             "from": "visitor", "client_id": "c1"},
        ),
        (
            {"seq": 2, "conversation_id": "cv", "direction": "out", "text": "hello",
             "author_id": "u_1", "author_name": "Alice", "created_at": 6, "meta": {}},
            {"seq": 2, "conversation_id": "cv", "text": "hello", "created_at": 6,
             "from": "agent", "author_name": "Alice"},
        ),
        (
            {"seq": 3, "conversation_id": "cv", "direction": "out", "text": "We are closed",
             "author_id": None, "author_name": None, "created_at": 7, "meta": {"system": True}},
            {"seq": 3, "conversation_id": "cv", "text": "We are closed", "created_at": 7,
             "from": "system"},
        ),
        ({"seq": 4, "direction": "note", "text": "internal", "author_name": "Alice"}, None),
        ({"seq": 5, "direction": "event", "text": "Assigned to Alice"}, None),
    ],
)  # fmt: skip
def test_visitor_view_hides_notes_events_and_ids(message, view):
    assert visitor_view(message) == view


async def test_rate_limiter_slides_and_refusals_do_not_count(redis, keys):
    limiter = RateLimiter(redis, lambda name: keys.channel_state("ch", name))
    t = 1_000_000_000
    assert (await limiter.hit([("s", 2)], now=t)).allowed
    assert (await limiter.hit([("s", 2)], now=t + 10)).allowed
    refused = await limiter.hit([("s", 2)], now=t + 20)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx((WINDOW_MS - 20) / 1000, abs=0.1)
    assert not (await limiter.hit([("s", 2)], now=t + WINDOW_MS - 1)).allowed
    assert (await limiter.hit([("s", 2)], now=t + WINDOW_MS + 1)).allowed  # the first slid out


async def test_rate_limiter_counts_all_subjects_or_none(redis, keys):
    limiter = RateLimiter(redis, lambda name: keys.channel_state("ch", name))
    t = 2_000_000_000
    assert (await limiter.hit([("session-a", 5), ("ip", 2)], now=t)).allowed
    assert (await limiter.hit([("session-b", 5), ("ip", 2)], now=t + 1)).allowed
    assert not (await limiter.hit([("session-c", 5), ("ip", 2)], now=t + 2)).allowed
    # The refused event counted for neither: session-c still has its whole budget.
    for i in range(5):
        assert (await limiter.hit([("session-c", 5)], now=t + 3 + i)).allowed
    assert not (await limiter.hit([("session-c", 5)], now=t + 9)).allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How did we do?\nhttps://cs.example/survey/eyJh.c2ln", ("How did we do?", "eyJh.c2ln")),
        ("Rate: http://127.0.0.1:80/survey/a-b_c.d_e-f ok", ("Rate: ok", "a-b_c.d_e-f")),
        ("See /survey/ later", ("See /survey/ later", None)),
        ("No link at all", ("No link at all", None)),
    ],
)  # fmt: skip
def test_split_survey(text, expected):
    assert split_survey(text) == expected


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"token": "", "score": 3}, "invalid_token"),
        ({"token": "t" * 1001, "score": 3}, "invalid_token"),
        ({"token": 7, "score": 3}, "invalid_token"),
        ({"token": "a.b", "score": 0}, "invalid_score"),
        ({"token": "a.b", "score": 6}, "invalid_score"),
        ({"token": "a.b", "score": "5"}, "invalid_score"),
        ({"token": "a.b", "score": True}, "invalid_score"),
        ({"token": "a.b", "score": 4.0}, "invalid_score"),
        ({"token": "a.b", "score": 4, "comment": ["x"]}, "invalid_comment"),
        ({"token": "a.b", "score": 4, "comment": "x" * 2001}, "too_long"),
    ],
)
def test_bad_survey_answers(frame, code):
    with pytest.raises(FrameError) as info:
        parse_survey_answer(frame)
    assert info.value.code == code


def test_survey_answer_accepted():
    answer = parse_survey_answer({"token": "a.b", "score": 5, "comment": "  <b>great</b> \n"})
    assert (answer.token, answer.score, answer.comment) == ("a.b", 5, "<b>great</b>")
    assert parse_survey_answer({"token": "a.b", "score": 1, "comment": None}).comment == ""
    assert parse_survey_answer({"token": "a.b", "score": 2, "comment": "x" * 2000}).score == 2
