"""Response models of /api/v1: what each handler answers with on success, for the OpenAPI
document (``RESPONSES``, read by gateway/api/openapi.py). The handlers build their bodies as
dicts; these models only describe them, exactly as they are today.

Objects the API builds itself (envelopes, users, channels, canned responses, report rows) are
closed (``additionalProperties: false``): a field added, renamed or dropped shows up as drift in
tests/security/test_openapi_responses.py. Objects that are a stored record passed through (a
conversation's or a contact's Redis hash, an incident, a message's ``meta``, a channel's
``info``, an SLA class, a classification rule) are open: the fields below are always what they
say, and a record may carry more.

Some fields keep the type their store gives them, documented as they are: a contact's fields are
all strings (``created_at`` too); in a conversation ``resolution_due``, ``queue_due`` and
``next_response_due`` are strings of milliseconds (``first_response_due`` is a number) and
``tags`` is a JSON array in a string; an incident's ``bulk_last`` is a JSON object in a string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.registry import adapter_class, available_types
from gateway import models
from gateway.kb.articles import ArticleBody
from gateway.models import AgentStatus, Channel, ConversationStatus, Direction, Role
from gateway.surveys import AftercareSettings

Ms = int  # milliseconds since the epoch


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- common -------------------------------------------------------------------------------
class Ok(Closed):
    ok: bool


class Deleted(Closed):
    deleted: str = Field(description="the id of what was deleted")


# --- auth and users -------------------------------------------------------------------------
class User(models.User):
    model_config = ConfigDict(extra="forbid")


class UserListed(User):
    """A user with presence, as ``GET /users`` lists them."""

    status: AgentStatus
    load: float


class UserAnswer(Closed):
    user: User


class UserList(Closed):
    users: list[UserListed]


class Login(Closed):
    token: str = Field(description="send as Authorization: Bearer <token>")
    expires_at: Ms
    user: User


class Me(Closed):
    user: User
    expires_at: Ms


# --- presence -------------------------------------------------------------------------------
class Presence(Closed):
    status: AgentStatus
    load: float
    capacity: float


class AgentCard(Closed):
    id: str
    name: str
    role: Role
    teams: list[str]
    status: AgentStatus
    load: float
    capacity: float


class AgentList(Closed):
    agents: list[AgentCard]


# --- channels (credentials never come back) ----------------------------------------------------
def _secret_names() -> list[str]:
    return sorted({f for t in available_types() for f in adapter_class(t).secret_fields})


class ChannelInfo(Open):
    """Public facts of a running channel (each type may add its own, e.g. web chat's
    ``widget_snippet``); never secrets."""

    max_text_length: int | None
    supports_attachments: bool
    reply_window_seconds: float | None
    public_replies: bool


class ChannelOut(Closed):
    id: str
    type: Channel
    name: str
    enabled: bool
    config: dict[str, Any] = Field(
        description="the type's config without its secret fields (GET /channel-types)",
        json_schema_extra={"propertyNames": {"not": {"enum": _secret_names()}}},
    )
    credentials_set: list[str] = Field(description="which secret fields are set")
    created_at: Ms
    updated_at: Ms
    running: bool
    webhook_base: str
    info: ChannelInfo | None = Field(description="null while the channel is not running")


class ChannelAnswer(Closed):
    channel: ChannelOut


class ChannelList(Closed):
    channels: list[ChannelOut]


class ChannelType(Closed):
    type: Channel
    secret_fields: list[str]
    config_schema: dict[str, Any] = Field(alias="schema", description="JSON schema of config")


class ChannelTypes(Closed):
    types: list[ChannelType]


class Verified(Closed):
    ok: bool
    reason: str | None = Field(None, description="why the platform refused (ok: false)")


# --- conversations and messages ---------------------------------------------------------------
class Conversation(Open):
    """A conversation as stored (its Redis hash): numbers are the fields listed as integers;
    other stored fields are strings."""

    id: str
    contact_id: str
    channel_id: str
    channel_type: Channel
    thread_key: str
    status: ConversationStatus
    priority: str = Field(description="the SLA class")
    priority_rule: str | None
    assignee: str | None
    offered_to: str | None
    team: str | None
    subject: str | None
    last_agent: str | None
    created_at: Ms
    updated_at: Ms | None
    last_seq: int | None
    contact_external_id: str | None = None
    weight: float | None = None
    priority_rank: int | None = None
    skills: str | None = None
    language: str | None = None
    last_inbound_at: Ms | None = None
    first_response_at: Ms | None = None
    first_response_due: Ms | None = None
    resolved_at: Ms | None = None
    snoozed_until: Ms | None = None
    offer_expires_at: Ms | None = None
    assigned_at: Ms | None = None
    waiting_since: Ms | None = None
    last_outbound_at: Ms | None = None
    resolution_due: str | None = Field(None, description="milliseconds, as a string")
    queue_due: str | None = Field(None, description="milliseconds, as a string")
    next_response_due: str | None = Field(None, description="milliseconds, as a string")
    first_wait_start: str | None = None
    paused_at: str | None = None
    tags: str | None = Field(None, description="a JSON array of tags, as a string")
    product: str | None = None
    sticky_agent: str | None = None
    advisor: str | None = None
    reopened: str | None = None
    incident_id: str | None = None
    incident_item: str | None = Field(None, description='"1": the item of an incident')


class LastMessage(Closed):
    direction: Direction
    text: str = Field(description="one line, at most 140 characters")
    author_id: str | None
    author_name: str | None
    created_at: Ms
    attachments: int


class ConversationListed(Conversation):
    activity_at: Ms | None = Field(
        None, description="its latest activity: its place in the order (sort=activity)"
    )
    contact_name: str | None
    assignee_name: str | None
    sla_due: Ms | None = Field(description="the deadline the console counts down to")
    unread: int = Field(description="the customer's messages after the caller's read position")
    unread_capped: bool = Field(description="more unread than counted (20)")
    last_message: LastMessage | None = Field(description="the latest reply or customer message")


class ReadPosition(Closed):
    conversation_id: str
    seq: int


class TagsInUse(Closed):
    tags: list[str]


class ConversationList(Closed):
    conversations: list[ConversationListed]
    next_before: Ms | None = Field(
        description="pass as before (with next_before_id as before_id) for the next page; null: "
        "no more"
    )
    next_before_id: str | None


class ConversationAnswer(Closed):
    conversation: Conversation


class Contact(Open):
    """The customer as stored (a Redis hash): every value a string."""

    id: str
    created_at: str = Field(description="milliseconds, as a string")
    identities: str = Field(
        description="its channel identities, one <channel_id>:<external_id> a line (several "
        "after a merge; docs/contacts.md)"
    )
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tier: str | None = None


class ConversationDetail(Closed):
    conversation: Conversation
    contact: Contact
    history: list[Conversation] = Field(
        description="the contact's other conversations the caller may open"
    )
    history_hidden: int = Field(description="how many of them were left out")
    channel: ChannelInfo | None
    suggested_reply: str | None = Field(
        description="a mention of an open incident: the incident's approved statement"
    )


class Attachment(Closed):
    kind: str = Field(description="image, voice, video, file, location, link")
    url: str | None = None
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Message(Open):
    conversation_id: str
    seq: int
    direction: Direction
    text: str
    author_id: str | None
    author_name: str | None
    attachments: list[Attachment]
    created_at: Ms
    meta: dict[str, Any]
    external_id: str | None = Field(None, description="the platform's id (inbound)")
    delivery: Literal["queued", "sent", "failed"] | None = Field(None, description="replies")
    delivery_error: str | None = None
    platform_message_id: str | None = None
    attempts: int | None = None
    replayed: bool | None = Field(
        None, description="answering a repeated client_id: stored by the first request"
    )


class MessageList(Closed):
    messages: list[Message]
    last_seq: int


class MessageAnswer(Closed):
    message: Message


class UploadedFile(Closed):
    """Put it as is in a reply's ``attachments``."""

    kind: Literal["image", "file"]
    url: str
    name: str
    content_type: str
    size: int
    meta: dict[str, Any]


