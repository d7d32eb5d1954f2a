"""WeCom kf inbound: a callback is answered "success" once its account is marked pending, and
WeCom does not call back again for those messages. The mark must therefore outlive any pull that
does not finish: one cancelled (the adapter stopped or reloaded), one whose Redis died, one
whose process was killed (test_wechat_kf_crash.py). Only a complete pull removes it, and only
if no callback came meanwhile."""

from __future__ import annotations

import asyncio

from fake_wechat import FakeWeChat
from test_wechat_e2e import conversations, kf_config
from test_wechat_kf import USER, idle, post_callback
from wechat_payloads import OPEN_KFID, kf_callback_xml, kf_request, kf_text_item, wait_for

from adapters.wechat import WeComKfAdapter
from adapters.wechat.parse import kf_thread_key
from gateway.keys import Keys
from gateway.models import InboundMessage
from gateway.redis_client import connect

SYNC = "/cgi-bin/kf/sync_msg"


async def test_a_pull_cancelled_by_a_stop_is_done_at_the_next_start(mount, fake, redis) -> None:
    """An adapter stopped (reload, shutdown) while sync_msg is in flight: the account stays
    pending, and the next start pulls it without waiting for a callback."""
    m = await mount(WeComKfAdapter, retry_seconds=0.2)
    pending = m.adapter.ctx.state_key(f"kf:pending:{OPEN_KFID}")
    fake.add_kf_message(kf_text_item("msg0", USER, "我的订单还没到"))
    held = fake.stall(SYNC, 1)
    resp = await post_callback(m, fake)
    assert (resp.status, await resp.text()) == (200, "success")
    await asyncio.wait_for(held.arrived.wait(), 10)
    await m.adapter.stop()  # cancels the pull in flight
    held.release.set()
    assert await redis.exists(pending), "the pending mark went with the cancelled pull"
    await m.adapter.start()
    await wait_for(lambda: m.recorder.delivered, within=10)
    assert [msg.external_id for msg in m.recorder.delivered] == ["msg0"]
    await wait_for(lambda: idle(m))


async def test_a_callback_during_a_pull_brings_one_more_pull(mount, fake) -> None:
    """The mark a pull removes is the one it started with: a callback arriving meanwhile (its
    own pull finds the lease taken) leaves a newer one, which the same puller pulls next."""
    m = await mount(WeComKfAdapter)
    fake.add_kf_message(kf_text_item("msg0", USER, "first"))

    async def customer_writes_again(msg: InboundMessage) -> None:
        if msg.external_id == "msg0":  # sync_msg already answered: msg1 is not in that page
            fake.add_kf_message(kf_text_item("msg1", USER, "second"))
            assert (await post_callback(m, fake)).status == 200

    m.recorder.on_deliver = customer_writes_again
    await post_callback(m, fake)
    await wait_for(lambda: len(m.recorder.delivered) == 2, within=10)
    await wait_for(lambda: idle(m))
    assert [msg.external_id for msg in m.recorder.delivered] == ["msg0", "msg1"]
    assert len(fake.requests_to(SYNC)) == 2


async def test_redis_dying_mid_pull_leaves_the_account_pending(own_redis_gateway) -> None:
    """Redis dies while sync_msg is in flight, so the failed pull cannot record anything.
    Once Redis is back (AOF replay) the account is still pending, and the retry loop pulls it
    as soon as the dead pull's lease has run out: no callback needed."""
    h, server = own_redis_gateway.harness, own_redis_gateway.redis
    keys = Keys("own")
    async with FakeWeChat() as fake:
        config = {**kf_config(fake), "retry_seconds": 0.5}
        channel_id = (await h.create_channel("wecom_kf", config, "kf"))["id"]
        pending = keys.channel_state(channel_id, f"kf:pending:{OPEN_KFID}")
        lease = keys.lease(f"{channel_id}:kf_sync:{OPEN_KFID}")
        fake.add_kf_message(kf_text_item("kfmsg-R", "wmUserR", "发票开错了"))
        held = fake.stall(SYNC, 1)
        body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
        resp = await h.client.post(
            f"/channels/{channel_id}/wecom-kf", params=query, data=body.encode()
        )
        assert (resp.status, await resp.text()) == (200, "success")
        await asyncio.wait_for(held.arrived.wait(), 10)

        server.kill()  # Redis dies mid-pull
        held.release.set()  # sync_msg answers "system busy": the pull fails on a dead Redis
        await asyncio.sleep(1)
        server.start()
        redis = connect(server.url)
        try:
            assert await redis.exists(pending), "the pending mark was lost with Redis"
            await redis.pexpire(lease, 1)  # the dead pull's lease runs out (at most 60 s)
            convs = await wait_for(lambda: conversations(h, channel_id), within=15)
        finally:
            await redis.aclose()
        assert [c["thread_key"] for c in convs] == [kf_thread_key(OPEN_KFID, "wmUserR")]
