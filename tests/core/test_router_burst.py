"""One router round per burst (issue 21): rounds woken by kicks start at most once every
``RouterConfig.burst_seconds``. A kick after a quiet spell is routed at once; the kicks that
follow within that time share one round, which starts no later than that time after the
previous one, and every conversation is still offered.

The periodic sweep is set to two minutes, so only kicks explain the rounds counted here (the
router's own counter, ``sweeps``). The window is widened in the tests (1.5 and 4 s) so that the
machine's speed cannot decide the outcome."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.conftest import Harness, wait_for

NO_PERIODIC_SWEEP = 120


async def _message(gateway: Harness, channel_id: str, secret: str, n: int) -> str:
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": f"m{n}", "sender": {"id": f"c{n}"}, "text": "hi"}
    )
    assert status == 202, res
    return res["conversation_id"]


async def _offered(gateway: Harness, convs: list[str], agent_id: str) -> bool:
    for conv in convs:
        [offered_to] = await gateway.gw.conversations.raw(conv, "offered_to")
        if offered_to != agent_id:
            return False
    return True


async def _quiet_router(make_gateway, burst_seconds: float) -> tuple[Harness, str, str, str]:
    """A gateway with one agent online, its router settled after a first conversation."""
    gateway = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    channel_id, secret = await gateway.api_channel()
    agent_id, _ = await gateway.agent_online("a@example.com", capacity=100)
    router = gateway.gw.router
    first = await _message(gateway, channel_id, secret, 0)
    await wait_for(lambda: _offered(gateway, [first], agent_id), timeout=5)
    while True:  # the rounds of that kick are over before the window changes
        sweeps = router.sweeps
        await asyncio.sleep(0.3)
        if router.sweeps == sweeps:
            break
    router.config = replace(router.config, burst_seconds=burst_seconds)
    await asyncio.sleep(burst_seconds + 0.2)  # quiet for longer than the window
    return gateway, channel_id, secret, agent_id


async def test_a_stream_of_new_conversations_shares_rounds(make_gateway):
    """12 conversations, one every 20 ms: one round each before (the old router ran a round
    per kick that came after the previous round); now the first is routed at once and the
    rest share the round 1.5 s after it."""
    gateway, channel_id, secret, agent_id = await _quiet_router(make_gateway, 1.5)
    router = gateway.gw.router
    loop = asyncio.get_running_loop()
    sweeps, kicks = router.sweeps, router.kicks
    started = loop.time()
    convs = []
    for n in range(1, 13):
        convs.append(await _message(gateway, channel_id, secret, n))
        await asyncio.sleep(0.02)
    assert loop.time() - started < 1.5, "the stream took longer than the window: machine stalled"

    await wait_for(lambda: _offered(gateway, convs, agent_id), timeout=5)
    offered_after = loop.time() - started
    await asyncio.sleep(0.4)  # any further round would have run by now
    assert router.kicks - kicks == 12
    assert router.sweeps - sweeps == 2  # the first at once, the other eleven together
    assert offered_after < 1.5 + 1.0  # the window (and a loaded machine's slack), not more


async def test_a_kick_after_a_quiet_spell_is_routed_at_once(make_gateway):
    """With a 4 s window the lone conversation is still offered at once: the window only
    holds kicks that follow a round by less than it."""
    gateway, channel_id, secret, agent_id = await _quiet_router(make_gateway, 4.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    conv = await _message(gateway, channel_id, secret, 1)
    await wait_for(lambda: _offered(gateway, [conv], agent_id), timeout=5, interval=0.01)
    assert loop.time() - started < 2.0  # at once, not after the 4 s window


async def test_a_burst_in_one_turn_is_offered_whole(make_gateway):
    """30 conversations posted together: every one offered, in at most two rounds."""
    gateway, channel_id, secret, agent_id = await _quiet_router(make_gateway, 1.5)
    router = gateway.gw.router
    sweeps = router.sweeps
    convs = await asyncio.gather(*(_message(gateway, channel_id, secret, n) for n in range(1, 31)))
    await wait_for(lambda: _offered(gateway, list(convs), agent_id), timeout=5)
    await asyncio.sleep(0.4)
    assert router.sweeps - sweeps <= 2
