"""The conversation list reads the activity index in chunks while messages keep arriving: a
conversation is never listed twice, and ties in activity time across chunks lose nothing."""

from __future__ import annotations

from typing import Any

from gateway.conversations import Conversations, Viewer
from gateway.models import Role
from tests.conftest import Harness

ADMIN = Viewer(user_id="u_admin", role=Role.ADMIN)


def _msg(message_id: str, sender: str) -> dict[str, Any]:
    return {"message_id": message_id, "sender": {"id": sender}, "text": "hello"}


class ArrivalAfterFirstRead:
    """The gateway's Redis client, as the list sees it, with a customer writing right after
    the list's first read of the index (redis-py's client, proxied; nothing of ours replaced)."""

    def __init__(self, redis: Any, arrive: Any) -> None:
        self._redis = redis
        self._arrive = arrive
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    async def zrevrangebyscore(self, *args: Any, **kwargs: Any) -> Any:
        rows = await self._redis.zrevrangebyscore(*args, **kwargs)
        self.reads += 1
        if self.reads == 1:
            await self._arrive()
        return rows


async def test_a_message_arriving_mid_list_shows_no_conversation_twice(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    _, first = await gateway.post_api_message(channel_id, secret, _msg("m1", "cust-1"))
    arrived: list[str] = []

    async def arrive() -> None:
        _, body = await gateway.post_api_message(channel_id, secret, _msg("m2", "cust-2"))
        arrived.append(body["conversation_id"])

    redis = ArrivalAfterFirstRead(gateway.gw.redis, arrive)
    listed = await Conversations(redis, gateway.gw.keys).list(ADMIN, limit=10)  # type: ignore[arg-type]
    assert redis.reads >= 2  # the list went back to the index after the arrival
    assert [c["id"] for c in listed] == [first["conversation_id"]]
    # The next look shows both, newest first.
    again = await gateway.gw.conversations.list(ADMIN, limit=10)
    assert [c["id"] for c in again] == [arrived[0], first["conversation_id"]]


async def test_ties_in_activity_across_chunks_lose_nothing(gateway: Harness):
    """115 conversations with the same activity time; the 5 of one channel are found although
    the first chunk (100 entries) holds only some of them."""
    busy, busy_secret = await gateway.api_channel()
    quiet, quiet_secret = await gateway.api_channel()
    ids = []
    for i in range(110):
        _, body = await gateway.post_api_message(busy, busy_secret, _msg(f"b{i}", f"b{i}"))
        ids.append(body["conversation_id"])
    wanted = []
    for i in range(5):
        _, body = await gateway.post_api_message(quiet, quiet_secret, _msg(f"q{i}", f"q{i}"))
        wanted.append(body["conversation_id"])
    index = gateway.gw.keys.conversations_index()
    await gateway.gw.redis.zadd(index, {cid: 1_800_000_000_000 for cid in ids + wanted})

    listed = await gateway.gw.conversations.list(ADMIN, channel=quiet, limit=5)
    assert sorted(c["id"] for c in listed) == sorted(wanted)
    everything = await gateway.gw.conversations.list(ADMIN, limit=200)
    assert len(everything) == 115 == len({c["id"] for c in everything})


async def test_pages_through_the_api_meet_every_conversation_once(gateway: Harness):
    """GET /conversations pages with next_before and next_before_id: every conversation once, in
    activity order, also where a page ends inside a millisecond shared by many (a busy
    deployment files several conversations in one ms)."""
    channel, secret = await gateway.api_channel()
    ids = []
    for i in range(30):
        _, body = await gateway.post_api_message(channel, secret, _msg(f"p{i}", f"p{i}"))
        ids.append(body["conversation_id"])
    index = gateway.gw.keys.conversations_index()
    # 12 in one millisecond, so that page ends fall inside it; the rest one ms apart.
    scores = {cid: 1_800_000_000_000 + (0 if n < 12 else n) for n, cid in enumerate(ids)}
    await gateway.gw.redis.zadd(index, scores)
    expected = sorted(ids, key=lambda cid: (scores[cid], cid), reverse=True)

    seen: list[str] = []
    query = "limit=7"
    for _ in range(10):
        page = await gateway.call("GET", f"/api/v1/conversations?{query}")
        rows = page["conversations"]
        seen += [c["id"] for c in rows]
        assert [c["activity_at"] for c in rows] == [scores[c["id"]] for c in rows]
        if page["next_before"] is None:
            assert len(rows) < 7
            break
        assert page["next_before_id"] == rows[-1]["id"]
        query = f"limit=7&before={page['next_before']}&before_id={page['next_before_id']}"
    assert seen == expected
    # By deadline: one page, no activity cursor.
    by_sla = await gateway.call("GET", "/api/v1/conversations?limit=7&sort=sla")
    assert by_sla["next_before"] is None and len(by_sla["conversations"]) == 7
