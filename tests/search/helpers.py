"""Helpers of the search tests: customers writing through the real API channel, searching
through the real API, waiting for the deployment's index."""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import urlencode

from tests.conftest import Harness, MakeGateway, wait_for

_ids = itertools.count(1)


async def say(h: Harness, channel: tuple[str, str], sender: str, text: str, **who: Any) -> str:
    """A customer's message through the API channel's webhook; answers its conversation."""
    channel_id, secret = channel
    payload = {
        "message_id": f"m-{next(_ids)}-{time.monotonic_ns()}",
        "sender": {"id": sender, "name": who.pop("name", sender), **who},
        "text": text,
    }
    status, body = await h.post_api_message(channel_id, secret, payload)
    assert status == 202, body
    return body["conversation_id"]


async def search(
    h: Harness, token: str | None = None, expect: int = 200, **params: Any
) -> dict[str, Any]:
    return await h.call("GET", "/api/v1/search?" + urlencode(params), token, expect=expect)


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["id"] for item in answer[answer["kind"]]]


async def ready(h: Harness) -> None:
    """Until a search through ``h`` answers from a built index: ``h``'s own when it holds the
    deployment's index, else the holder's (searches handed over through Redis)."""

    async def built() -> bool:
        answer = await h.call("GET", "/api/v1/search?q=ready", expect=None)
        return isinstance(answer, dict) and answer.get("indexing") is False

    await wait_for(built, timeout=30)


async def holder_and_other(make_gateway: MakeGateway) -> tuple[Harness, Harness]:
    """Two gateways on one Redis, the index built: the first started holds the deployment's
    index, the second hands its searches over."""
    holder = await make_gateway()
    await ready(holder)
    other = await make_gateway()
    await ready(other)
    assert holder.gw.search.holding and not other.gw.search.holding
    return holder, other


async def found(
    h: Harness, item_id: str, token: str | None = None, timeout: float = 5.0, **params: Any
) -> float:
    """Seconds until a search of ``params`` answers ``item_id``."""
    started = time.monotonic()

    async def hit() -> bool:
        return item_id in ids(await search(h, token, **params))

    await wait_for(hit, timeout=timeout, interval=0.02)
    return time.monotonic() - started


async def gone(h: Harness, item_id: str, token: str | None = None, **params: Any) -> None:
    async def missing() -> bool:
        return item_id not in ids(await search(h, token, **params))

    await wait_for(missing, timeout=5, interval=0.05)


async def assigned_to(h: Harness, agent_token: str, agent_id: str, conv: str) -> None:
    """The router offers ``conv`` to the (only online) agent, who accepts it."""

    async def offered() -> bool:
        got = await h.call("GET", f"/api/v1/conversations/{conv}")
        return got["conversation"]["offered_to"] == agent_id

    await wait_for(offered)
    await h.call("POST", f"/api/v1/conversations/{conv}/accept", agent_token)
