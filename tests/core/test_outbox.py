"""The outbox: retries with backoff, permanent failures shown to the agent, manual retry,
concurrent sends that keep each conversation's order."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import AdapterContext, SendParts
from gateway.keys import Keys
from gateway.outbox import backoff_seconds
from gateway.redis_client import RedisClient
from tests.conftest import CallbackServer, Harness, wait_for


async def _assigned_conversation(gateway: Harness, callback_url: str) -> tuple[str, str]:
    channel_id, secret = await gateway.api_channel(callback_url)
    _, token = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]

    async def offered():
        c = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return c["offered_to"]

    await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    return conv, token


async def _message(gateway: Harness, conv: str, seq: int, token: str) -> dict:
    msgs = await gateway.call("GET", f"/api/v1/conversations/{conv}/messages", token)
    return next(m for m in msgs["messages"] if m["seq"] == seq)


def test_backoff_is_exponential_and_capped():
    assert [backoff_seconds(n, 2, 30) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


async def test_part_records_say_which_parts_reached_the_customer(redis: RedisClient, keys: Keys):
    """The record an adapter keeps of a reply sent as several platform messages: in Redis as
    each part is accepted, read back by the next attempt (any process) and by the outbox."""

    async def deliver(_message: Any) -> Any:
        raise AssertionError("nothing is delivered here")

    ctx = AdapterContext(
        channel_id="ch1", config=None, deliver=deliver, redis=redis, keys=keys, http=None,
        public_url="http://127.0.0.1", data_dir="",
    )  # type: ignore[arg-type]  # fmt: skip
    record = keys.send_parts("conv1", 7)
    assert await SendParts.load(redis, record) is None
    parts = await ctx.parts("conv1:7", 5)
    assert parts.progress() is None  # nothing arrived: the agent reads the error alone
    await parts.done(1, "m1")
    assert parts.progress() == "part 1 of 5 delivered; part 2"
    await parts.done(2, "m2")
    await parts.done(4, "m4")

    again = await ctx.parts("conv1:7", 5)  # the next attempt
    assert [n for n in range(1, 6) if again.is_done(n)] == [1, 2, 4]
    assert again.last_id() == "m4"
    loaded = await SendParts.load(redis, record)  # what the outbox reads
    assert loaded is not None
    assert loaded.progress() == "parts 1-2, 4 of 5 delivered; part 3"
    await again.done(3)
    await again.done(5)
    assert again.progress() is None  # all arrived: nothing partial to tell


async def test_transient_failures_are_retried_until_sent(
    gateway: Harness, callback_server: CallbackServer
):
    callback_server.status.extend([503, 500])
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token, {"text": "answer"}, expect=201
    )
    seq = reply["message"]["seq"]

    async def sent():
        m = await _message(gateway, conv, seq, token)
        return m if m["delivery"] == "sent" else None

    message = await wait_for(sent)
    assert message["attempts"] == 3
    assert len(callback_server.received) == 3
    # Every attempt carried the same idempotency key.
    assert {h["Idempotency-Key"] for h, _ in callback_server.received} == {f"{conv}:{seq}"}


async def test_permanent_failure_is_shown_and_can_be_retried(
    gateway: Harness, callback_server: CallbackServer
):
    callback_server.status.append(400)
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token, {"text": "answer"}, expect=201
    )
    seq = reply["message"]["seq"]

    async def failed():
        m = await _message(gateway, conv, seq, token)
        return m if m["delivery"] == "failed" else None

    message = await wait_for(failed)
    assert "400" in message["delivery_error"]
    assert len(callback_server.received) == 1
    await gateway.call("POST", f"/api/v1/conversations/{conv}/messages/{seq}/retry", token)

    async def sent():
        return (await _message(gateway, conv, seq, token))["delivery"] == "sent"

    await wait_for(sent)
    assert len(callback_server.received) == 2
    # A sent message cannot be retried.
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages/{seq}/retry", token, expect=409
    )


async def test_gives_up_after_the_last_attempt(make_gateway, callback_server: CallbackServer):
    gateway = await make_gateway(outbox_max_attempts=3)
    callback_server.status.extend([500] * 10)
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token, {"text": "answer"}, expect=201
    )

    async def failed():
        m = await _message(gateway, conv, reply["message"]["seq"], token)
        return m if m["delivery"] == "failed" else None

    message = await wait_for(failed)
    assert message["attempts"] == 3
    assert len(callback_server.received) == 3


async def test_notes_are_never_sent(gateway: Harness, callback_server: CallbackServer):
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    note = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conv}/messages",
        token,
        {"text": "customer seems upset", "type": "note"},
        expect=201,
    )
    assert note["message"]["direction"] == "note"
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token, {"text": "answer"}, expect=201
    )

    async def sent():
        m = await _message(gateway, conv, reply["message"]["seq"], token)
        return m["delivery"] == "sent"

    await wait_for(sent)
    assert [b for _, b in callback_server.received if b"upset" in b] == []


async def test_system_messages_do_not_count_as_a_response(
    gateway: Harness, callback_server: CallbackServer
):
    channel_id, secret = await gateway.api_channel(callback_server.url)
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    await gateway.gw.send_system(conv, "Thanks, an agent will be with you shortly.")
    await wait_for(lambda: _async(len(callback_server.received) == 1))
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert detail.get("first_response_at") is None
    assert detail.get("waiting_since") is not None


async def _async(value):
    return value


async def test_a_slow_platform_holds_up_neither_other_channels_nor_order(gateway: Harness):
    """One channel's callback hangs: another channel's reply still goes out, and the hanging
    conversation's second reply waits for its first."""
    release = asyncio.Event()
    received: list[tuple[str, str]] = []

    async def callback(request: web.Request) -> web.Response:
        body = await request.json()
        received.append((request.match_info["name"], body["text"]))
        if request.match_info["name"] == "slow":
            await release.wait()
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/{name}")
    conversations = {}
    for name in ("slow", "fast"):
        secret = secrets.token_hex(16)
        config = {"secret": secret, "callback_url": str(server.make_url(f"/{name}")),
                  "timeout_seconds": 60}  # fmt: skip
        channel = await gateway.create_channel("api", config, name)
        _, res = await gateway.post_api_message(
            channel["id"], secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
        )
        conversations[name] = res["conversation_id"]

    async def reply(name: str, text: str) -> int:
        path = f"/api/v1/conversations/{conversations[name]}/messages"
        return (await gateway.call("POST", path, json_body={"text": text}, expect=201))["message"][
            "seq"
        ]

    async def delivery(name: str, seq: int) -> str:
        return (await _message(gateway, conversations[name], seq, gateway.admin_token))["delivery"]

    first = await reply("slow", "first")
    await wait_for(lambda: _async(("slow", "first") in received))
    second = await reply("slow", "second")
    other = await reply("fast", "other")
    await wait_for(lambda: _async_eq(delivery("fast", other), "sent"))
    assert [text for name, text in received if name == "slow"] == ["first"]
    assert await delivery("slow", second) == "queued"
    release.set()
    await wait_for(lambda: _async_eq(delivery("slow", second), "sent"))
    assert await delivery("slow", first) == "sent"
    assert [text for name, text in received if name == "slow"] == ["first", "second"]
    await server.close()


