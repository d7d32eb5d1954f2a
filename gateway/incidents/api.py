"""``/api/v1/incidents``: list, read, update (statement, title, status) and bulk reply.

Every user may read incidents (agents answering the mentions see the statement); supervisors
and admins change them and answer in bulk."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.http import ANY_USER, STAFF, error, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.incidents.service import MAX_STATEMENT, IncidentError

routes = web.RouteTableDef()
T = TypeVar("T")


class IncidentPatch(BaseModel):
    statement: str | None = Field(
        None, max_length=MAX_STATEMENT, description="the approved public statement"
    )
    title: str | None = Field(None, max_length=200)
    status: str | None = Field(None, pattern="^(open|resolved)$")


class BulkReply(BaseModel):
    text: str | None = Field(
        None, min_length=1, max_length=MAX_STATEMENT, description="default: the statement"
    )


async def _run(action: Awaitable[T]) -> T:
    try:
        return await action
    except IncidentError as exc:
        raise error(exc.status, exc.code, str(exc)) from None


@routes.get("/api/v1/incidents")
@requires(*ANY_USER)
async def list_incidents(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in ("open", "resolved"):
        raise error(400, "invalid_field", "status: open or resolved", field="status")
    items = await request.app[GATEWAY].incidents.list(status=status)
    return ok({"incidents": items})


@routes.get("/api/v1/incidents/{id}")
@requires(*ANY_USER)
async def get_incident(request: web.Request) -> web.Response:
    incident = await _run(request.app[GATEWAY].incidents.get(request.match_info["id"]))
    return ok({"incident": incident})


@routes.patch("/api/v1/incidents/{id}")
@requires(*STAFF)
async def patch_incident(request: web.Request) -> web.Response:
    body = await parse(request, IncidentPatch)
    user = session(request).user
    changes = body.model_dump()
    incident = await _run(
        request.app[GATEWAY].incidents.update(
            request.match_info["id"], actor_id=user.id, actor_name=user.name, **changes
        )
    )
    return ok({"incident": incident})


@routes.post("/api/v1/incidents/{id}/reply")
@requires(*STAFF)
async def bulk_reply(request: web.Request) -> web.Response:
    """Answer every open mention not yet answered: one outbox reply each; 202 with counts."""
    body = await parse(request, BulkReply)
    user = session(request).user
    gw = request.app[GATEWAY]
    outcome = await _run(
        gw.incidents.bulk_reply(
            request.match_info["id"], author_id=user.id, author_name=user.name, text=body.text
        )
    )
    return ok(outcome.to_dict(), status=202)
