"""Shared fixtures: one real Redis for the whole run, a fresh key prefix per test, and running
gateway apps (several may share one Redis, like several processes would).

The Redis is the embedded server, or with ``GATEWAY_TEST_REDIS=cluster`` a real local Redis
Cluster of 3 masters (tests/cluster/local_cluster.py): every fixture then gets a cluster client
or the cluster's URL, and each test's prefix (one hash slot) lands on one of the masters.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.api.signing import sign
from gateway.app import create_app
from gateway.appkeys import GATEWAY
from gateway.keys import Keys
from gateway.redis_client import RedisClient, connect
from gateway.redis_server import EmbeddedRedis
from gateway.services import Gateway
from gateway.settings import Settings, load_settings
from tests.cluster.local_cluster import LocalCluster

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"

TEST_REDIS = os.environ.get("GATEWAY_TEST_REDIS", "embedded")
if TEST_REDIS not in ("embedded", "cluster"):
    raise pytest.UsageError(f"GATEWAY_TEST_REDIS: embedded or cluster, not {TEST_REDIS!r}")
CLUSTER = TEST_REDIS == "cluster"
# For tests of the embedded Redis server itself (its restart, AOF replay, data directory): they
# start their own server whatever the mode, so the cluster pass would only repeat them.
embedded_only = pytest.mark.skipif(
    CLUSTER, reason="tests the embedded Redis server itself; runs in the embedded pass"
)


def pytest_report_header() -> str:
    return f"redis: {TEST_REDIS} (GATEWAY_TEST_REDIS)"


# The collector's full passes walk every object the session holds, and the session holds more
# with every test (reports, Hypothesis' examples, imported modules, caches): within the first
# tenth of the cluster pass a pass held the event loop for 0.36 s, and rising. Every
# FREEZE_EVERY tests what survives a collection is frozen (left out of later passes), as
# gateway/supervisor.py does with a worker's startup heap; at once after a test that unfroze it
# (test_worker_heap).
FREEZE_EVERY = 25
_tests_run = 0


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    global _tests_run
    _tests_run += 1
    if _tests_run % FREEZE_EVERY == 0 or not gc.get_freeze_count():
        gc.collect()
        gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is marked ``browser`` (the CI's cluster pass leaves them
    out: a page exercises no Redis semantics the API tests do not)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EmbeddedRedis | LocalCluster]:
    server: EmbeddedRedis | LocalCluster
    if CLUSTER:
        server = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    else:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


# The gateway under test shares one process with the tests, the fakes, Hypothesis and the
# collector's full passes over a heap that grows all session, on a loaded 2-core CI machine: an
# event loop held for 0.75 s makes a command "time out" that Redis answered at once (503
# "storage unavailable" in a test about something else). The tests' Redis URL therefore names a
# longer socket timeout; tests of the product's own timeouts are marked ``product_timeouts`` and
# get the URL without it (gateway/redis_client.py's SOCKET_TIMEOUT_SECONDS).
TEST_SOCKET_TIMEOUT_SECONDS = 3.0


def with_options(url: str, options: str) -> str:
    """``url`` with ``options`` (``name=value&...``) added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}{options}"


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_server: EmbeddedRedis | LocalCluster) -> str:
    if request.node.get_closest_marker("product_timeouts"):
        return redis_server.url
    return with_options(redis_server.url, f"socket_timeout={TEST_SOCKET_TIMEOUT_SECONDS}")