class Upload(Closed):
    attachment: UploadedFile


class Waiting(Closed):
    conversation_id: str
    due: Ms


class Queue(Closed):
    length: int
    waiting: list[Waiting]


class Tags(Closed):
    conversation_id: str
    tags: list[str]
    product: str | None


# --- canned responses -----------------------------------------------------------------------
class Canned(Closed):
    id: str
    shortcut: str
    title: str
    text: str
    created_at: Ms
    updated_at: Ms
    rendered: str | None = Field(None, description="with ?conversation_id=: the text for it")


class CannedList(Closed):
    canned: list[Canned]


class CannedAnswer(Closed):
    canned: Canned


# --- SLA policy and classification rules --------------------------------------------------------
PerChannel = dict[str, float]  # channel type (or "default") -> seconds


class SlaClass(Open):
    name: str
    description: str
    first_response: PerChannel
    next_response: PerChannel
    resolution: PerChannel
    supervisor: bool
    calendar: dict[str, str]
    queue_target: PerChannel | None = None
    queue_first: bool | None = None
    max_wait: PerChannel | None = None
    widen: bool | None = None


class Calendar(Open):
    timezone: str
    hours: dict[str, str]
    holidays: list[str]


class EscalationStep(Open):
    after: float
    action: str


class Escalation(Open):
    steps: list[EscalationStep]
    raise_to: dict[str, str] = Field(alias="raise")


