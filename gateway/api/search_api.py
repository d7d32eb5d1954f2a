"""``GET /api/v1/search``: customers (name, email, phone, handles, order numbers) or
conversations (message text), Chinese included, only what the caller may open
(docs/search.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from gateway.api.conversations_api import viewer
from gateway.api.http import ANY_USER, error, ok, requires
from gateway.api.schemas import Closed, Conversation
from gateway.appkeys import GATEWAY
from gateway.models import ConversationStatus
from gateway.search import Filters, Page, SearchUnavailable

routes = web.RouteTableDef()

MAX_QUERY = 200
MAX_LIMIT = 50
MAX_OFFSET = 1_000
KINDS = ("conversations", "customers")
STATUSES = {s.value for s in ConversationStatus}


class MatchExcerpt(Closed):
    seq: int = Field(description="the message that matched (its newest such)")
    direction: str
    created_at: int | None
    excerpt: str = Field(description="as the customer or agent wrote it: escape it")


class ConversationHit(Conversation):
    contact_name: str | None
    match: MatchExcerpt | None = Field(description="null when no recent message shows it")


class CustomerHit(Closed):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    tier: str | None
    identities: list[Any] = Field(description="the contact's identities, as stored")
    attrs: dict[str, Any] = Field(description="custom attributes (order numbers...)")
    latest_conversation_id: str | None = Field(
        description="the newest of its latest 50 conversations the caller may open"
    )


class SearchAnswer(Closed):
    kind: Literal["conversations", "customers"]
    query: str
    conversations: list[ConversationHit] | None = None
    customers: list[CustomerHit] | None = None
    offset: int
    limit: int
    has_more: bool
    truncated: bool = Field(description="stopped after the matches one search may read")
    indexing: bool = Field(description="the index is still being built: matches may be missing")


def _bad(field: str, message: str) -> web.HTTPException:
    return error(400, "invalid_field", f"{field}: {message}", field=field)


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, "must be an integer") from None
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}")
    return value


def _moment(request: web.Request, name: str, end_of_day: bool) -> int | None:
    """A date (YYYY-MM-DD, the whole UTC day), an ISO 8601 time or milliseconds -> ms."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            when = datetime.combine(day, time.max if end_of_day else time.min, UTC)
        else:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
    except ValueError:
        raise _bad(name, "a date (YYYY-MM-DD), an ISO 8601 time or milliseconds") from None
    return int(when.timestamp() * 1000)


def _text(request: web.Request, name: str, most: int = 100) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > most:
        raise _bad(name, f"at most {most} characters")
    return value or None


def _filters(request: web.Request) -> Filters:
    status = _text(request, "status")
    if status and status not in STATUSES:
        raise _bad("status", "one of " + ", ".join(sorted(STATUSES)))
    since, until = _moment(request, "from", False), _moment(request, "to", True)
    if since is not None and until is not None and since > until:
        raise _bad("to", "before from")
    return Filters(_text(request, "channel"), status, _text(request, "tag"), since, until)


@routes.get("/api/v1/search")
@requires(*ANY_USER)
async def search_everything(request: web.Request) -> web.Response:
    """?q= (1-200 characters), kind=conversations|customers, and for conversations the
    filters channel (id or type), status, tag, from, to; limit (1-50), offset (0-1000)."""
    q = request.query.get("q", "").strip()
    if not q:
        raise _bad("q", "write what to search for")
    if len(q) > MAX_QUERY:
        raise _bad("q", f"at most {MAX_QUERY} characters")
    kind = request.query.get("kind", "conversations")
    if kind not in KINDS:
        raise _bad("kind", "conversations or customers")
    limit = _number(request, "limit", 20, 1, MAX_LIMIT)
    offset = _number(request, "offset", 0, 0, MAX_OFFSET)
    filters = _filters(request)
    if kind == "customers" and filters != Filters():
        raise _bad("kind", "the filters channel, status, tag, from, to are for conversations")
    service = request.app[GATEWAY].search
    me = viewer(request)
    page: Page
    try:
        if kind == "customers":
            page = await service.customers(me, q, limit=limit, offset=offset)
        else:
            page = await service.conversations(me, q, filters, limit=limit, offset=offset)
    except SearchUnavailable as exc:  # the index is changing hands: seconds, not minutes
        failure = error(503, "search_unavailable", f"search is unavailable ({exc}); retry")
        failure.headers["Retry-After"] = "2"
        raise failure from None
    return ok({
        "kind": kind, "query": q, kind: page.items, "offset": offset, "limit": limit,
        "has_more": page.has_more, "truncated": page.truncated, "indexing": page.indexing,
    })  # fmt: skip


RESPONSES = {"GET /api/v1/search": SearchAnswer}
