"""A contact hash as the API shows it, and the edit an agent or admin may make."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ATTRS = 50
ATTR_NAME = r"^[A-Za-z0-9_.-]{1,40}$"
_INT = ("created_at", "merged_at", "erased_at")


def identities_of(value: str | None) -> list[str]:
    """The ``identities`` field: one ``<channel id>:<external id>`` per line."""
    return [line for line in (value or "").split("\n") if line]


def identity_parts(identity: str) -> dict[str, str]:
    channel_id, _, external_id = identity.partition(":")
    return {"channel_id": channel_id, "external_id": external_id}


def attrs_of(value: str | None) -> dict[str, str]:
    try:
        attrs = json.loads(value) if value else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in attrs.items()} if isinstance(attrs, dict) else {}


def contact_view(row: dict[str, str]) -> dict[str, Any]:
    """The stored hash as JSON: identities a list, attrs an object, times numbers."""
    out: dict[str, Any] = {
        "id": row.get("id", ""),
        "name": row.get("name") or None,
        "email": row.get("email") or None,
        "phone": row.get("phone") or None,
        "tier": row.get("tier") or None,
        "advisor": row.get("advisor") or None,
        "last_agent": row.get("last_agent") or None,
        "notes": row.get("notes") or "",
        "attrs": attrs_of(row.get("attrs")),
        "identities": [identity_parts(i) for i in identities_of(row.get("identities"))],
        "merged_into": row.get("merged_into") or None,
        "merge_id": row.get("merge_id") or None,
    }
    for name in _INT:
        value = row.get(name)
        out[name] = int(float(value)) if value else None
    return out


class ContactPatch(BaseModel):
    """Fields to change; those left out stay. Agents may change notes and attrs; name, tier
    and advisor are for supervisors and admins (they steer routing)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    tier: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{0,32}$", description='e.g. "vip"; "" clears it'
    )
    advisor: str | None = Field(
        None, max_length=64, description='user id of the dedicated advisor; "" clears it'
    )
    notes: str | None = Field(None, max_length=10_000)
    attrs: dict[str, str] | None = Field(
        None, description="custom attributes (replaces them all), e.g. order numbers"
    )

    @field_validator("attrs")
    @classmethod
    def _attrs(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_ATTRS:
            raise ValueError(f"at most {MAX_ATTRS} attributes")
        for name, text in value.items():
            if not re.match(ATTR_NAME, name):
                raise ValueError(f"attribute name {name[:40]!r}: letters, digits, _ . - (1-40)")
            if len(text) > 500:
                raise ValueError(f"attribute {name}: at most 500 characters")
        return value

    @field_validator("name", "notes")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 and c not in "\n\t" for c in value):
            raise ValueError("control characters are not allowed")
        return value