class Routing(Open):
    sticky_wait_seconds: float
    advisor_wait_seconds: float
    light_lookahead_seconds: float
    parity_window_minutes: float
    parity_gain: float
    parity_max_credit_seconds: float


class SlaPolicy(Open):
    classes: list[SlaClass]
    weights: dict[str, float] = Field(description="channel type (or default) -> weight")
    calendars: dict[str, Calendar]
    escalation: Escalation
    routing: Routing


class SlaAnswer(Closed):
    policy: SlaPolicy
    source: Literal["file", "redis"] = Field(description="config/sla.toml or an admin's copy")


class ChannelDefault(Open):
    class_name: str | None = Field(None, alias="class")
    team: str | None = None


class Repeat(Open):
    count: int
    window_hours: float


class Rule(Open):
    name: str
    class_name: str | None = Field(None, alias="class")
    keywords: list[str] | None = None
    patterns: list[str] | None = None
    tiers: list[str] | None = None
    meta_flags: list[str] | None = None
    channels: list[str] | None = None
    repeat: Repeat | None = None
    team: str | None = None
    skills: list[str] | None = None
    language: str | None = None


class RulesDoc(Closed):
    default_class: str
    channel_defaults: dict[str, ChannelDefault]
    rules: list[Rule]


class RulesAnswer(Closed):
    rules: RulesDoc
    source: Literal["file", "redis"] = Field(description="config/priority_rules.toml or not")


# --- reports --------------------------------------------------------------------------------
class SummaryRow(Closed):
    group: str
    key: str
    volume: int
    first_response_p50: float | None = Field(description="seconds")
    first_response_p90: float | None
    within_target: float | None = Field(description="share, 0-1")
    resolution_p50: float | None
    resolution_p90: float | None
    sla_attainment: float | None
    reopen_rate: float | None
    csat_score: float | None
    csat_average: float | None
    csat_response_rate: float | None
    name: str | None = Field(None, description="by=agent")
    occupancy: float | None = Field(None, description="by=agent")


class Summary(Closed):
    start: Ms = Field(alias="from")
    end: Ms = Field(alias="to")
    by: str
    rows: list[SummaryRow]


class HeatCell(Closed):
    tag: str
    product: str
    week: str = Field(description="ISO week, e.g. 2026-W49")
    count: int


class Heatmap(Closed):
    start: Ms = Field(alias="from")
    end: Ms = Field(alias="to")
    rows: list[HeatCell]


