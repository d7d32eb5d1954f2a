"""``/api/v1/kb``: articles (admins and supervisors write, every user reads and searches),
synonyms (admins), import and export (CSV, Markdown)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.canned_api import _all as all_canned
from gateway.api.canned_api import _variables as canned_variables
from gateway.api.canned_api import render as render_canned
from gateway.api.http import ANY_USER, STAFF, error, ok, parse, requires, session
from gateway.api.schemas import Canned, Closed, Found
from gateway.appkeys import GATEWAY
from gateway.channels import ChannelNotFound
from gateway.kb import transfer
from gateway.kb.articles import MAX_ARTICLES, ArticleBody, ArticlePatch, Articles, KbError
from gateway.kb.reports import report
from gateway.kb.selfservice import CHAT_CHANNELS
from gateway.kb.service import KnowledgeBase
from gateway.kb.suggest import customer_profile, latest_customer_text, rank_canned
from gateway.models import Role, now_ms

routes = web.RouteTableDef()


class ModeBody(BaseModel):
    mode: str = Field(pattern="^(off|always|after_hours)$", description="self-service answers")


class SynonymsBody(BaseModel):
    groups: list[list[str]] = Field(
        max_length=2000, description="each group's terms read as its first one"
    )


def _kb(request: web.Request) -> KnowledgeBase:
    return request.app[GATEWAY].kb


async def _run(action: Any) -> Any:
    try:
        return await action
    except KbError as exc:
        raise error(exc.status, exc.code, str(exc)) from None


def _limit(request: web.Request, name: str, default: int, most: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise error(400, "invalid_field", f"{name}: a whole number", field=name) from None
    return max(1, min(value, most))


@routes.get("/api/v1/kb/articles")
@requires(*ANY_USER)
async def list_articles(request: web.Request) -> web.Response:
    """Articles by title; ``?q=`` searches (best first), ``?language=``, ``?tag=``,
    ``?product=`` filter; ``?limit=`` (100, at most 500), ``?offset=``."""
    kb = _kb(request)
    query = request.query.get("q", "").strip()
    limit = _limit(request, "limit", 100, 500)
    offset = _limit(request, "offset", 0, 10**6) if request.query.get("offset") else 0
    if query:
        found = kb.search(query, min(offset + limit, 50))
        items = [{**a, "match": m.as_dict()} for m, a in found]
    else:
        items = sorted(kb.retriever.articles.values(), key=lambda a: (a["title"], a["id"]))
    for name in ("language", "product"):
        if value := request.query.get(name):
            items = [a for a in items if (a.get(name) or "") == value]
    if tag := request.query.get("tag"):
        items = [a for a in items if tag in (a.get("tags") or [])]
    return ok({"articles": items[offset : offset + limit], "total": len(items)})


@routes.get("/api/v1/kb/search")
@requires(*ANY_USER)
async def search(request: web.Request) -> web.Response:
    """The best articles for ``?q=`` (``?k=`` of them, 3 by default), each with its match
    figures: score, coverage, margin, confidence, and whether self-service would answer."""
    query = request.query.get("q", "").strip()
    if not query:
        raise error(400, "invalid_field", "q: required", field="q")
    found = _kb(request).search(query[:2000], _limit(request, "k", 3, 20))
    return ok({"results": [{"article": a, "match": m.as_dict()} for m, a in found]})


@routes.post("/api/v1/kb/articles")
@requires(*STAFF)
async def create_article(request: web.Request) -> web.Response:
    body = await parse(request, ArticleBody)
    kb = _kb(request)
    article = await _run(kb.articles.create(body, session(request).user.name))
    await kb.changed()
    return ok({"article": article}, status=201)


@routes.get("/api/v1/kb/articles/{id}")
@requires(*ANY_USER)
async def get_article(request: web.Request) -> web.Response:
    article = await _run(_kb(request).articles.get(request.match_info["id"]))
    return ok({"article": article})


@routes.patch("/api/v1/kb/articles/{id}")
@requires(*STAFF)
async def patch_article(request: web.Request) -> web.Response:
    body = await parse(request, ArticlePatch)
    kb = _kb(request)
    try:
        article = await kb.articles.update(
            request.match_info["id"], body, session(request).user.name
        )
    except KbError as exc:
        raise error(exc.status, exc.code, str(exc)) from None
    except ValueError as exc:  # the merged article is invalid (a blank title)
        raise error(400, "invalid_field", str(exc).splitlines()[0]) from None
    await kb.changed()
    return ok({"article": article})


@routes.delete("/api/v1/kb/articles/{id}")
@requires(*STAFF)
async def delete_article(request: web.Request) -> web.Response:
    kb = _kb(request)
    await _run(kb.articles.delete(request.match_info["id"]))
    await kb.changed()
    return ok({"deleted": request.match_info["id"]})


@routes.get("/api/v1/kb/synonyms")
@requires(*ANY_USER)
async def get_synonyms(request: web.Request) -> web.Response:
    return ok({"groups": await _kb(request).articles.synonyms()})


@routes.put("/api/v1/kb/synonyms")
@requires(Role.ADMIN)
async def put_synonyms(request: web.Request) -> web.Response:
    """Replace the synonym groups: ``{"groups": [["退款", "退钱", "refund"], ...]}``."""
    body = await parse(request, SynonymsBody)
    kb = _kb(request)
    groups = await _run(kb.articles.set_synonyms(body.groups))
    await kb.changed()
    return ok({"groups": groups})


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv").lower()
    fmt = "markdown" if fmt in ("md", "markdown") else fmt
    if fmt not in transfer.FORMATS:
        raise error(400, "invalid_field", "format: csv or markdown", field="format")
    return fmt


@routes.post("/api/v1/kb/import")
@requires(*STAFF)
async def import_articles(request: web.Request) -> web.Response:
    """The file as the body (UTF-8), ``?format=csv|markdown``; ``?dry_run=1`` only checks.
    Any problem: 400 with every row's problems and nothing written."""
    fmt = _format(request)
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(400, "invalid_file", "the file must be UTF-8 text") from None
    parsed = transfer.parse(text, fmt)
    if not parsed.rows and not parsed.errors:
        parsed.errors.append({"row": 1, "field": "file", "message": "no articles found"})
    if parsed.errors:
        raise error(
            400, "invalid_rows", f"{len(parsed.errors)} problem(s); nothing imported",
            rows=parsed.errors,
        )  # fmt: skip
    kb = _kb(request)
    existing = {a["id"]: a for a in await kb.articles.all()}
    author = session(request).user.name
    out, created, updated = [], 0, 0
    for _line, article_id, body in parsed.rows:
        before = existing.get(article_id or "")
        article = Articles.new(body, author, article_id)
        if before is not None:
            article["created_at"] = before["created_at"]
            updated += 1
        else:
            created += 1
        out.append(article)
    if len(existing) + created > MAX_ARTICLES:
        raise error(409, "too_many", f"at most {MAX_ARTICLES} articles")
    if request.query.get("dry_run") not in ("1", "true"):
        await kb.articles.save_many(out)
        await kb.changed()
    return ok({"created": created, "updated": updated, "ids": [a["id"] for a in out]})


