"""The outbox: replies wait in a durable Redis stream until their channel's adapter sent them.

At-least-once: an entry is acknowledged only after its delivery state is written. A crashed
sender's entries are claimed by another after ``claim_idle_ms``; a live sender renews its claim
on the entries it holds every quarter of that (``outbox_renew.lua``), so a send slower than
``claim_idle_ms`` is not claimed and sent a second time by another process. Up to
``concurrency`` replies are sent at once, so a slow platform does not hold up the other
channels; the replies of one conversation still go out in order. Failed sends are retried with
exponential backoff; after the last attempt (or a permanent error) the message is marked failed,
the agent sees the reason, and can retry.

Order holds across retries and processes too: a reply whose conversation has an earlier reply
still unsettled (waiting for its retry, or being sent by another process) waits behind it.

A reply an adapter sends as several platform messages (WeChat) has its accepted parts recorded
as they go (``AdapterContext.parts``): every retry resumes after them, a failure tells the agent
which parts the customer already has, and the record expires 3 days after the reply is sent (a
part the platform reports undelivered later, WeCom's msg_send_fail, is then the only one the
agent's retry sends again).

Round trips: a reply costs two besides the adapter's own, one before the send (its state, the
order check, its conversation and its body: ``hold_behind.lua``) and one after
(``outbox_settle.lua``: state, parts record, acknowledgement in one step). With a
``CommandBatcher`` (gateway/batching.py) the replies sent at the same time share them: a burst
of replies costs a few pipelines, not a dozen round trips per reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from adapters.base import Adapter, SendError, SendParts
from gateway.batching import CommandBatcher
from gateway.conversations import Conversations, as_text, message_from_stored
from gateway.failurelog import FailureLog
from gateway.keys import Keys
from gateway.models import Attachment, OutboundMessage, now_ms
from gateway.scripts import load_script
from gateway.tasks import cancel_and_wait

log = logging.getLogger(__name__)

GROUP = "senders"

# Finds the running adapter of a channel in this process (None: not running here).
AdapterLookup = Callable[[str], Adapter | None]
# Why a channel that is not running here will never send (deleted, disabled), or None when it
# may (restarting after an edit, or running in another process).
ChannelGone = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Delivered:
    """A reply just settled as sent, as the outbox already has it: the listener need not read
    it again."""

    message: dict[str, Any]  # as the API shows it, with its new delivery state
    conversation: dict[str, str | None]  # assignee, offered_to, channel_type, channel_id now


# Tells the conversation's watchers a message changed: conversation id, seq, and the message
# and its conversation's audience when the outbox has them (a send), else None (read them).
OnDelivery = Callable[[str, int, Delivered | None], Awaitable[None]]


@dataclass(frozen=True)
class OutboxConfig:
    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    claim_idle_ms: int = 60_000
    block_ms: int = 1000
    concurrency: int = 16


# Entries a process holds per send slot: the ones beyond the slots wait behind their
# conversation's previous reply (they need no slot until it is settled).
READ_AHEAD = 4

# A reply behind an earlier unsettled one that has no retry time (another process is sending
# it, or will claim it): look again this much later.
HOLD_MS = 1000

# What one attempt did with its entry (Outbox._send): acknowledged with the reply's new state,
# to be acknowledged as it is, or left to the sender that claimed it.
SETTLED, DONE, THEIRS = "settled", "done", "theirs"
# hold_behind.lua's "held" answer when the entry is no longer this sender's.
THEIRS_NOW = 2

# How long a sent reply's parts record is kept: a platform may report one part undelivered
# after accepting it (WeCom's msg_send_fail comes with a later pull), and the agent's retry then
# sends that part alone, not the parts the customer has.
PARTS_KEPT_MS = 3 * 24 * 3600 * 1000  # as long as WeCom sync_msg keeps messages

# What outbox_settle.lua returns of the conversation, in order.
_AUDIENCE_FIELDS = ("assignee", "offered_to", "channel_type", "channel_id")


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential: base, 2*base, 4*base ... capped."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


class Outbox:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        conversations: Conversations,
        adapters: AdapterLookup,
        config: OutboxConfig,
        on_delivery: OnDelivery,
        channel_gone: ChannelGone,
        batch: CommandBatcher | None = None,
    ) -> None:
        self.redis = redis
        self.batch = batch
        self.keys = keys
        self.conversations = conversations
        self.adapters = adapters
        self.config = config
        self.on_delivery = on_delivery
        self.channel_gone = channel_gone
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._retry_due = load_script(redis, __file__, "retry_due")
        self._retry_failed = load_script(redis, __file__, "retry_failed")
        self._hold_behind = load_script(redis, __file__, "hold_behind")
        self._settle = load_script(redis, __file__, "outbox_settle")
        self._renew = load_script(redis, __file__, "outbox_renew")
        self._retry_later = load_script(redis, __file__, "outbox_retry_later")
        self._task: asyncio.Task[None] | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._stopping = False
        # Entry ids this process holds, from the moment they are read or claimed until settled
        # (renewed by _keep_claimed; a claim may hand back one of them).
        self._sending: set[str] = set()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._ready: set[str] = set()  # held entries sending or waiting for a slot (not behind
        # their conversation's previous reply)
        self._room = asyncio.Event()  # set when a held entry is done with
        # The last send task of each conversation with one in flight: the next waits for it.
        self._last: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(self.keys.outbox(), GROUP, id="0", mkstream=True)
        self._task = asyncio.create_task(self._run(), name="outbox")
        self._renewing = asyncio.create_task(self._keep_claimed(), name="outbox-renew")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the send in progress (up to ``grace`` seconds), then stop."""
        self._stopping = True
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                await cancel_and_wait(self._task)
        if self._renewing:
            await cancel_and_wait(self._renewing)

    async def retry(self, conversation_id: str, seq: int) -> bool:
        """Send a failed message again (an agent's retry)."""
        queued = await self._retry_failed(
            keys=[self.keys.deliveries(conversation_id), self.keys.outbox()],
            args=[conversation_id, seq],
        )
        return bool(queued)

    async def _run(self) -> None:
        last_claim = 0
        failures = FailureLog(log, "outbox round")
        try:
            while not self._stopping:
                try:
                    await self._retry_due(
                        keys=[self.keys.outbox_retry(), self.keys.outbox()], args=[now_ms(), 100]
                    )
                    if now_ms() - last_claim > self.config.claim_idle_ms / 2 and self._free():
                        last_claim = now_ms()
                        await self._claim_abandoned()
                    await self._wait_for_room()  # read only what could start sending now
                    entries = await self.redis.xreadgroup(
                        GROUP,
                        self.consumer,
                        {self.keys.outbox(): ">"},
                        count=self._free(),
                        block=self.config.block_ms,
                    )
                    for _stream, items in entries or []:
                        self._take(items)
                    failures.worked()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis away: the entries wait in the stream
                    failures.failed(exc)
                    await asyncio.sleep(1)
            await asyncio.gather(*self._last.values(), return_exceptions=True)
        finally:
            for task in list(self._last.values()):  # cancelled: the entries stay pending
                task.cancel()

    async def _keep_claimed(self) -> None:
        """Renews this sender's claim on the entries it holds (sending, or waiting for a slot or
        for its conversation's previous reply), apart from the read loop, which may wait for a
        slot as long as a slow send takes."""
        failures = FailureLog(log, "outbox claim renewal")
        while True:
            await asyncio.sleep(self.config.claim_idle_ms / 4000)
            if not self._sending:
                continue
            try:
                lost = await self._script(
                    self._renew, [self.keys.outbox()], [GROUP, self.consumer, *self._sending]
                )
                failures.worked()
            except Exception as exc:  # Redis away: renewed at the next turn, if still in time
                failures.failed(exc)
                continue
            for entry_id in _decoded(lost):  # type: ignore[arg-type]
                log.warning(
                    "outbox entry %s was claimed by another sender while this one held it "
                    "(stalled over %s ms)",
                    entry_id,
                    self.config.claim_idle_ms,
                )

    async def _claim_abandoned(self) -> None:
        """Takes the entries a sender held past the claim time (it died or stalled), scanning the
        whole pending list: XAUTOCLAIM looks at 10 entries per one it may claim, and the live
        senders' entries ahead of an abandoned one must not hide it until they are sent."""
        start = "0-0"
        while count := min(50, self._free()):
            start, claimed, *_deleted = await self.redis.xautoclaim(
                self.keys.outbox(), GROUP, self.consumer, self.config.claim_idle_ms, start,
                count=count,
            )  # fmt: skip
            self._take([(entry_id, fields) for entry_id, fields in claimed if fields])
            if start in ("0-0", b"0-0"):
                return

    def _free(self) -> int:
        """How many more entries this process can take now: a send slot each, and the entries
        held in all (waiting behind their conversation's previous reply too) bounded."""
        slots = self.config.concurrency - len(self._ready)
        held = self.config.concurrency * READ_AHEAD - len(self._sending)
        return max(0, min(slots, held))

    async def _wait_for_room(self) -> None:
        while not self._free():
            self._room.clear()
            await self._room.wait()

    def _take(self, items: list[tuple[str, dict[str, str]]]) -> None:
        """Holds a batch of read or claimed entries at once, with no await in between (every one
        is renewed from now on), and sends each in the background after its conversation's
        previous reply."""
        for entry_id, fields in items:
            if entry_id in self._sending:
                continue  # a slow send of ours that a claim handed back
            self._sending.add(entry_id)
            conversation_id = fields["conversation_id"]
            before = self._last.get(conversation_id)
            if before is None:
                self._ready.add(entry_id)
            task = asyncio.create_task(self._after(before, entry_id, fields), name="outbox-send")
            self._last[conversation_id] = task
            task.add_done_callback(
                lambda done, c=conversation_id, e=entry_id: self._finished(c, e, done)
            )

    async def _after(
        self, before: asyncio.Task[None] | None, entry_id: str, fields: dict[str, str]
    ) -> None:
        """A slot is taken only once the conversation's previous reply is settled, so replies
        queued behind a slow one leave the slots to other conversations."""
        if before is not None:
            await asyncio.wait({before})
            self._ready.add(entry_id)
        try:
            async with self._slots:
                await self._handle(entry_id, fields)
        except Exception:  # Redis down mid-way: the entry stays pending and is claimed later
            log.exception("outbox entry %s not settled; it will be claimed again", entry_id)

    def _finished(self, conversation_id: str, entry_id: str, task: asyncio.Task[None]) -> None:
        self._ready.discard(entry_id)
        self._sending.discard(entry_id)
        if self._last.get(conversation_id) is task:
            del self._last[conversation_id]
        self._room.set()

    # --- Redis: through the group commit when there is one -------------------------------
    async def _command(self, *command: str | int) -> object:
        if self.batch is not None:
            return await self.batch.command(*command)
        return await self.redis.execute_command(*command)

    async def _script(self, script: AsyncScript, keys: list[str], args: list[object]) -> object:
        if self.batch is not None:
            return await self.batch.script(script, keys, args)
        return await script(keys=keys, args=args)

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        conversation_id, seq = fields["conversation_id"], int(fields["seq"])
        if await self._send(conversation_id, seq, entry_id) != DONE:
            return  # acknowledged with its delivery state, or another sender's now
        outbox = self.keys.outbox()
        await asyncio.gather(
            self._command("XACK", outbox, GROUP, entry_id), self._command("XDEL", outbox, entry_id)
        )

    async def _send(self, conversation_id: str, seq: int, entry_id: str) -> str:
        """One attempt: SETTLED (the entry acknowledged with the reply's new state), DONE (to
        be acknowledged as it is) or THEIRS (another sender claimed it: left alone)."""
        state, held, row, body = await self._prepare(conversation_id, seq, entry_id)
        if held == THEIRS_NOW:
            log.warning("outbox entry %s was claimed by another sender; not sent here", entry_id)
            return THEIRS
        if state.get("state") in ("sent", "failed"):
            if state.get("state") == "sent":  # a record from before settling expired it
                await self._command(
                    "PEXPIRE", self.keys.send_parts(conversation_id, seq), PARTS_KEPT_MS
                )
            return DONE  # a duplicate entry (redelivery after a crash): already settled
        if held:
            return DONE
        attempts = int(state.get("attempts", 0)) + 1
        if not row or body is None:
            return DONE  # the conversation or the message is gone
        outbound = _outbound(conversation_id, seq, row, body)
        adapter = self.adapters(outbound.channel_id)
        if adapter is None:
            gone = await self.channel_gone(outbound.channel_id)
            if gone:
                await self._fail(conversation_id, seq, attempts, gone)
                return DONE
            # Restarting here (an admin's edit) or failed to start in this process only: later,
            # maybe in another process.
            reason = "the channel is not running in this process"
            return await self._failed_attempt(
                conversation_id, seq, entry_id, attempts, reason, False, None
            )
        try:
            platform_id = await adapter.send(outbound)
        except SendError as exc:
            return await self._failed_attempt(
                conversation_id, seq, entry_id, attempts, exc.reason, exc.permanent, exc.retry_after
            )
        except Exception as exc:  # network errors, adapter bugs: retried, never lost
            log.warning("send of %s:%s failed: %r", conversation_id, seq, exc)
            reason = f"{type(exc).__name__}: {exc}"[:300]
            return await self._failed_attempt(
                conversation_id, seq, entry_id, attempts, reason, False, None
            )
        sent = {
            "state": "sent",
            "attempts": attempts,
            "error": None,
            "platform_id": str(platform_id) if platform_id else None,
        }
        # The parts record goes only with "sent" (before it, a crash would resend every part),
        # and the entry is acknowledged in the same step.
        state_json = json.dumps(sent)
        audience = await self._script(
            self._settle,
            [
                self.keys.deliveries(conversation_id),
                self.keys.send_parts(conversation_id, seq),
                self.keys.outbox(),
                self.keys.conversation(conversation_id),
            ],
            [seq, state_json, GROUP, entry_id, PARTS_KEPT_MS],
        )
        message = message_from_stored(conversation_id, seq, body, state_json)
        fields = dict(zip(_AUDIENCE_FIELDS, _decoded(audience), strict=True))  # type: ignore[arg-type]
        await self.on_delivery(conversation_id, seq, Delivered(message, fields))
        return SETTLED

    async def _prepare(
        self, conversation_id: str, seq: int, entry_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str], str | None]:
        """In one round trip: the reply's delivery state and whether it is held behind an
        earlier unsettled reply of its conversation (sending it now would reach the customer
        first, so it was scheduled just after that one) or its entry is another sender's now
        (THEIRS_NOW), the conversation's hash and the message's body."""
        own, held, body, flat = await self._script(
            self._hold_behind,
            [
                self.keys.deliveries(conversation_id),
                self.keys.outbox_retry(),
                self.keys.conversation(conversation_id),
                self.keys.messages(conversation_id),
                self.keys.outbox(),
            ],
            [conversation_id, seq, now_ms(), HOLD_MS, GROUP, self.consumer, entry_id],
        )  # type: ignore[misc]
        own = as_text(own)
        state = json.loads(own) if own else {}
        fields = _decoded(flat)  # type: ignore[arg-type]
        row = dict(zip(fields[::2], fields[1::2], strict=True))
        return state, int(held), row, as_text(body) or None

    async def _failed_attempt(
        self,
        conversation_id: str,
        seq: int,
        entry_id: str,
        attempts: int,
        reason: str,
        permanent: bool,
        retry_after: float | None,
    ) -> str:
        reason = await self._with_parts(conversation_id, seq, reason)
        if permanent or attempts >= self.config.max_attempts:
            await self._fail(conversation_id, seq, attempts, reason)
            return DONE
        delay = backoff_seconds(
            attempts, self.config.backoff_base_seconds, self.config.backoff_max_seconds
        )
        if retry_after:
            delay = max(delay, retry_after)
        state = {"state": "queued", "attempts": attempts, "error": reason, "platform_id": None}
        # The retry's time and the entry's acknowledgement in one step: a crash between them
        # would leave both the pending entry and the retry to send the reply.
        await self._script(
            self._retry_later,
            [self.keys.deliveries(conversation_id), self.keys.outbox_retry(), self.keys.outbox()],
            [
                seq,
                json.dumps(state),
                f"{conversation_id}:{seq}",
                now_ms() + int(delay * 1000),
                GROUP,
                entry_id,
            ],
        )
        await self.on_delivery(conversation_id, seq, None)
        return SETTLED

    async def _with_parts(self, conversation_id: str, seq: int, reason: str) -> str:
        """The agent's reason, saying which parts reached the customer when some did:
        "parts 1-2 of 4 delivered; part 3: <error>"."""
        parts = await SendParts.load(self.redis, self.keys.send_parts(conversation_id, seq))
        progress = parts.progress() if parts else None
        return f"{progress}: {reason}" if progress else reason

    async def _fail(self, conversation_id: str, seq: int, attempts: int, reason: str) -> None:
        """A reply given up: the agent sees why (and can retry it)."""
        await self.conversations.set_delivery(
            conversation_id, seq, "failed", attempts=attempts, error=reason
        )
        await self.on_delivery(conversation_id, seq, None)

    async def mark_failed(self, message_id: str, reason: str) -> None:
        """An adapter learned later that a sent message did not arrive (an email bounce)."""
        conversation_id, _, seq = message_id.rpartition(":")
        state = await self.conversations.delivery(conversation_id, int(seq)) or {}
        await self._fail(conversation_id, int(seq), int(state.get("attempts", 1)), reason)


def _outbound(conversation_id: str, seq: int, row: dict[str, str], body: str) -> OutboundMessage:
    message = json.loads(body)
    context = row.get("reply_context")
    return OutboundMessage(
        message_id=f"{conversation_id}:{seq}",
        conversation_id=conversation_id,
        channel_id=row.get("channel_id", ""),
        contact_external_id=row.get("contact_external_id", ""),
        thread_key=row.get("thread_key", ""),
        text=message.get("text", ""),
        author_name=message.get("author_name"),
        attachments=[Attachment(**a) for a in message.get("attachments", [])],
        reply_context=json.loads(context) if context else {},
    )


def _decoded(values: list[object]) -> list[str]:
    return [as_text(v) or "" for v in values]
