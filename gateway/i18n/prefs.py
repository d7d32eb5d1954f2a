"""An agent's console language, a field ``ui_language`` of the user's hash (absent: the
browser's Accept-Language decides)."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.scripts import load_script


class LanguagePrefs:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._set = load_script(redis, __file__, "set_language")

    async def get(self, user_id: str) -> str | None:
        value = await self.redis.hget(self.keys.user(user_id), "ui_language")
        if isinstance(value, bytes):
            value = value.decode()
        return value or None

    async def set(self, user_id: str, language: str | None) -> bool:
        """False when the user no longer exists."""
        done = await self._set(keys=[self.keys.user(user_id)], args=[language or ""])
        return bool(done)
