"""Conversations for agents and supervisors: list, read, reply (with attachments), note, accept,
decline, resolve, transfer, snooze."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from adapters.base import Adapter
from gateway.api.http import ANY_USER, STAFF, error, ok, parse, read_upload, requires, session
from gateway.appkeys import GATEWAY
from gateway.conversations import NotFound, Viewer, may_view
from gateway.media import describe_file
from gateway.models import Role, now_ms
from gateway.services import ActionError

routes = web.RouteTableDef()


def viewer(request: web.Request) -> Viewer:
    user = session(request).user
    return Viewer(user.id, user.role)


async def visible_conversation(request: web.Request) -> dict[str, Any]:
    gw = request.app[GATEWAY]
    try:
        conv = await gw.conversations.get(request.match_info["id"])
    except NotFound:
        raise error(404, "not_found", "no such conversation") from None
    if not may_view(viewer(request), conv):
        raise error(403, "forbidden", "this conversation is assigned to someone else")
    return conv


async def run(action: Any) -> None:
    try:
        await action
    except ActionError as exc:
        raise error(exc.status, exc.code, str(exc)) from None


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(400, "invalid_field", f"{name}: must be an integer", field=name) from None
    if not low <= value <= high:
        raise error(400, "invalid_field", f"{name}: must be between {low} and {high}", field=name)
    return value


@routes.get("/api/v1/conversations")
@requires(*ANY_USER)
async def list_conversations(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    q = request.query
    me = session(request).user
    assignee = q.get("assignee")
    if assignee == "me":
        assignee = me.id
    limit, sort = _int(request, "limit", 50, 1, 200), _sort(request)
    items = await gw.conversations.list(
        viewer(request),
        status=q.get("status"),
        assignee=assignee,
        channel=q.get("channel"),
        priority=q.get("priority"),
        unassigned=q.get("unassigned") in ("1", "true"),
        tag=(q.get("tag") or "").strip().lower() or None,
        limit=limit,
        before=_int(request, "before", 0, 0, 2**62) or None,
        before_id=q.get("before_id") or None,
        sort=sort,
    )
    await gw.unread.annotate(me.id, items)  # unread count and last message, for the caller
    # The next page goes on after the last row (by activity; sort=sla answers one page: its
    # first part is ordered by deadline, which no activity cursor continues).
    last = items[-1] if len(items) == limit and sort == "activity" else None
    return ok({
        "conversations": items,
        "next_before": last["activity_at"] if last else None,
        "next_before_id": last["id"] if last else None,
    })  # fmt: skip


def _sort(request: web.Request) -> str:
    value = request.query.get("sort", "activity")
    if value not in ("activity", "sla"):
        raise error(400, "invalid_field", "sort: activity or sla", field="sort")
    return value


@routes.get("/api/v1/conversations/{id}")
@requires(*ANY_USER)
async def get_conversation(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    gw = request.app[GATEWAY]
    contact = await gw.redis.hgetall(gw.keys.contact(conv["contact_id"]))
    others = [
        c for c in await gw.conversations.for_contact(conv["contact_id"]) if c["id"] != conv["id"]
    ]
    # The same rule as opening one: the customer's conversations this viewer may not open are
    # left out (only how many), not shown with their assignee, subject and status.
    me = viewer(request)
    history = [c for c in others if may_view(me, c)]
    adapter = gw.channels.adapter(conv["channel_id"])
    channel = adapter.describe() if adapter else None
    # A mention of an incident: the approved statement, once the senior set it.
    suggested = await gw.incidents.suggested_reply(conv)
    return ok({
        "conversation": conv, "contact": contact, "history": history,
        "history_hidden": len(others) - len(history), "channel": channel,
        "suggested_reply": suggested,
    })  # fmt: skip


@routes.get("/api/v1/conversations/{id}/messages")
@requires(*ANY_USER)
async def list_messages(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    gw = request.app[GATEWAY]
    after = _int(request, "after_seq", 0, 0, 2**62)
    limit = _int(request, "limit", 100, 1, 500)
    messages = await gw.conversations.messages(conv["id"], after, limit)
    return ok({"messages": messages, "last_seq": conv.get("last_seq") or 0})


class ReplyAttachment(BaseModel):
    """A file uploaded with POST .../attachments, as that call returned it."""

    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(None, max_length=255)
    content_type: str | None = Field(None, max_length=255)


class ReplyBody(BaseModel):
    text: str = Field("", max_length=20000)
    type: Literal["reply", "note"] = "reply"
    attachments: list[ReplyAttachment] = Field(default_factory=list, max_length=10)
    # The caller's id of this reply: a retry with it (the answer was lost) is not sent twice.
    client_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


def _channel_takes_files(adapter: Adapter | None) -> None:
    if adapter is None or not adapter.supports_attachments:
        kind = adapter.channel_type.value if adapter else "this"
        raise error(
            400, "attachments_unsupported", f"{kind} channel replies cannot carry attachments"
        )


@routes.post("/api/v1/conversations/{id}/attachments")
@requires(*ANY_USER)
async def upload_attachment(request: web.Request) -> web.Response:
    """Upload a file to attach to a reply (raw body; ?name= the file name; Content-Type).

    The answer is the attachment to put in a reply's ``attachments``."""
    conv = await visible_conversation(request)
    user = session(request).user
    if user.role == Role.AGENT and conv.get("assignee") != user.id:
        raise error(403, "forbidden", "accept the conversation before attaching files")
    gw = request.app[GATEWAY]
    _channel_takes_files(gw.channels.adapter(conv["channel_id"]))
    name, data = await read_upload(request, gw.settings.max_attachment_bytes)
    url = await gw.media.store(conv["channel_id"], data, name)
    attachment = describe_file(url, name, request.headers.get("Content-Type"), len(data))
    return ok({"attachment": attachment.model_dump(exclude_none=True)}, status=201)