@pytest.fixture
def prefix() -> str:
    return "t" + secrets.token_hex(6)


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url)
    yield client
    await client.aclose()


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll until ``predicate`` returns something truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class Harness:
    """One running gateway app, reached through an aiohttp test client."""

    client: TestClient
    settings: Settings
    admin_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def gw(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    @property
    def base_url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json_body: Any = None,
        expect: int | None = 200,
    ) -> Any:
        headers = self.auth(token or self.admin_token)
        resp = await self.client.request(method, path, json=json_body, headers=headers)
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        if expect is not None:
            assert resp.status == expect, f"{method} {path} -> {resp.status}: {body}"
        return body

    async def login(self, email: str, password: str) -> str:
        resp = await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]

    async def create_user(self, email: str, role: str = "agent", **extra: Any) -> tuple[str, str]:
        """Creates a user through the admin API; returns (user id, token)."""
        password = "password-" + secrets.token_hex(4)
        body = {
            "email": email,
            "password": password,
            "name": extra.pop("name", email.split("@")[0]),
            "role": role,
            **extra,
        }
        user = (await self.call("POST", "/api/v1/users", json_body=body, expect=201))["user"]
        token = await self.login(email, password)
        self.tokens[user["id"]] = token
        return user["id"], token

    async def agent_online(self, email: str, **extra: Any) -> tuple[str, str]:
        user_id, token = await self.create_user(email, **extra)
        await self.call("PUT", "/api/v1/agents/me/status", token, {"status": "online"})
        return user_id, token

    async def create_channel(
        self, channel_type: str, config: dict[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        """Named ``name`` (default "test channel"), or, that name being taken (channel names
        are unique), the name and a few hex digits."""
        body = {"type": channel_type, "name": name or "test channel", "config": config}
        got = await self.call("POST", "/api/v1/channels", json_body=body, expect=None)
        if "channel" in got:
            return got["channel"]
        assert got["error"]["code"] == "duplicate_name", got
        body["name"] = f"{body['name']} {secrets.token_hex(3)}"
        return (await self.call("POST", "/api/v1/channels", json_body=body, expect=201))["channel"]

    async def api_channel(self, callback_url: str | None = None) -> tuple[str, str]:
        """A generic API channel; returns (channel id, secret)."""
        secret = secrets.token_hex(16)
        config: dict[str, Any] = {"secret": secret}
        if callback_url:
            config["callback_url"] = callback_url
        channel = await self.create_channel("api", config)
        return channel["id"], secret

    async def post_api_message(
        self, channel_id: str, secret: str, payload: dict[str, Any]
    ) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        resp = await self.client.post(
            f"/channels/{channel_id}/messages",
            data=body,
            headers={"X-Gateway-Signature": sign(secret, body), "Content-Type": "application/json"},
        )
        try:
            data = await resp.json()
        except Exception:
            data = await resp.text()
        return resp.status, data


async def _start(redis_url: str, prefix: str, tmp_path: Path, overrides: dict[str, Any]) -> Harness:
    values = {
        "data_dir": str(tmp_path / "data"),
        "redis_prefix": prefix,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "router_sweep_seconds": 0.2,
        "outbox_backoff_base_seconds": 0.1,
        "outbox_backoff_max_seconds": 0.5,
        **overrides,
    }
    settings = load_settings(values, environ={})
    client = TestClient(TestServer(create_app(settings, redis_url)))
    await client.start_server()
    harness = Harness(client, settings)
    # Links the gateway builds (webhook URLs) point at this test server.
    harness.gw.settings.public_url = harness.base_url
    harness.admin_token = await harness.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    return harness


MakeGateway = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_gateway(redis_url: str, prefix: str, tmp_path: Path) -> AsyncIterator[MakeGateway]:
    """Start a gateway app on the test Redis. Call it twice for two 'processes' on one Redis."""
    started: list[TestClient] = []

    async def make(**overrides: Any) -> Harness:
        harness = await _start(redis_url, prefix, tmp_path, overrides)
        started.append(harness.client)
        return harness

    yield make
    for client in reversed(started):
        await client.close()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Harness:
    return await make_gateway()


@dataclass
class OwnRedisGateway:
    """A gateway app on an embedded Redis of its own, which the test may kill."""

    harness: Harness
    redis: EmbeddedRedis


@pytest.fixture
async def own_redis_gateway(tmp_path: Path) -> AsyncIterator[OwnRedisGateway]:
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    harness = await _start(server.url, "own", tmp_path, {})
    try:
        yield OwnRedisGateway(harness, server)
    finally:
        await harness.client.close()
        server.stop()


@dataclass
class CallbackServer:
    """A local HTTP server standing in for an API channel's callback endpoint."""

    url: str
    received: list[tuple[dict[str, str], bytes]]
    status: list[int]  # statuses to answer in order; 200 once exhausted


@pytest.fixture
async def callback_server() -> AsyncIterator[CallbackServer]:
    received: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        status = statuses.pop(0) if statuses else 200
        return web.json_response({"id": f"remote-{len(received)}"}, status=status)

    app = web.Application()
    app.router.add_post("/callback", handler)
    server = TestServer(app)
    await server.start_server()
    yield CallbackServer(str(server.make_url("/callback")), received, statuses)
    await server.close()


@pytest.fixture
def make_gateway_sync(redis_url: str, tmp_path: Path) -> Callable[..., None]:
    """For hypothesis tests (sync): run ``body(first, second)`` against two fresh gateway apps
    on one Redis with a fresh key prefix, in a fresh event loop."""

    def run(body: Callable[[Harness, Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            prefix = "h" + secrets.token_hex(6)
            harnesses = []
            try:
                for _ in range(2):
                    harnesses.append(await _start(redis_url, prefix, tmp_path, {}))
                await body(*harnesses)
            finally:
                for h in harnesses:
                    await h.client.close()

        asyncio.run(main())

    return run
