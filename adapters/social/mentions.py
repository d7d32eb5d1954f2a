"""The adapter glue the three social platforms share: settings, the leased poller, durable
cursors, delivery with spike marking, the record of sent replies.

Order of a poll: fetch every page since the cursor, deliver oldest first, and only then store the
new cursor. A crash or a failure anywhere before that repeats the poll from the old cursor; the
inbox dedupes by (channel, post id), so a mention seen twice is one message.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from adapters.base import (
    SPIKE_EARLIER,
    Adapter,
    AdapterContext,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from adapters.language import ChannelLanguage
from adapters.social.poller import ApiError, RateLimited, poll_loop, wait_seconds
from adapters.social.spike import BUCKET_SECONDS, MentionVolume, SpikeAlert, SpikeRule
from adapters.social.textlen import too_long
from gateway.lease import Lease, run_while_leased
from gateway.models import InboundMessage, now_ms
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SENT_TTL = 7 * 86400  # how long a sent reply's id is remembered against a retried send
PUBLIC_REPLY_WARNING = "Replies on this channel are public posts: everyone can read them."

# Signature of the spike callback the core provides (ctx.on_spike, or ctx.extra["on_spike"]):
# it receives SpikeAlert.to_dict() and publishes it (WebSocket event, banner, optional webhook).
SpikeCallback = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class _PollMark:
    newest_ms: int = 0  # platform time of the newest mention this poll delivered


# The running poll of this task (each poll loop is a task of its own): deliver_one marks it.
_CURRENT_POLL: ContextVar[_PollMark | None] = ContextVar("social_poll", default=None)


class SocialConfig(ChannelLanguage):
    """Settings every social channel has."""

    poll_interval_seconds: float = Field(
        60.0, ge=1.0, le=86_400, description="Seconds between two polls."
    )
    backfill: int = Field(
        20, ge=0, le=100, description="On the first poll, how many recent mentions to import."
    )
    max_pages: int = Field(10, ge=1, le=50, description="At most this many pages per poll.")
    request_timeout_seconds: float = Field(30.0, gt=0, le=300)
    spike_factor: float = Field(
        4.0, gt=1.0, le=1000, description="Spike: this many times the baseline."
    )
    spike_min_count: int = Field(
        10, ge=1, le=1_000_000, description="Spike: at least this many in 5 minutes."
    )
    spike_baseline_minutes: int = Field(
        60, ge=5, le=10_080, description="Trailing window of the baseline."
    )
    spike_cooldown_minutes: int = Field(
        30, ge=0, le=10_080, description="No second alert within this."
    )


def id_key(post_id: str) -> tuple[int, str]:
    """Order of numeric ids given as strings (X, Mastodon and Weibo ids grow with time)."""
    return (len(post_id), post_id)


def newest(ids: list[str]) -> str | None:
    return max(ids, key=id_key) if ids else None


def send_error(exc: ApiError, what: str) -> SendError:
    """The outbox's view of a failed platform call."""
    if isinstance(exc, RateLimited):
        return TransientSendError(f"{what}: {exc.reason}", retry_after=wait_seconds(exc.retry_at))
    if exc.transient:
        return TransientSendError(f"{what}: {exc.reason}")
    return PermanentSendError(f"{what}: {exc.reason}")