def _stored_attachments(
    request: web.Request, conv: dict[str, Any], body: ReplyBody
) -> list[dict[str, Any]]:
    """The reply's attachments, each a file stored for this conversation's channel; size and
    kind come from the stored file, not from the request."""
    media = request.app[GATEWAY].media
    out = []
    for i, item in enumerate(body.attachments):
        path = media.file_of_url(item.url, conv["channel_id"])
        if path is None:
            raise error(400, "invalid_field",
                        f"attachments[{i}]: not a file uploaded to this conversation's channel",
                        field="attachments")  # fmt: skip
        display = item.name or path.name.split("-", 1)[-1]
        stored = describe_file(item.url, display, item.content_type, path.stat().st_size)
        out.append(stored.model_dump(exclude_none=True))
    return out


@routes.post("/api/v1/conversations/{id}/messages")
@requires(*ANY_USER)
async def post_message(request: web.Request) -> web.Response:
    body = await parse(request, ReplyBody)
    conv = await visible_conversation(request)
    user = session(request).user
    if body.type == "reply" and user.role == Role.AGENT and conv.get("assignee") != user.id:
        raise error(403, "forbidden", "accept the conversation before replying")
    if not body.text and not body.attachments:
        raise error(400, "invalid_field", "text: write something or attach a file", field="text")
    if body.type == "reply" and conv.get("incident_item") == "1":
        raise error(409, "incident_item", "an incident is answered through its statement and "
                    "bulk reply (/api/v1/incidents); write notes here")  # fmt: skip
    gw = request.app[GATEWAY]
    adapter = gw.channels.adapter(conv["channel_id"])
    attachments: list[dict[str, Any]] = []
    if body.attachments:
        if body.type == "note":
            raise error(400, "invalid_field", "attachments: notes carry no attachments",
                        field="attachments")  # fmt: skip
        _channel_takes_files(adapter)
        attachments = _stored_attachments(request, conv, body)
    limit = adapter.describe().get("max_text_length") if adapter else None
    if body.type == "reply" and adapter and limit:
        # The channel's own words when it has them (social: how the platform counts, and by
        # how much to shorten), the same message its send() would fail with.
        explain = getattr(adapter, "length_problem", None)
        if explain is not None:
            problem = explain(body.text, await gw.conversations.reply_context(conv["id"]))
        else:
            length = adapter.text_length(body.text)
            problem = (
                f"This reply is {length} characters as this channel counts them; it allows "
                f"{limit}. Shorten it by {length - limit}."
                if length > limit
                else None
            )
        if problem:
            raise error(400, "invalid_field", problem, field="text")
    message = await gw.reply(
        conv["id"],
        user.id,
        user.name,
        body.text,
        note=body.type == "note",
        attachments=attachments,
        client_id=body.client_id,
    )
    # A replay answers as the first request did (the caller may never have seen that answer).
    return ok({"message": message}, status=201)


