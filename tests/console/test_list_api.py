"""The conversation list for the console, through the real app and Redis: each row's unread
count for the caller (kept per agent, so every device agrees; cleared by marking read; a
position never goes back), its last message (ours or the customer's, one line, notes and
events skipped), assignee name and SLA deadline; sort by SLA due; filter by tag (Chinese too);
the tags in use."""

from __future__ import annotations

from typing import Any

from gateway.unread.service import WINDOW
from tests.conftest import Harness


async def _say(h: Harness, channel: str, secret: str, n: int, text: str, who: str = "c-1") -> None:
    payload = {
        "message_id": f"m-{who}-{n}",
        "sender": {"id": who, "name": f"Customer {who}"},
        "text": text,
    }
    status, body = await h.post_api_message(channel, secret, payload)
    assert status == 202, body


async def _rows(h: Harness, token: str, query: str = "") -> dict[str, dict[str, Any]]:
    data = await h.call("GET", f"/api/v1/conversations?limit=50{query}", token)
    return {c["id"]: c for c in data["conversations"]}


async def test_unread_counts_per_agent_and_the_last_message(gateway: Harness):
    h = gateway
    channel, secret = await h.api_channel()
    boss_id, boss = await h.create_user("boss@example.com", role="supervisor", name="Boss")
    _, other = await h.create_user("other@example.com", role="supervisor", name="Other")
    await _say(h, channel, secret, 1, "Where is my parcel?")
    await _say(h, channel, secret, 2, "It is\n<b>late</b>   again")
    ((conv_id, row),) = (await _rows(h, boss)).items()
    assert row["unread"] == 2 and row["unread_capped"] is False
    assert row["last_message"]["direction"] == "in"
    assert row["last_message"]["text"] == "It is <b>late</b> again"  # one line, not parsed
    assert row["assignee_name"] is None and row["sla_due"] == row["first_response_due"]

    # Read on one device: zero on every device of that agent, not for another agent.
    read = await h.call("POST", f"/api/v1/conversations/{conv_id}/read", boss, {"seq": 0})
    assert read == {"conversation_id": conv_id, "seq": 2}
    assert (await _rows(h, boss))[conv_id]["unread"] == 0
    assert (await _rows(h, other))[conv_id]["unread"] == 2
    # An older position from a late device does not move it back.
    again = await h.call("POST", f"/api/v1/conversations/{conv_id}/read", boss, {"seq": 1})
    assert again["seq"] == 2

    # Our note and event lines are not the preview; the next customer message is unread.
    await h.call("POST", f"/api/v1/conversations/{conv_id}/messages", boss,
                 {"text": "internal", "type": "note"}, expect=201)  # fmt: skip
    await _say(h, channel, secret, 3, "Hello?")
    row = (await _rows(h, boss))[conv_id]
    assert row["unread"] == 1 and row["last_message"]["text"] == "Hello?"
    await h.call("POST", f"/api/v1/conversations/{conv_id}/messages", boss,
                 {"text": "On its way " + "x" * 300}, expect=201)  # fmt: skip
    row = (await _rows(h, boss))[conv_id]
    assert row["last_message"]["direction"] == "out"
    assert len(row["last_message"]["text"]) == 140 and row["last_message"]["author_name"] == "Boss"
    assert row["unread"] == 1  # replying does not read for the agent; opening does
    assert boss_id


async def test_read_and_list_refuse_bad_input(gateway: Harness):
    h = gateway
    channel, secret = await h.api_channel()
    _, agent = await h.create_user("a@example.com")
    await _say(h, channel, secret, 1, "hi")
    conv_id = next(iter(await _rows(h, h.admin_token)))
    await h.call("POST", f"/api/v1/conversations/{conv_id}/read", agent, {"seq": -1}, expect=400)
    await h.call("POST", f"/api/v1/conversations/{conv_id}/read", agent, {}, expect=400)
    await h.call("POST", "/api/v1/conversations/cv_nope/read", agent, {"seq": 1}, expect=404)
    await h.call("POST", f"/api/v1/conversations/{conv_id}/read", None, {"seq": 1}, expect=200)
    resp = await h.client.post(f"/api/v1/conversations/{conv_id}/read", json={"seq": 1})
    assert resp.status == 401
    await h.call("GET", "/api/v1/conversations?sort=newest", agent, expect=400)


async def test_sort_by_sla_due_and_filter_by_tag(gateway: Harness):
    h = gateway
    channel, secret = await h.api_channel()
    _, agent = await h.create_user("a@example.com")
    for n, who in enumerate(("c-1", "c-2", "c-3")):
        await _say(h, channel, secret, n, f"message {n}", who=who)
    rows = list((await _rows(h, agent)).values())
    by_activity = [r["id"] for r in rows]
    # Make the newest conversation the most urgent one.
    newest = by_activity[0]
    due = min(r["sla_due"] for r in rows) - 60_000
    await h.gw.redis.hset(h.gw.keys.conversation(newest), "first_response_due", due)
    await h.gw.redis.zadd(h.gw.keys.sla_watch(), {newest: due})
    data = await h.call("GET", "/api/v1/conversations?sort=sla", agent)
    dues = [c["sla_due"] for c in data["conversations"]]
    assert data["conversations"][0]["id"] == newest and dues == sorted(dues)
    activity = await h.call("GET", "/api/v1/conversations?sort=activity", agent)
    assert [c["id"] for c in activity["conversations"]] == by_activity

    await h.call(
        "PUT", f"/api/v1/conversations/{by_activity[1]}/tags", agent, {"tags": ["退款", "VIP"]}
    )
    await h.call("PUT", f"/api/v1/conversations/{by_activity[2]}/tags", agent, {"tags": ["物流"]})
    tagged = await h.call("GET", "/api/v1/conversations?tag=%E9%80%80%E6%AC%BE", agent)
    assert [c["id"] for c in tagged["conversations"]] == [by_activity[1]]
    assert [
        c["id"]
        for c in (await h.call("GET", "/api/v1/conversations?tag=VIP", agent))["conversations"]
    ] == [by_activity[1]]
    tags = (await h.call("GET", "/api/v1/tags", agent))["tags"]
    assert set(tags) == {"退款", "vip", "物流"}


async def test_unread_stops_counting_at_the_window(gateway: Harness):
    """A long unread conversation costs a bounded read: the count stops at WINDOW and says so."""
    h = gateway
    channel, secret = await h.api_channel()
    for n in range(WINDOW + 5):
        await _say(h, channel, secret, n, f"message {n}")
    (row,) = (await _rows(h, h.admin_token)).values()
    assert row["unread"] == WINDOW and row["unread_capped"] is True
    assert row["last_message"]["text"] == f"message {WINDOW + 4}"
    await h.call("POST", f"/api/v1/conversations/{row['id']}/read", None, {"seq": 3})
    (row,) = (await _rows(h, h.admin_token)).values()
    assert row["unread"] == WINDOW and row["unread_capped"] is True
    await h.call("POST", f"/api/v1/conversations/{row['id']}/read", None, {"seq": 10})
    (row,) = (await _rows(h, h.admin_token)).values()
    assert row["unread"] == WINDOW + 5 - 10 and row["unread_capped"] is False
