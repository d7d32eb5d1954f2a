"""The reports API over stored conversations: the fixture of known times (test_report_figures)
written as conversation records, read back through Redis; CSV export; tags and the heat map;
the supervisors' live view."""

from __future__ import annotations

import csv
import io

from tests.conftest import CallbackServer, Harness, wait_for
from tests.reports.flow import answered, customer_writes
from tests.reports.test_report_figures import RECORDS, at


def _hash(rec) -> dict[str, str]:
    row = {
        "id": rec.id,
        "channel_type": rec.channel_type,
        "channel_id": "ch_x",
        "created_at": rec.created_at,
        "priority": rec.priority,
        "status": "resolved" if rec.resolved_at else "open",
        "reopened": rec.reopened,
    }
    if rec.team:
        row["team"] = rec.team
    if rec.agent:
        row["assignee"] = rec.agent
    for name in (
        "first_response_at",
        "first_response_due",
        "resolved_at",
        "resolution_due",
        "survey_sent_at",
        "csat_score",
    ):
        if getattr(rec, name) is not None:
            row[name] = getattr(rec, name)
    return {k: str(v) for k, v in row.items()}


async def _seed(h: Harness) -> None:
    gw = h.gw
    for rec in RECORDS:
        await gw.redis.hset(gw.keys.conversation(rec.id), mapping=_hash(rec))
        await gw.redis.zadd(gw.keys.conversations_index(), {rec.id: rec.created_at})


async def test_summary_from_stored_conversations(gateway: Harness):
    await _seed(gateway)
    # `to` is Monday noon: the report's "now" for unanswered conversations.
    span = f"from={at(16, 0, 0)}&to={at(23, 12, 0)}"
    report = await gateway.call("GET", f"/api/v1/reports/summary?{span}&by=channel")
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["email"]["volume"] == 4
    assert rows["email"]["first_response_p50"] == 3000
    assert rows["email"]["within_target"] == 0.5
    assert rows["email"]["sla_attainment"] == 0.5
    assert rows["webchat"]["first_response_p90"] == 300
    assert rows["webchat"]["csat_average"] == 4.5

    # Filters and other groupings.
    by_agent = await gateway.call("GET", f"/api/v1/reports/summary?{span}&by=agent&channel=email")
    assert {r["key"]: r["volume"] for r in by_agent["rows"]} == {
        "a1": 2,
        "a2": 1,
        "(unassigned)": 1,
    }
    # A range that starts Saturday leaves the Friday conversations out.
    later = await gateway.call(
        "GET", f"/api/v1/reports/summary?from={at(21, 0, 0)}&to={at(23, 12, 0)}&by=all"
    )
    assert later["rows"][0]["volume"] == 2  # E3 and W2

    # CSV export of the same report.
    resp = await gateway.client.get(
        f"/api/v1/reports/summary?{span}&by=channel&format=csv",
        headers=gateway.auth(gateway.admin_token),
    )
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["key"] for r in table] == ["email", "webchat"]
    assert table[0]["first_response_p90"] == "5400.0" and table[0]["csat_score"] == "0.0"

    bad = await gateway.call("GET", f"/api/v1/reports/summary?{span}&by=moon", expect=400)
    assert bad["error"]["field"] == "by"
    await gateway.call("GET", "/api/v1/reports/summary?from=5&to=1", expect=400)
    await gateway.call("GET", "/api/v1/reports/summary?from=yesterday", expect=400)


async def test_reports_are_for_staff(gateway: Harness):
    _, token = await gateway.create_user("agent@example.com")
    for path in ("summary", "heatmap", "live"):
        await gateway.call("GET", f"/api/v1/reports/{path}", token, expect=403)


async def test_tags_heat_map_and_live_view(gateway: Harness, callback_server: CallbackServer):
    h = gateway
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("eve@example.com", name="Eve")
    c1 = await customer_writes(h, channel_id, secret, "c1", "m1", "The kettle leaks")
    c2 = await customer_writes(h, channel_id, secret, "c2", "m2", "Kettle leaks too")
    await answered(h, agent, c1, "Sorry!")
    await h.call(
        "PUT",
        f"/api/v1/conversations/{c1}/tags",
        agent[1],
        {"tags": ["Leak", "leak", "refund"], "product": "kettle"},
    )
    await h.call(
        "PUT", f"/api/v1/conversations/{c2}/tags", json_body={"tags": ["leak"], "product": "kettle"}
    )
    bad = await h.call(
        "PUT", f"/api/v1/conversations/{c2}/tags", json_body={"tags": "leak"}, expect=400
    )
    assert bad["error"]["code"] == "invalid_field"
    await h.call("PUT", "/api/v1/conversations/nope/tags", json_body={"tags": []}, expect=404)
    # An agent may not tag a conversation that is someone else's.
    _, other = await h.create_user("fay@example.com")
    await h.call("PUT", f"/api/v1/conversations/{c1}/tags", other, {"tags": ["x"]}, expect=404)

    heat = await h.call("GET", "/api/v1/reports/heatmap")
    cells = {(r["tag"], r["product"]): r["count"] for r in heat["rows"]}
    assert cells == {("leak", "kettle"): 2, ("refund", "kettle"): 1}

    live = await h.call("GET", "/api/v1/reports/live")
    agents = {a["name"]: a for a in live["agents"]}
    assert agents["Eve"]["status"] == "online" and agents["Eve"]["load"] >= 1
    # c2 is offered to Eve (or waiting): its first-response deadline is within 10 minutes;
    # c1 is answered: its next deadline is the resolution, two days away.
    risk = {r["conversation_id"]: r for r in live["sla_at_risk"]}
    assert risk[c2]["clock"] == "first_response" and not risk[c2]["overdue"]
    assert c1 not in risk
    assert live["mention_spikes"] == []
    resp = await h.client.get("/api/v1/reports/live?format=csv", headers=h.auth(h.admin_token))
    assert resp.status == 200
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    # Every class of config/sla.toml, in its order (incidents first: they are queued first).
    assert [r["priority"] for r in table] == [
        "incident",
        "urgent",
        "sensitive",
        "high",
        "normal",
        "low",
    ]
    resp = await h.client.get(
        "/api/v1/reports/live?format=csv&table=agents", headers=h.auth(h.admin_token)
    )
    assert "Eve" in await resp.text()


async def test_agent_occupancy(gateway: Harness, callback_server: CallbackServer):
    h = gateway
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("gus@example.com", name="Gus")  # capacity 5
    c1 = await customer_writes(h, channel_id, secret, "c1", "m1", "Hello")
    await answered(h, agent, c1, "Hi")

    async def occupancy() -> float | None:
        report = await h.call("GET", "/api/v1/reports/summary?by=agent")
        row = next(r for r in report["rows"] if r["key"] == agent[0])
        assert row["name"] == "Gus"
        return row["occupancy"]

    # One conversation of weight 1 held for part of the online time, capacity 5.
    assert 0 < await wait_for(occupancy) < 0.2
    # After going offline the agent's online time stops growing; a fresh agent never online
    # has no figure.
    await h.call("PUT", "/api/v1/agents/me/status", agent[1], {"status": "offline"})
    log = await h.gw.redis.zrange(h.gw.keys.agent_status_log(agent[0]), 0, -1)
    assert [e.split(":")[1] for e in log] == ["online", "offline"]
