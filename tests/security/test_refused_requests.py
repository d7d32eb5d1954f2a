"""A request aiohttp refuses before any handler runs (the client's mistake: a header HTTP
allows once sent twice, bytes a request line may not hold) is answered 400 with the reason and
logged as one WARNING line naming it; it used to be an ERROR with a traceback, which an alert on
errors would page someone for. A handler's failure still logs at ERROR."""

from __future__ import annotations

import logging
import sys

import pytest

from gateway.accesslog import RefusedRequestFilter
from tests.conftest import Harness
from tests.rawhttp import raw_request

REFUSED = [
    ([("Content-Type", "application/json"), ("Content-Type", "text/plain")], "/healthz"),
    ([], "/healthz\x01"),
]


@pytest.mark.parametrize(("headers", "target"), REFUSED, ids=["content-type-twice", "control"])
async def test_a_refused_request_is_one_warning_line(
    gateway: Harness, caplog: pytest.LogCaptureFixture, headers, target
):
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    answer = await raw_request(gateway.client, "POST", target, headers, b"{}")
    assert answer.status == 400, answer
    logged = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelname, r.exc_info) for r in logged] == [("WARNING", None)], logged
    assert logged[0].getMessage().startswith("refused a malformed request from ")
    assert ": 400 " in logged[0].getMessage()


def test_any_other_record_passes_unchanged():
    try:
        raise RuntimeError("a handler failed")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
        ("127.0.0.1",), exc_info,
    )  # fmt: skip
    assert RefusedRequestFilter().filter(record)
    assert (record.levelname, record.exc_info, record.getMessage()) == (
        "ERROR", exc_info, "Error handling request from 127.0.0.1",
    )  # fmt: skip
