"""Weibo adapter: parsing recorded payloads, and polling / commenting against the fake Weibo API
with the gateway's real inbox behind it."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from adapters.base import PermanentSendError, TransientSendError, VerifyError
from adapters.social.poller import PermanentApiError, RateLimited, TransientApiError
from adapters.social.weibo import (
    WeiboAdapter,
    classify,
    comment_to_message,
    parse_time,
    status_to_message,
    thread_order,
)
from gateway.models import Channel, ContactIdentity, InboundMessage, OutboundMessage
from tests.adapters.social.conftest import Served, WireAdapter, Wired
from tests.adapters.social.fakes import Window, _weibo_time
from tests.conftest import Harness

PAYLOADS = Path(__file__).parent / "payloads"


def config(api: Served, **extra) -> dict:
    return {
        "api_base_url": api.url,
        "access_token": api.fake.token,
        "uid": api.fake.uid,
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
        thread_key=str(reply_context.get("status_id")),
        text=text,
        reply_context=reply_context,
    )


# --- pure ------------------------------------------------------------------------------------


def test_recorded_mentions_to_messages() -> None:
    payload = json.loads((PAYLOADS / "weibo_mentions.json").read_text())
    (status,) = payload["statuses"]["statuses"]
    (comment,) = payload["comments"]["comments"]
    post = status_to_message(status, channel_id="ch", web_url="https://m.weibo.cn")
    assert post is not None
    assert (post.external_id, post.thread_key) == ("11488058246", "11488058246")
    assert post.contact.external_id == "1404376560"
    assert post.meta["author_handle"] == "@zaku"
    assert post.meta["url"] == "https://m.weibo.cn/status/11488058246"
    assert post.meta["kind"] == "status"
    assert post.attachments[0].url == "http://ww1.sinaimg.cn/thumbnail/a.jpg"
    assert post.sent_at == 1306835215000

    reply = comment_to_message(comment, channel_id="ch", web_url="https://m.weibo.cn")
    assert reply is not None
    assert reply.external_id == "12438492184"
    assert reply.thread_key == "11488058246"  # the post it comments on
    assert reply.meta["kind"] == "comment"
    assert (reply.meta["comment_id"], reply.meta["status_id"]) == ("12438492184", "11488058246")
    assert reply.meta["status_text"].startswith("@AcmeCN 洗衣机漏水了")
    assert comment_to_message({"idstr": "1"}, channel_id="ch", web_url="x") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue May 31 17:46:55 +0800 2011", 1306835215000),
        ("Wed Jun 01 00:50:25 +0800 2011", 1306860625000),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_time(value, expected) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"statuses": []}, None),
        (403, {"error": "User requests out of rate limit!", "error_code": 10023}, RateLimited),
        (403, {"error": "IP requests out of rate limit!", "error_code": 10022}, RateLimited),
        (400, {"error": "out of limit", "error_code": 20016}, RateLimited),
        (500, {"error": "system error!", "error_code": 10001}, TransientApiError),
        (401, {"error": "invalid_access_token", "error_code": 21332}, PermanentApiError),
        (401, {"error": "expired_token", "error_code": 21327}, PermanentApiError),
        (
            403,
            {
                "error": "User requests for (statuses/mentions) out of rate limit!",
                "error_code": "10024",
            },
            RateLimited,
        ),  # codes may come as strings
        (400, {"error": "Target weibo does not exist!", "error_code": 20101}, PermanentApiError),
        (502, None, TransientApiError),
        (404, None, PermanentApiError),
    ],
)
def test_classify(status, body, kind) -> None:
    error = classify(status, body, {})
    if kind is None:
        assert error is None
    else:
        assert type(error) is kind


# --- polling ---------------------------------------------------------------------------------


async def test_posts_and_comments_with_since_id_pages(wire: WireAdapter, weibo_api: Served) -> None:
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first]

    posts = [fake.post(f"user{i}", f"@AcmeCN 第{i}台坏了") for i in range(23)]
    fake.post("other", "与我们无关")
    comments = [fake.comment("lili", first, f"@AcmeCN 我也是 {i}") for i in range(4)]
    fake.comment("lili", first, "no mention")
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *posts, *comments]
    calls = fake.calls("/statuses/mentions.json")
    # Each page below the oldest id read (max_id is inclusive), never a page number.
    assert [c.query.get("max_id") for c in calls] == [
        None, [str(int(posts[13]) - 1)], [str(int(posts[3]) - 1)]
    ]  # fmt: skip
    assert all("page" not in c.query for c in calls)
    assert {c.query["since_id"][0] for c in calls} == {first}
    assert await wired.adapter.get_cursor("statuses") == posts[-1]
    assert await wired.adapter.get_cursor("comments") == comments[-1]
    threads = {m.external_id: m.thread_key for m, _ in wired.delivered}
    assert {threads[c] for c in comments} == {first}


async def test_page_budget_resumes_with_max_id(wire: WireAdapter, weibo_api: Served) -> None:
    """More new mentions than max_pages pages hold: the next polls read the rest (same since_id,
    ``max_id`` below the oldest read); the cursor moves only once all of them were read."""
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api, max_pages=2))
    await wired.adapter.poll_mentions()
    posts = [fake.post(f"user{i}", f"@AcmeCN 第{i}台坏了") for i in range(45)]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *posts[-20:]]
    assert await wired.adapter.get_cursor("statuses") == first
    later = fake.post("lili", "@AcmeCN 还没人管")
    await wired.adapter.poll_mentions()
    await wired.adapter.poll_mentions()
    assert sorted(wired.new_ids()) == sorted([first, *posts])
    assert await wired.adapter.get_cursor("statuses") == posts[-1]
    await wired.adapter.poll_mentions()
    assert wired.new_ids()[-1] == later and len(wired.new_ids()) == len(set(wired.new_ids()))
    assert await wired.adapter.get_cursor("statuses") == later
    calls = fake.calls("/statuses/mentions.json")
    assert len(calls) == 7
    assert {c.query["since_id"][0] for c in calls[1:6]} == {first}
    below = [[str(int(posts[i]) - 1)] for i in (35, 25, 15, 5)]
    assert [c.query.get("max_id") for c in calls[1:6]] == [None, *below]


async def test_rate_limit_error_waits_for_the_reported_reset(
    wire: WireAdapter, weibo_api: Served
) -> None:
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    posts = [fake.post("zaku", f"@AcmeCN {i}") for i in range(25)]
    fake.window = Window(limit=2, seconds=2.0)
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *posts]
    assert fake.rejected == 1  # one 10023, then the wait until rate_limit_status's reset
    assert len(fake.calls("rate_limit_status")) == 1


async def test_5xx_burst_loses_nothing(wire: WireAdapter, weibo_api: Served) -> None:
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    posts = [fake.post("zaku", f"@AcmeCN {i}") for i in range(15)]
    fake.fail_next("/statuses/mentions.json", 502, count=10, skip=1)
    with pytest.raises(TransientApiError):
        await wired.adapter.poll_mentions()
    assert await wired.adapter.get_cursor("statuses") == first
    fake.failures.clear()
    fake.fail_next("/statuses/mentions.json", 503, count=2)
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *posts]


def _long(i: int) -> str:
    return (
        f"@AcmeCN 第{i}台洗衣机漏水了，" + "一直没人处理，" * 30 + f"订单号 1234{i}，请尽快联系我。"
    )


async def test_long_posts_are_delivered_whole(wire: WireAdapter, weibo_api: Served) -> None:
    """statuses/mentions cuts a post over 140 characters (isLongText, "...全文： <link>"): its
    whole text comes from statuses/show_batch (isGetLongText=1), one call per page of mentions
    for the long ones only."""
    fake = weibo_api.fake
    first = fake.post("zaku", _long(0))
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()  # the first round (backfill) too
    texts = [_long(i) for i in range(1, 12)]
    posts = [fake.post(f"user{i}", t) for i, t in enumerate(texts)]
    short = fake.post("lili", "@AcmeCN 短的")
    await wired.adapter.poll_mentions()
    delivered = {m.external_id: m for m, _ in wired.delivered}
    assert [delivered[p].text for p in [first, *posts, short]] == [_long(0), *texts, "@AcmeCN 短的"]
    assert delivered[posts[0]].raw["isLongText"] is True
    batches = fake.calls("/statuses/show_batch.json")
    assert [c.query["isGetLongText"] for c in batches] == [["1"]] * 3
    # Newest first, 10 a page: the second round's pages hold 9 and 2 long posts.
    assert [set(c.query["ids"][0].split(",")) for c in batches] == [
        {first}, {*posts[2:]}, {*posts[:2]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (502, "<html>Bad Gateway</html>", "text/html"),
        (403, '{"error": "Insufficient app permissions", "error_code": 10014}', "application/json"),
        (
            403,
            '{"error": "User requests for (statuses/show_batch) out of rate limit!", '
            '"error_code": 10024}',
            "application/json",
        ),
    ],
)  # fmt: skip
async def test_long_text_lookup_failure_keeps_the_cut_text(
    wire: WireAdapter, weibo_api: Served, caplog: pytest.LogCaptureFixture, status, body,
    content_type,
) -> None:  # fmt: skip
    """statuses/show_batch refused (an error, its own rate limit, a broken answer): the
    mentions are delivered at once as Weibo listed them, the cursor moves, one warning."""
    fake = weibo_api.fake
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    posts = [fake.post("zaku", _long(1)), fake.post("lili", _long(2))]
    comment = fake.comment("lili", posts[0], "@AcmeCN 我也是")
    fake.fail_next("/statuses/show_batch.json", status, body=body, content_type=content_type)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="adapters.social.weibo"):
        await wired.adapter.poll_mentions()
    assert time.monotonic() - started < 5  # nothing waited for a window
    assert wired.new_ids() == [*posts, comment]
    cut = {m.external_id: m.text for m, _ in wired.delivered}
    for post in posts:
        assert cut[post].endswith(
            f"...全文： http://m.weibo.cn/{fake.statuses[post]['user']['idstr']}/{post}"
        )
        assert len(cut[post]) < len(fake.full_texts[post])
    assert await wired.adapter.get_cursor("statuses") == posts[-1]
    warnings = [r for r in caplog.records if "whole text of long posts" in r.getMessage()]
    assert len(warnings) == 1
    # The next round asks again, and gets the whole text once show_batch answers.
    later = fake.post("zaku", _long(3))
    await wired.adapter.poll_mentions()
    msg = next(m for m, _ in wired.delivered if m.external_id == later)
    if status == 403 and "10024" in body:
        assert msg.text != _long(3)  # its own window is closed until the reset: still cut
    else:
        assert msg.text == _long(3)


def _mention(kind: str, item_id: str, thread: str, sent_at: int) -> InboundMessage:
    return InboundMessage(
        channel_id="ch", channel_type=Channel.WEIBO, external_id=item_id,
        contact=ContactIdentity(external_id="u" + item_id), thread_key=thread, text="@AcmeCN",
        sent_at=sent_at, meta={"kind": kind},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # (kind, id, thread, sent_at): a comment and its post in the same second, comment first.
        ([("comment", "12", "10", 5000), ("status", "10", "10", 5000)], ["10", "12"]),
        # Clocks that disagree: the comment looks older than its post; still after it.
        ([("comment", "12", "10", 4000), ("status", "10", "10", 5000)], ["10", "12"]),
        # A comment on a post that is not in this round keeps its own place.
        ([("status", "20", "20", 6000), ("comment", "12", "10", 4000)], ["12", "20"]),
        # Other threads keep time order around a moved comment.
        (
            [("comment", "31", "30", 1000), ("status", "40", "40", 2000),
             ("status", "30", "30", 3000), ("comment", "41", "40", 4000)],
            ["40", "30", "31", "41"],
        ),
    ],
)  # fmt: skip
def test_thread_order_puts_the_post_before_its_comments(items, expected) -> None:
    ordered = thread_order([_mention(*item) for item in items])
    assert [m.external_id for m in ordered] == expected


async def test_post_and_comment_of_one_round_file_post_first(
    wire: WireAdapter, weibo_api: Served, gateway: Harness
) -> None:
    """The post and a comment on it arrive in one round, the comment listed first and dated
    before the post (Weibo's clocks are per server): the post opens the conversation, and the
    agent's reply answers the comment, the latest thing said."""
    fake = weibo_api.fake
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()  # the first round: nothing yet, cursors at "now"
    post = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    comment = fake.comment("lili", post, "@AcmeCN 我的也漏水")
    fake.comments[comment]["created_at"] = _weibo_time(time.time() - 2)
    for _name, poll in reversed(wired.adapter.pollers()):  # comments first, if polled apart
        await poll()
    assert wired.new_ids() == [post, comment]
    results = {m.external_id: r for m, r in wired.delivered}
    conv_id = results[post].conversation_id
    assert results[comment].conversation_id == conv_id
    conv = (await gateway.call("GET", f"/api/v1/conversations/{conv_id}"))["conversation"]
    assert conv["contact_id"] == results[post].contact_id  # the post's author

    context = await gateway.gw.conversations.reply_context(conv_id)
    await wired.adapter.send(outbound(wired, context, "请私信订单号。"))
    assert fake.created[-1] == {"id": post, "cid": comment, "comment": "请私信订单号。"}


# --- replies ---------------------------------------------------------------------------------


async def test_comment_on_a_post_and_reply_to_a_comment(
    wire: WireAdapter, weibo_api: Served
) -> None:
    fake = weibo_api.fake
    post = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    comment = fake.comment("lili", post, "@AcmeCN 我的也是")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    by_id = {m.external_id: m for m, _ in wired.delivered}

    out = outbound(wired, by_id[post].meta, "您好，已为您安排上门维修。")
    created = await wired.adapter.send(out)
    assert fake.created[-1] == {"id": post, "comment": "您好，已为您安排上门维修。"}
    assert fake.comments[created]["status"]["idstr"] == post
    assert await wired.adapter.send(out) == created  # a retried send comments once
    assert len(fake.created) == 1

    answer = outbound(wired, by_id[comment].meta, "抱歉，请私信订单号。", "conv2:4")
    replied = await wired.adapter.send(answer)
    assert fake.created[-1] == {"id": post, "cid": comment, "comment": "抱歉，请私信订单号。"}
    assert fake.comments[replied]["reply_comment"]["idstr"] == comment
    # Our own comments mention nobody new and are never polled back in.
    await wired.adapter.poll_mentions()
    assert created not in wired.new_ids() and replied not in wired.new_ids()


async def test_comments_report_the_users_ip(wire: WireAdapter, weibo_api: Served) -> None:
    """comments/create and comments/reply take ``rip``, "the real IP of the user who acts"
    (required in the current wiki): the channel's ``rip`` setting is sent with each comment."""
    fake = weibo_api.fake
    fake.require_rip = True
    post = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    comment = fake.comment("lili", post, "@AcmeCN 我的也是")
    wired = await wire(WeiboAdapter, config(weibo_api, rip="203.0.113.7"))
    await wired.adapter.poll_mentions()
    by_id = {m.external_id: m for m, _ in wired.delivered}
    await wired.adapter.send(outbound(wired, by_id[post].meta, "您好"))
    await wired.adapter.send(outbound(wired, by_id[comment].meta, "抱歉", "conv2:4"))
    assert [c.get("rip") for c in fake.created] == ["203.0.113.7"] * 2


async def test_reply_errors_and_verify(wire: WireAdapter, weibo_api: Served) -> None:
    fake = weibo_api.fake
    post = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api))
    ctx = {"kind": "status", "post_id": post, "status_id": post, "author_id": "1"}
    await wired.adapter.verify()
    with pytest.raises(PermanentSendError, match="Weibo allows 140"):
        await wired.adapter.send(outbound(wired, ctx, "抱" * 141, "c:1"))
    with pytest.raises(PermanentSendError, match="20101"):
        await wired.adapter.send(outbound(wired, {**ctx, "status_id": "42"}, "hi", "c:2"))
    fake.window = Window(limit=0, seconds=60.0)
    with pytest.raises(TransientSendError) as info:
        await wired.adapter.send(outbound(wired, ctx, "hi", "c:3"))
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    # The account's window is spent: every call waits for the reset, verify included.
    with pytest.raises(VerifyError, match="rate limit"):
        await wired.adapter.verify()
    fake.window = None
    assert fake.created == []

    other = await wire(WeiboAdapter, config(weibo_api, uid="1"))
    with pytest.raises(VerifyError, match="belongs to uid 5000"):
        await other.adapter.verify()
    bad = await wire(WeiboAdapter, config(weibo_api, access_token="expired"))
    with pytest.raises(VerifyError, match="21332"):
        await bad.adapter.verify()
    with pytest.raises(PermanentSendError, match="21332"):
        await bad.adapter.send(outbound(bad, ctx, "hi", "c:4"))


