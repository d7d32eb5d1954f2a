"""The search index fed from the message events each process already receives (issue 21):
messages to known conversations cost the index no Redis read; a message whose event never
came is still indexed by the poll; another process's messages arrive through its events; an
event for a seq already indexed adds nothing, one after a gap waits for the poll; a name or
email the inbox learns from a later message reaches the index through contacts:changed.

Commands are counted with MONITOR on the real Redis (tests/redis_monitor.py), and index
state is read from the process's own indexer, not through the search API (whose snippets read
messages)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from gateway.inbox import Inbox
from gateway.keys import Keys
from gateway.models import Channel, ContactIdentity, Direction, InboundMessage, now_ms
from tests.conftest import Harness, MakeGateway, wait_for
from tests.redis_monitor import CommandCounter, monitor_client
from tests.search.helpers import found, holder_and_other, ids, ready, say, search

GRACE = 1.0  # gateway/search/feed.py GRACE_SECONDS: a moved score waits this long for its event


@pytest.fixture
async def channel(gateway: Harness) -> tuple[str, str]:
    return await gateway.api_channel()


def indexed(h: Harness, query: str) -> list[str]:
    """Conversations of this process's index holding every term of ``query``."""
    search = h.gw.search
    index = search.indexer.conversations
    return [index.ids[d] for d in index.match(search.terms(query)).tolist()]


async def in_index(h: Harness, conv: str, query: str, timeout: float = 5.0) -> None:
    async def hit() -> bool:
        return conv in indexed(h, query)

    await wait_for(hit, timeout=timeout, interval=0.02)


def index_reads(h: Harness) -> CommandCounter:
    """Counts the reads the search indexer makes of message logs, contact hashes and
    conversation facts (``last_seq`` first), its polls, and the scripts (messages filed)."""
    keys: Keys = h.gw.keys
    kinds = [
        ("message log", _pattern(keys.messages("ID"))),
        ("contact hash", _pattern(keys.contact("ID"))),
        ("conversation facts", _pattern(keys.conversation("ID") + " last_seq")),
    ]
    index = keys.conversations_index()

    def kind(verb: str, rest: str) -> str | None:
        if verb == "ZRANGEBYSCORE" and rest.startswith(index + " "):
            return "polls"
        if verb.startswith("EVAL"):
            return "scripts"
        if verb in ("HGETALL", "HMGET"):
            return next((name for name, pattern in kinds if pattern.match(rest)), None)
        return None

    return CommandCounter(h.gw.redis, index, kind)


def _pattern(key: str) -> re.Pattern[str]:
    """A key of ``keys`` with any id where ``ID`` is, alone (not a longer key)."""
    head, _, tail = re.escape(key).partition("ID")
    return re.compile(f"{head}[^ :]+{tail}(?: |$)")


def quiet_inbox(h: Harness, clock: Callable[[], int] = now_ms) -> Inbox:
    """The gateway's own inbox code with nobody told: what another process writes while this
    one's subscription is down (the message is stored, no event reaches this process)."""
    gw = h.gw
    return Inbox(gw.redis, gw.keys, gw.inbox.classifier, gw.inbox.sla,
                 reopen_window_seconds=3600, dedupe_ttl_seconds=3600, clock=clock)  # fmt: skip


def inbound(channel_id: str, sender: str, text: str, **who: Any) -> InboundMessage:
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.API,
        external_id=f"quiet-{secrets.token_hex(6)}",
        contact=ContactIdentity(external_id=sender, name=who.pop("name", sender), **who),
        thread_key=sender,
        text=text,
    )


