"""WeCom kf replies: once WeCom accepted a part, nothing may turn that into a second copy for the
customer. The part's record outlasts a Redis stall; each part goes with a msgid of its own, kept
across attempts, so that WeCom refuses a repeat whose first answer was lost; and a part WeCom
later reports undelivered (msg_send_fail) is the one the agent's retry sends again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fake_wechat import KF_MSGID
from redis.asyncio.cluster import RedisCluster
from test_wechat_kf import USER, outbound, post_callback
from wechat_payloads import OPEN_KFID, wait_for

from adapters.base import PermanentSendError, SendError, SendParts
from adapters.wechat import WeComKfAdapter
from adapters.wechat.parse import kf_thread_key

SEND = "/cgi-bin/kf/send_msg"
THREAD = kf_thread_key(OPEN_KFID, USER)
TWO_PARTS = "甲" * 600 + "乙" * 400  # 3,000 bytes: two text messages


def sent_msgids(fake) -> list[str]:
    """The msgid of every kf/send_msg request, accepted or not."""
    return [r.json.get("msgid") for r in fake.requests_to(SEND)]


async def on_every_node(redis: Any, *command: Any) -> None:
    """A server command where the test's keys are: on every master of a Redis Cluster."""
    if isinstance(redis, RedisCluster):
        await redis.execute_command(*command, target_nodes=RedisCluster.ALL_NODES)
    else:
        await redis.execute_command(*command)


async def parts_of(m, message_id: str) -> SendParts | None:
    conversation_id, _, seq = message_id.rpartition(":")
    key = m.adapter.ctx.keys.send_parts(conversation_id, seq)
    return await SendParts.load(m.adapter.ctx.redis, key)


@pytest.mark.product_timeouts
async def test_a_redis_stall_after_wecom_accepted_is_waited_out(mount, fake, redis) -> None:
    """Redis stops taking writes for 1.5 s (longer than a command's 0.75 s timeout) just as
    WeCom accepts the part: its record is written once Redis answers again, and the send
    succeeds; it is not a failed attempt whose retry would send the part again."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)

    async def redis_stalls(_body: dict[str, Any]) -> None:
        fake.after_kf_accept = None
        await on_every_node(redis, "CLIENT", "PAUSE", 1500, "WRITE")

    fake.after_kf_accept = redis_stalls
    reply = outbound(THREAD, "您好，已为您处理")
    assert await m.adapter.send(reply) == fake.kf_msgids[0]
    parts = await parts_of(m, reply.message_id)
    assert parts is not None and parts.accepted == {1: fake.kf_msgids[0]}
    await m.adapter.send(reply)  # a retry anyway (a duplicate outbox entry): nothing is sent
    assert [s["text"]["content"] for s in fake.kf_sends] == ["您好，已为您处理"]
    await on_every_node(redis, "CLIENT", "UNPAUSE")


async def test_each_part_keeps_its_msgid_across_attempts(mount, fake) -> None:
    """Part 2 is refused ("system busy") and retried: the retry repeats its msgid. Every msgid
    is one WeCom takes (at most 32 characters of [0-9a-zA-Z_-]), and each part has its own."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    fake.fail_nth(SEND, 2)
    reply = outbound(THREAD, TWO_PARTS)
    with pytest.raises(SendError):
        await m.adapter.send(reply)
    await m.adapter.send(reply)
    first, second, again = sent_msgids(fake)
    assert again == second and first != second
    assert all(isinstance(i, str) and i and KF_MSGID.fullmatch(i) for i in (first, second))
    assert fake.kf_msgids == [first, second]


async def test_a_refused_part_takes_a_new_msgid_at_the_agents_retry(mount, fake) -> None:
    """WeCom refuses the part for good (5 replies spent): the agent's retry, once the customer
    wrote again, goes with a new msgid (the docs do not say whether a refused one is kept)."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    fake.inject(SEND, 95001, "send msg count limit")
    reply = outbound(THREAD, "您好")
    with pytest.raises(PermanentSendError):
        await m.adapter.send(reply)
    await m.adapter.send(reply)
    refused, sent = sent_msgids(fake)
    assert sent != refused and fake.kf_msgids == [sent]


async def test_a_resend_after_a_lost_answer_is_refused_for_its_msgid(mount, fake) -> None:
    """WeCom accepted part 1, but the sender never read the answer (it was cancelled, as a
    crash would): the next attempt repeats the msgid, WeCom refuses it, and the agent is told
    the customer may have the part already; a retry they then ask for sends it once more."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    reply = outbound(THREAD, "您的退款已处理")
    sending = asyncio.create_task(m.adapter.send(reply))

    async def sender_vanishes(_body: dict[str, Any]) -> None:
        fake.after_kf_accept = None
        sending.cancel()

    fake.after_kf_accept = sender_vanishes
    with pytest.raises(asyncio.CancelledError):
        await sending
    with pytest.raises(PermanentSendError, match="may have reached the customer") as refused:
        await m.adapter.send(reply)
    assert len(fake.kf_sends) == 1, "the customer got the part twice"
    assert "40058" in refused.value.reason
    await m.adapter.send(reply)  # the agent's retry, knowing
    first, repeat, anew = sent_msgids(fake)
    assert repeat == first and anew != first
    assert len(fake.kf_sends) == 2


async def test_a_part_reported_undelivered_is_sent_again_by_the_agents_retry(mount, fake) -> None:
    """Part 2 of a reply waits for a retry ("system busy") when WeCom reports that part 1,
    accepted, could not be delivered (msg_send_fail). The reply is marked failed, and the
    agent's retry sends part 1 again, with a new msgid (WeCom refuses a repeated one), then
    part 2."""
    m = await mount(WeComKfAdapter)
    fake.customer_wrote(USER)
    reply = outbound(THREAD, TWO_PARTS)
    fake.fail_nth(SEND, 2)
    with pytest.raises(SendError):
        await m.adapter.send(reply)
    [part1] = fake.kf_sends
    [part1_msgid] = fake.kf_msgids
    fake.add_kf_message({
        "msgid": "evt-fail-part-1", "send_time": int(time.time()), "origin": 4,
        "msgtype": "event",
        "event": {"event_type": "msg_send_fail", "open_kfid": OPEN_KFID, "external_userid": USER,
                  "fail_msgid": part1_msgid, "fail_type": 4},
    })  # fmt: skip
    await post_callback(m, fake)
    await wait_for(lambda: m.recorder.failed)
    [(message_id, reason)] = m.recorder.failed
    assert message_id == reply.message_id and "fail_type 4" in reason
    parts = await parts_of(m, reply.message_id)
    assert parts is not None and parts.accepted == {}

    await m.adapter.send(reply)  # the agent's retry
    again = fake.kf_sends[1:]
    assert [s["text"]["content"] for s in again] == [
        part1["text"]["content"],
        TWO_PARTS[len(part1["text"]["content"]) :],
    ]
    assert again[0]["msgid"] != part1_msgid