@routes.get("/api/v1/kb/export")
@requires(*STAFF)
async def export_articles(request: web.Request) -> web.Response:
    """Every article as a CSV (UTF-8 with BOM) or Markdown file (``?format=``)."""
    fmt = _format(request)
    articles = await _kb(request).articles.all()
    if fmt == "csv":
        body, ctype, ext = transfer.to_csv(articles), "text/csv", "csv"
    else:
        body, ctype, ext = transfer.to_markdown(articles), "text/markdown", "md"
    stamp = now_ms() // 1000
    return web.Response(
        text=body,
        content_type=ctype,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="kb-{stamp}.{ext}"'},
    )


@routes.get("/api/v1/kb/selfservice")
@requires(*STAFF)
async def get_selfservice(request: web.Request) -> web.Response:
    """Each chat-like channel with its self-service mode (off, always, after_hours: outside
    the ``business`` calendar of the SLA policy)."""
    gw = request.app[GATEWAY]
    modes = await gw.selfservice.modes()
    channels = [
        {"channel_id": c["id"], "name": c.get("name"), "type": c["type"],
         "mode": modes.get(c["id"], "off")}
        for c in await gw.channel_store.list()
        if c["type"] in CHAT_CHANNELS
    ]  # fmt: skip
    return ok({"channels": channels})


