"""X adapter: parsing recorded payloads, and polling / replying against the fake X API with the
gateway's real inbox behind it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.base import PermanentSendError, TransientSendError, VerifyError
from adapters.social.poller import (
    MAX_DAILY_WAIT,
    DailyLimitReached,
    PermanentApiError,
    TransientApiError,
    poll_loop,
)
from adapters.social.spike import mention_report
from adapters.social.x import (
    XAdapter,
    XConfig,
    XDailyLimit,
    daily_limit,
    error_reason,
    post_to_message,
    posts_to_messages,
    rate_info,
)
from gateway.models import OutboundMessage
from tests.adapters.social.conftest import Served, WireAdapter, Wired
from tests.conftest import Harness, wait_for

PAYLOADS = Path(__file__).parent / "payloads"
OWN_ID = "2244994945"


def config(api: Served, **extra) -> dict:
    fake = api.fake
    return {
        "api_base_url": api.url,
        "api_key": fake.consumer_key,
        "api_key_secret": fake.consumer_secret,
        "access_token": fake.token,
        "access_token_secret": fake.token_secret,
        "page_size": 10,
        "backfill": 5,
        **extra,
    }


def outbound(wired: Wired, reply_context: dict, text: str, message_id: str = "conv1:2"):
    return OutboundMessage(
        message_id=message_id,
        conversation_id=message_id.split(":")[0],
        channel_id=wired.ctx.channel_id,
        contact_external_id=str(reply_context.get("author_id")),
        thread_key=str(reply_context.get("conversation_id")),
        text=text,
        reply_context=reply_context,
    )


# --- pure ------------------------------------------------------------------------------------


def test_page_to_messages() -> None:
    body = json.loads((PAYLOADS / "x_mentions_page.json").read_text())
    msgs = posts_to_messages(
        body, channel_id="ch1", web_url="https://x.com", source="mention", own_user_id=OWN_ID
    )
    assert [m.external_id for m in msgs] == ["1301573587187331074", "1301573500000000000"]
    first, second = msgs
    assert first.thread_key == "1301573587187331074"
    assert (first.contact.external_id, first.contact.name) == ("1234567890", "Wang Lei")
    assert first.meta["author_handle"] == "@wanglei"
    assert first.meta["url"] == "https://x.com/wanglei/status/1301573587187331074"
    assert first.meta["post_id"] == "1301573587187331074"
    assert first.sent_at == 1705314600000
    assert [a.url for a in first.attachments] == ["https://pbs.twimg.com/media/broken.jpg"]
    assert first.attachments[0].kind == "image"
    # An author missing from includes: still a message, with a generic link.
    assert second.thread_key == "1301570000000000000"
    assert second.contact.external_id == "99"
    assert "author_handle" not in second.meta
    assert second.meta["url"] == "https://x.com/i/web/status/1301573500000000000"
    assert second.meta["in_reply_to_post_id"] == "1301571111111111111"


# Posts as X's API v2 returns them: text with &, < and > HTML-escaped (and nothing else), links
# wrapped in t.co and described by entities.urls (start/end, url, expanded_url, display_url;
# a photo's link carries its media_key; start/end count code points of the unescaped text).
def _url(start: int, short: str, expanded: str, display: str, **more: str) -> dict:
    return {"start": start, "end": start + len(short), "url": short, "expanded_url": expanded,
            "display_url": display, **more}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "entities", "expected"),
    [
        ("@acme Fees &amp; charges &lt;3", None, "@acme Fees & charges <3"),
        ("@acme 1 &gt; 0 &amp;&amp; 2 &lt; 3", None, "@acme 1 > 0 && 2 < 3"),
        # The customer typed "&lt;" and "&copy;": X escaped their "&" only.
        ("@acme I typed &amp;lt; and &amp;copy;", None, "@acme I typed &lt; and &copy;"),
        # Quotes and apostrophes are not escaped by X, and stay as they are.
        ("@acme \"it's broken\" 'again'", None, "@acme \"it's broken\" 'again'"),
        ("@acme 退款 &amp; 换货？", None, "@acme 退款 & 换货？"),
        # One link: the t.co link becomes the URL the customer wrote (its & is not unescaped).
        (
            "@acme see https://t.co/aB3dE5fG7h please",
            {"urls": [_url(10, "https://t.co/aB3dE5fG7h", "https://shop.example/o?id=7&amp=1",
                           "shop.example/o?id=7&amp=1")]},
            "@acme see https://shop.example/o?id=7&amp=1 please",
        ),
        # Several links, one of them twice, one a prefix of another's code; a photo's link.
        (
            "@acme https://t.co/abc &amp; https://t.co/abcd vs https://t.co/abc https://t.co/Ph0t0",
            {"urls": [
                _url(6, "https://t.co/abc", "https://a.example/first", "a.example/first"),
                _url(25, "https://t.co/abcd", "https://b.example/second", "b.example/second"),
                _url(46, "https://t.co/abc", "https://a.example/first", "a.example/first"),
                _url(63, "https://t.co/Ph0t0", "https://x.com/wanglei/status/1/photo/1",
                     "pic.x.com/Ph0t0", media_key="3_1"),
            ]},
            "@acme https://a.example/first & https://b.example/second vs https://a.example/first "
            "https://x.com/wanglei/status/1/photo/1",
        ),
        # An expanded URL that looks like another entity's t.co link is not rewritten again.
        (
            "https://t.co/one https://t.co/two",
            {"urls": [_url(0, "https://t.co/one", "https://t.co/two", "t.co/two"),
                      _url(17, "https://t.co/two", "https://two.example", "two.example")]},
            "https://t.co/two https://two.example",
        ),
        # No entities (not requested, or an old post): the t.co link stays; it still works.
        ("@acme https://t.co/xyz &lt;", None, "@acme https://t.co/xyz <"),
        ("@acme https://t.co/xyz", {"urls": [{"url": "https://t.co/xyz"}]}, "@acme https://t.co/xyz"),
    ],
)  # fmt: skip
def test_post_text_as_the_author_wrote_it(text, entities, expected) -> None:
    post = {"id": "1301573587187331074", "text": text, "author_id": "1234567890",
            "edit_history_tweet_ids": ["1301573587187331074"]}  # fmt: skip
    if entities is not None:
        post["entities"] = entities
    author = {"id": "1234567890", "name": "Wang Lei", "username": "wanglei"}
    msg = post_to_message(
        post, author, {}, channel_id="ch1", web_url="https://x.com", source="mention"
    )
    assert msg.text == expected
    assert msg.raw["text"] == text  # the platform's payload is kept as it came


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"title": "Forbidden", "detail": "duplicate content"},
            403,
            "X answered 403: duplicate content",
        ),
        ({"errors": [{"message": "Invalid since_id"}]}, 400, "X answered 400: Invalid since_id"),
        (
            {"title": "Invalid Request", "errors": [{"message": "bad since_id"}]},
            400,
            "X answered 400: Invalid Request (bad since_id)",
        ),
        (None, 503, "X answered HTTP 503"),
        ("<html>", 502, "X answered HTTP 502"),
    ],
)
def test_error_reason(body, status, expected) -> None:
    assert error_reason(body, status) == expected


def test_rate_info_headers() -> None:
    info = rate_info({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1700000000"})
    assert (info.remaining, info.reset_at) == (0, 1700000000.0)
    assert rate_info({}).remaining is None
    assert rate_info({"x-rate-limit-remaining": "soon"}).remaining is None


def test_config_needs_credentials() -> None:
    with pytest.raises(ValidationError):
        XConfig(api_key="k", api_key_secret="s")
    assert XConfig(bearer_token="b").bearer_token == "b"


# --- polling ---------------------------------------------------------------------------------


async def test_first_poll_imports_only_the_newest(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    ids = [fake.tweet("wanglei", f"@acme question {i}") for i in range(8)]
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == ids[-5:]  # the five newest, oldest first
    assert await wired.adapter.get_cursor("mentions") == ids[-1]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == ids[-5:]
    assert fake.calls("/mentions")[-1].query["since_id"] == [ids[-1]]


async def test_pages_keep_since_id_and_the_cursor_moves_after_the_last(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    assert await wired.adapter.get_cursor("mentions") == first

    fake.tweet("someone", "no mention here")
    new = [fake.tweet(f"user{i % 4}", f"@acme complaint {i}") for i in range(25)]
    # Page 3 fails more often than the poller retries: the poll gives up, nothing is lost.
    fake.fail_next("/mentions", 503, count=8, skip=2)
    with pytest.raises(TransientApiError):
        await wired.adapter.poll_mentions()
    assert await wired.adapter.get_cursor("mentions") == first
    assert wired.new_ids() == [first]

    fake.failures.clear()  # the platform recovers
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]  # every one, oldest first, once
    calls = fake.calls("/mentions")
    assert len(calls) == 3
    assert {c.query["since_id"][0] for c in calls} == {first}
    assert "pagination_token" not in calls[0].query
    assert all("pagination_token" in c.query for c in calls[1:])
    assert calls[0].query["expansions"][0].split(",")[0] == "author_id"
    assert await wired.adapter.get_cursor("mentions") == new[-1]
    # Authors came from includes.users.
    by_id = {m.external_id: m for m, _ in wired.delivered}
    assert by_id[new[0]].meta["author_handle"] == "@user0"


async def test_polled_text_is_unescaped_with_its_links_expanded(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    wired = await wire(XAdapter, config(x_api))
    written = (
        "@acme Fees & charges <3 on https://shop.example/o?id=7&x=1 and "
        "https://help.example/refunds > https://shop.example/o?id=7&x=1"
    )
    post = fake.tweet("wanglei", written)
    assert "&amp;" in fake._render(fake.posts[post], set())["text"]  # as X sends it
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    assert msg.text == written
    assert "entities" in fake.calls("/mentions")[0].query["tweet.fields"][0].split(",")


def test_long_post_reads_note_tweet() -> None:
    """A post over 280 characters (X's data dictionary: ``note_tweet`` "contains the full text
    of a Post for long-form Posts"): ``text`` is cut, ``note_tweet.text`` and its entities are
    whole."""
    whole = "@acme " + "my washer leaks again and again. " * 10 + "see https://t.co/Lng &amp; more"
    post = {
        "id": "1801573587187331074", "author_id": "1234567890",
        "text": whole[:274] + "… https://t.co/Cut",
        "entities": {"urls": [_url(276, "https://t.co/Cut", "https://x.com/i/web/status/1",
                                   "x.com/i/web/status/1")]},
        "note_tweet": {
            "text": whole,
            "entities": {"urls": [_url(len(whole) - 25, "https://t.co/Lng",
                                       "https://photos.example/leak", "photos.example/leak")]},
        },
        "edit_history_tweet_ids": ["1801573587187331074"],
    }  # fmt: skip
    msg = post_to_message(post, {}, {}, channel_id="ch1", web_url="https://x.com", source="mention")
    assert msg.text == whole.replace("https://t.co/Lng &amp;", "https://photos.example/leak &")


async def test_long_mention_is_delivered_whole(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    written = (
        "@acme " + "the fridge & the freezer both stopped <again>. " * 8 + "https://a.example/x"
    )
    post = fake.tweet("wanglei", written)
    assert len(fake._render(fake.posts[post], set())["text"]) < len(written)  # cut without it
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    assert msg.text == written
    assert "note_tweet" in fake.calls("/mentions")[0].query["tweet.fields"][0].split(",")


async def test_page_budget_resumes_below_the_oldest_read(wire: WireAdapter, x_api: Served) -> None:
    """More new mentions than max_pages pages hold: the rest are read by the next polls (from the
    same since_id, below the oldest one read), and the cursor moves only when all were read."""
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api, max_pages=2))
    await wired.adapter.poll_mentions()
    new = [fake.tweet(f"user{i % 4}", f"@acme complaint {i}") for i in range(45)]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new[-20:]]
    assert await wired.adapter.get_cursor("mentions") == first
    later = fake.tweet("lili", "@acme still waiting")
    await wired.adapter.poll_mentions()
    await wired.adapter.poll_mentions()
    assert sorted(wired.new_ids()) == sorted([first, *new])
    assert await wired.adapter.get_cursor("mentions") == new[-1]
    await wired.adapter.poll_mentions()
    assert wired.new_ids()[-1] == later and len(wired.new_ids()) == len(set(wired.new_ids()))
    assert await wired.adapter.get_cursor("mentions") == later
    calls = fake.calls("/mentions")  # the first poll, 2 + 2 + 1 pages behind `first`, the last
    assert len(calls) == 7
    assert {c.query["since_id"][0] for c in calls[1:6]} == {first}
    until = [c.query.get("until_id") for c in calls[1:6]]
    assert until == [None, None, [new[-20]], [new[-20]], [new[5]]]


async def test_a_rest_left_by_a_stopped_poll_is_not_read_again(
    wire: WireAdapter, x_api: Served
) -> None:
    """A poll stopped between moving its cursor and dropping its "rest" (the range below the
    oldest post read, all read by then) left until_id below since_id: the next poll drops it
    instead of asking X for an empty or refused range, and reads on from the cursor."""
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    older, newer = fake.tweet("lili", "@acme one"), fake.tweet("lili", "@acme two")
    await wired.adapter.set_cursor("mentions", newer)
    await wired.adapter.set_cursor("mentions:rest", f"{older} {newer}")  # as the stop left it
    later = fake.tweet("zhao", "@acme three")
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, later]
    [call] = fake.calls("/mentions")[1:]
    assert call.query["since_id"] == [newer] and "until_id" not in call.query
    assert await wired.adapter.get_cursor("mentions:rest") is None
    assert await wired.adapter.get_cursor("mentions") == later


async def test_200_with_errors_only_is_an_error(wire: WireAdapter, x_api: Served) -> None:
    """X's partial errors: a 200 may carry ``errors``. With data, the data counts; with nothing
    else (the user is gone, say), the poll fails instead of passing for "no new mentions"."""
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    gone = {
        "errors": [{
            "value": OWN_ID, "detail": f"Could not find user with id: [{OWN_ID}].",
            "title": "Not Found Error", "resource_type": "user", "parameter": "id",
            "resource_id": OWN_ID, "type": "https://api.x.com/2/problems/resource-not-found",
        }]
    }  # fmt: skip
    fake.fail_next("/mentions", 200, body=json.dumps(gone), content_type="application/json")
    with pytest.raises(PermanentApiError, match="Could not find user"):
        await wired.adapter.poll_mentions()
    assert await wired.adapter.get_cursor("mentions") == first

    post = fake.tweet("lili", "@acme hi")
    partial = {
        "data": [{**fake._render(fake.posts[post], {"author_id"}), "author_id": fake.user("lili")}],
        "errors": [{"resource_id": "456", "resource_type": "tweet", "title": "Not Found Error",
                    "detail": "Could not find tweet with id: [456].",
                    "type": "https://api.x.com/2/problems/resource-not-found"}],
        "meta": {"result_count": 1, "newest_id": post, "oldest_id": post},
    }  # fmt: skip
    fake.fail_next("/mentions", 200, body=json.dumps(partial), content_type="application/json")
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, post]
    assert await wired.adapter.get_cursor("mentions") == post


async def test_remaining_zero_waits_for_the_reset(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    new = [fake.tweet("lili", f"@acme more {i}") for i in range(25)]
    fake.limit("mentions", limit=2, seconds=2.0)
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]
    assert fake.rejected == 0  # the poller waited instead of spending a request on a 429


async def test_429_is_backed_off_until_the_reset(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    ids = [fake.tweet("wanglei", f"@acme hi {i}") for i in range(3)]
    wired = await wire(XAdapter, config(x_api))
    reset = int(time.time()) + 2
    fake.fail_next(
        "/mentions",
        429,
        body=json.dumps({"title": "Too Many Requests", "status": 429}),
        content_type="application/json",
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == ids[-5:]
    calls = fake.calls("/mentions")
    assert len(calls) == 2
    assert calls[1].at >= reset - 0.5  # the retry came after the reset


async def test_5xx_burst_and_inbox_outage_lose_nothing(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    first = fake.tweet("wanglei", "@acme hi")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    new = [fake.tweet("lili", f"@acme {i}") for i in range(12)]
    fake.fail_next("/mentions", 502, count=3)  # a short burst: retried within the poll
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]

    more = [fake.tweet("zaku", f"@acme again {i}") for i in range(4)]
    wired.fail_deliveries = 1  # the inbox is down for a moment mid-poll
    with pytest.raises(ConnectionError):
        await wired.adapter.poll_mentions()
    assert await wired.adapter.get_cursor("mentions") == new[-1]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new, *more]


async def test_keyword_watch_and_one_message_per_post(
    wire: WireAdapter, x_api: Served, gateway: Harness
) -> None:
    fake = x_api.fake
    wired = await wire(XAdapter, config(x_api, keywords=["Acme Fridge"], backfill=50))
    only_keyword = fake.tweet("wanglei", "my Acme Fridge is leaking")
    both = fake.tweet("lili", "@acme the acme fridge door fell off")
    fake.tweet("zaku", "fridge without the brand")
    await wired.adapter.poll_mentions()
    await wired.adapter.poll_keywords()
    assert wired.new_ids() == [both, only_keyword]
    sources = {m.external_id: m.meta["source"] for m, r in wired.delivered if not r.duplicate}
    assert sources == {both: "mention", only_keyword: "keyword"}
    query = fake.calls("/search/recent")[0].query["query"][0]
    assert query == '("Acme Fridge") -is:retweet'
    # Volume counts posts, not deliveries: the post seen twice counts once.
    now = int(time.time() * 1000)
    report = await mention_report(
        gateway.gw.redis, gateway.gw.keys, [wired.ctx.channel_id], now - 3600_000, now + 600_000
    )
    assert report["channels"][0]["total"] == 2


async def test_keyword_cursor_older_than_search_reach_starts_afresh(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    wired = await wire(XAdapter, config(x_api, keywords=["acme"]))
    old = fake.tweet("wanglei", "acme was fine last month")
    await wired.adapter.poll_keywords()
    assert await wired.adapter.get_cursor("keywords") == old
    # A week of downtime later: X refuses the old since_id for good.
    recent = [fake.tweet("lili", f"acme broke {i}") for i in range(3)]
    fake.search_since_floor = recent[0]
    await wired.adapter.poll_keywords()
    assert await wired.adapter.get_cursor("keywords") is None
    await wired.adapter.poll_keywords()  # afresh: the newest few
    assert wired.new_ids() == [old, *recent]
    assert await wired.adapter.get_cursor("keywords") == recent[-1]


async def test_spike_flags_mentions_and_alerts_once(
    wire: WireAdapter, x_api: Served, gateway: Harness
) -> None:
    fake = x_api.fake
    wired = await wire(XAdapter, config(x_api, backfill=50, spike_min_count=5))
    ids = [fake.tweet(f"angry{i}", f"@acme where is my refund {i}") for i in range(12)]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == ids
    flags = [bool(m.meta.get("spike")) for m, _ in wired.delivered]
    assert flags == [False] * 4 + [True] * 8  # from the 5th mention of the bucket on
    assert len(wired.alerts) == 1
    alert = wired.alerts[0]
    assert alert["type"] == "mention_spike"
    assert alert["channel_id"] == wired.ctx.channel_id
    assert (alert["count"], alert["post_id"]) == (5, ids[4])
    assert alert["url"].endswith(f"/status/{ids[4]}")
    # A spike is one incident for a senior (gateway/incidents/), not hundreds of sensitive
    # conversations: the flagged mentions stay ordinary ones for the general pool.
    for msg, result in wired.delivered:
        conv = await gateway.call("GET", f"/api/v1/conversations/{result.conversation_id}")
        assert conv["conversation"]["priority"] == "normal", (msg.meta, conv)


# --- replies ---------------------------------------------------------------------------------


async def test_reply_goes_to_the_right_post_once(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    post = fake.tweet("wanglei", "@acme my order arrived broken")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    out = outbound(wired, msg.meta, "Sorry! Please DM us your order number.")
    reply_id = await wired.adapter.send(out)
    assert fake.replies == [
        {"text": "Sorry! Please DM us your order number.", "reply": {"in_reply_to_tweet_id": post}}
    ]
    assert fake.posts[reply_id]["conversation_id"] == post
    # A retried send of the same outbound message does not post twice.
    assert await wired.adapter.send(out) == reply_id
    assert len(fake.replies) == 1


async def test_reply_errors(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    post = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    ctx = {"post_id": post, "conversation_id": post, "author_id": "1"}

    with pytest.raises(PermanentSendError, match="X allows 280"):
        await wired.adapter.send(outbound(wired, ctx, "抱歉" * 71, "c:1"))
    assert fake.replies == []

    gone = {**ctx, "post_id": "1"}
    with pytest.raises(PermanentSendError, match="deleted or not visible"):
        await wired.adapter.send(outbound(wired, gone, "hello", "c:2"))

    fake.fail_next("/2/tweets", 503)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(outbound(wired, ctx, "hello", "c:3"))

    reset = int(time.time()) + 30
    fake.fail_next(
        "/2/tweets",
        429,
        body="{}",
        content_type="application/json",
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    with pytest.raises(TransientSendError) as info:
        await wired.adapter.send(outbound(wired, ctx, "hello", "c:4"))
    assert info.value.retry_after is not None and 1 <= info.value.retry_after <= 31
    # Until the reset, sends fail at once without spending a request.
    calls = len(fake.calls("/2/tweets", "POST"))
    with pytest.raises(TransientSendError, match="rate limit"):
        await wired.adapter.send(outbound(wired, ctx, "hello", "c:5"))
    assert len(fake.calls("/2/tweets", "POST")) == calls
    assert fake.replies == []


def test_daily_limit_headers() -> None:
    """x-user-limit-24hour-* / x-app-limit-24hour-* (epoch seconds), as X sends them beside the
    15-minute x-rate-limit-* window."""
    now = 1_800_000_000.0
    user = {"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(now + 3600)}
    app = {"x-app-limit-24hour-remaining": "0", "x-app-limit-24hour-reset": str(now + 7200)}
    assert daily_limit(user, now) == ("account", now + 3600)
    assert daily_limit(app, now) == ("app", now + 7200)
    assert daily_limit({**user, **app}, now) == ("app", now + 7200)  # the later reset governs
    assert daily_limit({**user, "x-user-limit-24hour-remaining": "3"}, now) is None
    assert daily_limit({"x-rate-limit-remaining": "0"}, now) is None
    # A bogus reset (a month away, or missing) is never trusted beyond 25 hours.
    far = {**user, "x-user-limit-24hour-reset": str(now + 30 * 86400)}
    assert daily_limit(far, now) == ("account", now + MAX_DAILY_WAIT)
    bare = {"x-user-limit-24hour-remaining": "0"}
    assert daily_limit(bare, now) == ("account", now + MAX_DAILY_WAIT)


@pytest.mark.parametrize(("scope", "whose"), [("user", "account"), ("app", "app")])
async def test_daily_post_limit_fails_the_reply_at_once(
    wire: WireAdapter, x_api: Served, scope: str, whose: str
) -> None:
    """X's 24-hour post cap used up (the 15-minute window still open): the reply fails for good
    at once, saying until when, instead of being retried every 15 minutes for up to a day."""
    fake = x_api.fake
    post = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    ctx = {"post_id": post, "conversation_id": post, "author_id": "1"}
    fake.limit("tweets", limit=100, seconds=900)
    fake.daily_limit("tweets", 1, scope=scope, reset_in=20 * 3600)
    await wired.adapter.send(outbound(wired, ctx, "first", "c:1"))
    reset = int(fake.daily["tweets"][1].reset_at) + 1  # as the header says
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(-(-reset // 60) * 60))
    expected = (
        f"X's 24-hour post limit for this {whose} is used up until {when}; "
        "send again after that or answer on another channel."
    )
    with pytest.raises(PermanentSendError) as info:
        await wired.adapter.send(outbound(wired, ctx, "second", "c:2"))
    assert str(info.value) == expected
    # Later replies fail the same way without spending a request until the reset.
    calls = len(fake.calls("/2/tweets", "POST"))
    with pytest.raises(PermanentSendError) as again:
        await wired.adapter.send(outbound(wired, ctx, "third", "c:3"))
    assert str(again.value) == expected
    assert len(fake.calls("/2/tweets", "POST")) == calls
    assert [r["text"] for r in fake.replies] == ["first"]


async def _first_poll_delay(wired: Wired, caplog: pytest.LogCaptureFixture) -> float:
    """Run the channel's real poll loop until it logs when its next poll comes; that delay."""
    name = "x:test:mentions"

    async def scheduled() -> logging.LogRecord | None:
        return next((r for r in caplog.records if name in r.getMessage()), None)

    with caplog.at_level(logging.WARNING, logger="adapters.social.poller"):
        task = asyncio.create_task(poll_loop(name, wired.adapter.poll_mentions, interval=60.0))
        try:
            record = await wait_for(scheduled, timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return float(record.getMessage().rsplit("next poll in ", 1)[1].rstrip("s"))


@pytest.mark.parametrize(
    ("reset_in", "expected"),
    [(20 * 3600, 20 * 3600), (30 * 86400, MAX_DAILY_WAIT)],  # a bogus month: 25 hours
)
async def test_daily_limit_on_mentions_waits_for_its_reset(
    wire: WireAdapter, x_api: Served, caplog: pytest.LogCaptureFixture, reset_in, expected
) -> None:
    """A 24-hour cap on the mentions timeline: the poll stops at once (no sleeping inside the
    call) and the next one comes at the reset X named, not after the 16-minute cap of an
    ordinary window; a bogus reset is capped at 25 hours."""
    fake = x_api.fake
    fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    await wired.adapter.poll_mentions()
    fake.daily_limit("mentions", 0, reset_in=reset_in)
    started = time.monotonic()
    with pytest.raises(XDailyLimit) as info:
        await wired.adapter.poll_mentions()
    assert time.monotonic() - started < 5
    assert isinstance(info.value, DailyLimitReached)
    assert len(fake.calls("/mentions")) == 2
    delay = await _first_poll_delay(wired, caplog)
    assert expected - 60 <= delay <= expected + 2  # the header's reset is a whole second up
    assert len(fake.calls("/mentions")) == 2  # the loop's poll spent no request either


async def test_verify_and_bearer_token(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    good = await wire(XAdapter, config(x_api))
    await good.adapter.verify()
    bad = await wire(XAdapter, config(x_api, access_token_secret="wrong"))
    with pytest.raises(VerifyError, match="401"):
        await bad.adapter.verify()
    other = await wire(XAdapter, config(x_api, user_id="12345"))
    with pytest.raises(VerifyError, match="not to user id 12345"):
        await other.adapter.verify()

    fake.bearer = "user-context-token"
    post = fake.tweet("wanglei", "@acme hi")
    bearer = await wire(
        XAdapter, {"api_base_url": x_api.url, "bearer_token": "user-context-token", "backfill": 5}
    )
    await bearer.adapter.prepare()  # looks the account id up via /2/users/me
    assert bearer.adapter.user_id == OWN_ID
    await bearer.adapter.poll_mentions()
    assert bearer.new_ids() == [post]


async def test_one_poller_per_channel_across_processes(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    one = await wire(XAdapter, config(x_api, poll_interval_seconds=1), channel_id="ch-shared")
    two = await wire(XAdapter, config(x_api, poll_interval_seconds=1), channel_id="ch-shared")
    await one.adapter.start()
    await two.adapter.start()
    try:
        post = fake.tweet("wanglei", "@acme anyone there?")

        async def delivered():
            return one.new_ids() + two.new_ids()

        assert await wait_for(delivered) == [post]
        later = fake.tweet("wanglei", "@acme hello??")
        await wait_for(lambda: _has(one, two, later))
        # Only the lease holder polls: every message reached exactly one of the two.
        assert sorted(one.new_ids() + two.new_ids()) == sorted([post, later])
        assert not (one.delivered and two.delivered)
    finally:
        await one.adapter.stop()
        await two.adapter.stop()


async def _has(one: Wired, two: Wired, post: str) -> bool:
    return post in one.new_ids() + two.new_ids()


@pytest.mark.parametrize("lost", [None, 503], ids=["connection-dropped", "503-after-posting"])
async def test_a_reply_whose_answer_was_lost_is_not_posted_again(
    wire: WireAdapter, x_api: Served, lost: int | None
) -> None:
    """X takes no idempotency key: when the answer to a post was lost (the connection dropped,
    a 503 after posting, or the process died before recording it), the retry looks for the
    reply on the account's own timeline and posts nothing new if it is there. A reply to the
    same post with other text is not taken for it."""
    fake = x_api.fake
    post = fake.tweet("wanglei", "@acme my order arrived broken")
    wired = await wire(XAdapter, config(x_api))
    ctx = {"post_id": post, "conversation_id": post, "author_id": "1"}
    earlier = await wired.adapter.send(outbound(wired, ctx, "Sorry to hear that!", "c:1"))

    text = "Tom & Jerry <3: see https://example.com/help?a=1&b=2 for the refund"
    fake.lost_answers.append(lost)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(outbound(wired, ctx, text, "c:2"))
    assert len(fake.replies) == 2  # it was posted
    posted = next(p for p in fake.posts.values() if "Jerry" in p["text"])
    assert await wired.adapter.send(outbound(wired, ctx, text, "c:2")) == posted["id"]
    assert len(fake.replies) == 2  # not again
    assert len(fake.calls(f"/2/users/{fake.user_id}/tweets")) == 1
    # And recorded: a further retry asks nothing.
    assert await wired.adapter.send(outbound(wired, ctx, text, "c:2")) == posted["id"]
    assert len(fake.calls(f"/2/users/{fake.user_id}/tweets")) == 1
    assert earlier != posted["id"]


async def test_a_refused_or_unposted_attempt_is_posted_once_on_retry(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    post = fake.tweet("wanglei", "@acme hello")
    wired = await wire(XAdapter, config(x_api))
    ctx = {"post_id": post, "conversation_id": post, "author_id": "1"}

    # A 4xx is a refusal: nothing posted, so the agent's retry does not look.
    fake.fail_next("/2/tweets", 400, body='{"title": "Invalid Request"}')
    with pytest.raises(PermanentSendError):
        await wired.adapter.send(outbound(wired, ctx, "hello there", "c:1"))
    assert not fake.calls(f"/2/users/{fake.user_id}/tweets")
    # A 503 before anything was posted: the retry looks, finds nothing, posts once.
    fake.fail_next("/2/tweets", 503)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(outbound(wired, ctx, "second", "c:2"))
    second = await wired.adapter.send(outbound(wired, ctx, "second", "c:2"))
    assert [r["text"] for r in fake.replies] == ["second"]
    assert fake.posts[second]["text"] == "second"
    assert len(fake.calls(f"/2/users/{fake.user_id}/tweets")) == 1
    await wired.adapter.send(outbound(wired, ctx, "hello there", "c:1"))
    assert len(fake.calls(f"/2/users/{fake.user_id}/tweets")) == 1

    # The account's access has no timelines (a 4xx): posted anyway, with a warning.
    fake.fail_next("/2/tweets", 503)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(outbound(wired, ctx, "third", "c:3"))
    fake.fail_next(f"/2/users/{fake.user_id}/tweets", 403)
    await wired.adapter.send(outbound(wired, ctx, "third", "c:3"))
    assert [r["text"] for r in fake.replies] == ["second", "hello there", "third"]
