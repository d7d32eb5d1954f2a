"""Router v1 through the real gateway and Redis: offers, timeouts, presence, and two processes
on one Redis never offering one conversation twice."""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.models import Channel, ContactIdentity, InboundMessage
from tests.conftest import Harness, wait_for


async def _offered_to(gateway: Harness, conv: str) -> str | None:
    return (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"][
        "offered_to"
    ]


async def test_offer_timeout_returns_it_and_the_next_agent_gets_it(make_gateway):
    gateway = await make_gateway(offer_timeout_seconds=0.5, max_missed_offers=1)
    channel_id, secret = await gateway.api_channel()
    a_id, _ = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    first = await wait_for(lambda: _offered_to(gateway, conv))
    assert first == a_id
    b_id, b_token = await gateway.agent_online("b@example.com")

    async def offered_to_b():
        return await _offered_to(gateway, conv) == b_id

    await wait_for(offered_to_b)
    # A missed the offer (max_missed_offers=1): set away, and never offered it again.
    status = await gateway.call("GET", "/api/v1/users")
    a = next(u for u in status["users"] if u["id"] == a_id)
    assert a["status"] == "away"
    assert a["load"] == 0
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", b_token)
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert detail["assignee"] == b_id and detail["offered_to"] is None


async def test_declined_offer_goes_to_another_agent(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    a_id, a_token = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    assert await wait_for(lambda: _offered_to(gateway, conv)) == a_id
    b_id, _ = await gateway.agent_online("b@example.com")
    await gateway.call("POST", f"/api/v1/conversations/{conv}/decline", a_token)

    async def offered_to_b():
        return await _offered_to(gateway, conv) == b_id

    await wait_for(offered_to_b)
    # Accepting an offer made to someone else is refused.
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", a_token, expect=409)


async def test_agent_without_heartbeat_goes_offline_by_itself(make_gateway):
    gateway = await make_gateway(agent_heartbeat_ttl_seconds=0.5)
    a_id, token = await gateway.agent_online("a@example.com")

    async def offline():
        me = await gateway.call("GET", "/api/v1/agents/me/status", token)
        return me["status"] == "offline"

    await wait_for(offline)
    assert not await gateway.gw.redis.zscore(gateway.gw.keys.agents_available(), a_id)


async def test_transfer_refuses_an_agent_whose_heartbeat_stopped(make_gateway, redis, keys):
    """A console that went silent is gone even when no router has swept since (here another
    process holds the router's lease and is frozen): a transfer to it is refused."""
    await redis.set(keys.lease("router"), "a-frozen-router", px=600_000)
    gateway = await make_gateway(agent_heartbeat_ttl_seconds=0.5)
    channel_id, secret = await gateway.api_channel()
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    b_id, b_token = await gateway.agent_online("b@example.com")
    path = f"/api/v1/conversations/{conv}/transfer"
    await asyncio.sleep(0.7)  # b's console sends no heartbeat for longer than the TTL
    assert (await gateway.call("GET", "/api/v1/agents/me/status", b_token))["status"] == "online"
    refused = await gateway.call("POST", path, json_body={"agent_id": b_id}, expect=409)
    assert refused["error"]["code"] == "agent_offline"
    await gateway.call("PUT", "/api/v1/agents/me/status", b_token, {"status": "online"})
    await gateway.call("POST", path, json_body={"agent_id": b_id})
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert detail["assignee"] == b_id


async def test_capacity_and_resolve_free_the_agent(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    a_id, token = await gateway.agent_online("a@example.com", capacity=1)
    convs = []
    for i in range(2):
        _, res = await gateway.post_api_message(
            channel_id, secret, {"message_id": f"m{i}", "sender": {"id": f"c{i}"}, "text": "hi"}
        )
        convs.append(res["conversation_id"])
    assert await wait_for(lambda: _offered_to(gateway, convs[0])) == a_id
    await gateway.call("POST", f"/api/v1/conversations/{convs[0]}/accept", token)
    await asyncio.sleep(0.5)  # several router sweeps: the full agent gets nothing more
    assert await _offered_to(gateway, convs[1]) is None
    await gateway.call("POST", f"/api/v1/conversations/{convs[0]}/resolve", token, {})
    assert await wait_for(lambda: _offered_to(gateway, convs[1])) == a_id


async def test_transfer_to_agent_and_to_team(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    a_id, a_token = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    await wait_for(lambda: _offered_to(gateway, conv))
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", a_token)
    b_id, b_token = await gateway.create_user("b@example.com", teams=["billing"])
    # Offline, b would never see it: refused (issue 17). Away, b is signed in and may take it.
    refused = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/transfer", a_token, {"agent_id": b_id}, expect=409
    )
    assert refused["error"]["code"] == "agent_offline"
    await gateway.call("PUT", "/api/v1/agents/me/status", b_token, {"status": "away"})
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/transfer", a_token, {"agent_id": b_id}
    )
    detail = await gateway.call("GET", f"/api/v1/conversations/{conv}", b_token)
    assert detail["conversation"]["assignee"] == b_id
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/transfer", b_token, {"team": "billing"}
    )
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert detail["assignee"] is None and detail["team"] == "billing"
    users = {u["id"]: u for u in (await gateway.call("GET", "/api/v1/users"))["users"]}
    assert users[a_id]["load"] == 0 and users[b_id]["load"] == 0
    # Only billing agents may get it now: a (no team) is online but not offered it.
    await asyncio.sleep(0.5)
    assert await _offered_to(gateway, conv) is None
    await gateway.call("PUT", "/api/v1/agents/me/status", b_token, {"status": "online"})
    assert await wait_for(lambda: _offered_to(gateway, conv)) == b_id
    messages = await gateway.call("GET", f"/api/v1/conversations/{conv}/messages")
    events = [m["text"] for m in messages["messages"] if m["direction"] == "event"]
    assert any("Transferred to" in e for e in events)


