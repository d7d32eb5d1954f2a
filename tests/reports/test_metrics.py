"""GET /metrics after a scripted run of conversations: the values match what was done. And the
multiprocess mode: values written by several processes add up in one scrape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Metrics
from tests.conftest import CallbackServer, Harness, wait_for
from tests.reports.flow import answered, customer_writes, offered_to, resolve


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


async def scrape(h: Harness) -> dict:
    resp = await h.client.get("/metrics")
    assert resp.status == 200
    return samples(await resp.text())


async def test_metrics_match_a_scripted_run(make_gateway, callback_server: CallbackServer):
    # A 5 s offer timeout: a declined conversation goes back to its decliner after that long.
    h: Harness = await make_gateway(offer_timeout_seconds=5)
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("dee@example.com", name="Dee")
    before = await scrape(h)
    assert value(before, "gateway_inbound_messages_total", channel="api", duplicate="false") == 0

    c1 = await customer_writes(h, channel_id, secret, "c1", "m1", "Where is my parcel?")
    status, dup = await h.post_api_message(
        channel_id,
        secret,
        {"message_id": "m1", "sender": {"id": "c1"}, "text": "Where is my parcel?"},
    )
    assert status == 200 and dup["duplicate"] is True
    c2 = await customer_writes(h, channel_id, secret, "c2", "m2", "Wrong size")
    c3 = await customer_writes(h, channel_id, secret, "c3", "m3", "Can I pay later?")
    await answered(h, agent, c1, "It arrives tomorrow.")
    await answered(h, agent, c2, "We will exchange it.")
    await resolve(h, agent[1], c2)  # a survey goes out on resolve
    await wait_for(lambda: offered_to(h, c3, agent[0]))
    await h.call("POST", f"/api/v1/conversations/{c3}/decline", agent[1])
    # Nobody else has room, so the router offers it to the same agent again once the offer
    # timeout has passed since the decline (docs/routing.md: not the same second).
    assert not await offered_to(h, c3, agent[0])
    await wait_for(lambda: offered_to(h, c3, agent[0]))

    async def all_sent() -> bool:
        return len(callback_server.received) == 3  # two replies and the survey

    await wait_for(all_sent)
    m = await scrape(h)
    assert value(m, "gateway_inbound_messages_total", channel="api", duplicate="false") == 3
    assert value(m, "gateway_inbound_messages_total", channel="api", duplicate="true") == 1
    assert value(m, "gateway_offers_total", outcome="made") == 4
    assert value(m, "gateway_offers_total", outcome="declined") == 1
    assert value(m, "gateway_offers_total", outcome="timeout") == 0
    fr = {"channel": "api", "priority": "normal"}
    assert value(m, "gateway_first_response_seconds_count", **fr) == 2
    assert value(m, "gateway_time_to_offer_seconds_count", **fr) == 4  # every offer made
    assert value(m, "gateway_conversations_resolved_total", **fr) == 1
    assert value(m, "gateway_surveys_total", outcome="sent") == 1

    async def deliveries_counted() -> bool:
        now = await scrape(h)
        return value(now, "gateway_outbound_deliveries_total", channel="api", state="sent") == 3

    await wait_for(deliveries_counted)
    # c3, declined and offered again, is out of the queue: nothing waits.
    assert value(m, "gateway_queue_depth", priority="normal") == 0
    assert value(m, "gateway_channel_last_inbound_timestamp_seconds", channel_id=channel_id) > 0
    assert value(m, "gateway_sla_breaches_total", clock="first_response") == 0

    # A supervisor's WebSocket counts as a client while connected.
    ws = await h.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{agent[1]}"))
    await ws.receive_json(timeout=10)
    m = await scrape(h)
    assert value(m, "gateway_websocket_clients", kind="agent") == 1
    await ws.close()

    async def ws_gone() -> bool:
        return value(await scrape(h), "gateway_websocket_clients", kind="agent") == 0

    await wait_for(ws_gone)


_CHILD = """
import sys
from gateway.metrics import Metrics
m = Metrics()
for _ in range(int(sys.argv[1])):
    m.inbound.labels(channel="email", duplicate="false").inc()
m.first_response.labels(channel="email", priority="normal").observe(42)
if sys.argv[2] == "render":
    sys.stdout.write(m.render({"urgent": (2, 30.0)}).decode())
"""


def test_multiprocess_mode_adds_up_processes(tmp_path: Path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]

    def run(count: int, mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(count), mode],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(2, "quiet")
    run(3, "quiet")
    m = samples(run(0, "render"))
    assert value(m, "gateway_inbound_messages_total", channel="email", duplicate="false") == 5
    fr = {"channel": "email", "priority": "normal"}
    assert value(m, "gateway_first_response_seconds_count", **fr) == 3
    # Shared state read at scrape time is reported once, not summed over processes.
    assert value(m, "gateway_queue_depth", priority="urgent") == 2


async def test_sla_breach_counted_once(make_gateway):
    first = await make_gateway()
    second = await make_gateway()  # two routers: the breach is still counted once
    policy = (await first.call("GET", "/api/v1/sla/classes"))["policy"]
    normal = next(c for c in policy["classes"] if c["name"] == "normal")
    normal["first_response"] = {"default": 1, "email": 3600}
    await first.call("PUT", "/api/v1/sla/classes", json_body=policy)
    channel_id, secret = await first.api_channel()
    # Nobody is online: the conversation waits past its 1-second deadline.
    await customer_writes(first, channel_id, secret, "c1", "m1", "hello?")

    async def breached() -> float:
        total = 0.0
        for h in (first, second):
            for (name, labels), v in (await scrape(h)).items():
                if name == "gateway_sla_breaches_total" and ("clock", "first_response") in labels:
                    total += v
        return total

    assert await wait_for(breached, timeout=30) == 1
    # The conversation's log shows the escalation, and nothing counts it twice later.
    await wait_for(lambda: _escalated(first))
    assert await breached() == 1


async def _escalated(h: Harness) -> bool:
    rows = (await h.call("GET", "/api/v1/conversations?status=open"))["conversations"]
    return bool(rows) and rows[0]["priority"] == "high"


def test_adapter_health_figures():
    m = Metrics()
    m.adapter_health("ch1", "poll_lag", 12.5)
    m.adapter_health("ch1", "poll_ok", 1_700_000_000)
    m.adapter_health("ch1", "token_error", 1)
    m.adapter_health("ch1", "token_error", 1)
    got = samples(m.render().decode())
    assert value(got, "gateway_adapter_poll_lag_seconds", channel_id="ch1") == 12.5
    assert value(got, "gateway_adapter_last_poll_success_timestamp_seconds", channel_id="ch1") > 0
    assert value(got, "gateway_adapter_token_refresh_errors_total", channel_id="ch1") == 2
    with pytest.raises(ValueError):
        m.adapter_health("ch1", "mood", 1)
