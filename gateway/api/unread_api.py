"""Read positions: an agent marks a conversation read up to a seq (every device of the agent
sees the unread count drop), and the tags in use (for the console's tag picker)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.conversations_api import visible_conversation
from gateway.api.http import ANY_USER, ok, parse, requires, session
from gateway.appkeys import GATEWAY

routes = web.RouteTableDef()


class ReadBody(BaseModel):
    seq: int = Field(ge=0, le=2**62, description="the last seq seen; 0: the conversation's last")


@routes.post("/api/v1/conversations/{id}/read")
@requires(*ANY_USER)
async def mark_read(request: web.Request) -> web.Response:
    body = await parse(request, ReadBody)
    conv = await visible_conversation(request)
    gw = request.app[GATEWAY]
    user = session(request).user
    last = int(conv.get("last_seq") or 0)
    seq = await gw.unread.mark_read(user.id, conv["id"], min(body.seq or last, last))
    # The agent's other consoles clear the count too.
    await gw.events.publish(
        "conversation.read_by_agent", {"conversation_id": conv["id"], "seq": seq}, users=[user.id]
    )
    return ok({"conversation_id": conv["id"], "seq": seq})


@routes.get("/api/v1/tags")
@requires(*ANY_USER)
async def tags_in_use(request: web.Request) -> web.Response:
    """Every tag used on a conversation, sorted (for autocompletion in the console)."""
    gw = request.app[GATEWAY]
    tags = await gw.redis.smembers(gw.keys.tag_index())
    return ok({"tags": sorted(tags)})