@routes.post("/api/v1/conversations/{id}/messages/{seq}/retry")
@requires(*ANY_USER)
async def retry_message(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    gw = request.app[GATEWAY]
    try:
        seq = int(request.match_info["seq"])
    except ValueError:
        raise error(400, "invalid_field", "seq: must be an integer", field="seq") from None
    if not await gw.outbox.retry(conv["id"], seq):
        raise error(409, "not_failed", "only a failed message can be retried")
    return ok({"message": await gw.conversations.message(conv["id"], seq)})


@routes.post("/api/v1/conversations/{id}/accept")
@requires(*ANY_USER)
async def accept(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    user = session(request).user
    await run(request.app[GATEWAY].accept(conv["id"], user.id, user.name))
    return ok({"conversation": await request.app[GATEWAY].conversations.get(conv["id"])})


@routes.post("/api/v1/conversations/{id}/decline")
@requires(*ANY_USER)
async def decline(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    await run(request.app[GATEWAY].decline(conv["id"], session(request).user.id))
    return ok({"ok": True})


class ResolveBody(BaseModel):
    reason: str = Field("", max_length=500)


@routes.post("/api/v1/conversations/{id}/resolve")
@requires(*ANY_USER)
async def resolve(request: web.Request) -> web.Response:
    body = await parse(request, ResolveBody) if request.can_read_body else ResolveBody()
    conv = await visible_conversation(request)
    user = session(request).user
    _must_own(user, conv)
    await run(request.app[GATEWAY].resolve(conv["id"], actor_name=user.name, reason=body.reason))
    return ok({"conversation": await request.app[GATEWAY].conversations.get(conv["id"])})


class TransferBody(BaseModel):
    agent_id: str | None = None
    team: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def one_target(self) -> TransferBody:
        if not self.agent_id and not self.team:
            raise ValueError("give agent_id or team")
        return self


@routes.post("/api/v1/conversations/{id}/transfer")
@requires(*ANY_USER)
async def transfer(request: web.Request) -> web.Response:
    body = await parse(request, TransferBody)
    conv = await visible_conversation(request)
    user = session(request).user
    _must_own(user, conv)
    await run(
        request.app[GATEWAY].transfer(
            conv["id"], actor_name=user.name, to_agent=body.agent_id or "", team=body.team or ""
        )
    )
    return ok({"conversation": await request.app[GATEWAY].conversations.get(conv["id"])})


class SnoozeBody(BaseModel):
    minutes: int = Field(ge=1, le=60 * 24 * 30)


@routes.post("/api/v1/conversations/{id}/snooze")
@requires(*ANY_USER)
async def snooze(request: web.Request) -> web.Response:
    body = await parse(request, SnoozeBody)
    conv = await visible_conversation(request)
    user = session(request).user
    _must_own(user, conv)
    if not conv.get("assignee"):
        raise error(409, "unassigned", "accept the conversation before snoozing it")
    await run(request.app[GATEWAY].snooze(conv["id"], now_ms() + body.minutes * 60_000, user.name))
    return ok({"conversation": await request.app[GATEWAY].conversations.get(conv["id"])})


def _must_own(user: Any, conv: dict[str, Any]) -> None:
    if user.role == Role.AGENT and conv.get("assignee") != user.id:
        raise error(403, "forbidden", "only the assigned agent or a supervisor may do this")


@routes.get("/api/v1/queue")
@requires(*STAFF)
async def queue(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    head = await gw.router_store.queue_head(_int(request, "limit", 50, 1, 500))
    return ok(
        {
            "length": await gw.router_store.queue_length(),
            "waiting": [{"conversation_id": c, "due": int(d)} for c, d in head],
        }
    )
