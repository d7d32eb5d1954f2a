"""A burst of mentions through a running gateway: supervisors are alerted on their WebSocket,
the optional webhook receives the alert, the spike's mentions are one incident,
and the mentions report shows the series and the alert."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.adapters.social.conftest import Served
from tests.conftest import wait_for


async def test_mention_burst_alerts_supervisors(make_gateway, mastodon_api: Served) -> None:
    hooked: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        hooked.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    hook_server = TestServer(app)
    await hook_server.start_server()
    gateway = await make_gateway(spike_webhook_url=str(hook_server.make_url("/hook")))
    try:
        _, sup_token = await gateway.create_user("sup@example.com", role="supervisor")
        ws = await gateway.client.ws_connect(
            "/api/v1/ws", protocols=("gateway.v1", f"bearer.{sup_token}")
        )
        fake = mastodon_api.fake
        channel = await gateway.create_channel(
            "mastodon",
            {
                "base_url": mastodon_api.url,
                "access_token": fake.token,
                "poll_interval_seconds": 1,
                "spike_min_count": 5,
                "spike_factor": 3.0,
            },
        )
        for i in range(8):
            fake.toot(f"user{i}", f"@acme your product broke again #{i}")

        async def spike_event():
            while True:
                event = await ws.receive_json()
                if event["type"] == "mention.spike":
                    return event["data"]

        alert = await asyncio.wait_for(spike_event(), 60)
        assert alert["channel_id"] == channel["id"] and alert["count"] >= 5
        await wait_for(lambda: _value(len(hooked) == 1))
        assert hooked[0]["channel_id"] == channel["id"]

        async def all_in():
            convs = await gateway.call("GET", f"/api/v1/conversations?channel={channel['id']}")
            return (
                convs["conversations"] if len(convs["conversations"]) == 9 else None
            )  # 8 mentions + the incident item

        convs = await wait_for(all_in, timeout=60)
        # The mentions are ordinary conversations; the spike is one incident for a senior
        # (tests/adapters/social/test_incidents.py).
        assert {c["priority"] for c in convs if c.get("incident_item") != "1"} == {"normal"}
        assert [c["priority"] for c in convs if c.get("incident_item") == "1"] == ["incident"]
        report = await gateway.call("GET", "/api/v1/reports/mentions", sup_token)
        (series,) = report["channels"]
        assert series["total"] == 8 and len(series["alerts"]) == 1
        _, agent_token = await gateway.create_user("agent@example.com")
        await gateway.call("GET", "/api/v1/reports/mentions", agent_token, expect=403)
        await gateway.call("GET", "/api/v1/reports/mentions?from=10&to=5", sup_token, expect=400)
        await ws.close()
    finally:
        await hook_server.close()


async def _value(value):
    return value
