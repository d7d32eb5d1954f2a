"""The supervisors' board (GET /api/v1/agents/board) through the real app: every agent's
status and load and the conversations each holds; supervisors and admins only; taking over is
a transfer to oneself, allowed to a supervisor and refused to another agent."""

from __future__ import annotations

from tests.conftest import Harness
from tests.console.test_bugs_api import _held_conversation


async def test_board_shows_who_holds_what_and_a_supervisor_takes_over(gateway: Harness):
    h = gateway
    conversation_id, holder, holder_token = await _held_conversation(h)
    boss_id, boss = await h.agent_online("boss@example.com", name="Boss", role="supervisor")
    _other_id, other = await h.create_user("other@example.com", name="Other")
    await h.call("GET", "/api/v1/agents/board", other, expect=403)

    board = await h.call("GET", "/api/v1/agents/board", boss)
    rows = {a["id"]: a for a in board["agents"]}
    assert rows[holder]["status"] == "online" and rows[holder]["load"] == 1
    held = rows[holder]["conversations"]
    assert [c["id"] for c in held] == [conversation_id]
    assert held[0]["status"] == "open"
    assert held[0]["channel_id"] and held[0]["since"]
    assert rows[boss_id]["conversations"] == [] and rows[boss_id]["role"] == "supervisor"
    assert board["waiting"] == 0

    # Another agent may not take it; the supervisor may.
    path = f"/api/v1/conversations/{conversation_id}/transfer"
    await h.call("POST", path, other, {"agent_id": holder}, expect=403)
    await h.call("POST", path, boss, {"agent_id": boss_id})
    rows = {a["id"]: a for a in (await h.call("GET", "/api/v1/agents/board", boss))["agents"]}
    assert [c["id"] for c in rows[boss_id]["conversations"]] == [conversation_id]
    assert rows[holder]["conversations"] == [] and rows[holder]["load"] == 0
    # ...and reassigns it to the first agent again.
    await h.call("POST", path, boss, {"agent_id": holder})
    rows = {a["id"]: a for a in (await h.call("GET", "/api/v1/agents/board"))["agents"]}
    assert [c["id"] for c in rows[holder]["conversations"]] == [conversation_id]
    await h.call("GET", f"/api/v1/conversations/{conversation_id}", holder_token)
