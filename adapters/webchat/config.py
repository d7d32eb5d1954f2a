"""The web chat channel's settings, as an admin registers them."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from adapters.webchat.texts import CHANNEL_TEXTS

_COLOR = r"^#[0-9A-Fa-f]{6}$"
WidgetText = Literal[CHANNEL_TEXTS]  # type: ignore[valid-type]


def normalize_origin(value: str) -> str:
    """``https://Shop.Example.com/`` -> ``https://shop.example.com`` (what browsers send)."""
    value = value.strip()
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin like https://shop.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an origin has no path, query or fragment")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{host}{port}"


class WebchatConfig(BaseModel):
    allowed_origins: list[str] = Field(
        min_length=1,
        description="Sites that may embed the widget, e.g. https://shop.example.com; "
        "'*' allows any site (for trials only)",
    )
    language: Literal["zh-CN", "en", "zh-TW", "auto"] = Field(
        "zh-CN",
        description="language of the widget and of system messages: zh-CN, en, zh-TW, or auto "
        "(the visitor's browser)",
    )
    texts: dict[
        Literal["zh-CN", "en", "zh-TW"], dict[WidgetText, Annotated[str, Field(max_length=1000)]]
    ] = Field(
        default_factory=dict,
        description="per language, texts that replace the defaults, "
        'e.g. {"zh-TW": {"greeting": "您好！"}}',
    )
    # The older single-language texts: empty, the default of the widget's language; set, they
    # replace that text in every language (adapters/webchat/texts.py).
    title: str = Field(
        "",
        max_length=80,
        description="widget header; empty: the default text in the widget's language",
    )
    greeting: str = Field(
        "",
        max_length=1000,
        description="shown as soon as the visitor opens the chat; empty: the default text in "
        "the widget's language",
    )
    offline_message: str = Field(
        "",
        max_length=1000,
        description="shown instead of the greeting when no agent is online and replies can "
        "also go by email (an email channel exists)",
    )
    offline_message_chat_only: str = Field(
        "",
        max_length=1000,
        description="shown instead of the greeting when no agent is online and there is no "
        "email channel to carry replies (the widget then asks for no email address)",
    )
    prechat_form: bool = Field(False, description="ask the visitor's name and email first")
    color: str = Field("#2563eb", pattern=_COLOR, description="accent colour of the widget")
    max_message_length: int = Field(2000, ge=1, le=20000)
    max_upload_bytes: int = Field(
        10_485_760, ge=0, le=52_428_800,
        description="largest file a visitor may send (0: visitors send no files)",
    )  # fmt: skip
    messages_per_minute_per_session: int = Field(20, ge=1, le=10000)
    messages_per_minute_per_ip: int = Field(60, ge=1, le=100000)
    trust_forwarded_for: bool = Field(
        False,
        description="when the gateway has no trusted_proxies: trust the proxy in front of it and "
        "take the visitor's IP from its X-Forwarded-For entry (only behind your own proxy)",
    )
    offline_email_channel_id: str = Field(
        "",
        max_length=100,
        description="email channel that carries replies to visitors who left; "
        "empty: the first email channel",
    )
    session_secret: str = Field(
        "",
        max_length=200,
        description="HMAC key of visitor session tokens; empty: generated once per channel",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            origin = normalize_origin(value)
            if origin not in out:
                out.append(origin)
        return out

    @field_validator("session_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and len(value) < 16:  # said as a length rule, so the console names it in words
            raise PydanticCustomError(
                "string_too_short",
                "session_secret must be empty or 16 characters or more",
                {"min_length": 16},
            )
        return value

    def origin_allowed(self, origin: str | None) -> bool:
        if "*" in self.allowed_origins:
            return True
        if not origin:
            return False
        try:
            return normalize_origin(origin) in self.allowed_origins
        except ValueError:
            return False


_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_client_id(value: object) -> bool:
    return isinstance(value, str) and bool(_CLIENT_ID.match(value))
