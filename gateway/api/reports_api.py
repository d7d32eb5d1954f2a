"""Reports for supervisors. Times are milliseconds since the epoch."""

from __future__ import annotations

from aiohttp import web

from adapters.social.spike import mention_report
from gateway.api.http import STAFF, error, ok, requires
from gateway.appkeys import GATEWAY
from gateway.models import now_ms

routes = web.RouteTableDef()

SOCIAL_TYPES = ("x", "mastodon", "weibo")


def _time(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise error(400, "invalid_field", f"{name}: milliseconds since the epoch",
                    field=name) from None


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
