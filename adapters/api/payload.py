"""The generic API channel's inbound JSON, validated and normalized (pure: no I/O)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage, now_ms


class Sender(BaseModel):
    id: str = Field(min_length=1, max_length=256)
    name: str | None = Field(None, max_length=256)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    tier: str | None = Field(None, max_length=32)


class InboundPayload(BaseModel):
    message_id: str = Field(min_length=1, max_length=256)
    sender: Sender
    thread_id: str | None = Field(None, max_length=256)
    text: str = Field("", max_length=20000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    sent_at: int | None = Field(None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)


def to_inbound(channel_id: str, payload: InboundPayload) -> InboundMessage:
    return InboundMessage(
        channel_id=channel_id,
        channel_type=Channel.API,
        external_id=payload.message_id,
        contact=ContactIdentity(
            external_id=payload.sender.id,
            name=payload.sender.name,
            email=payload.sender.email,
            phone=payload.sender.phone,
            tier=payload.sender.tier,
        ),
        thread_key=payload.thread_id or payload.sender.id,
        text=payload.text,
        attachments=payload.attachments,
        sent_at=payload.sent_at or now_ms(),
        meta={"thread_id": payload.thread_id or payload.sender.id, "metadata": payload.metadata},
    )
