"""Email threading: which conversation an inbound mail belongs to.

1. By plus token: our replies carry ``Reply-To: <local>+<token>@<domain>``, so the answer is
   addressed to the token even from clients that drop In-Reply-To/References.
2. By In-Reply-To / References: an index of every Message-ID we saw or sent -> thread key.
3. Otherwise a new thread, keyed by the mail's own Message-ID.

Both lookups are scoped to the contact: a token or Message-ID only joins a thread when the
sender is the contact that thread belongs to, so a forwarded mail opens its own conversation
instead of landing in someone else's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

TOKEN_LENGTH = 16
_TTL_SECONDS = 400 * 24 * 3600  # customers answer old mail; a year and a bit
_MAX_REFERENCES = 50


def thread_token(channel_id: str, thread_key: str, contact: str) -> str:
    """A stable token for a thread: lower-case hex, since some servers lower-case addresses."""
    digest = hashlib.sha256(f"{channel_id}\n{thread_key}\n{contact.lower()}".encode())
    return digest.hexdigest()[:TOKEN_LENGTH]


def find_tokens(addresses: list[str], local: str, domain: str) -> list[str]:
    pattern = re.compile(
        rf"^{re.escape(local)}\+([0-9a-f]{{{TOKEN_LENGTH}}})@{re.escape(domain)}$", re.IGNORECASE
    )
    found = []
    for address in addresses:
        match = pattern.match(address.strip())
        if match and match.group(1).lower() not in found:
            found.append(match.group(1).lower())
    return found


def outbound_message_id(channel_id: str, message_id: str, domain: str) -> str:
    """The Message-ID of one outbound message: the same on every retry of that message."""
    digest = hashlib.sha256(f"{channel_id}\n{message_id}".encode()).hexdigest()[:32]
    return f"<{digest}.gw@{domain}>"


def synthetic_message_id(fingerprint: str) -> str:
    """For mail without a Message-ID: stable across rescans of the same bytes."""
    return f"<{fingerprint[:40]}@no-message-id.invalid>"


@dataclass(frozen=True)
class Entry:
    thread_key: str
    contact: str
    direction: str  # "in" or "out"
    outbound_id: str | None = None  # the gateway's message id of an outbound mail


class ThreadIndex:
    def __init__(self, redis: Redis, state_key: Callable[[str], str]) -> None:
        self.redis = redis
        self.state_key = state_key

    def _mid_key(self, message_id: str) -> str:
        return self.state_key("mid:" + hashlib.sha1(message_id.encode()).hexdigest())

    def _token_key(self, token: str) -> str:
        return self.state_key("tok:" + token.lower())

    async def remember_message(
        self,
        message_id: str,
        thread_key: str,
        contact: str,
        *,
        direction: str,
        outbound_id: str | None = None,
    ) -> None:
        value = {"t": thread_key, "c": contact.lower(), "d": direction}
        if outbound_id:
            value["o"] = outbound_id
        await self.redis.set(self._mid_key(message_id), json.dumps(value), ex=_TTL_SECONDS)

    async def remember_token(self, token: str, thread_key: str, contact: str) -> None:
        value = {"t": thread_key, "c": contact.lower(), "d": "out"}
        await self.redis.set(self._token_key(token), json.dumps(value), ex=_TTL_SECONDS)

    async def message(self, message_id: str) -> Entry | None:
        return _entry(await self.redis.get(self._mid_key(message_id)))

    async def resolve(
        self, own_id: str, contact: str, tokens: list[str], references: list[str]
    ) -> tuple[str, str]:
        """(thread key, how it was found: "token", "references" or "new")."""
        contact = contact.lower()
        refs = [r for r in dict.fromkeys(references) if r != own_id][:_MAX_REFERENCES]
        keys = [self._token_key(t) for t in tokens] + [self._mid_key(r) for r in refs]
        if keys:
            values = await self.redis.mget(keys)
            for i, raw in enumerate(values):
                entry = _entry(raw)
                if entry is not None and entry.contact == contact:
                    return entry.thread_key, "token" if i < len(tokens) else "references"
        return own_id, "new"


def _entry(raw: bytes | str | None) -> Entry | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        return Entry(value["t"], value["c"], value.get("d", "in"), value.get("o"))
    except (ValueError, KeyError, TypeError):
        return None