async def test_a_burst_to_known_conversations_reads_nothing(gateway: Harness, channel):
    """40 messages at once to 10 known conversations: indexed from their events, with no read
    of a message log, a contact hash or a conversation's facts by the indexer (the old feed
    read all three for every moved conversation), while its polls keep running."""
    h = gateway
    await ready(h)
    senders = [f"burst-{i}" for i in range(10)]
    convs = [await say(h, channel, s, f"first order {700_000 + i}") for i, s in enumerate(senders)]
    for i, conv in enumerate(convs):
        await in_index(h, conv, str(700_000 + i))
    for conv in convs:  # their contacts too (read once, as new contacts)
        contact = (await h.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
        await wait_for(lambda c=contact: _contact_indexed(h, c), timeout=5)
    await asyncio.sleep(GRACE + 0.5)  # nothing moved left waiting, the recheck window past
    async with index_reads(h) as reads:
        await asyncio.gather(*(
            say(h, channel, senders[n % 10], f"follow up {800_000 + n}") for n in range(40)
        ))  # fmt: skip
        for n in range(40):
            await in_index(h, convs[n % 10], str(800_000 + n))
        await asyncio.sleep(GRACE + 0.7)  # a read the poll would make has been made
    assert reads.counts["scripts"] >= 40 and reads.counts["polls"] >= 3, reads.counts
    assert reads.counts["message log"] == 0, reads.counts
    assert reads.counts["contact hash"] == 0, reads.counts
    assert reads.counts["conversation facts"] == 0, reads.counts
    index = h.gw.search.indexer.conversations
    for conv in convs:
        last = await h.gw.redis.hget(h.gw.keys.conversation(conv), "last_seq")
        assert index.seq[index.get(conv)] == int(last) == 5


async def _contact_indexed(h: Harness, contact_id: str) -> bool:
    return h.gw.search.indexer.contacts.get(contact_id) is not None


async def test_a_message_without_its_event_is_indexed_by_the_poll(gateway: Harness, channel):
    """Messages no event announced (written by the inbox with nobody told, an agent's line
    appended without a publish): the poll reads them, in a known conversation and a new
    one. A later event after such a message is a seq gap: the poll reads the rest."""
    h = gateway
    await ready(h)
    conv = await say(h, channel, "quiet-1", "快递 第一条")
    await in_index(h, conv, "第一条")
    inbox = quiet_inbox(h)
    await inbox.ingest(inbound(channel[0], "quiet-1", "退货 申请 第二条"))
    fresh = (await inbox.ingest(inbound(channel[0], "quiet-2", "发票 抬头 新会话"))).conversation_id
    await h.gw.conversations.append(
        conv, Direction.NOTE, "内部备注 仓库 913", author_id="a1", author_name="A", send=False
    )
    await in_index(h, conv, "退货 申请")
    await in_index(h, conv, "仓库 913")
    await in_index(h, fresh, "发票 抬头")
    index = h.gw.search.indexer.conversations
    assert index.seq[index.get(conv)] == 3
    # A gap: seq 4 without its event, seq 5 with one. The event is not applied alone.
    await inbox.ingest(inbound(channel[0], "quiet-1", "第四条 丢失 的 事件"))
    assert await say(h, channel, "quiet-1", "第五条 有 事件") == conv
    await in_index(h, conv, "第四条 丢失")
    await in_index(h, conv, "第五条")
    assert index.seq[index.get(conv)] == 5
    contact = (await h.call("GET", f"/api/v1/conversations/{fresh}"))["contact"]["id"]
    await found(h, contact, q="quiet-2", kind="customers")  # the new contact was read


async def two_gateways(
    make_gateway: MakeGateway, sender: str, text: str
) -> tuple[Harness, Harness, tuple[str, str], str]:
    """Two gateways on one Redis, the deployment's index built, and a conversation started
    through the first that the index holds. The second holds the index (it started first);
    the first hands its searches over."""
    second, first = await holder_and_other(make_gateway)
    channel = await first.api_channel()
    conv = await say(first, channel, sender, text)
    await in_index(second, conv, text)
    return first, second, channel, conv


async def test_another_process_messages_arrive_through_its_events(make_gateway: MakeGateway):
    """Two gateways on one Redis: the other's messages (a customer's, an agent's reply) are in
    the holder's index without either reading the conversation's log; the other process
    neither indexes nor polls, and finds them through the holder."""
    first, second, channel, conv = await two_gateways(make_gateway, "far-1", "第一条 远程")
    await asyncio.sleep(GRACE + 0.5)
    async with index_reads(second) as reads:
        assert await say(first, channel, "far-1", "补充 订单号 446688 丢了") == conv
        await first.gw.reply(conv, "agent-1", "Agent", "已经 补发 了 包裹", note=True)
        await in_index(second, conv, "446688")
        await in_index(second, conv, "补发 包裹")
        await asyncio.sleep(GRACE + 0.7)
    assert reads.counts["polls"] >= 4, reads.counts  # the holder polled meanwhile
    assert reads.counts["message log"] == 0, reads.counts
    assert reads.counts["conversation facts"] == 0, reads.counts
    index = second.gw.search.indexer.conversations
    assert index.seq[index.get(conv)] == 3
    for h in (first, second):  # (the API's snippets read the log: after the count)
        await found(h, conv, q="446688 补发")
    assert len(first.gw.search.indexer.conversations) == 0  # one index per deployment
    assert len(first.gw.search.indexer.contacts) == 0


async def test_no_double_terms_and_the_seq_after_events_and_polls(gateway: Harness, channel):
    """An event for a seq the index has (the poll read it first, or it came twice) adds no
    term pair; an event after a gap changes nothing until the poll; the seq is Redis's."""
    h = gateway
    await ready(h)
    indexer = h.gw.search.indexer
    index = indexer.conversations
    conv = await say(h, channel, "twice-1", "重复 事件 检查")
    await in_index(h, conv, "重复 事件")
    inbox = quiet_inbox(h)
    await inbox.ingest(inbound(channel[0], "twice-1", "轮询 先到 的 消息"))  # seq 2, no event
    await in_index(h, conv, "轮询 先到")
    doc = index.get(conv)
    assert index.seq[doc] == 2
    stored = await h.gw.conversations.messages(conv)
    pairs, activity = index.postings.pending, index.activity[doc]
    for message in stored:  # each seq's event, late: after the poll read it, and again
        for _ in range(2):
            indexer.receive(_event(conv, message))
    await asyncio.sleep(0.2)
    assert index.postings.pending == pairs and index.seq[doc] == 2
    assert index.get(conv) == doc and index.activity[doc] == activity
    # A gap: an event for seq 4 while the index holds 2 is not applied on its own.
    gap = {**stored[-1], "seq": 4, "text": "不该 出现 的 文字", "created_at": activity + 5}
    indexer.receive(_event(conv, gap))
    await asyncio.sleep(0.2)
    assert index.seq[doc] == 2 and indexed(h, "不该 出现") == []
    assert index.postings.pending == pairs
    # The next real message (seq 3, with its event) is applied once; the poll reads nothing
    # more for it and the seq stays Redis's.
    assert await say(h, channel, "twice-1", "第三条 正常") == conv
    await in_index(h, conv, "第三条 正常")
    await asyncio.sleep(GRACE + 0.7)
    doc = index.get(conv)
    assert index.seq[doc] == int(await h.gw.redis.hget(h.gw.keys.conversation(conv), "last_seq"))
    assert index.seq[doc] == 3
    grown = index.postings.pending - pairs
    assert grown == len(_terms(h, "第三条 正常")), grown
    assert ids(await search(h, q="重复 事件")) == [conv]


def _terms(h: Harness, text: str) -> set[str]:
    from gateway.search.documents import text_terms

    return text_terms(h.gw.search.indexer.analyzer, [text])


def _event(conv: str, message: dict[str, Any]) -> dict[str, Any]:
    """A message.created event as the bus hands it to its listeners."""
    return {
        "type": "message.created",
        "data": {"conversation_id": conv, "message": {**message, "conversation_id": conv}},
        "audience": {"users": [], "roles": ["admin"]},
    }


async def test_a_learned_email_is_found_and_costs_one_feed_entry(gateway: Harness, channel):
    """The inbox fills in an email the contact did not have (from a later message): the same
    script bumps contacts:changed, so search finds the contact by it, without the old re-read
    of the contact on every move. A message that teaches nothing bumps nothing."""
    h = gateway
    await ready(h)
    conv = await say(h, channel, "learn-1", "你好", name="周杰")
    contact = (await h.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
    await found(h, contact, q="周杰", kind="customers")
    changed = h.gw.keys.contacts_changed()
    assert await h.gw.redis.zscore(changed, contact) is None  # a new contact: read when seen
    await say(h, channel, "learn-1", "再问一下", name="周杰")
    assert await h.gw.redis.zscore(changed, contact) is None  # nothing learned: no entry
    assert await say(h, channel, "learn-1", "我的邮箱", name="周杰",
                     email="zhou.jie@example.net") == conv  # fmt: skip
    assert await h.gw.redis.zscore(changed, contact) is not None
    elapsed = await found(h, contact, q="zhou.jie@example.net", kind="customers")
    assert elapsed < 1.5
    assert await h.gw.redis.hget(h.gw.keys.contact(contact), "email") == "zhou.jie@example.net"


async def test_messages_during_a_subscription_gap_are_indexed(make_gateway: MakeGateway):
    """The events subscriptions are cut (CLIENT KILL TYPE pubsub; they come back after a
    second): what the other process wrote meanwhile never arrives as an event here, and the
    poll indexes it; what comes after the gap arrives through the events again."""
    first, second, channel, conv = await two_gateways(make_gateway, "gap-1", "断线 之前")
    client = monitor_client(second.gw.redis, second.gw.keys.events_channel())
    try:
        assert await client.execute_command("CLIENT KILL", "TYPE", "pubsub") >= 2
    finally:
        await client.aclose()
    assert await say(first, channel, "gap-1", "断线 期间 的 消息 5521") == conv
    other = await say(first, channel, "gap-2", "断线 期间 新 会话 5522")
    await in_index(second, conv, "5521")
    await in_index(second, other, "5522")
    index = second.gw.search.indexer.conversations
    assert index.seq[index.get(conv)] == 2
    assert conv in second.gw.search.indexer.state.read  # the poll read it: no event came
    await asyncio.sleep(1.5)  # subscribed again
    assert await say(first, channel, "gap-1", "断线 之后 5523") == conv
    await in_index(second, conv, "5523")
    assert index.seq[index.get(conv)] == 3
    assert set(ids(await search(second, q="断线"))) == {conv, other}


async def test_a_same_millisecond_message_lost_in_a_gap_is_found(gateway: Harness, channel):
    """The case the score cannot show: a message written in the same millisecond as the one
    before it (its score did not move) whose event was lost while the subscription was down.
    The bus tells the index it subscribed again, and the next poll checks its whole window by
    last_seq."""
    h = gateway
    await ready(h)
    conv = await say(h, channel, "same-ms", "同一 毫秒 之前")
    await in_index(h, conv, "同一 毫秒")
    await asyncio.sleep(GRACE + 0.5)  # nothing the poll would still check by itself
    at = int(await h.gw.redis.zscore(h.gw.keys.conversations_index(), conv))
    client = monitor_client(h.gw.redis, h.gw.keys.events_channel())
    try:
        assert await client.execute_command("CLIENT KILL", "TYPE", "pubsub") >= 1
    finally:
        await client.aclose()
    same_ms = quiet_inbox(h, clock=lambda: at)
    await same_ms.ingest(inbound(channel[0], "same-ms", "同一 毫秒 丢失 6631"))
    assert int(await h.gw.redis.zscore(h.gw.keys.conversations_index(), conv)) == at
    await in_index(h, conv, "6631")
    index = h.gw.search.indexer.conversations
    assert index.seq[index.get(conv)] == 2
