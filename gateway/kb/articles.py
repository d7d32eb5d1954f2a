"""Knowledge-base articles and synonyms in Redis, and their validation."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, field_validator
from redis.asyncio import Redis

from gateway.ids import new_id
from gateway.keys import Keys
from gateway.models import now_ms

MAX_ARTICLES = 20_000
MAX_SYNONYM_GROUPS = 2_000
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"


class ArticleBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    language: str = Field("zh", pattern=LANGUAGE, description="zh, en, zh-TW, ...")
    tags: list[str] = Field(default_factory=list, max_length=30)
    product: str | None = Field(None, max_length=100)

    @field_validator("title", "body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = [t.strip() for t in value if t and t.strip()]
        if any(len(t) > 50 for t in tags):
            raise ValueError("a tag has at most 50 characters")
        return list(dict.fromkeys(tags))

    @field_validator("product")
    @classmethod
    def _product(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


class ArticlePatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=20_000)
    language: str | None = Field(None, pattern=LANGUAGE)
    tags: list[str] | None = Field(None, max_length=30)
    product: str | None = Field(None, max_length=100)


class KbError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def split_terms(line: str) -> list[str]:
    """A synonym line: terms separated by commas (ASCII or Chinese) or 、."""
    return [t.strip() for t in re.split(r"[,，、]", line) if t.strip()]


class Articles:
    """CRUD of articles; every change raises the version (``kb:version``) in the same
    transaction, so each process's index sees it (gateway/kb/service.py)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def version(self) -> int:
        return int(await self.redis.get(self.keys.kb_version()) or 0)

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.redis.hgetall(self.keys.kb_articles())
        return sorted((json.loads(v) for v in rows.values()), key=lambda a: a["id"])

    async def get(self, article_id: str) -> dict[str, Any]:
        raw = await self.redis.hget(self.keys.kb_articles(), article_id)
        if raw is None:
            raise KbError(404, "not_found", "no such article")
        return json.loads(raw)

    async def save_many(self, articles: list[dict[str, Any]]) -> int:
        """Writes whole articles (created or replaced) and raises the version once."""
        if not articles:
            return await self.version()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            self.keys.kb_articles(),
            mapping={a["id"]: json.dumps(a, ensure_ascii=False) for a in articles},
        )
        pipe.incr(self.keys.kb_version())
        return int((await pipe.execute())[-1])

    async def create(self, body: ArticleBody, author: str) -> dict[str, Any]:
        if await self.redis.hlen(self.keys.kb_articles()) >= MAX_ARTICLES:
            raise KbError(409, "too_many", f"at most {MAX_ARTICLES} articles")
        article = self.new(body, author)
        await self.save_many([article])
        return article

    @staticmethod
    def new(body: ArticleBody, author: str, article_id: str | None = None) -> dict[str, Any]:
        now = now_ms()
        return {
            "id": article_id or new_id("kb"),
            **body.model_dump(),
            "created_at": now,
            "updated_at": now,
            "updated_by": author,
        }

    async def update(self, article_id: str, patch: ArticlePatch, author: str) -> dict[str, Any]:
        article = await self.get(article_id)
        changes = patch.model_dump(exclude_unset=True)
        merged = ArticleBody.model_validate(
            {k: article.get(k) for k in ArticleBody.model_fields} | changes
        )
        article.update(merged.model_dump(), updated_at=now_ms(), updated_by=author)
        await self.save_many([article])
        return article

    async def delete(self, article_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.kb_articles(), article_id)
        pipe.incr(self.keys.kb_version())
        removed, _ = await pipe.execute()
        if not removed:
            raise KbError(404, "not_found", "no such article")

    async def synonyms(self) -> list[list[str]]:
        raw = await self.redis.get(self.keys.kb_synonyms())
        return json.loads(raw) if raw else []

    async def set_synonyms(self, groups: list[list[str]]) -> list[list[str]]:
        clean = []
        for i, group in enumerate(groups):
            terms = list(dict.fromkeys(t.strip() for t in group if t.strip()))
            if len(terms) < 2:
                raise KbError(400, "invalid_field", f"synonyms.{i}: at least two terms")
            if any(len(t) > 50 for t in terms) or len(terms) > 30:
                raise KbError(400, "invalid_field", f"synonyms.{i}: 30 terms of 50 characters")
            clean.append(terms)
        if len(clean) > MAX_SYNONYM_GROUPS:
            raise KbError(400, "invalid_field", f"synonyms: at most {MAX_SYNONYM_GROUPS} groups")
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.kb_synonyms(), json.dumps(clean, ensure_ascii=False))
        pipe.incr(self.keys.kb_version())
        await pipe.execute()
        return clean
