"""One router per deployment: of two processes on one Redis only the lease holder runs routing
rounds; a message filed by the other still reaches an agent at once (its kick travels through
the events channel), and when the holder stops, the other takes over."""

from __future__ import annotations

from tests.conftest import Harness, wait_for

# Long enough that only a kick can explain an offer within the test's wait.
NO_PERIODIC_SWEEP = 120


async def _offered_to(gateway: Harness, conv: str) -> str | None:
    return (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"][
        "offered_to"
    ]


def _offers_made(gateway: Harness) -> float:
    registry = gateway.gw.metrics.registry
    return registry.get_sample_value("gateway_offers_total", {"outcome": "made"}) or 0


async def _message(gateway: Harness, channel_id: str, secret: str, n: int) -> str:
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": f"m{n}", "sender": {"id": f"c{n}"}, "text": "hi"}
    )
    assert status == 202, res
    return res["conversation_id"]


async def test_only_the_holder_routes_and_the_other_takes_over(make_gateway):
    first = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    second = await make_gateway(router_sweep_seconds=NO_PERIODIC_SWEEP)
    redis, key = first.gw.redis, first.gw.keys.lease("router")
    assert await redis.get(key) == first.gw.router_lease.token  # the first to start holds it
    channel_id, secret = await first.api_channel()
    agent_id, _ = await first.agent_online("a@example.com")

    # Filed by the process that does not route: the holder is woken through Redis.
    conv = await _message(second, channel_id, secret, 1)
    assert await wait_for(lambda: _offered_to(second, conv), timeout=5) == agent_id
    assert await redis.get(key) == first.gw.router_lease.token
    # Made by the holder's rounds, not by the process that filed it and was kicked at once.
    assert (_offers_made(first), _offers_made(second)) == (1, 0)

    await first.client.close()  # stops its router and hands the lease back

    async def second_holds() -> bool:
        return await redis.get(key) == second.gw.router_lease.token

    await wait_for(second_holds, timeout=5)
    conv = await _message(second, channel_id, secret, 2)
    assert await wait_for(lambda: _offered_to(second, conv), timeout=5) == agent_id
    assert _offers_made(second) == 1
