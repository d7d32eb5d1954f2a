"""Follow-ups after resolution: durable scheduled jobs that survive a restart and run once
across processes; the customer's answer reopens the conversation."""

from __future__ import annotations

import asyncio
import json

from gateway.scheduler import Scheduler
from tests.conftest import CallbackServer, MakeGateway, wait_for
from tests.reports.flow import answered, customer_writes, resolve, system_texts

FOLLOWUP = "Is the problem still solved?"


async def test_followup_scheduled_before_restart_is_sent_after_it_once(
    make_gateway: MakeGateway, callback_server: CallbackServer, redis, keys
):
    first = await make_gateway()
    await first.call(
        "PUT",
        "/api/v1/reports/settings",
        json_body={
            "survey_enabled": False,
            "followup_seconds": {"normal": 4},
            "followup_text": FOLLOWUP + " Reply if not.",
        },
    )
    channel_id, secret = await first.api_channel(callback_server.url)
    agent = await first.agent_online("bo@example.com", name="Bo")
    conversation_id = await customer_writes(first, channel_id, secret, "c9", "m1", "Broken lid")
    await answered(first, agent, conversation_id, "A new lid is on its way.")
    await resolve(first, agent[1], conversation_id)
    resolved_at = (await first.gw.conversations.get(conversation_id))["resolved_at"]
    assert await first.gw.scheduler.due_at(f"followup:{conversation_id}:{resolved_at}")
    # The process stops before the follow-up is due.
    await first.client.close()
    logged = await redis.hgetall(keys.messages(conversation_id))
    assert not any(FOLLOWUP in json.loads(m)["text"] for m in logged.values())

    # Two processes start again on the same Redis; the job is run by one of them, once.
    second = await make_gateway()
    third = await make_gateway()

    async def sent() -> bool:
        return any(FOLLOWUP.encode() in raw for _, raw in callback_server.received)

    await wait_for(sent, timeout=30)
    await asyncio.sleep(1.5)  # room for a duplicate to show up, were there one
    texts = await system_texts(second, conversation_id)
    assert [t for t in texts if FOLLOWUP in t] == [FOLLOWUP + " Reply if not."]
    assert sum(FOLLOWUP.encode() in raw for _, raw in callback_server.received) == 1
    conv = await third.gw.conversations.get(conversation_id)
    assert conv["status"] == "resolved" and conv.get("followup_sent_at")

    # The customer answers: the conversation opens again.
    again = await customer_writes(second, channel_id, secret, "c9", "m2", "No, it broke again")
    assert again == conversation_id
    conv = await second.gw.conversations.get(conversation_id)
    assert conv["status"] == "open" and conv["reopened"] == "1"


async def test_a_reopened_conversation_gets_no_stale_followup(
    make_gateway: MakeGateway, callback_server: CallbackServer
):
    h = await make_gateway()
    await h.call(
        "PUT",
        "/api/v1/reports/settings",
        json_body={"survey_enabled": False, "followup_seconds": {"normal": 2}},
    )
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("cy@example.com")
    conversation_id = await customer_writes(h, channel_id, secret, "c1", "m1", "Help")
    await answered(h, agent, conversation_id, "Done")
    await resolve(h, agent[1], conversation_id)
    resolved_at = (await h.gw.conversations.get(conversation_id))["resolved_at"]
    await customer_writes(h, channel_id, secret, "c1", "m2", "Still broken")
    job = f"followup:{conversation_id}:{resolved_at}"

    async def gone() -> bool:
        return not await h.gw.redis.exists(h.gw.keys.job(job))

    await wait_for(gone, timeout=20)
    assert "followup_sent_at" not in await h.gw.redis.hgetall(
        h.gw.keys.conversation(conversation_id)
    )


async def test_scheduler_runs_each_job_once_across_processes(redis, keys):
    runs: list[str] = []

    async def handler(payload):
        runs.append(payload["n"])
        await asyncio.sleep(0.01)

    schedulers = [Scheduler(redis, keys, poll_seconds=0.05) for _ in range(3)]
    for s in schedulers:
        s.register("job", handler)
    for n in range(30):
        assert await schedulers[0].schedule(f"j{n}", "job", {"n": n}, 0)
    assert not await schedulers[1].schedule("j0", "job", {"n": 0}, 0)  # same id: ignored
    await asyncio.gather(*(s.run_due() for s in schedulers))
    assert sorted(runs) == list(range(30))
    assert await redis.zcard(keys.jobs_due()) == 0
    assert await redis.zcard(keys.jobs_running()) == 0


async def test_scheduler_retries_a_failed_job_and_reclaims_an_abandoned_one(redis, keys):
    now = [1_000_000]
    scheduler = Scheduler(redis, keys, lease_ms=5_000, clock=lambda: now[0])
    calls: list[int] = []

    async def flaky(payload):
        calls.append(now[0])
        if len(calls) == 1:
            raise RuntimeError("platform down")

    scheduler.register("flaky", flaky)
    await scheduler.schedule("f", "flaky", {}, now[0])
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0  # backing off
    now[0] += 10_000
    assert await scheduler.run_due() == 1
    assert len(calls) == 2
    assert not await redis.exists(keys.job("f"))

    # A process claimed a job and died: after the lease, another process claims it again.
    await scheduler.schedule("g", "flaky", {}, now[0])
    claimed = await scheduler._claim(
        keys=[keys.jobs_due(), keys.jobs_running()], args=[now[0], 5_000, 10]
    )
    assert claimed == ["g"]
    assert await scheduler.run_due() == 0  # leased to the dead process
    now[0] += 6_000
    assert await scheduler.run_due() == 1
    assert len(calls) == 3
