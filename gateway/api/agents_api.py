"""An agent's own presence: online / away / offline, and the heartbeat that keeps it online."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from gateway.api.http import ANY_USER, ok, parse, requires, session
from gateway.appkeys import GATEWAY

routes = web.RouteTableDef()


class StatusBody(BaseModel):
    status: Literal["online", "away", "offline"]


@routes.get("/api/v1/agents")
@requires(*ANY_USER)
async def list_agents(request: web.Request) -> web.Response:
    """Who can take a transfer: every user with presence, teams and load."""
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
    return ok({"agents": out})


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
