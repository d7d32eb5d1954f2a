"""Core types shared by adapters, inbox, router and API. Imports nothing else of the project."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


def now_ms() -> int:
    return int(time.time() * 1000)


class Channel(StrEnum):
    """Channel types; one adapter class each (see adapters/registry.py)."""

    API = "api"
    WEBCHAT = "webchat"
    WECHAT_OA = "wechat_oa"
    WECOM_KF = "wecom_kf"
    EMAIL = "email"
    X = "x"
    MASTODON = "mastodon"
    WEIBO = "weibo"
    QQ = "qq"


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Direction(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # reply to the customer
    NOTE = "note"  # internal note, never sent
    EVENT = "event"  # system line (assigned, transferred, resolved...)


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Attachment(BaseModel):
    kind: str = "file"  # image, voice, video, file, location, link
    url: str | None = None  # where the gateway stored or the platform serves it
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class ContactIdentity(BaseModel):
    """Who wrote, as the channel knows them (openid, email address, handle, visitor id)."""

    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tier: str | None = None  # e.g. "vip"; used by classification


class InboundMessage(BaseModel):
    """What every adapter hands to the inbox."""

    channel_id: str
    channel_type: Channel
    external_id: str  # platform message id: the dedupe key within the channel
    contact: ContactIdentity
    thread_key: str  # messages with the same key belong to one conversation
    text: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    sent_at: int = Field(default_factory=now_ms)  # ms since epoch
    meta: dict[str, Any] = Field(default_factory=dict)  # channel specifics the reply needs
    raw: dict[str, Any] | None = None


class OutboundMessage(BaseModel):
    """What the outbox hands to an adapter's send()."""

    message_id: str  # "<conversation_id>:<seq>", stable across retries: an idempotency key
    conversation_id: str
    channel_id: str
    contact_external_id: str
    thread_key: str
    text: str
    author_name: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    # The inbound message's meta of the conversation's latest customer message (reply-to ids etc.).
    reply_context: dict[str, Any] = Field(default_factory=dict)


class Contact(BaseModel):
    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tier: str | None = None
    identities: list[str] = Field(default_factory=list)  # "<channel_id>:<external_id>"
    created_at: int = 0


class Conversation(BaseModel):
    id: str
    contact_id: str
    channel_id: str
    channel_type: Channel
    thread_key: str
    status: ConversationStatus = ConversationStatus.OPEN
    priority: str = "normal"
    priority_rule: str | None = None
    team: str | None = None
    skills: list[str] = Field(default_factory=list)
    language: str | None = None
    assignee: str | None = None
    offered_to: str | None = None
    created_at: int = 0
    updated_at: int = 0
    last_inbound_at: int = 0
    first_response_at: int | None = None
    first_response_due: int | None = None
    resolved_at: int | None = None
    snoozed_until: int | None = None
    last_seq: int = 0
    subject: str | None = None


class Message(BaseModel):
    conversation_id: str
    seq: int
    direction: Direction
    text: str = ""
    author_id: str | None = None  # user id for agents, contact id for customers
    author_name: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    external_id: str | None = None
    client_id: str | None = None
    created_at: int = 0
    delivery: DeliveryState | None = None
    delivery_error: str | None = None
    platform_message_id: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Agent(BaseModel):
    id: str
    name: str
    status: AgentStatus = AgentStatus.OFFLINE
    capacity: int = 5
    skills: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class User(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    capacity: int = 5
    teams: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    created_at: int = 0
