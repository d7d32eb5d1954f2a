"""``/api/v1/contacts``: contact profiles (list, profile with every channel's conversations,
edit), merge and undo, merge suggestions from verified claims, and an admin's export and erase
(docs/contacts.md). Agents edit notes and attributes; name, tier and advisor are for
supervisors and admins."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.conversations_api import _int as query_int
from gateway.api.http import ANY_USER, STAFF, error, ok, parse, requires, session
from gateway.api.schemas import Closed, Conversation, Ms, Open
from gateway.appkeys import GATEWAY
from gateway.contacts import ContactPatch, Contacts, ContactsError
from gateway.conversations import Viewer
from gateway.models import Role

routes = web.RouteTableDef()


# --- answers (the OpenAPI document reads RESPONSES) -----------------------------------------
class IdentityRef(Closed):
    channel_id: str
    external_id: str
    channel_type: str | None = Field(
        None, description="one contact's profile only: the channel's type (None: deleted)"
    )
    channel_name: str | None = Field(None, description="and its name, as the admin set it")


class ContactProfile(Closed):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    tier: str | None
    advisor: str | None = Field(description="user id of the dedicated advisor")
    last_agent: str | None = Field(description="the sticky agent")
    notes: str
    attrs: dict[str, str] = Field(description="custom attributes, e.g. order numbers")
    identities: list[IdentityRef]
    merged_into: str | None = Field(description="a tombstone: merged into this contact")
    merge_id: str | None
    created_at: Ms | None
    merged_at: Ms | None
    erased_at: Ms | None


class ContactListed(ContactProfile):
    last_activity: Ms


class ContactList(Closed):
    contacts: list[ContactListed]
    next_before: Ms | None = Field(description="pass as ?before= for the next page")


class TimelineEvent(Open):
    type: str = Field(description="merge, undo, edit or erase")
    at: Ms
    actor: str


class ContactDetail(Closed):
    contact: ContactProfile
    conversations: list[Conversation] = Field(description="every channel, newest first")
    conversations_hidden: int = Field(description="those the caller may not open")
    timeline: list[TimelineEvent]


class ContactAnswer(Closed):
    contact: ContactProfile


class MergeRecord(Closed):
    id: str
    source: str
    target: str
    at: Ms
    actor: str
    conversations: int = Field(description="moved by the merge")
    identities: list[str]
    changes: dict[str, Any] = Field(description="target fields the merge set: before / after")
    undone_at: Ms | None
    moved_back: int | None = Field(description="conversations the undo gave back")


class MergeAnswer(Closed):
    merge: MergeRecord


class MergeSuggestion(Closed):
    claim: str
    kind: str = Field(description="email, phone or unionid")
    value: str
    contacts: list[ContactProfile]


class MergeSuggestions(Closed):
    suggestions: list[MergeSuggestion]


class DismissAnswer(Closed):
    dismissed: int = Field(description="pairs of contacts newly recorded as different people")


class ContactExport(Open):
    exported_at: Ms
    contact: ContactProfile
    identities: list[IdentityRef]
    notes: str
    attrs: dict[str, str]
    claims: list[str]
    timeline: list[TimelineEvent]
    conversations: list[dict[str, Any]] = Field(description="each with all of its messages")


class EraseCounts(Closed):
    conversations: int
    messages: int
    identities: int
    files: int
    merged_contacts: int


class EraseAnswer(Closed):
    erased: EraseCounts


RESPONSES = {
    "GET /api/v1/contacts": ContactList,
    "GET /api/v1/contacts/suggestions": MergeSuggestions,
    "POST /api/v1/contacts/suggestions/dismiss": DismissAnswer,
    "POST /api/v1/contacts/merge": MergeAnswer,
    "POST /api/v1/contacts/merges/{merge_id}/undo": MergeAnswer,
    "GET /api/v1/contacts/{id}": ContactDetail,
    "PATCH /api/v1/contacts/{id}": ContactAnswer,
    "GET /api/v1/contacts/{id}/suggestions": MergeSuggestions,
    "GET /api/v1/contacts/{id}/export": ContactExport,
    "POST /api/v1/contacts/{id}/erase": EraseAnswer,
}


# --- bodies -----------------------------------------------------------------------------------
class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=64, description="merged away (a tombstone)")
    target: str = Field(min_length=1, max_length=64, description="kept, gets everything")


class DismissBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contacts: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=2, max_length=20, description="the suggestion's contacts: different people"
    )


AGENT_FIELDS = {"notes", "attrs"}


def _contacts(request: web.Request) -> Contacts:
    return request.app[GATEWAY].contacts


async def _run(action: Any) -> Any:
    try:
        return await action
    except ContactsError as exc:
        raise error(exc.status, exc.code, str(exc)) from None


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A query number, or error(400, ...) naming it (the conversations API's rule)."""
    return query_int(request, name, default, low, high)


