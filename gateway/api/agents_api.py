"""An agent's own presence: online / away / offline, and the heartbeat that keeps it online;
the supervisors' board: every agent's status and load and the conversations each one holds."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.http import ANY_USER, STAFF, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.conversations import conversation_from_hash, sla_due

routes = web.RouteTableDef()


class StatusBody(BaseModel):
    status: Literal["online", "away", "offline"]


async def _agent_rows(request: web.Request) -> list[dict[str, Any]]:
    """Every user with presence, teams and load."""
    gw = request.app[GATEWAY]
    out = []
    for user in await gw.users.all():
        agent = await gw.router_store.agent_raw(user.id)
        out.append(
            {
                "id": user.id,
                "name": user.name,
                "role": user.role.value,
                "teams": user.teams,
                "status": agent.get("status", "offline"),
                "load": float(agent.get("load") or 0),
                "capacity": float(agent.get("capacity") or 0),
            }
        )
    return out


@routes.get("/api/v1/agents")
@requires(*ANY_USER)
async def list_agents(request: web.Request) -> web.Response:
    """Who can take a transfer: every user with presence, teams and load."""
    return ok({"agents": await _agent_rows(request)})


class BoardConversation(BaseModel):
    id: str
    contact_name: str | None = None
    channel_id: str
    priority: str | None = None
    status: str
    since: int | None = Field(None, description="assigned at, ms")
    sla_due: int | None = None


class BoardAgent(BaseModel):
    id: str
    name: str
    role: str
    teams: list[str]
    status: str
    load: float
    capacity: float
    conversations: list[BoardConversation]


class BoardAnswer(BaseModel):
    agents: list[BoardAgent]
    waiting: int = Field(description="conversations in the queue")


RESPONSES = {"GET /api/v1/agents/board": BoardAnswer}


async def _held(request: web.Request, agent_id: str) -> list[dict[str, Any]]:
    gw = request.app[GATEWAY]
    ids = sorted(await gw.redis.smembers(gw.keys.agent_conversations(agent_id)))
    pipe = gw.redis.pipeline(transaction=False)
    for conversation_id in ids:
        pipe.hgetall(gw.keys.conversation(conversation_id))
    convs = [conversation_from_hash(row) for row in await pipe.execute() if row]
    convs = [c for c in convs if c.get("assignee") == agent_id]  # moved on since the set was read
    pipe = gw.redis.pipeline(transaction=False)
    for conv in convs:
        pipe.hget(gw.keys.contact(conv.get("contact_id") or "none"), "name")
    out: list[dict[str, Any]] = []
    for conv, contact in zip(convs, await pipe.execute(), strict=True):
        out.append(
            {
                "id": conv["id"],
                "contact_name": contact,
                "channel_id": conv.get("channel_id", ""),
                "priority": conv.get("priority"),
                "status": conv.get("status", ""),
                "since": conv.get("assigned_at"),
                "sla_due": sla_due(conv),
            }
        )
    return out


@routes.get("/api/v1/agents/board")
@requires(*STAFF)
async def board(request: web.Request) -> web.Response:
    """Supervisors and admins: who holds what, each agent's status and load."""
    agents = [
        {**row, "conversations": await _held(request, row["id"])}
        for row in await _agent_rows(request)
    ]
    waiting = await request.app[GATEWAY].router_store.queue_length()
    return ok({"agents": agents, "waiting": waiting})


@routes.get("/api/v1/agents/me/status")
@requires(*ANY_USER)
async def get_status(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    agent = await gw.router_store.agent_raw(session(request).user.id)
    return ok(
        {
            "status": agent.get("status", "offline"),
            "load": float(agent.get("load") or 0),
            "capacity": float(agent.get("capacity") or 0),
        }
    )


@routes.put("/api/v1/agents/me/status")
@requires(*ANY_USER)
async def put_status(request: web.Request) -> web.Response:
    """Also the heartbeat: the console repeats its status while open."""
    body = await parse(request, StatusBody)
    await request.app[GATEWAY].set_agent_status(session(request).user.id, body.status)
    return await get_status(request)
