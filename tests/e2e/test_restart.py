"""`gateway serve` as a real process with its embedded Redis: stopped and started again on the
same data directory, everything is still there, and a queued reply is sent after the restart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.api.signing import sign
from tests.conftest import embedded_only, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"gateway-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.pop("REDIS_URL", None)
        env.update(
            GATEWAY_PUBLIC_URL=self.url,
            GATEWAY_OUTBOX_BACKOFF_BASE_SECONDS="4",
            GATEWAY_ROUTER_SWEEP_SECONDS="0.2",
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=out,
                stderr=out,
                env=env,
            )

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def _ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


@embedded_only
async def test_restart_keeps_everything_and_sends_queued_replies(tmp_path: Path):
    served = Served(tmp_path / "data", _free_port())
    callback_port = _free_port()
    callback_url = f"http://127.0.0.1:{callback_port}/cb"
    served.start()
    try:
        await wait_for(lambda: _ready(served.url), timeout=60)
        match = re.search(r"Created the first admin: (\S+) password: (\S+)", served.output())
        assert match, served.output()
        email, password = match.groups()
        async with aiohttp.ClientSession(served.url) as http:
            async with http.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            ) as r:
                admin = {"Authorization": f"Bearer {(await r.json())['token']}"}
            async with http.post(
                "/api/v1/users",
                headers=admin,
                json={
                    "email": "agent@example.com",
                    "password": "agent-password-1",
                    "name": "Agent",
                },
            ) as r:
                assert r.status == 201
            async with http.post(
                "/api/v1/auth/login",
                json={"email": "agent@example.com", "password": "agent-password-1"},
            ) as r:
                agent = {"Authorization": f"Bearer {(await r.json())['token']}"}
            secret = "restart-secret-0123456789"
            async with http.post(
                "/api/v1/channels",
                headers=admin,
                json={
                    "type": "api",
                    "name": "crm",
                    "config": {"secret": secret, "callback_url": callback_url},
                },
            ) as r:
                channel_id = (await r.json())["channel"]["id"]
            body = json.dumps(
                {"message_id": "m1", "sender": {"id": "c1"}, "text": "before restart"}
            ).encode()
            async with http.post(
                f"/channels/{channel_id}/messages",
                data=body,
                headers={"X-Gateway-Signature": sign(secret, body)},
            ) as r:
                conv = (await r.json())["conversation_id"]
            async with http.put(
                "/api/v1/agents/me/status", headers=agent, json={"status": "online"}
            ):
                pass

            async def offered() -> bool:
                async with http.get(f"/api/v1/conversations/{conv}", headers=agent) as r:
                    return (await r.json())["conversation"]["offered_to"] is not None

            await wait_for(offered)
            async with http.post(f"/api/v1/conversations/{conv}/accept", headers=agent) as r:
                assert r.status == 200
            async with http.post(
                f"/api/v1/conversations/{conv}/messages",
                headers=agent,
                json={"text": "queued reply"},
            ) as r:
                seq = (await r.json())["message"]["seq"]

            async def first_attempt_failed() -> bool:
                async with http.get(f"/api/v1/conversations/{conv}/messages", headers=agent) as r:
                    m = next(m for m in (await r.json())["messages"] if m["seq"] == seq)
                    return m["attempts"] >= 1 and m["delivery"] == "queued"

            await wait_for(first_attempt_failed)
        assert served.stop() == 0
        assert not (served.data_dir / "redis" / "redis.sock").exists()

        # The callback endpoint comes up while the gateway is down.
        received: list[bytes] = []

        async def handler(request: web.Request) -> web.Response:
            received.append(await request.read())
            return web.json_response({"id": "ok"})

        app = web.Application()
        app.router.add_post("/cb", handler)
        callback = TestServer(app, port=callback_port)
        await callback.start_server()
        served.start()
        try:
            await wait_for(lambda: _ready(served.url), timeout=60)
            assert served.output().count("Created the first admin") == 1
            async with aiohttp.ClientSession(served.url) as http:
                # Tokens survive too.
                async with http.get(f"/api/v1/conversations/{conv}/messages", headers=agent) as r:
                    assert r.status == 200
                    texts = [m["text"] for m in (await r.json())["messages"]]
                assert "before restart" in texts and "queued reply" in texts
                async with http.get("/api/v1/users", headers=admin) as r:
                    emails = {u["email"] for u in (await r.json())["users"]}
                assert emails == {email, "agent@example.com"}

            async def sent() -> bool:
                return len(received) == 1

            await wait_for(sent, timeout=30)
            assert json.loads(received[0])["text"] == "queued reply"
        finally:
            await callback.close()
    finally:
        if served.proc and served.proc.poll() is None:
            served.stop()
    # Nothing left running.
    await asyncio.sleep(0.2)
    assert not (served.data_dir / "redis" / "redis.sock").exists()
