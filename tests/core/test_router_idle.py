"""No router wake-up when nobody can take work (issue 21): while no agent has room, a burst of
new conversations costs the router no Redis call at all; it routes again the moment an agent
gets room (online, room freed, whichever process made the change) or a timer is due (an
offer's expiry).

The periodic sweep is set to two minutes, so only a kick, an agent's room or a timer can
explain a router call or an offer within these tests' waits. The router's calls are counted
with MONITOR on the real Redis (on a cluster, the node serving the deployment's slot)."""

from __future__ import annotations

import asyncio
from collections import Counter

from router.store import RouterStore
from tests.conftest import Harness, wait_for
from tests.redis_monitor import CommandCounter

NO_PERIODIC_SWEEP = 120


def router_calls(gateway: Harness) -> CommandCounter:
    """Counts the commands the router's sweeps send: its read scripts by SHA, the queue head."""
    store = gateway.gw.router_store
    names = {
        store._due.sha: "due",
        store._candidates.sha: "candidates",
        store._hashes.sha: "hashes",
        store._next_timer.sha: "next_timer",
        store._scan.sha: "scan_queue",
    }
    queue = gateway.gw.keys.queue()

    def kind(verb: str, rest: str) -> str | None:
        if verb == "EVALSHA":
            return names.get(rest.partition(" ")[0])
        return "queue read" if verb.startswith("ZRANGE") and queue in rest else None

    return CommandCounter(gateway.gw.redis, queue, kind)


async def _message(gateway: Harness, channel_id: str, secret: str, n: int) -> str:
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": f"m{n}", "sender": {"id": f"c{n}"}, "text": "hi"}
    )
    assert status == 202, res
    return res["conversation_id"]


async def _offered_to(gateway: Harness, conv: str) -> str | None:
    return (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"][
        "offered_to"
    ]


async def _idle(gateway: Harness) -> bool:
    return gateway.gw.router.idle


async def test_a_burst_with_nobody_online_costs_the_router_nothing(make_gateway):
    gateway = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    channel_id, secret = await gateway.api_channel()
    await _message(gateway, channel_id, secret, 0)
    await wait_for(lambda: _idle(gateway), timeout=5)  # a round found nobody with room

    calls = router_calls(gateway)
    await calls.start()
    kicks = gateway.gw.router.kicks
    convs: list[str] = []
    for wave in range(4):  # the old router swept once per wave
        numbers = range(1 + 10 * wave, 11 + 10 * wave)
        convs += await asyncio.gather(*(_message(gateway, channel_id, secret, n) for n in numbers))
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # what the router would do about the burst, it has done by now
    counts = await calls.stop()

    assert gateway.gw.router.kicks - kicks == 40  # every message kicked the router ...
    assert counts == Counter()  # ... and it sent Redis nothing: no due, no candidates
    assert await gateway.gw.redis.zcard(gateway.gw.keys.queue()) == 41  # all of it waits

    # The moment an agent is online, the waiting work is offered: oldest first.
    agent_id, _ = await gateway.agent_online("a@example.com", capacity=50)
    assert await wait_for(lambda: _offered_to(gateway, convs[-1]), timeout=5) == agent_id


async def test_an_agent_online_through_another_process_wakes_the_idle_router(make_gateway):
    """No kick at all: the presence script's room signal alone wakes the router."""
    gateway = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    channel_id, secret = await gateway.api_channel()
    agent_id, _ = await gateway.create_user("a@example.com")
    conv = await _message(gateway, channel_id, secret, 1)
    await wait_for(lambda: _idle(gateway), timeout=5)
    kicks = gateway.gw.router.kicks

    other = RouterStore(gateway.gw.redis, gateway.gw.keys)  # as another process would
    assert await other.set_status(agent_id, "online")

    assert await wait_for(lambda: _offered_to(gateway, conv), timeout=5) == agent_id
    assert gateway.gw.router.kicks == kicks  # nobody kicked it


async def test_room_freed_by_a_resolve_is_used_at_once(make_gateway):
    gateway = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    channel_id, secret = await gateway.api_channel()
    agent_id, token = await gateway.agent_online("a@example.com", capacity=1)
    first = await _message(gateway, channel_id, secret, 1)
    assert await wait_for(lambda: _offered_to(gateway, first), timeout=5) == agent_id
    await gateway.call("POST", f"/api/v1/conversations/{first}/accept", token)
    second = await _message(gateway, channel_id, secret, 2)
    await wait_for(lambda: _idle(gateway), timeout=5)  # the agent is full
    assert await _offered_to(gateway, second) is None

    await gateway.call("POST", f"/api/v1/conversations/{first}/resolve", token, {})
    assert await wait_for(lambda: _offered_to(gateway, second), timeout=5) == agent_id


async def test_an_offer_expiring_wakes_the_idle_router_on_time(make_gateway):
    """The agent is full with an offer it does not answer; work waits behind it. Nobody kicks
    the router when the offer expires: it wakes at the expiry (the next timer it read when it
    found nobody with room), takes the offer back and offers again."""
    gateway = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP, offer_timeout_seconds=1)
    channel_id, secret = await gateway.api_channel()
    agent_id, _ = await gateway.agent_online("a@example.com", capacity=1)
    first = await _message(gateway, channel_id, secret, 1)
    assert await wait_for(lambda: _offered_to(gateway, first), timeout=5) == agent_id
    second = await _message(gateway, channel_id, secret, 2)
    await wait_for(lambda: _idle(gateway), timeout=5)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def expired_and_offered_again() -> bool:
        excluded = await gateway.gw.redis.hget(gateway.gw.keys.conversation(first), "excluded")
        return excluded == agent_id and agent_id in (
            await _offered_to(gateway, first),
            await _offered_to(gateway, second),
        )

    await wait_for(expired_and_offered_again, timeout=5)
    assert loop.time() - started < 3  # at the expiry, not at the next periodic sweep
