"""After a conversation is resolved: a satisfaction survey (1-5 and a comment) and, N hours later
per class, a follow-up asking whether the problem stays solved. Both run as durable scheduled
jobs (gateway/scheduler.py); the customer's answer to a follow-up reopens the conversation
through the inbox (within the reopen window).

Survey links are signed (HMAC-SHA256 over conversation, resolution time, expiry and a nonce),
expire, and work once (the nonce is marked used in Redis with SET NX). Web chat visitors answer
inside the widget (adapters/webchat): the same signed token, sent over the widget's WebSocket,
recorded by the same ``Aftercare.answer``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from gateway.i18n import DEFAULT_LANGUAGE, translate
from gateway.i18n.channels import channel_words
from gateway.keys import Keys
from gateway.models import now_ms

SURVEY_JOB = "survey"
FOLLOWUP_JOB = "followup"
PUBLIC_CHANNELS = frozenset({"x", "mastodon", "weibo"})
WIDGET_CHANNELS = frozenset({"webchat"})  # the chat widget shows rating buttons itself
MAX_COMMENT = 2000  # characters of a survey comment
MAX_SURVEY_TTL_HOURS = 90 * 24  # a survey link lives at most 90 days
MAX_FOLLOWUP_SECONDS = 90 * 86400  # a follow-up comes at most 90 days after resolution


class AftercareSettings(BaseModel):
    """Admin-editable (PUT /api/v1/reports/settings); stored in Redis as JSON."""

    model_config = ConfigDict(extra="forbid")

    survey_enabled: bool = True
    # Public social channels show the survey to everyone: off unless an admin turns it on.
    survey_public_channels: bool = False
    survey_ttl_hours: float = Field(72, gt=0, le=MAX_SURVEY_TTL_HOURS)
    # The texts below: empty, the catalogue's text in the channel's language (customer.survey.*);
    # set, the admin's text in every language (survey_text_in).
    survey_text: str = Field("", max_length=2000)  # with {link}
    # Web chat: the widget shows this with 1-5 buttons and a comment box (the link follows on
    # its own line, for agents reading the conversation).
    survey_webchat_text: str = Field("", max_length=500)
    survey_comment_prompt: str = Field("", max_length=200)
    survey_send_label: str = Field("", max_length=40)
    survey_thanks_text: str = Field("", max_length=500)
    # Seconds after resolution, per class; a class not listed gets no follow-up.
    followup_seconds: dict[
        Annotated[str, Field(min_length=1, max_length=32)],
        Annotated[float, Field(gt=0, le=MAX_FOLLOWUP_SECONDS)],
    ] = Field(default_factory=lambda: {"urgent": 86400, "sensitive": 86400}, max_length=64)
    followup_text: str = Field("", max_length=2000)


async def load_settings(redis: Redis, keys: Keys) -> AftercareSettings:
    raw = await redis.get(keys.reports_settings())
    return AftercareSettings.model_validate_json(raw) if raw else AftercareSettings()


# The English texts these settings had before they followed the channel's language: a stored
# value equal to one of them is an old default, not an admin's choice.
_OLD_DEFAULTS = {
    "survey_text": "How did we do? Please rate your experience (1-5): {link}",
    "survey_webchat_text": "How did we do? Please rate your experience from 1 (poor) to "
    "5 (excellent).",
    "survey_comment_prompt": "Anything to add? (optional)",
    "survey_send_label": "Send",
    "survey_thanks_text": "Thank you, your answer was recorded.",
    "followup_text": "We resolved your request earlier. Is the problem still solved? "
    "Just reply to this message if it is not.",
}
_CATALOGUE_KEYS = {
    "survey_text": "customer.survey.message",
    "survey_webchat_text": "customer.survey.webchat_message",
    "survey_comment_prompt": "customer.widget.survey_comment",
    "survey_send_label": "customer.widget.survey_send",
    "survey_thanks_text": "customer.widget.survey_thanks",
    "followup_text": "customer.survey.followup",
}


def admin_text(settings: AftercareSettings, name: str) -> str | None:
    """The admin's own text for ``name`` (every language), or None: the catalogue's."""
    value = str(getattr(settings, name) or "").strip()
    return value if value and value != _OLD_DEFAULTS.get(name) else None


def survey_text_in(settings: AftercareSettings, name: str, lang: str) -> str:
    return admin_text(settings, name) or translate(lang, _CATALOGUE_KEYS[name], link="{link}")


async def conversation_words(
    redis: Redis, keys: Keys, conversation_id: str, accept_language: str | None = None
) -> tuple[str, dict[str, str]]:
    """The language of a conversation's channel for what the customer reads (the channel's
    ``language`` setting: zh-CN when it has none; ``auto``: ``accept_language``, the browser's
    on a page, or zh-CN for a message), and the channel's own texts in it (web chat's
    ``texts``: ``survey_message``, ``followup_message``, ...)."""
    channel_id = await redis.hget(keys.conversation(conversation_id), "channel_id")
    if not channel_id:
        return DEFAULT_LANGUAGE, {}
    return await channel_words(redis, keys, str(channel_id), accept_language)


async def conversation_language(
    redis: Redis, keys: Keys, conversation_id: str, accept_language: str | None = None
) -> str:
    return (await conversation_words(redis, keys, conversation_id, accept_language))[0]


# --- signed links ------------------------------------------------------------------------------
class LinkError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class SurveyLink:
    conversation_id: str
    resolved_at: int
    expires_at: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        # A key of its own, derived from the gateway's secret, so it signs nothing else.
        self.key = hmac.new(secret, b"gateway survey links v1", hashlib.sha256).digest()

    def sign(self, link: SurveyLink) -> str:
        body = _b64(
            json.dumps(
                [link.conversation_id, link.resolved_at, link.expires_at, link.nonce],
                separators=(",", ":"),
            ).encode()
        )
        mac = _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def verify(self, token: str, now: int) -> SurveyLink:
        body, _, mac = token.partition(".")
        expected = _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        if not mac or not hmac.compare_digest(mac, expected):
            raise LinkError(403, "forged", "this survey link is not valid")
        link = read_token(token)
        if link is None:
            raise LinkError(403, "forged", "this survey link is not valid")
        if now >= link.expires_at:
            raise LinkError(410, "expired", "this survey link has expired")
        return link


def read_token(token: str) -> SurveyLink | None:
    """What a token says, signature NOT checked: for showing a survey's state (pending,
    answered, expired), never for recording an answer (``LinkSigner.verify`` does that)."""
    body = token.partition(".")[0]
    try:
        conv, resolved, expires, nonce = json.loads(_unb64(body))
        return SurveyLink(str(conv), int(resolved), int(expires), str(nonce))
    except (ValueError, TypeError):
        return None


# --- the jobs ----------------------------------------------------------------------------------
# Mark a job's message as sent for this resolution, unless it already was (KEYS: conversation;
# ARGV: marker field, resolution time). A later resolution of the same conversation marks anew.
_MARK = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

SendSystem = Callable[[str, str], Awaitable[None]]
Count = Callable[[str], None]


class Aftercare:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        signer: LinkSigner,
        send_system: SendSystem,
        public_url: Callable[[], str],
        count: Count,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.signer = signer
        self.send_system = send_system
        self.public_url = public_url  # read when sending: tests and proxies set it late
        self.count = count
        self.clock = clock
        self._mark = redis.register_script(_MARK)

    def jobs(self, conversation_id: str, resolved_at: int) -> tuple[str, str]:
        """Job ids, one per resolution: resolving twice schedules nothing twice."""
        tail = f"{conversation_id}:{resolved_at}"
        return f"{SURVEY_JOB}:{tail}", f"{FOLLOWUP_JOB}:{tail}"

    async def plan(self, conv: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], int]]:
        """What to schedule for a just-resolved conversation: (job id, kind, payload, due)."""
        settings = await load_settings(self.redis, self.keys)
        resolved_at = int(conv.get("resolved_at") or self.clock())
        payload = {"conversation_id": conv["id"], "resolved_at": resolved_at}
        survey_id, followup_id = self.jobs(conv["id"], resolved_at)
        out = []
        channel = str(conv.get("channel_type", ""))
        if settings.survey_enabled and (
            settings.survey_public_channels or channel not in PUBLIC_CHANNELS
        ):
            out.append((survey_id, SURVEY_JOB, payload, resolved_at))
        delay = settings.followup_seconds.get(str(conv.get("priority", "")))
        if delay:
            out.append((followup_id, FOLLOWUP_JOB, payload, resolved_at + int(delay * 1000)))
        return out

    async def _still_resolved(self, payload: dict[str, Any], marker: str) -> bool:
        """The conversation is still in the resolution this job was made for, and the job's
        message was not sent yet (marked first: a crash after it never sends twice)."""
        key = self.keys.conversation(payload["conversation_id"])
        status, resolved_at, answered = await self.redis.hmget(
            key, ["status", "resolved_at", "first_response_at"]
        )
        if status != "resolved" or str(resolved_at) != str(payload["resolved_at"]):
            return False
        if not answered:
            # Closed without a reply (spam, a duplicate): nothing to rate. Sending anyway would
            # also count the system message as the first response.
            return False
        return bool(await self._mark(keys=[key], args=[marker, payload["resolved_at"]]))

    async def send_survey(self, payload: dict[str, Any]) -> None:
        if not await self._still_resolved(payload, "survey_for"):
            return
        settings = await load_settings(self.redis, self.keys)
        now = self.clock()
        link = SurveyLink(
            payload["conversation_id"],
            int(payload["resolved_at"]),
            now + int(settings.survey_ttl_hours * 3600 * 1000),
            secrets.token_urlsafe(12),
        )
        url = f"{self.public_url().rstrip('/')}/survey/{self.signer.sign(link)}"
        key = self.keys.conversation(link.conversation_id)
        await self.redis.hset(key, "survey_sent_at", now)
        lang, own = await conversation_words(self.redis, self.keys, link.conversation_id)
        if await self.redis.hget(key, "channel_type") in WIDGET_CHANNELS:
            # The widget finds the link in this system message and shows buttons instead.
            said = own.get("survey_message") or survey_text_in(
                settings, "survey_webchat_text", lang
            )
            text = f"{said}\n{url}"
        else:
            said = own.get("survey_message") or survey_text_in(settings, "survey_text", lang)
            text = said.replace("{link}", url) if "{link}" in said else f"{said}\n{url}"
        await self.send_system(link.conversation_id, text)
        self.count("sent")

    async def send_followup(self, payload: dict[str, Any]) -> None:
        if not await self._still_resolved(payload, "followup_for"):
            return
        settings = await load_settings(self.redis, self.keys)
        await self.redis.hset(
            self.keys.conversation(payload["conversation_id"]), "followup_sent_at", self.clock()
        )
        lang, own = await conversation_words(self.redis, self.keys, payload["conversation_id"])
        said = own.get("followup_message") or survey_text_in(settings, "followup_text", lang)
        await self.send_system(payload["conversation_id"], said)
        self.count("followup")

    async def answer(self, token: str, score: int, comment: str) -> SurveyLink:
        """Record a rating once; a second use, an expired or a forged link is refused."""
        now = self.clock()
        link = self.signer.verify(token, now)
        if not 1 <= score <= 5:
            raise LinkError(400, "invalid_field", "score: 1 to 5")
        ttl = max(1, (link.expires_at - now) // 1000 + 1)
        if not await self.redis.set(self.keys.survey_used(link.nonce), "1", nx=True, ex=ttl):
            raise LinkError(409, "used", "this survey was already answered, thank you")
        await self.redis.hset(
            self.keys.conversation(link.conversation_id),
            mapping={"csat_score": score, "csat_comment": comment[:MAX_COMMENT], "csat_at": now},
        )
        self.count("answered")
        return link

    async def peek(self, token: str) -> SurveyLink:
        """Check a link before showing the form (answered links show as used)."""
        link = self.signer.verify(token, self.clock())
        if await self.redis.exists(self.keys.survey_used(link.nonce)):
            raise LinkError(409, "used", "this survey was already answered, thank you")
        return link
