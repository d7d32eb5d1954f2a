"""The gateway through Redis Sentinel (redis+sentinel:// URL), on real servers: it works on the
primary Sentinel names, and after a Sentinel failover it carries on with the promoted replica:
the data is there, webhooks are accepted again, and realtime events flow again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.local_sentinel import LocalSentinel
from tests.conftest import Harness, _start, wait_for


@pytest.fixture
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSentinel]:
    setup = LocalSentinel(tmp_path_factory.mktemp("sentinel"))
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


async def _next_event(ws: Any, wanted: str, conversation: str, timeout: float = 60) -> None:
    async def loop() -> None:
        while True:
            event = await ws.receive_json()
            if event["type"] == wanted and event["data"].get("conversation_id") == conversation:
                return

    await asyncio.wait_for(loop(), timeout)


async def _post_until_accepted(h: Harness, channel_id: str, secret: str, message_id: str) -> str:
    """During a failover webhooks get 503 (the platform retries): retry the same message."""
    payload = {"message_id": message_id, "sender": {"id": message_id}, "text": "hello"}
    answer: dict[str, Any] = {}

    async def accepted() -> bool:
        status, body = await h.post_api_message(channel_id, secret, payload)
        assert status in (202, 503), (status, body)
        if status == 202:
            answer.update(body)
        return status == 202

    await wait_for(accepted, timeout=60, interval=0.5)
    return str(answer["conversation_id"])


async def test_the_gateway_follows_a_sentinel_failover(sentinel: LocalSentinel, tmp_path: Path):
    gateway = await _start(sentinel.url, "sentinel", tmp_path, {})
    try:
        channel_id, secret = await gateway.api_channel()
        _agent, token = await gateway.agent_online("a@example.com", capacity=10)
        ws = await gateway.client.ws_connect(
            "/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}")
        )
        before = await _post_until_accepted(gateway, channel_id, secret, "before")
        await _next_event(ws, "conversation.offered", before)

        promoted = sentinel.failover()
        assert sentinel.primary() == promoted

        after = await _post_until_accepted(gateway, channel_id, secret, "after")
        await _next_event(ws, "conversation.offered", after)  # the subscription came back
        listed = await gateway.call("GET", "/api/v1/conversations?view=all")
        assert {before, after} <= {c["id"] for c in listed["conversations"]}
        assert (await gateway.client.get("/readyz")).status == 200
        await ws.close()
    finally:
        await gateway.client.close()