async def test_a_short_page_is_not_the_end_while_next_cursor_says_more(
    wire: WireAdapter, weibo_api: Served
) -> None:
    """Weibo counts hidden and deleted posts into a page and leaves them out of it: a page of 10
    holding 8, or none, with a non-zero next_cursor. Every mention below it is still read, and
    the cursor moves only after them."""
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    posts = [fake.post(f"user{i}", f"@AcmeCN 第{i}台坏了") for i in range(35)]
    fake.hidden |= {posts[34], posts[30]}  # the first page: 8 of 10
    fake.hidden |= set(posts[15:25])  # the second page: none of 10
    await wired.adapter.poll_mentions()
    shown = [p for p in posts if p not in fake.hidden]
    assert sorted(wired.new_ids()) == sorted([first, *shown])
    # The newest shown: a hidden post that shows again later is still above the cursor.
    assert await wired.adapter.get_cursor("statuses") == posts[33]


async def test_a_post_deleted_between_pages_skips_nothing_below_it(
    wire: WireAdapter, weibo_api: Served
) -> None:
    """Pages by number shift up when a post of an earlier page is deleted mid-poll, so the first
    posts of the next page were never read; pages below the oldest id read do not shift."""
    fake = weibo_api.fake
    first = fake.post("zaku", "@AcmeCN hi")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    posts = [fake.post(f"user{i}", f"@AcmeCN 第{i}台坏了") for i in range(25)]
    gone = posts[20:23]
    fake.after_page = lambda: [fake.statuses.pop(p) for p in gone]
    await wired.adapter.poll_mentions()
    assert sorted(wired.new_ids()) == sorted([first, *posts])


