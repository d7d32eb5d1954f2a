"""Mastodon adapter: parsing recorded notifications, and polling / replying against the fake
instance with the gateway's real inbox behind it."""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import PermanentSendError, TransientSendError, VerifyError
from adapters.social.mastodon import (
    MastodonAdapter,
    html_to_text,
    link_min_id,
    mention_to_message,
    rate_info,
    reply_text,
    reply_visibility,
)
from adapters.social.poller import TransientApiError
from gateway.models import OutboundMessage
from tests.adapters.social.conftest import Served, WireAdapter, Wired
from tests.adapters.social.fakes import Window

PAYLOADS = Path(__file__).parent / "payloads"


def config(api: Served, **extra) -> dict:
    return {
        "base_url": api.url,
        "access_token": api.fake.token,
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
        thread_key=str(reply_context.get("root_post_id")),
        text=text,
        reply_context=reply_context,
    )


# --- pure ------------------------------------------------------------------------------------


def test_notifications_to_messages() -> None:
    mention, favourite, direct = json.loads((PAYLOADS / "mastodon_notifications.json").read_text())
    msg = mention_to_message(mention, channel_id="ch", thread_key="103186038209478945")
    assert msg is not None
    assert msg.external_id == "103186126728896492"
    assert msg.text == "@trwnh sup!\n\nsecond & last\nline"
    assert msg.thread_key == "103186038209478945"
    assert (msg.contact.external_id, msg.contact.name) == ("971724", "Zsc")
    assert msg.meta["author_handle"] == "@zsc"
    assert msg.meta["url"] == "https://mastodon.social/@zsc/103186126728896492"
    assert msg.meta["notification_id"] == "34975861"
    assert msg.meta["public"] is True
    assert msg.attachments[0].meta == {"description": "the broken box"}
    assert msg.sent_at == 1574495341940
    assert mention_to_message(favourite, channel_id="ch", thread_key="x") is None
    dm = mention_to_message(direct, channel_id="ch", thread_key="103186000000000000")
    assert dm is not None
    assert dm.text == "[CW: refund]\n@trwnh please refund order 12"
    assert dm.meta["visibility"] == "direct" and dm.meta["public"] is False
    assert dm.meta["author_acct"] == "haskal@cybre.space"
    assert dm.meta["url"] == "https://cybre.space/users/haskal/statuses/1"  # uri when no url
    assert dm.contact.name == "@haskal@cybre.space"  # no display name


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("<p>a<br>b<br/>c</p>", "a\nb\nc"),
        ("<p>1 &lt; 2 &amp;&amp; 3 &gt; 2</p>", "1 < 2 && 3 > 2"),
        ('<p><a href="https://x.test/a">x.test/a</a> 😀</p>', "x.test/a 😀"),
        ("", ""),
        ("<p>unclosed <b>bold", "unclosed bold"),
        # Entities are decoded once: what the customer typed as "&lt;b&gt;" stays that.
        ("<p>I typed &amp;lt;b&amp;gt;</p>", "I typed &lt;b&gt;"),
        ("<p>AT&amp;amp;T &amp; co</p>", "AT&amp;T & co"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_link_header_and_rate_headers() -> None:
    link = (
        '<https://m.example/api/v1/notifications?max_id=34975535>; rel="next", '
        '<https://m.example/api/v1/notifications?min_id=34975861>; rel="prev"'
    )
    assert link_min_id(link) == "34975861"
    assert link_min_id('<https://m.example/x?max_id=1>; rel="next"') is None
    assert link_min_id(None) is None
    info = rate_info(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-23T13:45:00.000Z"}
    )
    assert info.remaining == 0
    assert info.reset_at == datetime(2026, 11, 23, 13, 45, tzinfo=UTC).timestamp()
    assert rate_info({"X-RateLimit-Reset": "garbage"}).reset_at is None


def test_reply_text_mentions_the_author_once() -> None:
    assert reply_text("Sorry!", "alice") == "@alice Sorry!"
    assert reply_text("Hi @Alice, sorry", "alice") == "Hi @Alice, sorry"
    assert reply_text("hi", "bob@other.example") == "@bob@other.example hi"
    assert reply_text("  hi ", None) == "hi"


@pytest.mark.parametrize(
    ("text", "acct", "mentioned"),
    [
        ("Thanks @ann.", "ann", True),  # a full stop after the handle ends it
        ("(@ANN) see you", "ann", True),
        ("@ann: done", "ann", True),
        ("Our billing lead @anna will call", "ann", False),  # another account
        ("ask @ann_b", "ann", False),
        ("ask @ann-b", "ann", False),
        ("forwarded to @ann@support.example", "ann", False),  # a remote namesake
        ("see @ann.example", "ann", False),
        ("mail me: me@ann", "ann", False),  # no mention after a word character
        ("hi @Bob@Other.Example!", "bob@other.example", True),
        ("hi @bob", "bob@other.example", False),  # that is a local bob
        ("hi @bob@other.example.org", "bob@other.example", False),
        ("hi @bob@other.examples", "bob@other.example", False),
    ],
)
def test_reply_text_needs_the_whole_handle(text: str, acct: str, mentioned: bool) -> None:
    assert reply_text(text, acct) == (text if mentioned else f"@{acct} {text}")


@pytest.mark.parametrize(
    ("mention", "configured", "reply"),
    [
        ("public", "public", "public"),
        ("public", "unlisted", "unlisted"),
        ("unlisted", "public", "unlisted"),
        ("unlisted", "unlisted", "unlisted"),
        ("private", "public", "private"),
        ("direct", "unlisted", "direct"),
        (None, "unlisted", "unlisted"),  # not recorded: the channel's setting
        ("limited", "public", "direct"),  # unknown: never wider than we can tell
    ],
)
def test_reply_visibility_is_the_narrower(mention: str | None, configured: str, reply: str) -> None:
    assert reply_visibility(mention, configured) == reply


# --- polling ---------------------------------------------------------------------------------


async def test_pages_forward_with_min_id(wire: WireAdapter, mastodon_api: Served) -> None:
    fake = mastodon_api.fake
    first = fake.toot("alice", "@acme hello")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first]
    cursor = await wired.adapter.get_cursor("notifications")

    new = []
    for i in range(23):
        new.append(fake.toot(f"user{i % 3}", f"@acme problem {i}"))
        fake.favourite("carol", new[-1])  # not a mention: filtered out by types[]
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]
    calls = fake.calls("/notifications")
    assert [c.query["types[]"] for c in calls] == [["mention"]] * 3
    # Forward paging: each page starts where the previous one ended (Link rel="prev").
    mins = [c.query["min_id"][0] for c in calls]
    assert mins[0] == cursor
    assert len(set(mins)) == 3
    assert await wired.adapter.get_cursor("notifications") == fake.notifications[-2]["id"]
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]


