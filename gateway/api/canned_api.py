"""Canned responses: saved replies agents insert with ``/shortcut``. Admins and supervisors
manage them; every user lists them, rendered for a conversation when one is given.

Variables in the text: ``{{customer.name}}``, ``{{customer.email}}``, ``{{agent.name}}``,
``{{agent.email}}``, ``{{conversation.id}}``, ``{{channel.name}}``; a fallback after ``|`` is used
when the value is empty: ``Hi {{customer.name|there}}!``. Unknown variables stay as written, so
a typo shows up in the agent's reply box instead of vanishing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.http import ANY_USER, error, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.conversations import NotFound, Viewer, may_view
from gateway.i18n.collate import sort_key
from gateway.ids import new_id
from gateway.models import Role, now_ms

routes = web.RouteTableDef()

# Lower-case letters of any script (Chinese: /你好, /退款), digits, "-" and "_".
SHORTCUT = r"^[\p{Ll}\p{Lo}\p{Nd}][\p{Ll}\p{Lo}\p{Nd}_-]{0,39}$"
MAX_CANNED = 1000
MANAGERS = (Role.ADMIN, Role.SUPERVISOR)  # who manages canned responses
# The fallback is bounded: an unbounded one was read to the text's end again from every "{{"
# without a closing "}}" (quadratic).
_VARIABLE = re.compile(r"{{\s*([a-z]+\.[a-z_]+)\s*(?:\|([^}]{0,200}))?}}")


def render(text: str, values: dict[str, str]) -> str:
    """Replace ``{{name}}`` / ``{{name|fallback}}`` with ``values``; unknown names stay."""

    def one(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        return values[name] or (fallback or "").strip()

    return _VARIABLE.sub(one, text)


class CannedBody(BaseModel):
    shortcut: str = Field(pattern=SHORTCUT, description="typed after '/' in the reply box")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=5000)


class CannedPatch(BaseModel):
    shortcut: str | None = Field(None, pattern=SHORTCUT)
    title: str | None = Field(None, min_length=1, max_length=200)
    text: str | None = Field(None, min_length=1, max_length=5000)


async def _all(request: web.Request) -> list[dict[str, Any]]:
    gw = request.app[GATEWAY]
    rows = await gw.redis.hgetall(gw.keys.canned_responses())
    items = [json.loads(v) for v in rows.values()]
    return sorted(items, key=lambda c: sort_key(c["shortcut"]))


async def _variables(request: web.Request, conversation_id: str) -> dict[str, str]:
    gw = request.app[GATEWAY]
    user = session(request).user
    try:
        conv = await gw.conversations.get(conversation_id)
    except NotFound:
        raise error(404, "not_found", "no such conversation") from None
    if not may_view(Viewer(user.id, user.role), conv):
        raise error(403, "forbidden", "this conversation is assigned to someone else")
    contact = await gw.redis.hgetall(gw.keys.contact(conv["contact_id"]))
    channel = await gw.redis.hget(gw.keys.channel(conv["channel_id"]), "name")
    return {
        "customer.name": contact.get("name") or "",
        "customer.email": contact.get("email") or "",
        "agent.name": user.name,
        "agent.email": user.email,
        "conversation.id": conv["id"],
        "channel.name": channel or "",
    }


@routes.get("/api/v1/canned")
@requires(*ANY_USER)
async def list_canned(request: web.Request) -> web.Response:
    """Canned responses; with ?conversation_id= each also has its text rendered for it."""
    items = await _all(request)
    conversation_id = request.query.get("conversation_id")
    if conversation_id:
        values = await _variables(request, conversation_id)
        items = [{**c, "rendered": render(c["text"], values)} for c in items]
    return ok({"canned": items})


async def _check_unique(request: web.Request, shortcut: str, own_id: str | None) -> None:
    for item in await _all(request):
        if item["shortcut"] == shortcut and item["id"] != own_id:
            raise error(409, "exists", f"the shortcut /{shortcut} is taken", field="shortcut")


@routes.post("/api/v1/canned")
@requires(*MANAGERS)
async def create_canned(request: web.Request) -> web.Response:
    body = await parse(request, CannedBody)
    gw = request.app[GATEWAY]
    await _check_unique(request, body.shortcut, None)
    if await gw.redis.hlen(gw.keys.canned_responses()) >= MAX_CANNED:
        raise error(409, "too_many", f"at most {MAX_CANNED} canned responses")
    now = now_ms()
    item = {"id": new_id("cr"), **body.model_dump(), "created_at": now, "updated_at": now}
    await gw.redis.hset(gw.keys.canned_responses(), item["id"], json.dumps(item))
    return ok({"canned": item}, status=201)


async def _one(request: web.Request) -> dict[str, Any]:
    gw = request.app[GATEWAY]
    raw = await gw.redis.hget(gw.keys.canned_responses(), request.match_info["id"])
    if raw is None:
        raise error(404, "not_found", "no such canned response")
    return json.loads(raw)


@routes.patch("/api/v1/canned/{id}")
@requires(*MANAGERS)
async def patch_canned(request: web.Request) -> web.Response:
    body = await parse(request, CannedPatch)
    item = await _one(request)
    changes = body.model_dump(exclude_none=True)
    if "shortcut" in changes:
        await _check_unique(request, changes["shortcut"], item["id"])
    item.update(changes, updated_at=now_ms())
    gw = request.app[GATEWAY]
    await gw.redis.hset(gw.keys.canned_responses(), item["id"], json.dumps(item))
    return ok({"canned": item})


@routes.delete("/api/v1/canned/{id}")
@requires(*MANAGERS)
async def delete_canned(request: web.Request) -> web.Response:
    item = await _one(request)
    gw = request.app[GATEWAY]
    await gw.redis.hdel(gw.keys.canned_responses(), item["id"])
    return ok({"deleted": item["id"]})