@pytest.mark.parametrize("lost", [None, 500], ids=["connection-dropped", "500-after-posting"])
async def test_a_comment_whose_answer_was_lost_is_not_posted_again(
    wire: WireAdapter, weibo_api: Served, lost: int | None
) -> None:
    """Weibo takes no idempotency key: when the answer to a comment was lost, the retry looks
    in comments/by_me (a reply shows as "回复@name:" and the text) and comments nothing new if
    it is there. Another comment on the same post with other text is not taken for it."""
    fake = weibo_api.fake
    post = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    comment = fake.comment("lili", post, "@AcmeCN 我的也是")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    by_id = {m.external_id: m for m, _ in wired.delivered}
    await wired.adapter.send(outbound(wired, by_id[comment].meta, "稍等", "conv1:1"))

    answer = outbound(wired, by_id[comment].meta, "抱歉 & 请私信订单号 https://t.cn/abc", "conv1:2")
    fake.lost_answers.append(lost)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(answer)
    assert len(fake.created) == 2  # it was made
    made = next(i for i, c in fake.comments.items() if "订单号" in c["text"])
    assert await wired.adapter.send(answer) == made
    assert len(fake.created) == 2  # not again
    assert len(fake.calls("/comments/by_me.json")) == 1


async def test_a_comment_refused_or_never_made_is_made_once_on_retry(
    wire: WireAdapter, weibo_api: Served
) -> None:
    fake = weibo_api.fake
    post = fake.post("zaku", "@AcmeCN 洗衣机漏水了")
    wired = await wire(WeiboAdapter, config(weibo_api))
    await wired.adapter.poll_mentions()
    (msg,) = [m for m, _ in wired.delivered]
    fake.fail_next("/comments/create.json", 503)  # before anything was made
    out = outbound(wired, msg.meta, "您好，已为您安排上门维修。")
    with pytest.raises(TransientSendError):
        await wired.adapter.send(out)
    created = await wired.adapter.send(out)
    assert len(fake.created) == 1 and fake.comments[created]["status"]["idstr"] == post
    assert len(fake.calls("/comments/by_me.json")) == 1
