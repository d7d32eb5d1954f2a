"""A scripted web chat visitor speaking the widget's WebSocket protocol (no browser)."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from tests.conftest import Harness

ORIGIN = "https://shop.example.com"


async def webchat_channel(h: Harness, **config: Any) -> str:
    body = {"allowed_origins": [ORIGIN], **config}
    return (await h.create_channel("webchat", body, name="Shop chat"))["id"]


class Visitor:
    def __init__(self, h: Harness, channel_id: str, origin: str = ORIGIN) -> None:
        self.h = h
        self.channel_id = channel_id
        self.origin = origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.token: str | None = None
        self.welcome: dict[str, Any] = {}
        self.history: dict[str, Any] = {}

    @property
    def path(self) -> str:
        return f"/channels/{self.channel_id}/webchat/ws"

    async def connect(
        self,
        *,
        token: str | None = None,
        conversation_id: str | None = None,
        last_seq: int = 0,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.frames = []
        self.ws = await self.h.client.ws_connect(
            self.path, headers={"Origin": self.origin, **(headers or {})}
        )
        await self.send_frame({
            "type": "hello", "token": token if token is not None else self.token,
            "conversation_id": conversation_id, "last_seq": last_seq,
            "page": "https://shop.example.com/cart",
        })  # fmt: skip
        self.welcome = await self.next("welcome")
        self.token = self.welcome["token"]
        self.history = await self.next("history")
        return self.welcome

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def closed_with(self, timeout: float = 15.0) -> int | None:
        """Read (and keep) frames until the gateway closes the socket; returns the close code."""
        assert self.ws is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await self.ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(msg.data))
                continue
            return msg.data if msg.type == aiohttp.WSMsgType.CLOSE else None
        raise AssertionError("the socket stayed open")

    async def send_frame(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(frame))

    async def say(self, client_id: str, text: str) -> dict[str, Any]:
        """Send a message; returns its ack or error frame."""
        await self.send_frame({"type": "message", "client_id": client_id, "text": text})
        return await self.next(
            lambda f: f["type"] in ("ack", "error") and f.get("client_id") == client_id
        )

    async def next(self, want: Any, timeout: float = 15.0) -> dict[str, Any]:
        """The first frame (already received or coming) matching a type name or a predicate;
        it is consumed so the next call finds the one after it."""
        match = want if callable(want) else (lambda f: f.get("type") == want)
        deadline = time.monotonic() + timeout
        while True:
            for i, frame in enumerate(self.frames):
                if match(frame):
                    return self.frames.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no frame matching {want!r}; got {self.frames}")
            assert self.ws is not None
            try:
                msg = await self.ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended: {msg.type} {msg.data!r} {msg.extra!r}")
            self.frames.append(json.loads(msg.data))


MANUAL = b"%PDF-1.4 manual"


async def reply_with_manual(h: Harness, conversation_id: str, text: str) -> dict[str, Any]:
    """An admin uploads manual.pdf and replies with it; returns the attachment (its url is
    the gateway's own path)."""
    resp = await h.client.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        params={"name": "manual.pdf"},
        data=MANUAL,
        headers={**h.auth(h.admin_token), "Content-Type": "application/pdf"},
    )
    attachment = (await resp.json())["attachment"]
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/messages",
                 json_body={"text": text, "attachments": [attachment]}, expect=201)  # fmt: skip
    return attachment


async def agent_socket(h: Harness, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await h.client.ws_connect("/api/v1/ws", protocols=("gateway.v1", f"bearer.{token}"))
    hello = await ws.receive_json(timeout=10)
    assert hello["type"] == "hello"
    return ws


async def next_event(
    ws: aiohttp.ClientWebSocketResponse, want: Any, timeout: float = 15.0
) -> dict[str, Any]:
    """The next agent event of a type (or matching a predicate), skipping the others."""
    match = want if callable(want) else (lambda e: e.get("type") == want)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no agent event matching {want!r}")
        try:
            event = await ws.receive_json(timeout=remaining)
        except TimeoutError:
            continue
        if match(event):
            return event
