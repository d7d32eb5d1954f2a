"""A channel's language for what it says to customers: the ``language`` field of its config
(web chat and email have one; every other channel, and a channel without it: zh-CN)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from gateway.i18n.catalog import DEFAULT_LANGUAGE, LANGUAGES
from gateway.i18n.negotiate import negotiate
from gateway.keys import Keys


def language_of(config: dict[str, object] | None, accept_language: str | None = None) -> str:
    """The config's language; ``auto``: the browser's when there is one to ask (a page),
    else zh-CN (a message sent later); anything unknown: zh-CN."""
    value = str((config or {}).get("language") or "")
    if value == "auto" and accept_language:
        return negotiate(accept_language)
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


async def channel_language(
    redis: Redis, keys: Keys, channel_id: str, accept_language: str | None = None
) -> str:
    raw = await redis.hget(keys.channel(channel_id), "config")
    try:
        config = json.loads(raw) if raw else {}
    except ValueError:
        config = {}
    return language_of(config if isinstance(config, dict) else {}, accept_language)