class SpikeAlert(Closed):
    type: Literal["mention_spike"]
    channel_id: str
    channel_type: str
    bucket_start: Ms
    bucket_seconds: int
    count: int
    baseline: float
    factor: float
    min_count: int
    post_id: str | None
    url: str | None
    raised_at: Ms


class UnreadableAlert(Closed):
    raw: str


class QueueRow(Closed):
    priority: str
    waiting: int
    oldest_wait_seconds: float


class LiveAgent(Closed):
    id: str
    name: str
    status: str
    load: float
    capacity: float


class AtRisk(Closed):
    conversation_id: str
    clock: Literal["first_response", "next_response", "resolution"]
    due: Ms
    overdue: bool
    priority: str | None
    channel_type: str | None
    assignee: str | None


class LiveSpike(Closed):
    channel_id: str
    bucket: Ms
    alert: SpikeAlert | UnreadableAlert


class Live(Closed):
    now: Ms
    queue: list[QueueRow]
    agents: list[LiveAgent]
    sla_at_risk: list[AtRisk]
    mention_spikes: list[LiveSpike]


class Bucket(Closed):
    t: Ms
    count: int


class ChannelMentions(Closed):
    channel_id: str
    total: int
    series: list[Bucket]
    alerts: list[SpikeAlert]


class Mentions(Closed):
    bucket_seconds: int
    start: Ms
    end: Ms
    channels: list[ChannelMentions]


# --- incidents ------------------------------------------------------------------------------
class IncidentCounts(Closed):
    mentions: int
    waiting: int
    answered: int
    resolved: int


class Incident(Open):
    """An incident as stored (a Redis hash); times are numbers, other fields strings."""

    id: str
    channel_id: str
    channel_type: str
    status: Literal["open", "resolved"]
    mentions: int
    created_at: Ms
    updated_at: Ms
    first_mention_at: Ms
    last_mention_at: Ms
    conversation_id: str | None = Field(None, description="its item, which a senior takes")
    title: str | None = None
    taken_by: str | None = None
    taken_at: Ms | None = None
    statement: str | None = None
    statement_by: str | None = None
    statement_by_name: str | None = None
    statement_at: Ms | None = None
    resolved_at: Ms | None = None
    resolved_by: str | None = None
    bulk_replied_at: str | None = Field(None, description="milliseconds, as a string")
    bulk_last: str | None = Field(None, description="the last bulk reply's counts, as JSON")


class IncidentDetail(Incident):
    counts: IncidentCounts


class IncidentList(Closed):
    incidents: list[Incident]


class IncidentAnswer(Closed):
    incident: IncidentDetail


class BulkReply(Closed):
    queued: int
    skipped_answered: int
    skipped_resolved: int
    resolved: int


# --- knowledge base -------------------------------------------------------------------------
class KbMatch(Open):
    article_id: str
    score: float
    coverage: float
    margin: float
    confidence: float
    confident: bool = Field(description="whether self-service would answer with it")


class Article(ArticleBody):
    """An article as stored; listed with ``?q=`` it also has its ``match``."""

    model_config = ConfigDict(extra="allow")

    id: str
    created_at: Ms
    updated_at: Ms
    updated_by: str
    match: KbMatch | None = None


class ArticleList(Closed):
    articles: list[Article]
    total: int


class ArticleAnswer(Closed):
    article: Article


class Found(Closed):
    article: Article
    match: KbMatch


class KbSearch(Closed):
    results: list[Found]


class Synonyms(Closed):
    groups: list[list[str]]


class Imported(Closed):
    created: int
    updated: int
    ids: list[str]


# --- the document itself ----------------------------------------------------------------------
class OpenAPIDocument(Open):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


