"""Redis refusing a write is backpressure, not a crash: with `maxmemory-policy noeviction` and
memory full, the ingest script's write is refused (OOM, wrapped in a script error) and the
webhook answers 503, so the platform retries; once memory is back, the same message is taken."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.redis_server import EmbeddedRedis
from tests.conftest import _start


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis", ["--maxmemory-policy", "noeviction"])
    server.start()
    yield server
    server.stop()


def _set_maxmemory(server: EmbeddedRedis, value: int) -> None:
    with redis.Redis(unix_socket_path=str(server.socket_path), socket_timeout=5) as admin:
        admin.config_set("maxmemory", value)


async def test_a_full_redis_means_503_then_the_retry_is_taken(own_redis: EmbeddedRedis,
                                                              tmp_path: Path):  # fmt: skip
    gateway = await _start(own_redis.url, "full", tmp_path, {})
    try:
        channel_id, secret = await gateway.api_channel()
        message = {"message_id": "m1", "sender": {"id": "c"}, "text": "hi"}
        _set_maxmemory(own_redis, 1)  # below what is used: every write is refused
        status, body = await gateway.post_api_message(channel_id, secret, message)
        assert status == 503, body
        _set_maxmemory(own_redis, 0)
        status, body = await gateway.post_api_message(channel_id, secret, message)
        assert status == 202, body
        assert body["duplicate"] is False
    finally:
        await gateway.client.close()
