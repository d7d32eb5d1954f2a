"""Self-service: answers a customer's question from the knowledge base at once, or hands the
conversation to the router (docs/knowledge-base.md).

It runs between the inbox and the router (``Gateway._after_ingest``), only for a conversation
nobody holds, on chat-like channels whose setting allows it now. It never answers, and hands
over at once, when gateway/kb/handoff.py names a reason (asked for a person, urgent,
sensitive, VIP, repeat complainer, complaint) or when no article is a confident match. An
answer is a system message marked ``bot`` (never an agent's first response), starting with
the bot's label and ending with the question "did this solve it?": the customer answers
"已解决" (the conversation is resolved as self-service) or "转人工" (handed to a person, who
sees the bot's answer in the log and why it was handed over). Customers who say nothing are
resolved as self-service after ``idle_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from adapters.base import IngestResult
from gateway.i18n import translate
from gateway.i18n.channels import channel_language
from gateway.i18n.formatting import local_day
from gateway.kb.handoff import handoff_reason
from gateway.kb.service import KnowledgeBase
from gateway.keys import Keys
from gateway.models import Channel, InboundMessage, now_ms
from gateway.scripts import load_script
from gateway.textsearch import fold
from router.policy_source import PolicySource

log = logging.getLogger(__name__)

CHAT_CHANNELS = (Channel.WEBCHAT, Channel.WECHAT_OA, Channel.WECOM_KF, Channel.QQ, Channel.API)
MODES = ("off", "always", "after_hours")
IDLE_JOB = "kb.selfservice.idle"
# The bot's label and closing question (catalogue customer.selfservice.*) by the answer's
# language: "en", or "zh" written in the channel's script (zh-TW: Traditional).
BOT_LABEL = {
    "zh": translate("zh-CN", "customer.selfservice.label"),
    "en": translate("en", "customer.selfservice.label"),
}
FOOTER = {
    "zh": translate("zh-CN", "customer.selfservice.footer"),
    "en": translate("en", "customer.selfservice.footer"),
}
TRADITIONAL_LABEL = translate("zh-TW", "customer.selfservice.label")
_SOLVED = {"已解决", "解决了", "问题已解决", "已经解决了", "好了", "1", "solved", "yes", "resolved"}
_UNHELPFUL = {"没解决", "没有解决", "未解决", "没用", "不对", "2", "no", "not solved", "unsolved"}
MAX_GAPS = 2000


@dataclass(frozen=True)
class Decision:
    action: str  # "answer", "handoff", "solved", "skip"
    reason: str | None = None
    article: dict[str, Any] | None = None
    confidence: float = 0.0
    fresh: bool = True  # self-service had not looked at this conversation (round) before


class SelfService:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        kb: KnowledgeBase,
        policies: PolicySource,
        *,
        send_bot: Callable[[str, str, dict[str, Any]], Awaitable[None]],
        resolve: Callable[[str, str], Awaitable[None]],
        event_line: Callable[[str, str], Awaitable[None]],
        schedule: Callable[[str, str, dict[str, Any], int], Awaitable[Any]],
        idle_seconds: float = 1800,
        zone: str = "UTC",
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.kb = kb
        self.policies = policies
        self._send_bot = send_bot
        self._resolve = resolve
        self._event_line = event_line
        self._schedule = schedule
        self.idle_seconds = idle_seconds
        self.zone = zone  # the deployment's: daily counters count its days
        self._hold = load_script(redis, __file__, "hold")
        self._modes: dict[str, str] = {}
        self._modes_read = 0.0  # monotonic; the settings are read again after a second
        # The read in flight: the messages that find the settings a second old in the same
        # moment (a whole batch of them) share one read instead of one each.
        self._reading: asyncio.Future[None] | None = None
        self._settings_changed = 0  # by this process: a read begun before is not kept

    async def mode(self, channel_id: str) -> str:
        """The channel's setting, as read at most a second ago (every message asks)."""
        if time.monotonic() - self._modes_read > 1.0:
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read_modes(self._settings_changed))
            await asyncio.shield(self._reading)
        return self._modes.get(channel_id, "off")

    async def _read_modes(self, changes: int) -> None:
        try:
            modes = await self.modes()
        finally:
            # Changed meanwhile: set_mode already let go of this read, whose answer may be old.
            current = changes == self._settings_changed
            if current:
                self._reading = None
        if current:
            self._modes, self._modes_read = modes, time.monotonic()

    # --- settings --------------------------------------------------------------------------
    async def modes(self) -> dict[str, str]:
        return await self.redis.hgetall(self.keys.kb_selfservice())

    async def set_mode(self, channel_id: str, mode: str) -> None:
        if mode == "off":
            await self.redis.hdel(self.keys.kb_selfservice(), channel_id)
        else:
            await self.redis.hset(self.keys.kb_selfservice(), channel_id, mode)
        self._settings_changed += 1  # a read already under way may predate the change
        self._modes_read, self._reading = 0.0, None

    async def active(self, channel_id: str, channel_type: str, now: int) -> bool:
        if channel_type not in CHAT_CHANNELS:
            return False
        mode = await self.mode(channel_id)
        if mode == "always":
            return True
        if mode == "after_hours":
            sla = (await self.policies.current()).sla
            calendar = sla.calendars.get("business")
            return calendar is not None and not calendar.is_open(now)
        return False

    # --- the step between the inbox and the router -----------------------------------------
    async def handle(self, result: IngestResult, msg: InboundMessage) -> bool:
        """After a new message of a conversation nobody holds: True when self-service keeps
        it (answered, or resolved as solved), False when the router should offer it."""
        now = now_ms()
        channel = msg.channel_type.value
        conv_id = result.conversation_id
        if not await self.active(msg.channel_id, channel, now):
            return False
        try:
            decision = await self._decide(conv_id, msg)
        except Exception:  # never keep a customer from a person because of self-service
            log.exception("self-service failed on %s; handing over", conv_id)
            return False
        if decision.action == "skip":
            return False
        if decision.fresh:  # counted once per conversation (and per reopening)
            await self._count(f"considered:{channel}")
        if decision.action == "solved":
            await self._solved(conv_id, channel)
            return True
        if decision.action == "answer" and decision.article is not None:
            try:
                return await self._answer(conv_id, msg, decision.article, decision.confidence)
            except Exception:  # not held unless the answer was queued: the router offers it
                log.exception("self-service could not answer %s; handing over", conv_id)
                return False
        await self._handoff(conv_id, msg, decision.reason or "not_confident")
        return False

    async def _decide(self, conv_id: str, msg: InboundMessage) -> Decision:
        fields = ("priority", "priority_rule", "contact_id", "bot_state", "bot_round",
                  "reopened", "bot_article")  # fmt: skip
        priority, rule, contact_id, state, bot_round, reopened, article_id = await self.redis.hmget(
            self.keys.conversation(conv_id), fields
        )
        if state and (bot_round or "0") != (reopened or "0"):
            state = None  # a reopened conversation starts a new round
        if state == "handed_off":
            return Decision("skip")
        said = fold(msg.text).strip().strip("。.!！~ ")
        fresh = state is None
        if state == "answered" and said in _SOLVED:
            return Decision("solved", fresh=False)
        if state == "answered" and said in _UNHELPFUL:
            if article_id:
                await self.redis.zincrby(self.keys.kb_feedback("unhelpful"), 1, article_id)
            return Decision("handoff", "unhelpful", fresh=False)
        tier = msg.contact.tier or (
            await self.redis.hget(self.keys.contact(contact_id), "tier") if contact_id else None
        )
        classifier = (await self.policies.current()).classifier
        reason = handoff_reason(msg.text, priority or "normal", rule, classifier, tier=tier or None)
        if reason:
            return Decision("handoff", reason, fresh=fresh)
        if not msg.text.strip():
            # A picture, a file: a person looks.
            return Decision("handoff", "no_article", fresh=fresh)
        found = self.kb.search(msg.text, 1)
        if not found:
            return Decision("handoff", "no_article", fresh=fresh)
        match, article = found[0]
        if not match.confident:
            return Decision("handoff", "not_confident", fresh=fresh)
        return Decision("answer", article=article, confidence=match.confidence, fresh=fresh)

    async def _answer(
        self, conv_id: str, msg: InboundMessage, article: dict[str, Any], confidence: float
    ) -> bool:
        """Answer first, then hold: a failure between the steps leaves the conversation queued
        for a person with the answer sent, never held with nothing sent. False: not held (an
        agent took it meanwhile, or the customer wrote again; the answer, if sent, is in the
        log)."""
        k = self.keys
        now = now_ms()
        language = "en" if str(article.get("language", "")).startswith("en") else "zh"
        script = "en"
        if language == "zh":  # Simplified, or Traditional for a zh-TW channel's customers
            channel_lang = await channel_language(self.redis, k, msg.channel_id)
            script = "zh-TW" if channel_lang == "zh-TW" else "zh-CN"
        label = translate(script, "customer.selfservice.label")
        footer = translate(script, "customer.selfservice.footer")
        text = f"{label}{article['title']}\n{article['body']}\n\n{footer}"
        meta = {
            "system": True,
            "bot": True,
            "language": language,  # the web chat widget's buttons (adapters/webchat/protocol.py)
            "article_id": article["id"],
            "article_title": article["title"],
            "confidence": round(confidence, 3),
        }
        # Before the answer, so a held conversation always has its idle job; it does nothing
        # unless the hold below records this answer (bot_answered_at == now).
        await self._schedule(
            f"kb-idle:{conv_id}:{now}",
            IDLE_JOB,
            {"conversation_id": conv_id, "answered_at": now},
            now + int(self.idle_seconds * 1000),
        )
        status, assignee, offered_to, reopened, inbound_at = await self.redis.hmget(
            k.conversation(conv_id),
            ["status", "assignee", "offered_to", "reopened", "last_inbound_at"],
        )
        if status != "open" or assignee or offered_to:
            return False  # an agent took it meanwhile: no answer
        await self._send_bot(conv_id, text, meta)  # appended and queued in one step
        held = await self._hold(
            keys=[k.conversation(conv_id), k.queue(), k.sla_watch()],
            args=[conv_id, now, article["id"], reopened or "0", inbound_at or ""],
        )
        if not int(held):
            return False
        await self._count(f"answered:{msg.channel_type.value}")
        return True

    async def _solved(self, conv_id: str, channel: str) -> None:
        k = self.keys
        article_id = await self.redis.hget(k.conversation(conv_id), "bot_article")
        if article_id:
            await self.redis.zincrby(k.kb_feedback("helpful"), 1, article_id)
        await self.redis.hset(
            k.conversation(conv_id),
            mapping={"bot_state": "solved", "resolved_by": "self-service"},
        )
        await self._count(f"solved:{channel}")
        await self._resolve(conv_id, "the customer: solved by self-service")

    async def _handoff(self, conv_id: str, msg: InboundMessage, reason: str) -> None:
        k = self.keys
        state, reopened = await self.redis.hmget(k.conversation(conv_id), ["bot_state", "reopened"])
        await self.redis.hset(
            k.conversation(conv_id),
            mapping={"bot_state": "handed_off", "bot_handoff": reason,
                     "bot_round": reopened or "0"},
        )  # fmt: skip
        await self._count(f"handoff:{reason}", f"handoff_channel:{msg.channel_type.value}")
        if reason in ("no_article", "not_confident") and msg.text.strip():
            question = fold(msg.text).strip()[:200]
            pipe = self.redis.pipeline(transaction=False)
            pipe.zincrby(k.kb_gaps(), 1, question)
            sample = {"text": msg.text[:500], "channel": msg.channel_type.value, "at": now_ms()}
            pipe.hset(k.kb_gap_samples(), question, json.dumps(sample, ensure_ascii=False))
            await pipe.execute()
            if await self.redis.zcard(k.kb_gaps()) > MAX_GAPS:
                await self._trim_gaps()
        if state == "answered":
            await self._event_line(conv_id, f"Self-service handed this to a person: {reason}")

    async def _trim_gaps(self) -> None:
        k = self.keys
        dropped = await self.redis.zrange(k.kb_gaps(), 0, -MAX_GAPS - 1)
        if dropped:
            await self.redis.zrem(k.kb_gaps(), *dropped)
            await self.redis.hdel(k.kb_gap_samples(), *dropped)

    async def idle(self, payload: dict[str, Any]) -> None:
        """The scheduled job: a customer who said nothing after the answer."""
        conv_id = payload["conversation_id"]
        status, state, answered_at, channel = await self.redis.hmget(
            self.keys.conversation(conv_id),
            ["status", "bot_state", "bot_answered_at", "channel_type"],
        )
        if status != "pending" or state != "answered":
            return
        if str(answered_at) != str(payload.get("answered_at")):
            return  # answered again since: that answer's own job decides
        await self.redis.hset(
            self.keys.conversation(conv_id),
            mapping={"bot_state": "closed", "resolved_by": "self-service"},
        )
        await self._count(f"closed:{channel}")
        await self._resolve(conv_id, "self-service: no reply after the answer")

    async def _count(self, *fields: str) -> None:
        key = self.keys.kb_stats(local_day(time.time(), self.zone))
        pipe = self.redis.pipeline(transaction=False)
        for name in fields:
            pipe.hincrby(key, name, 1)
        pipe.expire(key, 400 * 86400)
        await pipe.execute()