async def test_mentions_filtered_by_the_notification_policy_are_read(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    """Mastodon 4.3+ files some notifications as filtered (by default private mentions from
    accounts the user does not follow) and leaves them out unless ``include_filtered=true``: a
    customer writing to the brand privately must still reach an agent."""
    fake = mastodon_api.fake
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    public = fake.toot("alice", "@acme my order is late")
    private = fake.toot("bob@other.example", "@acme my address is 1 Main St", visibility="direct")
    assert fake.filtered  # the instance's policy filtered the private mention
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [public, private]
    assert fake.calls("/notifications")[-1].query["include_filtered"] == ["true"]


async def test_threads_follow_the_root_post(wire: WireAdapter, mastodon_api: Served) -> None:
    fake = mastodon_api.fake
    stranger = fake.toot("dave", "general musing, no mention")
    root = fake.toot("alice", "@acme my order never came")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    assert msg.thread_key == root

    # Our reply, then the customer answers it: the same conversation, no lookup needed.
    reply_id = await wired.adapter.send(outbound(wired, msg.meta, "Sorry, checking now."))
    follow = fake.toot("alice", "@acme thanks, order 42", in_reply_to=reply_id)
    # Someone replying deep in a thread we never saw: its root comes from the context API.
    deep1 = fake.toot("erin", "same", in_reply_to=stranger)
    deep2 = fake.toot("frank", "@acme me too", in_reply_to=deep1)
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    threads = {m.external_id: m.thread_key for m, r in wired.delivered if not r.duplicate}
    assert threads == {root: root, follow: root, deep2: stranger}
    assert len(fake.calls("/context")) == 1
    assert fake.calls("/context")[0].path.endswith(f"/{deep2}/context")


async def test_429_with_iso_reset_and_5xx_burst(wire: WireAdapter, mastodon_api: Served) -> None:
    fake = mastodon_api.fake
    first = fake.toot("alice", "@acme hi")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    new = [fake.toot("bob", f"@acme {i}") for i in range(15)]
    fake.window = Window(limit=1, seconds=2.0)  # one request per 2 s; the ISO reset says when
    fake.fail_next("/notifications", 503, count=2)
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new]
    assert fake.rejected == 0  # X-RateLimit-Remaining: 0 was honoured

    more = [fake.toot("bob", f"@acme more {i}") for i in range(3)]
    fake.window = None
    reset = time.time() + 2
    iso = datetime.fromtimestamp(reset, UTC).isoformat()
    fake.fail_next(
        "/notifications",
        429,
        body='{"error": "Too many requests"}',
        content_type="application/json",
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": iso},
    )
    fake.requests.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids() == [first, *new, *more]
    calls = fake.calls("/notifications")
    assert calls[1].at >= reset - 0.5

    fake.fail_next("/notifications", 500, count=10)
    extra = fake.toot("bob", "@acme lost?")
    with pytest.raises(TransientApiError):
        await wired.adapter.poll_mentions()
    fake.failures.clear()
    await wired.adapter.poll_mentions()
    assert wired.new_ids()[-1] == extra