@routes.put("/api/v1/kb/selfservice/{channel_id}")
@requires(Role.ADMIN)
async def put_selfservice(request: web.Request) -> web.Response:
    body = await parse(request, ModeBody)
    gw = request.app[GATEWAY]
    channel_id = request.match_info["channel_id"]
    try:
        channel = await gw.channel_store.get(channel_id)
    except ChannelNotFound:
        raise error(404, "not_found", "no such channel") from None
    if channel["type"] not in CHAT_CHANNELS:
        raise error(400, "invalid_field", "mode: only chat-like channels", field="mode")
    await gw.selfservice.set_mode(channel_id, body.mode)
    return ok({"channel_id": channel_id, "mode": body.mode})


@routes.get("/api/v1/kb/reports")
@requires(*STAFF)
async def kb_reports(request: web.Request) -> web.Response:
    """Self-service over the last ``?days=`` (30; days of the deployment's zone): by channel
    (considered, answered, solved, closed without reply, handed off, rate), hand-offs by reason,
    the questions with no good article, and the articles customers marked helpful / unhelpful."""
    gw = request.app[GATEWAY]
    days = _limit(request, "days", 30, 400)
    articles = gw.kb.retriever.articles
    return ok(await report(gw.redis, gw.keys, articles, days, gw.settings.zone_name))


@routes.get("/api/v1/kb/suggestions")
@requires(*ANY_USER)
async def suggestions(request: web.Request) -> web.Response:
    """For ``?conversation_id=``: the three articles and canned responses (rendered for the
    conversation) best matching the customer's latest messages, with each article's match
    figures, and the customer's tags and products from earlier conversations."""
    gw = request.app[GATEWAY]
    conversation_id = request.query.get("conversation_id", "")
    # The canned responses' variables: 404 / 403 unless the user may view the conversation.
    values = await canned_variables(request, conversation_id)
    conv = await gw.conversations.get(conversation_id)
    text = await latest_customer_text(
        gw.redis, gw.keys, conversation_id, int(conv.get("last_seq") or 0)
    )
    found = gw.kb.search(text, 3) if text else []
    articles = [{"article": a, "match": m.as_dict()} for m, a in found]
    items = await all_canned(request)
    canned = [{**c, "rendered": render_canned(c["text"], values)} for c in items]
    return ok(
        {
            "question": text,
            "articles": articles,
            "canned": rank_canned(gw.kb, canned, text),
            "customer": await customer_profile(
                gw.redis, gw.keys, str(conv.get("contact_id") or ""), conversation_id
            ),
        }
    )


# --- answer schemas of the routes above that gateway/api/schemas.py does not name -------------
class ChannelMode(Closed):
    channel_id: str
    name: str | None
    type: str
    mode: str = Field(description="off, always or after_hours")


class SelfServiceModes(Closed):
    channels: list[ChannelMode]


class ModeAnswer(Closed):
    channel_id: str
    mode: str


class CannedSuggestion(Canned):
    score: float = Field(description="BM25 of the customer's latest messages")


class Customer(Closed):
    tags: list[str] = Field(description="of earlier conversations, most recent first")
    products: list[str]


class Suggestions(Closed):
    question: str = Field(description="the customer's latest messages, joined")
    articles: list[Found]
    canned: list[CannedSuggestion]
    customer: Customer


class ChannelFigures(Closed):
    considered: int
    answered: int
    solved: int
    closed: int = Field(description="resolved after the customer stayed silent")
    handed_off: int
    rate: float | None = Field(description="(solved + closed) / considered")


class Gap(Closed):
    question: str = Field(description="folded")
    count: int
    sample: str | None
    channel: str | None
    at: int | None


class Rated(Closed):
    article_id: str
    title: str | None
    helpful: int
    unhelpful: int


class KbReport(Closed):
    days: int
    by_channel: dict[str, ChannelFigures]
    handoffs: dict[str, int]
    gaps: list[Gap]
    articles: list[Rated]


RESPONSES = {
    "GET /api/v1/kb/selfservice": SelfServiceModes,
    "PUT /api/v1/kb/selfservice/{channel_id}": ModeAnswer,
    "GET /api/v1/kb/suggestions": Suggestions,
    "GET /api/v1/kb/reports": KbReport,
}
