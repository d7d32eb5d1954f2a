"""WeCom kf inbound through a real `gateway serve` killed with SIGKILL mid-pull: the callback was
answered "success" (WeCom will not call back for that message), so the account must still be
pending after the crash, and the restarted gateway must pull it by itself."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
from fake_wechat import FakeWeChat
from test_wechat_e2e import kf_config
from wechat_payloads import OPEN_KFID, kf_callback_xml, kf_request, kf_text_item, wait_for

from adapters.wechat.parse import kf_thread_key
from gateway.keys import Keys
from gateway.redis_client import RedisClient
from tests.chaos.harness import ADMIN_EMAIL, ADMIN_PASSWORD, GatewayProcess


async def _login(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    async with http.post(f"{base}/api/v1/auth/login", json=login) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def _conversations(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], channel_id: str
) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/conversations?channel={channel_id}"
    async with http.get(url, headers=auth) as resp:
        return list((await resp.json())["conversations"])


async def test_sigkill_mid_pull_keeps_the_account_pending(
    tmp_path: Path, redis_url: str, redis: RedisClient
) -> None:
    prefix = "k" + secrets.token_hex(4)
    keys = Keys(prefix)
    gw = GatewayProcess(tmp_path, redis_url)
    gw.env["GATEWAY_REDIS_PREFIX"] = prefix
    async with FakeWeChat() as fake, aiohttp.ClientSession() as http:
        try:
            gw.start()
            await gw.ready()
            auth = await _login(http, gw.base)
            config = {**kf_config(fake), "retry_seconds": 0.5}
            body = {"type": "wecom_kf", "name": "kf", "config": config}
            async with http.post(f"{gw.base}/api/v1/channels", json=body, headers=auth) as resp:
                assert resp.status == 201, await resp.text()
                channel_id = (await resp.json())["channel"]["id"]
            pending = keys.channel_state(channel_id, f"kf:pending:{OPEN_KFID}")
            lease = keys.lease(f"{channel_id}:kf_sync:{OPEN_KFID}")

            fake.add_kf_message(kf_text_item("kfmsg-A", "wmUserA", "我的订单还没到"))
            held = fake.stall("/cgi-bin/kf/sync_msg", 1)  # the pull hangs in flight
            xml, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
            url = f"{gw.base}/channels/{channel_id}/wecom-kf"
            async with http.post(url, params=query, data=xml.encode()) as resp:
                assert (resp.status, await resp.text()) == (200, "success")
            await asyncio.wait_for(held.arrived.wait(), 20)

            gw.kill()  # SIGKILL, mid-pull
            held.release.set()
            assert await redis.exists(pending), "the pending mark died with the process"

            gw.start()
            await gw.ready()
            auth = await _login(http, gw.base)
            # The dead pull's lease would run out within 60 s; not waited for here.
            assert 0 < await redis.pttl(lease) <= 60_000
            await redis.pexpire(lease, 1)
            convs = await wait_for(
                lambda: _conversations(http, gw.base, auth, channel_id), within=20
            )
            assert [c["thread_key"] for c in convs] == [kf_thread_key(OPEN_KFID, "wmUserA")]
            assert fake.calls["/cgi-bin/kf/sync_msg"] == 2  # no callback came in between
        finally:
            gw.stop()
