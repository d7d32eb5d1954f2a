"""The generic API channel's inbound JSON, validated and normalized (pure: no I/O)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_validator

from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage, now_ms

LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# 1973-03-03T09:46:40Z. Below it a value is almost surely seconds: every time from 2001 to 2286
# in seconds (10 digits) read as milliseconds falls in the first months of 1970, and a message
# filed there sorts and reports as 56 years old.
FIRST_MS = 100_000_000_000


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
    # Milliseconds since the epoch, up to the end of year 9999: a larger one was filed and
    # lost precision wherever a browser read it (JavaScript numbers stop at 2**53).
    sent_at: int | None = Field(None, ge=0, le=LAST_MS)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sent_at")
    @classmethod
    def _milliseconds(cls, value: int | None) -> int | None:
        if value is not None and value < FIRST_MS:
            raise ValueError(
                f"milliseconds since the epoch expected; {value} would be before 1973 "
                "(if it is seconds, multiply by 1000)"
            )
        return value


def non_finite(value: Any) -> str | None:
    """Where ``value`` holds NaN or an infinity (Python's parser takes ``NaN``, ``Infinity`` and
    ``1e400``), as pydantic names a field ("metadata.a", "attachments.0.meta.x"); else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path or "body"
        if isinstance(item, dict):
            children = list(item.items())
        elif isinstance(item, list):
            children = list(enumerate(item))
        else:
            continue
        stack.extend((child, f"{path}.{key}" if path else str(key)) for key, child in children)
    return None


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
