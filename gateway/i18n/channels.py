"""A channel's language for what it says to customers: the ``language`` field of its config
(web chat and email have one; every other channel, and a channel without it: zh-CN)."""

from __future__ import annotations

import json
from typing import Any

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


async def _config(redis: Redis, keys: Keys, channel_id: str) -> dict[str, Any]:
    raw = await redis.hget(keys.channel(channel_id), "config")
    try:
        config = json.loads(raw) if raw else {}
    except ValueError:
        config = {}
    return config if isinstance(config, dict) else {}


async def channel_language(
    redis: Redis, keys: Keys, channel_id: str, accept_language: str | None = None
) -> str:
    return language_of(await _config(redis, keys, channel_id), accept_language)


async def channel_words(
    redis: Redis, keys: Keys, channel_id: str, accept_language: str | None = None
) -> tuple[str, dict[str, str]]:
    """(the language, the channel's own texts in it: web chat's ``texts`` for that language)."""
    config = await _config(redis, keys, channel_id)
    lang = language_of(config, accept_language)
    texts = config.get("texts")
    mine = texts.get(lang) if isinstance(texts, dict) else None
    return lang, {str(k): str(v) for k, v in (mine or {}).items() if v}
