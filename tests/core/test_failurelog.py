"""Background loops log a Redis outage in a few lines, not a traceback per round: the rules of
gateway/failurelog.py, then the search service against a Redis that is not there (a real
client, a port nobody listens on: its tries at the lease), and its 0.05-second poll failing."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.failurelog import FailureLog
from gateway.keys import Keys
from gateway.redis_client import connect
from gateway.search import Search

log = logging.getLogger("tests.failurelog")


def test_a_repeated_failure_is_one_line_a_minute_and_the_recovery_one_more(
    caplog: pytest.LogCaptureFixture,
):
    now = [0.0]
    failures = FailureLog(log, "poll", every=60, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger=log.name)
    down = ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")
    for _ in range(240):  # 30 s of a poll every 0.125 s
        failures.failed(down)
        now[0] += 0.125
    assert [r.getMessage() for r in caplog.records] == ["poll failed"]
    assert caplog.records[0].exc_info is not None  # the first one with its traceback
    for _ in range(400):  # 50 s more: past the minute
        failures.failed(down)
        now[0] += 0.125
    assert len(caplog.records) == 2
    assert caplog.records[1].getMessage() == (
        "poll still failing for 60 s (480 more times): ConnectionError: " + str(down)
    )
    assert caplog.records[1].exc_info is None
    # Something else goes wrong: said at once, with its traceback.
    failures.failed(ValueError("bad entry"))
    assert caplog.records[2].getMessage() == "poll failed"
    assert caplog.records[2].exc_info is not None
    failures.worked()
    assert caplog.records[3].getMessage() == "poll works again after 80 s"
    failures.worked()  # nothing more while it works
    failures.failed(down)  # a new outage starts over, with its traceback
    assert len(caplog.records) == 5 and caplog.records[4].exc_info is not None


async def test_the_search_service_does_not_flood_the_log_while_redis_is_away(
    caplog: pytest.LogCaptureFixture,
):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    search = Search(client, Keys("gw"), poll_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="gateway")
    await search.start()
    await asyncio.sleep(3.5)  # tries at the search lease every second, each failing
    await search.stop()
    await client.aclose()
    lines = [r for r in caplog.records if r.name.startswith("gateway")]
    assert [r.getMessage() for r in lines] == ["taking the lease {gw}:lease:search failed"]
    assert lines[0].exc_info is not None  # the first with its traceback


async def test_a_failing_search_poll_logs_once(caplog: pytest.LogCaptureFixture, redis_url: str):
    """The poll of the process holding the index, its reads failing (a wrong-type feed key
    stands for Redis refusing them): one line, not one per poll."""
    client = connect(redis_url)
    keys = Keys("t" + secrets.token_hex(6))
    await client.set(keys.conversations_index(), "not a sorted set")
    search = Search(client, keys, poll_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="gateway")
    await search.start()
    await asyncio.sleep(1.5)  # about 25 polls, each failing
    await search.stop()
    await client.delete(keys.conversations_index())
    await client.aclose()
    lines = [r for r in caplog.records if r.name.startswith("gateway")]
    assert [r.getMessage() for r in lines] == ["search index poll failed"], lines
