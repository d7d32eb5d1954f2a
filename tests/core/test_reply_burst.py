"""A burst of agents' replies does not drain the Redis pool (issue 21).

Each reply used to take a pooled connection for every step: the token check, the conversation
read, the first-response fields, the append script, the first response's mark, the audience of
its event. A burst of concurrent replies emptied the pool, and the calls that waited longer
than the pool's wait failed with ``No connection available``: 503. The steps now go through the
gateway's group commit (gateway/batching.py), so the burst shares pipelines.

The gateway here has a deliberately small pool (a few connections, 0.1 s wait): the old code
answered most of the burst with 503. Every reply must be answered 201, stored once, in the
order written, and sent once (the outbox keeps each conversation's order)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest

from gateway.models import Direction
from gateway.redis_server import EmbeddedRedis
from tests.cluster.local_cluster import LocalCluster
from tests.conftest import (
    CLUSTER,
    TEST_SOCKET_TIMEOUT_SECONDS,
    CallbackServer,
    Harness,
    wait_for,
    with_options,
)

# Connections per node and how long a call waits for one; overrides gateway/redis_client.py's
# pool. The cluster client has no wait (past its limit it refuses at once), so it gets a few
# more for the background work (pub/sub, the outbox's blocking read, the search feed).
SMALL_POOL = "max_connections=24" if CLUSTER else "max_connections=12&timeout=0.1"
# The outbox's sends take pooled connections of their own (not this issue's): a few at a time.
OUTBOX_CONCURRENCY = 4
CONVERSATIONS = 100
REPLIES_EACH = 2  # written one after the other in each conversation, all conversations at once
AGENTS = 4


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis | LocalCluster) -> str:
    """The test Redis, reached through a small connection pool."""
    return with_options(
        redis_server.url, f"{SMALL_POOL}&socket_timeout={TEST_SOCKET_TIMEOUT_SECONDS}"
    )


async def _assigned_conversations(gateway: Harness, callback_url: str) -> dict[str, str]:
    """CONVERSATIONS conversations, each accepted by one of the agents: {conversation: token}."""
    channel_id, secret = await gateway.api_channel(callback_url)
    tokens = {}
    for i in range(AGENTS):
        agent_id, token = await gateway.agent_online(f"a{i}@example.com", capacity=CONVERSATIONS)
        tokens[agent_id] = token
    convs = []
    for i in range(CONVERSATIONS):
        status, res = await gateway.post_api_message(
            channel_id, secret, {"message_id": f"m{i}", "sender": {"id": f"c{i}"}, "text": "hi"}
        )
        assert status == 202, res
        convs.append(res["conversation_id"])

    async def offers() -> list[str] | None:
        offered = [(await gateway.gw.conversations.raw(c, "offered_to"))[0] for c in convs]
        return offered if all(offered) else None

    offered = await wait_for(offers, timeout=30)
    owner = {}
    for conv, agent_id in zip(convs, offered, strict=True):
        await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", tokens[agent_id])
        owner[conv] = tokens[agent_id]
    return owner


def _text(conv: str, n: int) -> str:
    return f"reply {n} in {conv}"


async def test_a_burst_of_replies_on_a_small_pool_is_answered_stored_and_sent_in_order(
    make_gateway, callback_server: CallbackServer
):
    gateway = await make_gateway(offer_timeout_seconds=600, outbox_concurrency=OUTBOX_CONCURRENCY)
    owner = await _assigned_conversations(gateway, callback_server.url)

    async def replies(conv: str) -> list[tuple[int, str]]:
        answers = []
        for n in range(1, REPLIES_EACH + 1):
            resp = await gateway.client.post(
                f"/api/v1/conversations/{conv}/messages",
                json={"text": _text(conv, n)},
                headers=gateway.auth(owner[conv]),
            )
            answers.append((resp.status, await resp.text()))
        return answers

    answered = await asyncio.gather(*(replies(conv) for conv in owner))
    statuses = [status for answers in answered for status, _ in answers]
    failed = [body for answers in answered for status, body in answers if status != 201]
    assert statuses.count(201) == len(statuses), (statuses.count(503), failed[:3])

    expected = {conv: [_text(conv, n) for n in range(1, REPLIES_EACH + 1)] for conv in owner}
    for conv, texts in expected.items():  # stored once each, in the order written
        log = await gateway.gw.conversations.messages(conv)
        assert [m["text"] for m in log if m["direction"] == Direction.OUT.value] == texts

    total = len(owner) * REPLIES_EACH
    await wait_for(lambda: _async_true(len(callback_server.received) >= total), timeout=30)
    await asyncio.sleep(0.3)  # a duplicate send would arrive meanwhile
    sent: dict[str, list[str]] = defaultdict(list)
    for _headers, body in callback_server.received:
        reply = json.loads(body)
        sent[reply["conversation_id"]].append(reply["text"])
    assert sent == expected  # queued once each: sent once, in order


async def _async_true(value: bool) -> bool:
    return value
