"""Crash harness: a real `gateway serve` subprocess (killable, restartable on the same port and
data directory) on a separately started embedded Redis, customers posting signed API-channel
messages and WeChat Official Account callbacks, and an agent replying, each recording what the
gateway acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.api.signing import sign
from adapters.wechat.crypto import signature as wechat_signature

ADMIN_EMAIL = "chaos@example.com"
ADMIN_PASSWORD = "chaos-password-123"
TIMEOUT = aiohttp.ClientTimeout(total=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), children before grandchildren."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop(0)
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(children)
            todo.extend(children)
    return out


class GatewayProcess:
    """`gateway serve`: with ``redis_url``, Redis outlives it; with "" it runs its embedded
    Redis in ``data_dir`` (a child of its master)."""

    def __init__(self, data_dir: Path, redis_url: str, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GATEWAY_REDIS_URL")},
            "GATEWAY_WORKERS": str(workers),
            "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_PUBLIC_URL": self.base,
            "GATEWAY_ADMIN_EMAIL": ADMIN_EMAIL,
            "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_OUTBOX_BACKOFF_BASE_SECONDS": "0.2",
            "GATEWAY_OUTBOX_BACKOFF_MAX_SECONDS": "1",
            "GATEWAY_OUTBOX_MAX_ATTEMPTS": "50",
            "GATEWAY_SHUTDOWN_GRACE_SECONDS": "1",
        }
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.data_dir / "gateway.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.starts += 1

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.log_tail()
                try:
                    async with http.get(f"{self.base}/readyz") as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway not ready within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the master and every process below it, at once."""
        if self.proc and self.proc.poll() is None:
            below = descendants(self.proc.pid)
            self.proc.kill()
            for pid in below:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()

    def kill_master(self) -> list[int]:
        """SIGKILL the master alone (as an operator's `kill -9 <pid>` does); returns the
        processes it leaves behind, which must go by themselves."""
        assert self.proc is not None
        below = descendants(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        return below

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        path = self.data_dir / "gateway.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""


@dataclass
class Callback:
    """The API channel's callback endpoint: counts deliveries by Idempotency-Key."""

    url: str = ""
    keys: Counter[str] = field(default_factory=Counter)
    server: TestServer | None = None

    async def start(self) -> None:
        async def handler(request: web.Request) -> web.Response:
            await request.read()
            self.keys[request.headers.get("Idempotency-Key", "")] += 1
            return web.json_response({"id": secrets.token_hex(4)})

        async def head(_request: web.Request) -> web.Response:
            return web.Response()

        app = web.Application()
        app.router.add_post("/callback", handler)
        app.router.add_route("HEAD", "/callback", head)
        self.server = TestServer(app)
        await self.server.start_server()
        self.url = str(self.server.make_url("/callback"))

    async def close(self) -> None:
        if self.server:
            await self.server.close()


WECHAT_TOKEN = "chaostoken123"
WECHAT_XML = """<xml><ToUserName><![CDATA[gh_chaos]]></ToUserName>
<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{time}</CreateTime>
<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi {index}]]></Content>
<MsgId>{msg_id}</MsgId></xml>"""


@dataclass
class Traffic:
    """Customers posting and an admin replying while the gateway or Redis is being crashed.
    Every third message is a WeChat callback when a WeChat channel is given."""

    base: str
    channels: list[tuple[str, str]]  # (channel id, secret): messages alternate between them
    token: str
    wechat: str = ""  # a WeChat Official Account channel id (plain mode, WECHAT_TOKEN)
    customers: int = 12
    # message external id -> conversation id ("" when the channel does not say, as WeChat)
    acked: dict[str, str] = field(default_factory=dict)
    acked_on: dict[str, str] = field(default_factory=dict)  # message external id -> channel
    refused: int = 0  # attempts answered 5xx or not at all (retried later, like a platform)
    replies: set[str] = field(default_factory=set)  # "<conversation>:<seq>" accepted (201)
    reply_failures: int = 0

    async def customer(self, stop: asyncio.Event, drain_seconds: float = 60.0) -> None:
        """Posts new messages until ``stop``; a refused one is retried later (as a platform
        does) until it is acknowledged or the drain time after ``stop`` runs out."""
        pending: list[int] = []
        n = 0
        deadline = None
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            while True:
                if stop.is_set():
                    deadline = deadline or time.monotonic() + drain_seconds
                    if not pending or time.monotonic() > deadline:
                        return
                if pending and (stop.is_set() or n % 3 == 0):
                    index = pending.pop(0)
                else:
                    index, n = n, n + 1
                if not await self._post(http, index):
                    pending.append(index)
                    await asyncio.sleep(0.1)

    def channel_of(self, index: int) -> tuple[str, str]:
        return self.channels[index % len(self.channels)]

    async def _post(self, http: aiohttp.ClientSession, index: int) -> bool:
        if self.wechat and index % 3 == 2:
            return await self._post_wechat(http, index)
        return await self._post_api(http, index)

    async def _post_wechat(self, http: aiohttp.ClientSession, index: int) -> bool:
        """WeChat retries a callback not answered 200 (within 5 s) three times."""
        msg_id = str(7_000_000 + index)
        xml = WECHAT_XML.format(openid=f"oChaos{index % self.customers:04d}",
                                time=int(time.time()), index=index, msg_id=msg_id)  # fmt: skip
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        query = {"signature": wechat_signature(WECHAT_TOKEN, timestamp, nonce),
                 "timestamp": timestamp, "nonce": nonce}  # fmt: skip
        try:
            async with http.post(f"{self.base}/channels/{self.wechat}/wechat",
                                 params=query, data=xml.encode()) as resp:  # fmt: skip
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            self.refused += 1
            return False
        if status == 200:
            assert text == "success", text
            self.acked[msg_id], self.acked_on[msg_id] = "", self.wechat
            return True
        assert status >= 500, f"unexpected {status} for a WeChat callback"
        self.refused += 1
        return False

    async def _post_api(self, http: aiohttp.ClientSession, index: int) -> bool:
        customer = f"cust-{index % self.customers}"
        payload = {"message_id": f"m-{index}", "sender": {"id": customer}, "text": f"hi {index}"}
        body = json.dumps(payload).encode()
        channel_id, secret = self.channel_of(index)
        headers = {"X-Gateway-Signature": sign(secret, body),
                   "Content-Type": "application/json"}  # fmt: skip
        try:
            async with http.post(f"{self.base}/channels/{channel_id}/messages",
                                 data=body, headers=headers) as resp:  # fmt: skip
                data = await resp.json() if resp.status < 300 else None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self.refused += 1
            return False
        if 200 <= status < 300 and data:
            self.acked[payload["message_id"]] = data["conversation_id"]
            self.acked_on[payload["message_id"]] = channel_id
            return True
        assert status >= 500, f"unexpected {status} for an inbound message"
        self.refused += 1
        return False

    async def agent(self, stop: asyncio.Event) -> None:
        n = 0
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            while not stop.is_set():
                conversations = sorted(set(self.acked.values()) - {""})
                if not conversations:
                    await asyncio.sleep(0.1)
                    continue
                conversation = conversations[n % len(conversations)]
                n += 1
                try:
                    async with http.post(
                        f"{self.base}/api/v1/conversations/{conversation}/messages",
                        json={"text": f"reply {n}"},
                        headers={"Authorization": f"Bearer {self.token}"},
                    ) as resp:
                        if resp.status == 201:
                            seq = (await resp.json())["message"]["seq"]
                            self.replies.add(f"{conversation}:{seq}")
                        else:
                            assert resp.status >= 500, f"reply refused with {resp.status}"
                            self.reply_failures += 1
                except (aiohttp.ClientError, TimeoutError):
                    self.reply_failures += 1
                await asyncio.sleep(0.15)


async def setup_gateway(
    gateway: GatewayProcess, callback_url: str, channels: int = 2
) -> tuple[str, list[tuple[str, str]], str]:
    """Admin login, API channels with a callback and a WeChat Official Account channel (plain
    mode; nothing is sent to WeChat): (token, [(API channel id, secret)], WeChat channel id)."""
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(f"{gateway.base}/api/v1/auth/login", json=login) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(channels):
            secret = secrets.token_hex(16)
            config = {"secret": secret, "callback_url": callback_url}
            body: dict[str, Any] = {"type": "api", "name": f"chaos {n}", "config": config}
            url = f"{gateway.base}/api/v1/channels"
            async with http.post(url, json=body, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
                out.append(((await resp.json())["channel"]["id"], secret))
        wechat = {"app_id": "wxchaos", "app_secret": "secret", "token": WECHAT_TOKEN,
                  "mode": "plain", "greeting": "", "api_base": callback_url}  # fmt: skip
        body = {"type": "wechat_oa", "name": "chaos wechat", "config": wechat}
        async with http.post(f"{gateway.base}/api/v1/channels", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            wechat_id = (await resp.json())["channel"]["id"]
    return token, out, wechat_id