# "METHOD path" -> the model of the success answer's JSON body. None: a WebSocket (101, no body);
# str: a file (FILES names its media types).
RESPONSES: dict[str, type[BaseModel] | type[str] | None] = {
    "GET /api/v1/openapi.json": OpenAPIDocument,
    "GET /api/v1/ws": None,
    "POST /api/v1/auth/login": Login,
    "POST /api/v1/auth/logout": Ok,
    "GET /api/v1/auth/me": Me,
    "GET /api/v1/conversations": ConversationList,
    "GET /api/v1/conversations/{id}": ConversationDetail,
    "GET /api/v1/conversations/{id}/messages": MessageList,
    "POST /api/v1/conversations/{id}/messages": MessageAnswer,
    "POST /api/v1/conversations/{id}/attachments": Upload,
    "POST /api/v1/conversations/{id}/messages/{seq}/retry": MessageAnswer,
    "POST /api/v1/conversations/{id}/accept": ConversationAnswer,
    "POST /api/v1/conversations/{id}/decline": Ok,
    "POST /api/v1/conversations/{id}/resolve": ConversationAnswer,
    "POST /api/v1/conversations/{id}/transfer": ConversationAnswer,
    "POST /api/v1/conversations/{id}/snooze": ConversationAnswer,
    "PUT /api/v1/conversations/{id}/tags": Tags,
    "POST /api/v1/conversations/{id}/read": ReadPosition,
    "GET /api/v1/tags": TagsInUse,
    "GET /api/v1/queue": Queue,
    "GET /api/v1/agents": AgentList,
    "GET /api/v1/agents/me/status": Presence,
    "PUT /api/v1/agents/me/status": Presence,
    "GET /api/v1/channel-types": ChannelTypes,
    "POST /api/v1/channels": ChannelAnswer,
    "GET /api/v1/channels": ChannelList,
    "GET /api/v1/channels/{id}": ChannelAnswer,
    "PATCH /api/v1/channels/{id}": ChannelAnswer,
    "DELETE /api/v1/channels/{id}": Deleted,
    "POST /api/v1/channels/{id}/verify": Verified,
    "POST /api/v1/users": UserAnswer,
    "GET /api/v1/users": UserList,
    "PATCH /api/v1/users/{id}": UserAnswer,
    "DELETE /api/v1/users/{id}": Deleted,
    "GET /api/v1/canned": CannedList,
    "POST /api/v1/canned": CannedAnswer,
    "PATCH /api/v1/canned/{id}": CannedAnswer,
    "DELETE /api/v1/canned/{id}": Deleted,
    "GET /api/v1/sla/classes": SlaAnswer,
    "PUT /api/v1/sla/classes": SlaAnswer,
    "DELETE /api/v1/sla/classes": SlaAnswer,
    "GET /api/v1/sla/rules": RulesAnswer,
    "PUT /api/v1/sla/rules": RulesAnswer,
    "DELETE /api/v1/sla/rules": RulesAnswer,
    "GET /api/v1/reports/mentions": Mentions,
    "GET /api/v1/reports/summary": Summary,
    "GET /api/v1/reports/heatmap": Heatmap,
    "GET /api/v1/reports/live": Live,
    "GET /api/v1/reports/settings": AftercareSettings,
    "PUT /api/v1/reports/settings": AftercareSettings,
    "GET /api/v1/incidents": IncidentList,
    "GET /api/v1/incidents/{id}": IncidentAnswer,
    "PATCH /api/v1/incidents/{id}": IncidentAnswer,
    "POST /api/v1/incidents/{id}/reply": BulkReply,
    "GET /api/v1/kb/articles": ArticleList,
    "POST /api/v1/kb/articles": ArticleAnswer,
    "GET /api/v1/kb/search": KbSearch,
    "GET /api/v1/kb/articles/{id}": ArticleAnswer,
    "PATCH /api/v1/kb/articles/{id}": ArticleAnswer,
    "DELETE /api/v1/kb/articles/{id}": Deleted,
    "GET /api/v1/kb/synonyms": Synonyms,
    "PUT /api/v1/kb/synonyms": Synonyms,
    "POST /api/v1/kb/import": Imported,
    "GET /api/v1/kb/export": str,
}

# Routes that answer a file, not JSON: its media types.
FILES = {"GET /api/v1/kb/export": ["text/csv", "text/markdown"]}

# Reports that answer CSV instead with ?format=csv.
CSV = {"GET /api/v1/reports/summary", "GET /api/v1/reports/heatmap", "GET /api/v1/reports/live"}