async def test_two_processes_never_offer_one_conversation_twice(make_gateway):
    first = await make_gateway()
    second = await make_gateway()
    channel_id, secret = await first.api_channel()
    agents = [await first.agent_online(f"agent{i}@example.com", capacity=3) for i in range(4)]
    posts = []
    for i in range(20):
        target = first if i % 2 else second
        posts.append(
            target.post_api_message(
                channel_id, secret, {"message_id": f"m{i}", "sender": {"id": f"c{i}"}, "text": "hi"}
            )
        )
    await asyncio.gather(*posts)
    # Both routers race on the same queue.
    for _ in range(5):
        await asyncio.gather(first.gw.router.sweep(), second.gw.router.sweep())
    redis, keys = first.gw.redis, first.gw.keys
    offered = {}
    for conv in await redis.zrange(keys.offers(), 0, -1):
        offered[conv] = await redis.hget(keys.conversation(conv), "offered_to")
    assert len(offered) == 12  # 4 agents x capacity 3
    for agent_id, _ in agents:
        load = float(await redis.hget(keys.agent(agent_id), "load"))
        mine = [c for c, a in offered.items() if a == agent_id]
        assert load == len(mine) == 3
    assert await redis.zcard(keys.queue()) == 8


STEP = st.sampled_from(["ingest", "sweep", "accept", "decline", "resolve", "status"])


# No shrinking: a 1,000-step failure is reported as found (shrinking it takes too long).
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(steps=st.lists(STEP, min_size=1000, max_size=1000), seed=st.integers(0, 2**32))
def test_load_counters_stay_exact_under_random_steps(make_gateway_sync, steps, seed):
    """1,000 random steps spread over two gateway instances on one Redis: every agent's load
    equals the weight of what it holds, never above capacity, and nothing is held twice."""
    make_gateway_sync(lambda first, second: _random_steps(first, second, steps, seed))