async def _ok(_request: web.Request) -> web.Response:
    return web.Response()


async def _callback_server(handler: Any, path: str) -> TestServer:
    """A platform's callback endpoint: ``handler`` answers the POSTs, HEAD (the check when the
    channel is registered) answers 200."""
    app = web.Application()
    app.router.add_post(path, handler)
    app.router.add_route("HEAD", path, _ok)
    server = TestServer(app)
    await server.start_server()
    return server


async def _async_eq(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


async def test_a_reply_waiting_for_its_retry_is_not_overtaken(
    make_gateway, callback_server: CallbackServer
):
    """The first reply fails once and waits for its retry: the replies written meanwhile wait
    behind it, so the customer reads them in the order the agent wrote them."""
    gateway = await make_gateway(outbox_backoff_base_seconds=1.5)
    callback_server.status.append(503)
    conv, token = await _assigned_conversation(gateway, callback_server.url)

    async def reply(text: str) -> int:
        path = f"/api/v1/conversations/{conv}/messages"
        body = await gateway.call("POST", path, token, {"text": text}, expect=201)
        return body["message"]["seq"]

    async def state(seq: int) -> tuple[str, int]:
        message = await _message(gateway, conv, seq, token)
        return message["delivery"], message["attempts"]

    first = await reply("first")
    await wait_for(lambda: _async_eq(state(first), ("queued", 1)))
    second = await reply("second")
    third = await reply("third")
    await wait_for(lambda: _async_eq(state(third), ("sent", 1)))
    assert await state(first) == ("sent", 2)
    assert await state(second) == ("sent", 1)
    texts = [json.loads(body)["text"] for _headers, body in callback_server.received]
    assert texts == ["first", "first", "second", "third"]


async def test_two_processes_send_one_conversation_in_order(make_gateway):
    """Two gateway processes share the outbox: a conversation's replies still reach the
    platform one at a time and in order, whichever process reads each."""
    in_flight: dict[str, int] = {}
    overlaps = 0
    received: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        nonlocal overlaps
        body = await request.json()
        conv = body["conversation_id"]
        received.append(body["text"])
        in_flight[conv] = in_flight.get(conv, 0) + 1
        overlaps += in_flight[conv] > 1
        await asyncio.sleep(0.2)
        in_flight[conv] -= 1
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/callback")
    first, second = await make_gateway(), await make_gateway()
    conv, token = await _assigned_conversation(first, str(server.make_url("/callback")))
    texts = [f"part {i}" for i in range(8)]
    for text in texts:
        path = f"/api/v1/conversations/{conv}/messages"
        await second.call("POST", path, token, {"text": text}, expect=201)

    async def all_sent() -> bool:
        msgs = await first.call("GET", f"/api/v1/conversations/{conv}/messages", token)
        out = [m for m in msgs["messages"] if m["direction"] == "out"]
        return len(out) == len(texts) and all(m["delivery"] == "sent" for m in out)

    await wait_for(all_sent, timeout=30)
    assert received == texts
    assert overlaps == 0
    await server.close()


async def _next_update(ws: Any, seq: int, timeout: float = 15) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            event = await ws.receive_json()
            if event["type"] == "message.updated" and event["data"]["message"]["seq"] == seq:
                return event["data"]["message"]

    return await asyncio.wait_for(loop(), timeout)


async def test_each_delivery_state_reaches_whoever_holds_the_conversation_then(gateway: Harness):
    """The console hears every state of a reply (queued for a retry, then sent) with the
    message itself, and the "sent" goes to the conversation's holder at that moment: here the
    conversation was transferred while the platform was taking the reply."""
    release = asyncio.Event()
    calls: list[bytes] = []

    async def platform(request: web.Request) -> web.Response:
        calls.append(await request.read())
        if len(calls) == 1:
            return web.json_response({"error": "busy"}, status=503)
        await release.wait()  # the second attempt: taken slowly
        return web.json_response({"id": "remote-7"})

    app = web.Application()
    app.router.add_post("/cb", platform)
    server = TestServer(app)
    await server.start_server()
    try:
        conv, a_token = await _assigned_conversation(gateway, str(server.make_url("/cb")))
        b_id, b_token = await gateway.agent_online("b@example.com")
        ws_a, ws_b = [
            await gateway.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{t}"))
            for t in (a_token, b_token)
        ]
        reply = await gateway.call(
            "POST", f"/api/v1/conversations/{conv}/messages", a_token, {"text": "on its way"},
            expect=201,
        )  # fmt: skip
        seq = reply["message"]["seq"]
        queued = await _next_update(ws_a, seq)
        assert (queued["delivery"], queued["attempts"], queued["text"]) == (
            "queued", 1, "on its way"
        )  # fmt: skip
        assert "503" in queued["delivery_error"]

        async def retrying() -> bool:
            return len(calls) == 2

        await wait_for(retrying)  # the second attempt is at the platform
        await gateway.call(
            "POST", f"/api/v1/conversations/{conv}/transfer", a_token, {"agent_id": b_id}
        )
        release.set()
        sent = await _next_update(ws_b, seq)
        assert (sent["delivery"], sent["attempts"], sent["platform_message_id"]) == (
            "sent", 2, "remote-7"
        )  # fmt: skip
        assert (sent["text"], sent["direction"], sent["conversation_id"]) == (
            "on its way", "out", conv
        )  # fmt: skip
        stored = await _message(gateway, conv, seq, b_token)
        assert {k: sent[k] for k in stored} == stored  # the event shows what the API shows
        await ws_a.close()
        await ws_b.close()
    finally:
        await server.close()


async def test_a_send_slower_than_the_claim_time_is_not_sent_again_by_another_process(
    make_gateway,
):
    """The platform takes longer to answer than ``claim_idle_ms``: the sender keeps its claim
    while it waits, so another process does not take the entry for abandoned and post the reply
    a second time. (The sender's own claim time is the longer one here so that only the other
    process could claim it: before the renewal the sender itself took its entry back at times,
    which hid the double send.)"""
    posts: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        posts.append((await request.json())["text"])
        await asyncio.sleep(9)  # the other process's claim time, four times over
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/callback")
    sender = await make_gateway(outbox_claim_idle_seconds=4)
    conv, token = await _assigned_conversation(sender, str(server.make_url("/callback")))
    path = f"/api/v1/conversations/{conv}/messages"
    seq = (await sender.call("POST", path, token, {"text": "slow"}, expect=201))["message"]["seq"]
    await wait_for(lambda: _async(posts == ["slow"]))
    other = await make_gateway(outbox_claim_idle_seconds=2)

    async def sent() -> bool:
        return (await _message(other, conv, seq, token))["delivery"] == "sent"

    await wait_for(sent, timeout=30)
    assert posts == ["slow"]
    await server.close()


async def _platform(delays: dict[str, float]) -> tuple[TestServer, list[str]]:
    """A callback endpoint that takes ``delays[text]`` seconds to accept each reply."""
    posts: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        posts.append(text)
        await asyncio.sleep(delays.get(text, 0))
        return web.json_response({"id": secrets.token_hex(4)})

    return await _callback_server(callback, "/callback"), posts


async def _conversations(gateway: Harness, url: str, names: list[str]) -> dict[str, str]:
    """One conversation per name on one API channel (nobody assigned: the admin replies)."""
    secret = secrets.token_hex(16)
    config = {"secret": secret, "callback_url": url, "timeout_seconds": 60}
    channel = await gateway.create_channel("api", config)
    out = {}
    for name in names:
        _, res = await gateway.post_api_message(
            channel["id"], secret, {"message_id": name, "sender": {"id": name}, "text": "hi"}
        )
        out[name] = res["conversation_id"]
    return out


async def _reply(gateway: Harness, conv: str, text: str) -> int:
    path = f"/api/v1/conversations/{conv}/messages"
    return (await gateway.call("POST", path, json_body={"text": text}, expect=201))["message"][
        "seq"
    ]


async def test_entries_read_beyond_the_free_slots_are_not_sent_twice(make_gateway):
    """Every slot is busy with a slow send when three more replies arrive: the process reads
    only as many as it can start, and holds (renews) every entry it read, so a second process
    claims none of them and no reply reaches the platform twice."""
    delays = {"r1": 2, "r2": 10, "r3": 10, "r4": 5, "r5": 5, "r6": 8}
    server, posts = await _platform(delays)
    first = await make_gateway(outbox_concurrency=3, outbox_claim_idle_seconds=2)
    convs = await _conversations(first, str(server.make_url("/callback")), list(delays))
    for name in ("r1", "r2", "r3"):
        await _reply(first, convs[name], name)
    await wait_for(lambda: _async(len(posts) == 3))
    for name in ("r4", "r5", "r6"):
        await _reply(first, convs[name], name)
    await wait_for(lambda: _async("r4" in posts))
    second = await make_gateway(outbox_concurrency=3, outbox_claim_idle_seconds=2)

    async def all_sent() -> bool:
        for conv in convs.values():
            out = [m for m in (await second.call("GET", f"/api/v1/conversations/{conv}/messages"))[
                "messages"] if m["direction"] == "out"]  # fmt: skip
            if not out or out[0]["delivery"] != "sent":
                return False
        return True

    await wait_for(all_sent, timeout=60)
    assert sorted(posts) == sorted(delays), posts
    await server.close()


async def test_replies_queued_behind_a_slow_one_leave_the_slots_to_other_conversations(
    make_gateway,
):
    """One conversation's first reply hangs at the platform and more of its replies wait
    behind it, as many as the process has send slots: another conversation's reply still goes
    out at once (waiting behind a reply takes no slot)."""
    release = asyncio.Event()
    posts: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        posts.append(text)
        if text.startswith("slow"):
            await release.wait()
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/callback")
    gateway = await make_gateway(outbox_concurrency=3)
    convs = await _conversations(gateway, str(server.make_url("/callback")), ["slow", "other"])
    for i in range(4):
        await _reply(gateway, convs["slow"], f"slow {i}")
    await wait_for(lambda: _async(posts == ["slow 0"]))
    seq = await _reply(gateway, convs["other"], "other")
    await wait_for(lambda: _async_eq(_delivery(gateway, convs["other"], seq), "sent"), timeout=10)
    assert posts == ["slow 0", "other"]
    release.set()
    await wait_for(lambda: _async(len(posts) == 5), timeout=15)
    assert posts[2:] == ["slow 1", "slow 2", "slow 3"]  # in order, once each
    await server.close()


async def _delivery(gateway: Harness, conv: str, seq: int) -> str:
    return (await _message(gateway, conv, seq, gateway.admin_token))["delivery"]


async def test_a_reply_sent_while_its_channel_restarts_is_not_failed(gateway: Harness):
    """An admin's edit restarts the channel's adapter in every process; a reply whose turn
    comes in that moment waits for its retry instead of failing for good ("the channel no
    longer exists"). (The moment is short: many replies and edits make it likely, not sure.)"""
    server, posts = await _platform({})
    names = [f"c{i}" for i in range(20)]
    convs = await _conversations(gateway, str(server.make_url("/callback")), names)
    conversation = await gateway.call("GET", f"/api/v1/conversations/{convs['c0']}")
    channel = f"/api/v1/channels/{conversation['conversation']['channel_id']}"
    for round_ in range(6):
        await asyncio.gather(
            *(_reply(gateway, conv, f"{name} {round_}") for name, conv in convs.items()),
            *(
                gateway.call("PATCH", channel, json_body={"name": f"n{round_}-{i}"})
                for i in range(3)
            ),
        )

    async def states() -> list[str]:
        out = []
        for conv in convs.values():
            msgs = await gateway.call("GET", f"/api/v1/conversations/{conv}/messages")
            out += [m["delivery"] for m in msgs["messages"] if m["direction"] == "out"]
        return out

    await wait_for(lambda: _async_eq_list(states(), ["sent"] * 120), timeout=60)
    assert len(posts) == 120
    await server.close()


async def test_a_disabled_channels_replies_fail_with_the_reason(gateway: Harness):
    """A channel an admin disabled sends nothing: its waiting replies fail at once and say why
    (the agent can retry once it is enabled again)."""
    server, posts = await _platform({})
    convs = await _conversations(gateway, str(server.make_url("/callback")), ["c"])
    conversation = await gateway.call("GET", f"/api/v1/conversations/{convs['c']}")
    channel = f"/api/v1/channels/{conversation['conversation']['channel_id']}"
    await gateway.call("PATCH", channel, json_body={"enabled": False})
    seq = await _reply(gateway, convs["c"], "hello")
    await wait_for(lambda: _async_eq(_delivery(gateway, convs["c"], seq), "failed"))
    message = await _message(gateway, convs["c"], seq, gateway.admin_token)
    assert message["delivery_error"] == "the channel is disabled"
    assert posts == []
    await server.close()


async def _async_eq_list(value: Awaitable[list[str]], expected: list[str]) -> bool:
    return await value == expected


async def test_an_entry_another_sender_claimed_is_not_sent_here(make_gateway, redis: RedisClient):
    """This process stalled past the claim time and another sender claimed an entry it held
    (here: the claim made directly, as XAUTOCLAIM in that sender does): when its turn comes it is
    left to that sender, not sent a second time from here."""
    release = asyncio.Event()
    posts: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        posts.append((await request.json())["text"])
        await release.wait()
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/callback")
    gateway = await make_gateway()
    [conv] = (await _conversations(gateway, str(server.make_url("/callback")), ["c"])).values()
    first = await _reply(gateway, conv, "first")
    await wait_for(lambda: _async(posts == ["first"]))
    await _reply(gateway, conv, "second")  # read, and waiting behind the first
    outbox = gateway.gw.keys.outbox()

    async def held() -> bool:
        return (await redis.xpending(outbox, "senders"))["pending"] == 2

    await wait_for(held)
    [_first, entry] = await redis.xpending_range(outbox, "senders", "-", "+", 10)
    await redis.xclaim(outbox, "senders", "another-sender", 0, [entry["message_id"]], justid=True)
    release.set()
    await wait_for(lambda: _async_eq(_delivery(gateway, conv, first), "sent"))
    await asyncio.sleep(1.5)
    assert posts == ["first"]
    [left] = await redis.xpending_range(outbox, "senders", "-", "+", 10)
    assert left["consumer"] in ("another-sender", b"another-sender")
    await server.close()


async def test_an_abandoned_entry_behind_many_held_ones_is_claimed(
    make_gateway, redis: RedisClient, keys: Keys
):
    """A sender died holding a reply, and a live sender holds 30 entries ahead of it in the
    pending list. A process with one free slot claims it at once: XAUTOCLAIM looks at 10 entries
    per call, so the claim follows its cursor through the list rather than reading the live
    sender's first 10 again every round."""
    outbox = keys.outbox()
    await redis.xgroup_create(outbox, "senders", id="0", mkstream=True)
    for n in range(30):
        await redis.xadd(outbox, {"conversation_id": f"held-{n}", "seq": "1"})
    await redis.xreadgroup("senders", "live-sender", {outbox: ">"}, count=30)

    stuck = asyncio.Event()
    posts: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        posts.append((await request.json())["text"])
        if len(posts) == 1:
            await stuck.wait()  # the first sender dies while the platform holds the post
        return web.json_response({"id": secrets.token_hex(4)})

    server = await _callback_server(callback, "/callback")
    dead = await make_gateway(shutdown_grace_seconds=0.1)
    [conv] = (await _conversations(dead, str(server.make_url("/callback")), ["c"])).values()
    seq = await _reply(dead, conv, "abandoned")
    await wait_for(lambda: _async(posts == ["abandoned"]))
    await dead.client.close()
    [*_held, entry] = await redis.xpending_range(outbox, "senders", "-", "+", 100)
    # As if its sender had died long ago (the claim time is 60 s).
    await redis.xclaim(
        outbox, "senders", "dead-sender", 0, [entry["message_id"]], idle=120_000, justid=True
    )

    sender = await make_gateway(outbox_concurrency=1)
    await wait_for(lambda: _async_eq(_delivery(sender, conv, seq), "sent"), timeout=10)
    assert posts == ["abandoned", "abandoned"]  # the platform never answered the first
    stuck.set()
    await server.close()