# --- replies ---------------------------------------------------------------------------------


async def test_reply_is_idempotent_and_mirrors_private_visibility(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    fake = mastodon_api.fake
    public = fake.toot("alice", "@acme broken again")
    private = fake.toot("bob@other.example", "@acme my address is ...", visibility="direct")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    by_id = {m.external_id: m for m, _ in wired.delivered}

    out = outbound(wired, by_id[public].meta, "We are sorry, a replacement is on its way.")
    first = await wired.adapter.send(out)
    assert fake.posted[-1]["in_reply_to_id"] == public
    assert fake.posted[-1]["status"] == "@alice We are sorry, a replacement is on its way."
    assert fake.posted[-1]["visibility"] == "public"
    assert fake.posted[-1]["idempotency_key"] == out.message_id
    # Our record of the send is lost (as after a crash): the Idempotency-Key still saves us.
    await wired.ctx.redis.delete(wired.ctx.state_key(f"sent:{out.message_id}"))
    assert await wired.adapter.send(out) == first
    assert len([s for s in fake.statuses.values() if s["account"]["acct"] == "acme"]) == 1

    dm = outbound(wired, by_id[private].meta, "Got it, thanks.", "conv2:3")
    await wired.adapter.send(dm)
    assert fake.posted[-1]["visibility"] == "direct"
    assert fake.posted[-1]["status"].startswith("@bob@other.example ")


async def test_unlisted_mention_gets_an_unlisted_reply(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    """Replying public to an unlisted post would put the customer's thread on the public
    timelines: the reply takes the narrower of the two visibilities, as Mastodon's composer."""
    fake = mastodon_api.fake
    unlisted = fake.toot(
        "ann@other.example", "@acme my parcel never arrived", visibility="unlisted"
    )
    public = fake.toot("carl", "@acme wrong size")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    by_id = {m.external_id: m for m, _ in wired.delivered}
    assert by_id[unlisted].meta["visibility"] == "unlisted"
    await wired.adapter.send(outbound(wired, by_id[unlisted].meta, "So sorry, checking.", "c1:2"))
    assert fake.posted[-1]["visibility"] == "unlisted"
    assert fake.posted[-1]["in_reply_to_id"] == unlisted
    await wired.adapter.send(outbound(wired, by_id[public].meta, "Exchanging it.", "c2:2"))
    assert fake.posted[-1]["visibility"] == "public"

    quiet = await wire(MastodonAdapter, config(mastodon_api, reply_visibility="unlisted"))
    await quiet.adapter.send(outbound(quiet, by_id[public].meta, "Exchanging it.", "c3:2"))
    assert fake.posted[-1]["visibility"] == "unlisted"


async def test_direct_reply_reaches_a_customer_whose_handle_starts_another(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    """A direct post reaches only the accounts it mentions: "@anna" in the agent's text is not
    "@ann", so the customer's handle is still put first."""
    fake = mastodon_api.fake
    post = fake.toot("ann", "@acme my card was charged twice", visibility="direct")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    text = "Our billing lead @anna will refund you today."
    await wired.adapter.send(outbound(wired, msg.meta, text))
    assert fake.posted[-1]["status"] == f"@ann {text}"
    assert fake.posted[-1]["visibility"] == "direct"
    assert fake.posted[-1]["in_reply_to_id"] == post


async def test_text_typed_as_entities_reaches_the_agent_as_typed(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    fake = mastodon_api.fake
    typed = "@acme I typed &lt;b&gt; in the form; <script>x</script> & AT&amp;T"
    # The fake serves a toot's text as its HTML content: give it Mastodon's encoding.
    fake.toot("alice", html.escape(typed, quote=False))
    wired = await wire(MastodonAdapter, config(mastodon_api))
    await wired.adapter.poll_mentions()
    ((msg, _),) = wired.delivered
    assert msg.text == typed


async def test_one_rate_limit_window_for_the_account(
    wire: WireAdapter, mastodon_api: Served
) -> None:
    """Mastodon's limits are per account and per IP across all endpoints (300 calls in 5
    minutes), and the headers report the one closest to running out: once a poll saw
    ``X-RateLimit-Remaining: 0``, a reply waits for the reset instead of spending a 429."""
    fake = mastodon_api.fake
    fake.toot("alice", "@acme my parcel is lost")
    wired = await wire(MastodonAdapter, config(mastodon_api))
    fake.window = Window(limit=1, seconds=30.0)
    await wired.adapter.poll_mentions()  # the window's only call
    ((msg, _),) = wired.delivered
    with pytest.raises(TransientSendError) as info:
        await wired.adapter.send(outbound(wired, msg.meta, "Sorry, checking."))
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    assert fake.rejected == 0 and fake.posted == []


async def test_reply_errors_and_verify(wire: WireAdapter, mastodon_api: Served) -> None:
    fake = mastodon_api.fake
    post = fake.toot("alice", "@acme hi")
    wired = await wire(MastodonAdapter, config(mastodon_api, max_characters=100))
    ctx = {"post_id": post, "author_acct": "alice", "root_post_id": post, "author_id": "1"}
    with pytest.raises(PermanentSendError, match="this server allows 100"):
        await wired.adapter.send(outbound(wired, ctx, "x" * 95, "c:1"))
    with pytest.raises(PermanentSendError, match="Record not found"):
        await wired.adapter.send(outbound(wired, {**ctx, "post_id": "1"}, "hello", "c:2"))
    fake.fail_next("/statuses", 502)
    with pytest.raises(TransientSendError):
        await wired.adapter.send(outbound(wired, ctx, "hello", "c:3"))
    assert fake.posted == []

    await wired.adapter.verify()
    bad = await wire(MastodonAdapter, {**config(mastodon_api), "access_token": "nope"})
    with pytest.raises(VerifyError, match="access token is invalid"):
        await bad.adapter.verify()
    with pytest.raises(PermanentSendError, match="access token is invalid"):
        await bad.adapter.send(outbound(bad, ctx, "hello", "c:4"))