async def _random_steps(first: Harness, second: Harness, steps: list[str], seed: int) -> None:
    rng = random.Random(seed)
    gws = [first.gw, second.gw]
    agents = []
    for i in range(5):
        user_id, _ = await first.create_user(f"p{i}@example.com", capacity=rng.randint(1, 3))
        await first.gw.set_agent_status(user_id, "online")
        agents.append(user_id)
    redis, keys = first.gw.redis, first.gw.keys
    channels = [Channel.API, Channel.EMAIL]
    for n, step in enumerate(steps):
        gw = rng.choice(gws)
        if step == "ingest":
            ch = rng.choice(channels)
            await gw.inbox.ingest(
                InboundMessage(
                    channel_id="ch_prop",
                    channel_type=ch,
                    external_id=f"e{n}",
                    contact=ContactIdentity(external_id=f"c{rng.randint(0, 30)}"),
                    thread_key=f"t{rng.randint(0, 30)}",
                    text="hello",
                )
            )
        elif step == "sweep":
            await asyncio.gather(first.gw.router.assign_round(), second.gw.router.assign_round())
        elif step in ("accept", "decline"):
            offers = await redis.zrange(keys.offers(), 0, -1)
            if offers:
                conv = rng.choice(offers)
                agent = await redis.hget(keys.conversation(conv), "offered_to")
                if step == "accept":
                    await gw.router_store.accept(conv, agent)
                else:
                    await gw.router_store.release_offer(conv, agent, "decline", 3)
        elif step == "resolve":
            held = await redis.zrange(keys.conversations_index(), 0, -1)
            if held:
                await gw.resolve(rng.choice(held), actor_name="prop")
        elif step == "status":
            await gw.set_agent_status(
                rng.choice(agents), rng.choice(["online", "online", "away", "offline"])
            )
    # Invariants, on one snapshot (MULTI/EXEC): both gateways' routers still run, kicked by the
    # last steps, and an offer made between reading a conversation and its queue entry would
    # show it in neither place.
    convs = await redis.zrange(keys.conversations_index(), 0, -1)
    snapshot = redis.pipeline(transaction=True)
    for conv in convs:
        snapshot.hgetall(keys.conversation(conv))
        snapshot.zscore(keys.queue(), conv)
    for agent in agents:
        snapshot.hgetall(keys.agent(agent))
    replies = await snapshot.execute()
    agent_rows = dict(zip(agents, replies[2 * len(convs) :], strict=True))
    holders: dict[str, list[str]] = {a: [] for a in agents}
    for i in range(len(convs)):
        c, score = replies[2 * i], replies[2 * i + 1]
        held_by = [x for x in (c.get("assignee"), c.get("offered_to")) if x]
        assert len(held_by) <= 1, c
        in_queue = score is not None
        if c["status"] == "resolved":
            # It keeps its assignee for the record, but holds no capacity and waits nowhere.
            assert not c.get("offered_to") and not in_queue, c
            continue
        if not held_by:
            assert in_queue, c
        for agent in held_by:
            holders[agent].append(c.get("weight", "1"))
    for agent in agents:
        a = agent_rows[agent]
        expected = sum(float(w) for w in holders[agent])
        assert abs(float(a["load"]) - expected) < 1e-6, (agent, a, holders[agent])
        assert float(a["load"]) <= float(a["capacity"]) + 1e-6


async def test_snooze_until_the_customer_writes_again(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    a_id, token = await gateway.agent_online("a@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    await wait_for(lambda: _offered_to(gateway, conv))
    # Not assigned yet: nothing to snooze.
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/snooze", token, {"minutes": 60}, expect=403
    )
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    body = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/snooze", token, {"minutes": 60}
    )
    assert body["conversation"]["status"] == "snoozed"
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/snooze", token, {"minutes": 0}, expect=400
    )
    await gateway.post_api_message(
        channel_id, secret, {"message_id": "m2", "sender": {"id": "c1"}, "text": "still there?"}
    )
    detail = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert detail["status"] == "open" and detail["assignee"] == a_id


async def test_agents_list_for_transfer_and_contact_names(gateway: Harness):
    a_id, a_token = await gateway.agent_online("a@example.com", name="Alice", teams=["vip"])
    agents = (await gateway.call("GET", "/api/v1/agents", a_token))["agents"]
    alice = next(x for x in agents if x["id"] == a_id)
    assert (alice["name"], alice["status"], alice["teams"]) == ("Alice", "online", ["vip"])
    assert "email" not in alice
    channel_id, secret = await gateway.api_channel()
    await gateway.post_api_message(
        channel_id,
        secret,
        {"message_id": "m1", "sender": {"id": "c1", "name": "Wang Li"}, "text": "hi"},
    )
    (conv,) = (await gateway.call("GET", "/api/v1/conversations"))["conversations"]
    assert conv["contact_name"] == "Wang Li"


async def test_heartbeats_do_not_grow_the_status_log(gateway: Harness) -> None:
    """The console repeats its status as a heartbeat; only changes are history."""
    user_id, token = await gateway.agent_online("beat@example.com")
    for _ in range(4):
        await gateway.call("PUT", "/api/v1/agents/me/status", token, {"status": "online"})
    await gateway.call("PUT", "/api/v1/agents/me/status", token, {"status": "away"})
    log = await gateway.gw.redis.zrange(gateway.gw.keys.agent_status_log(user_id), 0, -1)
    assert [entry.partition(":")[2] for entry in log] == ["online", "away"]
