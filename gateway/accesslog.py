"""The access log without secrets: query-string values that are credentials (bearer tokens,
OAuth codes, WeChat's signature, msg_signature and echostr, ...) are written as ``REDACTED``,
in the request line and in the Referer.

aiohttp takes the logger class where the server is made (``web.run_app``, ``web.AppRunner``):
``server_options()`` gives what ``gateway serve``'s workers pass, and tests run the same.

A request aiohttp refuses itself (a malformed request line, a header HTTP allows once sent
twice) is logged as one WARNING line with the reason, not at ERROR with a traceback
(``quiet_refused_requests``): it is the client's mistake, answered 400, and an alert on errors
must not fire for every scanner on the internet."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

REDACTED = "REDACTED"
# Query parameters whose value is a secret, compared in lower case.
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",  # OAuth authorization code
        "state",
        "signature",  # WeChat's
        "msg_signature",
        "echostr",
        "sig",
        "key",
        "api_key",
        "apikey",
        "secret",
        "client_secret",
        "password",
        "auth",
        "authorization",
        "session",
        "ticket",
    }
)
# Any parameter whose name holds one of these is a secret too (``x_auth_token``, ``app_secret``).
SECRET_PARTS = ("token", "secret", "signature", "password", "passwd")


def _secret(name: str) -> bool:
    name = unquote(name).strip().lower()
    return name in SECRET_PARAMS or any(part in name for part in SECRET_PARTS)


def redact(target: str) -> str:
    """A path with its query (or a full URL), secret values replaced by REDACTED."""
    head, sep, query = target.partition("?")
    if not sep:
        return target
    query, hash_, fragment = query.partition("#")
    parts = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        parts.append(f"{name}={REDACTED}" if eq and _secret(name) else item)
    return f"{head}?{'&'.join(parts)}{hash_}{fragment}"


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access log (same format), with ``redact`` applied to the request line (%r)
    and to the Referer header."""

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        out = []
        for key, value in super()._format_line(request, response, time):
            if key == "first_request_line" or key == ("request_header", "Referer"):
                value = redact(str(value))
            out.append((key, value))
        return out


def server_options() -> dict[str, Any]:
    """Keyword arguments for ``web.run_app`` / ``web.AppRunner``."""
    access_log_class: type[AbstractAccessLogger] = RedactingAccessLogger
    return {"access_log_class": access_log_class}


class RefusedRequestFilter(logging.Filter):
    """aiohttp's "Error handling request" record for a request its parser refused (a 4xx
    ``HttpProcessingError``: no handler ran) becomes one WARNING line naming the reason; every
    other record, a handler's failure among them, passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "refused a malformed request from %s: %s %r"
            record.args = (remote, exc.code, exc.message)
            record.exc_info, record.exc_text = None, None
        return True


def quiet_refused_requests() -> None:
    """Installs ``RefusedRequestFilter`` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, RefusedRequestFilter) for f in logger.filters):
        logger.addFilter(RefusedRequestFilter())