@routes.get("/api/v1/contacts")
@requires(*ANY_USER)
async def list_contacts(request: web.Request) -> web.Response:
    """Contacts by latest activity, newest first (?limit=, ?before= the previous next_before)."""
    limit = _int(request, "limit", 50, 1, 200)
    before = _int(request, "before", 0, 0, 2**62) or None
    contacts, next_before = await _contacts(request).list(limit=limit, before=before)
    return ok({"contacts": contacts, "next_before": next_before})


@routes.get("/api/v1/contacts/suggestions")
@requires(*ANY_USER)
async def list_suggestions(request: web.Request) -> web.Response:
    """Contacts sharing a verified email, phone or WeChat unionid (never a name alone)."""
    limit = _int(request, "limit", 50, 1, 200)
    return ok({"suggestions": await _contacts(request).suggestions(None, limit)})


@routes.post("/api/v1/contacts/suggestions/dismiss")
@requires(*ANY_USER)
async def dismiss_suggestion(request: web.Request) -> web.Response:
    """These contacts are different people: their merge suggestion is not shown again (until
    another contact shares the claim)."""
    body = await parse(request, DismissBody)
    return ok({"dismissed": await _run(_contacts(request).dismiss(body.contacts))})


@routes.post("/api/v1/contacts/merge")
@requires(*ANY_USER)
async def merge_contacts(request: web.Request) -> web.Response:
    """Merge the source contact into the target (undo: POST .../merges/{merge_id}/undo)."""
    body = await parse(request, MergeBody)
    user = session(request).user
    merge = await _run(_contacts(request).merge(body.source, body.target, user.id, user.name))
    return ok({"merge": merge})


@routes.post("/api/v1/contacts/merges/{merge_id}/undo")
@requires(*ANY_USER)
async def undo_merge(request: web.Request) -> web.Response:
    """Undo a merge: the source comes back with its identities and their conversations."""
    user = session(request).user
    merge_id = request.match_info["merge_id"]
    merge = await _run(_contacts(request).undo(merge_id, user.id, user.name))
    return ok({"merge": merge})


@routes.get("/api/v1/contacts/{id}")
@requires(*ANY_USER)
async def get_contact(request: web.Request) -> web.Response:
    """A contact: profile, identities, conversations on every channel, timeline."""
    user = session(request).user
    viewer = Viewer(user.id, user.role)
    detail = await _run(_contacts(request).get(request.match_info["id"], viewer))
    return ok(detail)


@routes.patch("/api/v1/contacts/{id}")
@requires(*ANY_USER)
async def patch_contact(request: web.Request) -> web.Response:
    """Edit name, tier, advisor (supervisors, admins), notes and attrs (every user)."""
    body = await parse(request, ContactPatch)
    user = session(request).user
    fields = set(body.model_dump(exclude_none=True))
    if not fields:
        raise error(400, "invalid_field", "nothing to change", field="body")
    if user.role not in STAFF and fields - AGENT_FIELDS:
        raise error(403, "forbidden", "agents may edit notes and attrs only")
    gw = request.app[GATEWAY]
    if body.advisor:
        advisor = await gw.users.get(body.advisor)
        if advisor is None:
            raise error(400, "invalid_field", "advisor: no such user", field="advisor")
    contact = await _run(_contacts(request).edit(request.match_info["id"], body, user.name))
    return ok({"contact": contact})


@routes.get("/api/v1/contacts/{id}/suggestions")
@requires(*ANY_USER)
async def contact_suggestions(request: web.Request) -> web.Response:
    """Contacts that share a verified claim with this one."""
    contact_id = request.match_info["id"]
    await _run(_contacts(request).require(contact_id))
    return ok({"suggestions": await _contacts(request).suggestions(contact_id)})


@routes.get("/api/v1/contacts/{id}/export")
@requires(Role.ADMIN)
async def export_contact(request: web.Request) -> web.Response:
    """Everything about one contact as JSON (PIPL / GDPR access request)."""
    data = await _run(_contacts(request).privacy.export(request.match_info["id"]))
    return ok(data)


@routes.post("/api/v1/contacts/{id}/erase")
@requires(Role.ADMIN)
async def erase_contact(request: web.Request) -> web.Response:
    """Erase a contact: messages redacted, identities removed; reports keep counts."""
    user = session(request).user
    counts = await _run(_contacts(request).privacy.erase(request.match_info["id"], user.name))
    return ok({"erased": counts})