class SocialAdapter(Adapter):
    """Base of the X, Mastodon and Weibo adapters."""

    public_replies: ClassVar[bool] = True
    supports_attachments: ClassVar[bool] = False
    # How a too-long reply is explained: "This reply is N characters as X counts them (rule)".
    reply_noun: ClassVar[str] = "reply"
    length_rule: ClassVar[str | None] = None

    @property
    def platform_name(self) -> str:
        return "X" if self.channel_type.value == "x" else self.channel_type.value.title()

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        cfg: SocialConfig = ctx.config  # type: ignore[assignment]
        self.settings = cfg
        minutes = BUCKET_SECONDS // 60
        rule = SpikeRule(
            factor=cfg.spike_factor,
            min_count=cfg.spike_min_count,
            baseline_buckets=max(1, cfg.spike_baseline_minutes // minutes),
            cooldown_buckets=cfg.spike_cooldown_minutes // minutes,
        )
        self.volume = MentionVolume(
            ctx.redis, ctx.keys, ctx.channel_id, self.channel_type.value, rule
        )
        self._deliver_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._health: dict[str, tuple[float, float]] = {}  # loop -> (last success, its lag)

    # --- to implement per platform -------------------------------------------------------
    def pollers(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """(name, poll_once) of each loop this channel runs."""
        raise NotImplementedError

    async def prepare(self) -> None:
        """Runs once when this process takes the lease (e.g. look up the account id)."""

    # --- reply length --------------------------------------------------------------------
    # Who sets the limit, as the agent reads it ("X allows 280", "this server allows 500").
    limit_owner: ClassVar[str | None] = None

    def published_text(self, text: str, reply_context: dict[str, Any]) -> str:
        """The text the platform receives for an agent's ``text`` (Mastodon adds the author's
        @handle): what its length limit applies to."""
        return text

    def length_problem(self, text: str, reply_context: dict[str, Any] | None = None) -> str | None:
        """Why the platform would refuse this reply for its length, in the words the agent
        reads (the API asks before queueing a reply, send() again); None when it fits."""
        limit = self.describe().get("max_text_length")
        if not limit:
            return None
        name = self.platform_name
        published = self.published_text(text, reply_context or {})
        return too_long(
            self.text_length(published), int(limit), noun=self.reply_noun, platform=name,
            rule=self.length_rule, allowed_by=self.limit_owner or name,
        )  # fmt: skip

    def check_length(self, text: str, reply_context: dict[str, Any] | None = None) -> None:
        problem = self.length_problem(text, reply_context)
        if problem:
            raise PermanentSendError(problem)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        # One poller per channel across all gateway processes: whoever holds the lease polls.
        self._stopping = False
        lease = Lease(self.ctx.redis, self.ctx.keys.lease(f"social:{self.ctx.channel_id}"))
        self._task = asyncio.create_task(run_while_leased(lease, self._run))

    async def stop(self) -> None:
        self._stopping = True  # the poll loops end at their next turn whatever happens below
        task, self._task = self._task, None
        # redis-py may swallow a cancellation mid-command: cancel_and_wait cancels until done.
        await cancel_and_wait(task)

    async def _run(self) -> None:
        await self.prepare()
        interval = self.settings.poll_interval_seconds
        name = f"{self.channel_type.value}:{self.ctx.channel_id}"
        await asyncio.gather(
            *(
                poll_loop(
                    f"{name}:{what}",
                    self._measured(what, fn),
                    interval=interval,
                    keep_going=self._keep_going,
                )
                for what, fn in self.pollers()
            )
        )

    def _measured(
        self, what: str, poll_once: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """A poll that reports the channel's health when it succeeds. Its lag is how old the
        newest mention it delivered was by the platform's own timestamp, 0 when it found
        nothing new (level with the platform as of this poll). A channel with several loops
        (X mentions and keywords, Weibo statuses and comments) reports its laggiest loop and
        the oldest of their last successes, so one failing loop is not hidden by the others."""

        async def poll() -> None:
            mark = _PollMark()
            token = _CURRENT_POLL.set(mark)
            try:
                await poll_once()
            finally:
                _CURRENT_POLL.reset(token)
            now = time.time()
            lag = max(0.0, now - mark.newest_ms / 1000) if mark.newest_ms else 0.0
            self._health[what] = (now, lag)
            self.ctx.report_health("poll_ok", min(ok for ok, _ in self._health.values()))
            self.ctx.report_health("poll_lag", max(lag for _, lag in self._health.values()))

        return poll

    def _keep_going(self) -> bool:
        return not self._stopping

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reply_warning": PUBLIC_REPLY_WARNING,
            "poll_interval_seconds": self.settings.poll_interval_seconds,
        }

    # --- cursors -------------------------------------------------------------------------
    async def get_cursor(self, name: str) -> str | None:
        value = await self.ctx.redis.get(self.ctx.state_key(f"cursor:{name}"))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set_cursor(self, name: str, value: str) -> None:
        await self.ctx.redis.set(self.ctx.state_key(f"cursor:{name}"), value)

    async def clear_cursor(self, name: str) -> None:
        await self.ctx.redis.delete(self.ctx.state_key(f"cursor:{name}"))

    # --- delivery ------------------------------------------------------------------------
    async def deliver_all(self, messages: list[InboundMessage]) -> None:
        """Deliver oldest first (so a thread reads in order); raises on the first failure, which
        leaves the cursor where it was."""
        for msg in sorted(messages, key=lambda m: (m.sent_at, id_key(m.external_id))):
            await self.deliver_one(msg)

    async def deliver_one(self, msg: InboundMessage) -> None:
        now = now_ms()
        # A missing time or a clock ahead of ours must not put the mention in a wrong bucket.
        msg.sent_at = min(msg.sent_at, now) if msg.sent_at > 0 else now
        async with self._deliver_lock:
            spike = await self.volume.would_spike(msg.sent_at)
            earlier: list[str] = []
            if spike:
                msg.meta["spike"] = True
                # The bucket's mentions from before the spike was known join its incident
                # too; forgotten only once delivered (a retried delivery carries them again).
                if earlier := await self.volume.early(msg.sent_at):
                    msg.meta[SPIKE_EARLIER] = earlier
            result = await self.ctx.deliver(msg)
            if earlier:
                await self.volume.forget_early(msg.sent_at, len(earlier))
            if not spike:  # also for a duplicate: a crash may have come before this step
                await self.volume.keep_early(msg.sent_at, result.conversation_id)
            if result.duplicate:
                return
            mark = _CURRENT_POLL.get()
            if mark is not None:
                mark.newest_ms = max(mark.newest_ms, msg.sent_at)
            alert = await self.volume.record(
                msg.sent_at, post_id=msg.external_id, url=msg.meta.get("url")
            )
        if alert is not None:
            await self._publish_spike(alert)

    async def _publish_spike(self, alert: SpikeAlert) -> None:
        callback: SpikeCallback | None = getattr(self.ctx, "on_spike", None) or self.ctx.extra.get(
            "on_spike"
        )
        log.warning(
            "mention spike on %s: %d mentions in 5 minutes (baseline %.1f)",
            self.ctx.channel_id,
            alert.count,
            alert.baseline,
        )
        if callback is None:
            return
        try:
            await callback(alert.to_dict())
        except Exception:  # an alert that cannot be published must not stop the poller
            log.exception("spike alert callback failed for %s", self.ctx.channel_id)

    # --- sent replies --------------------------------------------------------------------
    async def sent_before(self, message_id: str) -> str | None:
        """The platform id of a reply already sent for this outbound message (a retried send
        after a crash between the platform's answer and the outbox's ack)."""
        value = await self.ctx.redis.get(self.ctx.state_key(f"sent:{message_id}"))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def remember_sent(self, message_id: str, platform_id: str) -> None:
        await self.ctx.redis.set(self.ctx.state_key(f"sent:{message_id}"), platform_id, ex=SENT_TTL)

    async def sent_or_found(
        self, message_id: str, look: Callable[[float], Awaitable[str | None]]
    ) -> str | None:
        """The platform id of this reply if it went out already, for platforms without an
        idempotency key: recorded by ``remember_sent``, or, when an earlier attempt's answer
        never came (the process died, or the answer was lost), found by ``look(since)`` on the
        platform (then recorded). None: post it; this attempt is noted, in the same round trip
        as the record is read."""
        sent_key = self.ctx.state_key(f"sent:{message_id}")
        sending_key = self.ctx.state_key(f"sending:{message_id}")
        async with self.ctx.redis.pipeline(transaction=False) as pipe:
            pipe.get(sent_key)
            pipe.set(sending_key, f"{time.time():.3f}", nx=True, ex=SENT_TTL)
            pipe.get(sending_key)
            previous, first, started = await pipe.execute()
        if previous:
            return previous.decode() if isinstance(previous, bytes) else str(previous)
        if first or not started:
            return None
        found = await look(float(started))
        if found:
            await self.remember_sent(message_id, found)
        return found

    async def attempt_refused(self, message_id: str) -> None:
        """The platform answered no: nothing was posted, the next attempt need not look."""
        await self.ctx.redis.delete(self.ctx.state_key(f"sending:{message_id}"))


def refused(exc: ApiError) -> bool:
    """Whether a failed call certainly posted nothing: the platform answered with a 4xx (a
    rate limit included). A 5xx or a lost answer may have come after the post was made."""
    return exc.status is not None and 400 <= exc.status < 500


_LINK = re.compile(r"https?://\S+")


def same_text(ours: str, theirs: str) -> bool:
    """Whether a post the platform lists is the text we sent: it may escape &, < and >, and
    wrap links (X's t.co)."""

    def plain(text: str) -> str:
        return " ".join(_LINK.sub("<link>", html.unescape(text)).split())

    return plain(ours) == plain(theirs)
