"""The WebSocket gateway against the fake platform: identify with intents, heartbeats with the
last seq, resume after a drop with session id + seq, reconnect (op 7), invalid session (op 9),
and one connection per bot across two adapter instances sharing Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fake_qq import FakeQQ
from qq_payloads import (
    APP_ID,
    APP_SECRET,
    BOT_USER_ID,
    GROUP_OPENID,
    USER_OPENID,
    c2c_message,
    group_message,
    guild_message,
)
from redis.asyncio import Redis

from adapters.qq.api import AccessTokens, QQApi
from adapters.qq.ws import (
    DIRECT_MESSAGE,
    GROUP_AND_C2C_EVENT,
    GUILD_MESSAGES,
    PUBLIC_GUILD_MESSAGES,
    GatewayClient,
)
from gateway.keys import Keys
from gateway.tasks import cancel_and_wait
from tests.adapters.qq.conftest import MountFn, Recorder
from tests.adapters.wechat.wechat_payloads import wait_for


async def ready(fake: FakeQQ, n: int = 1) -> None:
    await wait_for(lambda: len(fake.sessions) >= n and fake.open_connections() == 1)
    await wait_for(lambda: any(c.session for c in fake.conns if not c.ws.closed))


async def test_identify_with_intents_then_heartbeats_and_events(
    mount: MountFn, fake: FakeQQ, redis: Redis, keys: Keys
) -> None:
    m = await mount(receive="websocket")
    await ready(fake)
    [identify] = fake.identifies
    assert identify["intents"] == 1 << 25  # GROUP_AND_C2C_EVENT
    assert identify["shard"] == [0, 1]
    assert identify["token"].startswith("QQBot ") and fake.valid_token(identify["token"][6:])
    # Heartbeats every 200 ms (Hello), carrying the last seq (READY's s is 1).
    conn = fake.conns[0]
    await wait_for(lambda: len(conn.heartbeats) >= 2)
    assert conn.heartbeats[0] == 1
    d = c2c_message(USER_OPENID, "你好")
    s = await fake.push("C2C_MESSAGE_CREATE", d)
    await wait_for(lambda: m.recorder.delivered)
    assert m.recorder.delivered[0].external_id == d["id"]
    state = keys.channel_state(m.channel_id, "ws_session")
    await wait_for(lambda: _seq(redis, state, s))
    await wait_for(lambda: conn.heartbeats[-1] == s)


async def test_guild_events_with_their_intents_are_filed(mount: MountFn, fake: FakeQQ) -> None:
    """AT_MESSAGE_CREATE (intent PUBLIC_GUILD_MESSAGES) and DIRECT_MESSAGE_CREATE (intent
    DIRECT_MESSAGE) come over the WebSocket (message.md, dms/direct_message.md)."""
    intents = GROUP_AND_C2C_EVENT | PUBLIC_GUILD_MESSAGES | DIRECT_MESSAGE
    m = await mount(receive="websocket", intents=intents)
    await ready(fake)
    assert fake.identifies[0]["intents"] == intents
    at = guild_message("100010", "1234", "在吗")
    dm = guild_message("100010", "1234", "私信", dms=True)
    await fake.push("AT_MESSAGE_CREATE", at)
    await fake.push("DIRECT_MESSAGE_CREATE", dm)
    await wait_for(lambda: len(m.recorder.delivered) == 2)
    assert [x.text for x in m.recorder.delivered] == ["在吗", "私信"]
    assert [x.external_id for x in m.recorder.delivered] == [at["id"], dm["id"]]


async def _seq(redis: Redis, key: str, s: int) -> bool:
    raw = await redis.hget(key, "seq")
    return raw is not None and int(raw) == s


async def test_resume_after_a_drop_carries_session_and_seq(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount(receive="websocket")
    await ready(fake)
    [session_id] = fake.sessions
    await fake.push("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "one"))
    await wait_for(lambda: len(m.recorder.delivered) == 1)
    last = fake.sessions[session_id].seq
    await fake.drop(4009)
    # Events while disconnected are kept by the platform and replayed on Resume.
    missed = group_message(GROUP_OPENID, "M1", "two")
    await fake.push("GROUP_AT_MESSAGE_CREATE", missed, session_id)
    await wait_for(lambda: fake.resumes)
    assert fake.resumes[0]["session_id"] == session_id
    assert fake.resumes[0]["seq"] == last
    assert fake.resumes[0]["token"].startswith("QQBot ")
    await wait_for(lambda: len(m.recorder.delivered) == 2)
    assert m.recorder.delivered[1].text == "two"
    assert len(fake.identifies) == 1  # resumed, not identified again


async def test_reconnect_op7_resumes_and_invalid_session_op9_identifies(
    mount: MountFn, fake: FakeQQ
) -> None:
    await mount(receive="websocket")
    await ready(fake)
    await fake.send_op(7)
    await wait_for(lambda: len(fake.resumes) == 1)
    await wait_for(lambda: fake.open_connections() == 1)
    await fake.send_op(9, False)
    await wait_for(lambda: len(fake.identifies) == 2, within=20)
    assert len(fake.sessions) == 2


async def test_resume_refused_identifies_afresh(mount: MountFn, fake: FakeQQ) -> None:
    await mount(receive="websocket")
    await ready(fake)
    fake.sessions.clear()  # the platform forgot the session: Resume gets op 9
    await fake.drop(4009)
    await wait_for(lambda: len(fake.identifies) == 2, within=20)


async def test_failed_filing_is_not_acknowledged_by_seq(mount: MountFn, fake: FakeQQ) -> None:
    """Redis down while an event comes in: the seq stays, and the event comes again on resume."""
    recorder = Recorder(fail_deliver=True)
    m = await mount(receive="websocket", recorder=recorder)
    await ready(fake)
    [session_id] = fake.sessions
    d = c2c_message(USER_OPENID, "important")
    await fake.push("C2C_MESSAGE_CREATE", d)
    await wait_for(lambda: fake.resumes or fake.open_connections() == 0)
    recorder.fail_deliver = False
    await wait_for(lambda: m.recorder.delivered, within=20)
    assert m.recorder.delivered[0].external_id == d["id"]
    assert fake.resumes[0]["session_id"] == session_id and fake.resumes[0]["seq"] == 1


async def test_one_connection_across_instances_and_takeover(mount: MountFn, fake: FakeQQ) -> None:
    a = await mount(channel_id="chws", receive="websocket")
    b = await mount(channel_id="chws", receive="websocket", recorder=Recorder())
    await ready(fake)
    [session_id] = fake.sessions
    await fake.push("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "first"))
    await wait_for(lambda: a.recorder.delivered or b.recorder.delivered)
    owner, other = (a, b) if a.recorder.delivered else (b, a)
    assert fake.max_concurrent == 1 and fake.connections_total == 1
    await owner.adapter.stop()  # the owner goes away: the other takes the lease and resumes
    await wait_for(lambda: fake.resumes, within=30)
    assert fake.resumes[0]["session_id"] == session_id
    await fake.push("C2C_MESSAGE_CREATE", c2c_message(USER_OPENID, "second"), session_id)
    await wait_for(lambda: other.recorder.delivered)
    assert [x.text for x in other.recorder.delivered] == ["second"]
    assert fake.max_concurrent == 1


async def test_malformed_event_is_passed_over(mount: MountFn, fake: FakeQQ) -> None:
    m = await mount(receive="websocket")
    await ready(fake)
    await fake.push("C2C_MESSAGE_CREATE", {"content": "no id", "author": {}})
    d = c2c_message(USER_OPENID, "after")
    await fake.push("C2C_MESSAGE_CREATE", d)
    await wait_for(lambda: m.recorder.delivered)
    assert [x.external_id for x in m.recorder.delivered] == [d["id"]]
    assert fake.resumes == [] and fake.connections_total == 1


async def test_ready_bot_id_strips_only_the_bots_mention(
    mount: MountFn, fake: FakeQQ, redis: Redis, keys: Keys
) -> None:
    """Without a ``mentions`` array the READY event's user.id tells the bot's own <@!id> from
    the others the customer mentioned; it is kept with the session (a resume has no READY).
    MESSAGE_CREATE (intent GUILD_MESSAGES, 1 << 9) is filed like AT_MESSAGE_CREATE."""
    intents = GROUP_AND_C2C_EVENT | PUBLIC_GUILD_MESSAGES | GUILD_MESSAGES
    m = await mount(receive="websocket", intents=intents)
    await ready(fake)
    state = keys.channel_state(m.channel_id, "ws_session")
    assert await redis.hget(state, "bot_id") in (BOT_USER_ID, BOT_USER_ID.encode())
    # Without the bot's id the first leading mention would be taken for the bot's.
    at = {**guild_message("100010", "1234", ""), "content": f"<@!555> scammed me <@!{BOT_USER_ID}>"}
    await fake.push("AT_MESSAGE_CREATE", at)
    everything = {**at, "id": "all1", "content": "<@!555> hello"}
    await fake.push("MESSAGE_CREATE", everything)
    await wait_for(lambda: len(m.recorder.delivered) == 2)
    assert [x.text for x in m.recorder.delivered] == ["<@!555> scammed me", "<@!555> hello"]
    # Another process resuming the session knows the bot's id from Redis.
    b = await mount(channel_id=m.channel_id, receive="websocket", intents=intents)
    await m.adapter.stop()
    await wait_for(lambda: fake.resumes, within=30)
    await fake.push("AT_MESSAGE_CREATE", {**at, "id": "at2", "content": "<@!777> too"})
    await wait_for(lambda: b.recorder.delivered, within=30)
    assert b.recorder.delivered[0].text == "<@!777> too"


async def test_silence_before_ready_reconnects(
    fake: FakeQQ, redis: Redis, keys: Keys, http: aiohttp.ClientSession
) -> None:
    """A node that sends Hello and then nothing (no READY, no close) costs one handshake
    timeout, then the client connects again: it would otherwise wait forever, lease held."""
    fake.stuck_next = 1
    token_keys = keys.channel_state("chstuck", "access_token"), keys.lease("chstuck:token")
    tokens = AccessTokens(redis, http, fake.token_url, APP_ID, APP_SECRET, *token_keys)
    events: list[Any] = []

    async def dispatch(kind: str, d: Any, event_id: str) -> None:
        events.append(d)

    client = GatewayClient(
        api=QQApi(http, fake.url, tokens), tokens=tokens, redis=redis,
        state_key=keys.channel_state("chstuck", "ws_session"),
        intents=GROUP_AND_C2C_EVENT, dispatch=dispatch, report=lambda name, value: None,
        backoff_max=1, handshake_timeout=1,
    )  # fmt: skip
    task = asyncio.create_task(client.run())
    try:
        await wait_for(lambda: fake.sessions, within=30)  # READY, on the second connection
        d = c2c_message(USER_OPENID, "still there?")
        await fake.push("C2C_MESSAGE_CREATE", d)
        await wait_for(lambda: events == [d])
        assert fake.connections_total == 2
    finally:
        await cancel_and_wait(task)
