"""Reports for supervisors. Times are milliseconds since the epoch."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from adapters.social.spike import mention_report
from gateway.api.http import ANY_USER, STAFF, error, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.console.pages import CONSOLE_CSP, html_in_language
from gateway.conversations import NotFound, Viewer, may_view
from gateway.models import Role, now_ms
from gateway.reports import ConvRecord, group_key, heat_map, occupancy, summarize, to_csv
from gateway.reports_store import agent_activity, live_view, load_records, set_tags
from gateway.surveys import AftercareSettings, load_settings

routes = web.RouteTableDef()

SOCIAL_TYPES = ("x", "mastodon", "weibo")


def _time(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise error(
            400, "invalid_field", f"{name}: milliseconds since the epoch", field=name
        ) from None


@routes.get("/api/v1/reports/mentions")
@requires(*STAFF)
async def mentions(request: web.Request) -> web.Response:
    """Mention volume per 5-minute bucket and spike alerts of the social channels."""
    gw = request.app[GATEWAY]
    end = _time(request, "to", now_ms())
    start = _time(request, "from", end - 24 * 3600 * 1000)
    wanted = request.query.getall("channel", [])
    channels = [c["id"] for c in await gw.channel_store.list() if c["type"] in SOCIAL_TYPES]
    if wanted:
        channels = [c for c in channels if c in wanted]
    try:
        report = await mention_report(gw.redis, gw.keys, channels, start, end)
    except ValueError as exc:
        raise error(400, "invalid_range", str(exc)) from None
    return ok(report)


# --- conversation reports (gateway/reports.py) -------------------------------------------------
class TagsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(max_length=20)
    product: str | None = Field(None, max_length=100)


def _respond(
    request: web.Request, rows: list[dict[str, Any]], extra: dict[str, Any]
) -> web.Response:
    """JSON by default; `?format=csv` gives the rows as CSV (any report)."""
    if request.query.get("format") == "csv":
        return web.Response(
            text=to_csv(rows),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="report.csv"'},
        )
    return ok({**extra, "rows": rows})


async def _range_records(request: web.Request) -> tuple[int, int, list[ConvRecord]]:
    gw = request.app[GATEWAY]
    end = _time(request, "to", now_ms())
    start = _time(request, "from", end - 7 * 24 * 3600 * 1000)
    if end <= start:
        raise error(400, "invalid_range", "'to' must be after 'from'")
    records = await load_records(gw.redis, gw.keys, start, end)
    for name in ("channel", "team", "agent", "class"):
        wanted = request.query.getall(name, [])
        if wanted:
            records = [r for r in records if group_key(r, name) in wanted]
    return start, end, records


@routes.get("/api/v1/reports/summary")
@requires(*STAFF)
async def summary(request: web.Request) -> web.Response:
    """Figures per channel / team / agent / class (`?by=`) for conversations created in
    [from, to): volume, first response p50/p90, share within target, resolution p50/p90,
    SLA attainment, reopen rate, CSAT score and response rate."""
    gw = request.app[GATEWAY]
    by = request.query.get("by", "channel")
    start, end, records = await _range_records(request)
    try:
        # The policy in force (the admins' copy, else config/sla.toml).
        sla = await gw.inbox.policies.sla()
        rows = summarize(records, sla, by, min(end, now_ms()))
    except ValueError as exc:
        raise error(400, "invalid_field", f"by: {exc}", field="by") from None
    if by == "agent":
        # Occupancy counts every conversation held in the range, whenever it started.
        held = await load_records(gw.redis, gw.keys, start, end, active=True)
        agents = [r["key"] for r in rows if r["key"] != "(unassigned)"]
        activity = await agent_activity(gw.redis, gw.keys, agents, end)
        until = min(end, now_ms())
        for row in rows:
            name, capacity, events = activity.get(row["key"], ("", 0.0, []))
            mine = [r for r in held if r.agent == row["key"]]
            row["name"] = name
            row["occupancy"] = occupancy(mine, events, capacity, start, until)
    return _respond(request, rows, {"from": start, "to": end, "by": by})


@routes.get("/api/v1/reports/heatmap")
@requires(*STAFF)
async def heatmap(request: web.Request) -> web.Response:
    """Conversations by tag x product x ISO week, so recurring complaints show."""
    start, end, records = await _range_records(request)
    zone = ZoneInfo(request.app[GATEWAY].settings.zone_name)
    return _respond(request, heat_map(records, zone), {"from": start, "to": end})


@routes.get("/api/v1/reports/live")
@requires(*STAFF)
async def live(request: web.Request) -> web.Response:
    """Queue per class with the oldest wait, agents, SLA deadlines in the next 10 minutes,
    mention spikes of the last hour."""
    gw = request.app[GATEWAY]
    social = [c["id"] for c in await gw.channel_store.list() if c["type"] in SOCIAL_TYPES]
    classes = list((await gw.inbox.policies.sla()).classes)
    view = await live_view(gw.redis, gw.keys, now_ms(), social, classes)
    if request.query.get("format") == "csv":
        table = request.query.get("table", "queue")
        if table not in ("queue", "agents", "sla_at_risk"):
            raise error(400, "invalid_field", "table: queue, agents or sla_at_risk", field="table")
        return _respond(request, view[table], {})
    return ok(view)


@routes.put("/api/v1/conversations/{id}/tags")
@requires(*ANY_USER)
async def put_tags(request: web.Request) -> web.Response:
    """Agents tag a conversation (and name the product) for the complaint heat map."""
    gw = request.app[GATEWAY]
    conversation_id = request.match_info["id"]
    body = await parse(request, TagsBody)
    try:
        conv = await gw.conversations.get(conversation_id)
    except NotFound:
        raise error(404, "not_found", "no such conversation") from None
    sess = session(request)
    if not may_view(Viewer(sess.user.id, sess.user.role), conv):
        raise error(404, "not_found", "no such conversation")
    tags = list(dict.fromkeys(t.strip().lower() for t in body.tags if t.strip()))
    await set_tags(gw.redis, gw.keys, conversation_id, tags, body.product)
    return ok({"conversation_id": conversation_id, "tags": tags, "product": body.product})


@routes.get("/api/v1/reports/settings")
@requires(*STAFF)
async def get_settings(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return ok((await load_settings(gw.redis, gw.keys)).model_dump())


@routes.put("/api/v1/reports/settings")
@requires(Role.ADMIN)
async def put_settings(request: web.Request) -> web.Response:
    """Surveys (on/off, public channels, link lifetime, text) and follow-up delays per class."""
    gw = request.app[GATEWAY]
    body = await parse(request, AftercareSettings)
    await gw.redis.set(gw.keys.reports_settings(), body.model_dump_json())
    return ok(body.model_dump())


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    """The reports page (static; its script calls the API above with the console's token)."""
    return web.Response(
        body=html_in_language("reports.html", request),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
            "Vary": "Accept-Language",
        },
    )
