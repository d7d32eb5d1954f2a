"""HTTP helpers shared by the API handlers: errors as JSON, body validation, role checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from aiohttp import WSCloseCode, web
from pydantic import BaseModel, ValidationError

from gateway.appkeys import GATEWAY
from gateway.auth import Session
from gateway.models import Role
from gateway.redis_client import unavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)


def error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    body = json.dumps({"error": {"code": code, "message": message, **extra}}, ensure_ascii=False)
    cls = web.HTTPException
    for candidate in (
        web.HTTPBadRequest,
        web.HTTPUnauthorized,
        web.HTTPForbidden,
        web.HTTPNotFound,
        web.HTTPRequestTimeout,
        web.HTTPConflict,
        web.HTTPRequestEntityTooLarge,
        web.HTTPTooManyRequests,
        web.HTTPServiceUnavailable,
        web.HTTPMethodNotAllowed,
        web.HTTPBadGateway,
    ):
        if candidate.status_code == status:
            cls = candidate
    if cls is web.HTTPMethodNotAllowed:
        return web.HTTPMethodNotAllowed("?", [], text=body, content_type="application/json")
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=0, actual_size=0, text=body, content_type="application/json"
        )
    return cls(text=body, content_type="application/json")


def setting(request: web.Request, name: str, default: Any) -> Any:
    """A gateway setting seen from a request (adapters' handlers included); ``default`` when an
    adapter is served on its own, without the gateway (tests)."""
    gateway = request.app.get(GATEWAY)
    return getattr(gateway.settings, name) if gateway is not None else default


class BodyTimeout(Exception):
    """The request body did not arrive within its deadline (see ``body_deadline``)."""


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request body must arrive whole within ``body_timeout_seconds`` of the request's start
    (``upload_timeout_seconds`` for a body larger than ``max_body_bytes``: only file uploads
    take those), else 408 and the connection is closed: a client sending one byte every few
    seconds no longer holds a connection and a handler for minutes. Wherever a handler reads
    the body (``request.read()``, ``json()``, ``post()``, the raw stream), that read fails at the
    deadline. Requests without a body (WebSocket upgrades, long polls, downloads) are never
    cut, however long they last."""
    if not request.body_exists:
        return await handler(request)
    gateway = request.app.get(GATEWAY)
    if gateway is None:
        return await handler(request)
    settings = gateway.settings
    large = (request.content_length or 0) > settings.max_body_bytes
    seconds = settings.upload_timeout_seconds if large else settings.body_timeout_seconds
    content = request.content

    def expire() -> None:
        if not content.is_eof():
            content.set_exception(BodyTimeout(f"request body not received within {seconds:g} s"))

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await handler(request)
    except BodyTimeout as exc:
        log.info("request body too slow: %s %s (%s)", request.method, request.path, exc)
        refused = error(408, "body_timeout", f"{exc}; send the request again, faster")
        refused.headers["Connection"] = "close"
        raise refused from None
    finally:
        timer.cancel()


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


# Deepest nesting of arrays and objects accepted from a client. Python's parser gives up near
# 1,000 levels with a RecursionError, and anything deeper than a few levels is an attack: every
# client payload we take is shallow.
MAX_JSON_DEPTH = 64


class InvalidJSON(ValueError):
    """Untrusted JSON that is malformed, nested too deeply or holds a lone surrogate: 400 over
    HTTP, and on a WebSocket an error frame (malformed) or a close with 1007 (``too_deep``)."""

    def __init__(self, message: str, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


def loads(raw: str | bytes | bytearray) -> Any:
    """The one way to parse JSON a client sent (request bodies, WebSocket frames): InvalidJSON
    instead of a RecursionError, a decoding error, a structure deeper than MAX_JSON_DEPTH or a
    lone surrogate."""
    try:
        text = raw if isinstance(raw, str) else _decoded(bytes(raw))
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidJSON(str(exc)) from None
    # Measured before parsing: the parser recurses once per level, and a deep bomb run near the
    # interpreter's recursion limit makes whatever runs meanwhile (a garbage collection's
    # finalizers, a log handler) fail with RecursionError outside our reach.
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise InvalidJSON(f"nested deeper than {MAX_JSON_DEPTH} levels", True)
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidJSON(f"nested deeper than {MAX_JSON_DEPTH} levels", True) from None
    except (ValueError, TypeError) as exc:
        raise InvalidJSON(str(exc)) from None
    # JSON lets "\ud800" stand alone (and the bytes of one pass the decoding above), but it is
    # no character: Redis, the console and the reply could never encode the text it is in.
    if _MAY_HOLD_SURROGATE.search(text) and _holds_surrogate(value):
        raise InvalidJSON("a lone surrogate (\\ud800-\\udfff) is no Unicode character")
    return value


_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _holds_surrogate(value: Any) -> bool:
    """Whether a string of the parsed ``value`` (a key or a value) has a surrogate: a pair
    escaped in JSON was made one character by the parser, so any left is a lone one."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _decoded(raw: bytes) -> str:
    """Bytes as json.loads would read them (UTF-8, -16 or -32, told by the first bytes)."""
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


# A string from its opening quote to its closing one, or to the end of the text when it has
# none. It matches wherever it starts: a pattern that could fail would be tried again from each
# later quote, quadratic in a body of escaped quotes.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.?[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest more than ``limit`` levels, counted on the
    brackets outside strings (a loop, no recursion; cheap when there are few brackets)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        if depth > limit:
            return True
    return False


def json_error(exc: InvalidJSON) -> web.HTTPException:
    return error(400, "invalid_json", f"body is not valid JSON: {exc}")


def close_reason(text: str) -> bytes:
    """``text`` as a WebSocket close reason: at most 123 bytes (RFC 6455), cut at a whole
    character; half a character is no UTF-8, and the client fails the close with 1007."""
    return text.encode()[:123].decode("utf-8", "ignore").encode()


async def close_too_deep(ws: web.WebSocketResponse) -> None:
    """A WebSocket frame nested too deeply: closed with 1007 (inconsistent data)."""
    with contextlib.suppress(Exception):
        await ws.close(code=WSCloseCode.INVALID_TEXT, message=b"JSON nested too deeply")


async def read_json(request: web.Request) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise error(413, "too_large", "request body too large") from None
    try:
        return loads(raw or b"null")
    except InvalidJSON as exc:
        raise json_error(exc) from None


async def read_upload(request: web.Request, limit: int) -> tuple[str, bytes]:
    """An uploaded file: its name from ``?name=`` (cleaned: ``upload_name``) and its bytes, the
    raw body. 400 for a bad name or an empty file, 413 over ``limit``."""
    raw_name = request.query.get("name", "")
    if not raw_name.strip() or len(raw_name) > 255 or any(c in raw_name for c in "/\\"):
        raise error(400, "invalid_field", "name: the file name, 1-255 characters, no slashes",
                    field="name")  # fmt: skip
    name = upload_name(raw_name)
    data = await _read_capped(request, limit)
    if not data:
        raise error(400, "invalid_field", "body: the file is empty", field="body")
    return name, data


# Unicode categories never kept in a file name: controls (CR, LF, NUL, ...), format characters
# (right-to-left overrides that disguise an extension), line and paragraph separators.
_UNSAFE_IN_NAME = frozenset({"Cc", "Cf", "Zl", "Zp"})
FALLBACK_NAME = "file"


def upload_name(name: str) -> str:
    """A file name as given, made safe to carry in a header (an email's MIME part, a download):
    control and format characters removed, white space collapsed; ``FALLBACK_NAME`` when
    nothing is left. A CR/LF kept here would make every send of the reply fail."""
    kept = "".join(
        " " if c.isspace() else "" if unicodedata.category(c) in _UNSAFE_IN_NAME else c
        for c in name
    )
    return " ".join(kept.split()) or FALLBACK_NAME


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The raw body up to ``limit`` bytes, which may exceed max_body_bytes (that bounds every
    other request); 413 beyond it, before reading more than the limit."""
    too_large = error(413, "too_large", f"the file is over the {limit:,}-byte limit")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def error_detail(first: dict[str, Any]) -> dict[str, Any]:
    """What a client needs to say a validation error in words: pydantic's error type as
    ``reason`` (``string_too_short``) and its numeric ``limits`` (``{"min_length": 16}``)."""
    ctx = first.get("ctx") or {}
    limits = {
        k: v for k, v in ctx.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return {"reason": str(first.get("type") or "invalid"), "limits": limits}


def validation_error(exc: ValidationError) -> web.HTTPException:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "body"
    detail = error_detail(first)
    return error(400, "invalid_field", f"{field}: {first.get('msg')}", field=field, **detail)


async def parse(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise error(400, "invalid_json", "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def session(request: web.Request) -> Session:
    return request[SESSION]


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    """Only these roles may call the handler; others get 403."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            if session(request).user.role not in roles:
                raise error(403, "forbidden", "your role may not do this")
            return await handler(request)

        wrapper.roles = roles  # type: ignore[attr-defined]
        return wrapper

    return decorate


ANY_USER = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
STAFF = (Role.ADMIN, Role.SUPERVISOR)


async def close_on_failure(ws: web.WebSocketResponse, exc: Exception) -> None:
    """A WebSocket is past its HTTP answer: a failure closes it with a code its client acts on
    (1013 "try again later" while storage is down, 1011 otherwise), never an HTTP error."""
    if unavailable(exc):
        log.warning("storage unavailable: closing a WebSocket (%s)", exc)
        code, reason = WSCloseCode.TRY_AGAIN_LATER, b"storage unavailable; reconnect later"
    else:
        log.exception("WebSocket handler failed")
        code, reason = WSCloseCode.INTERNAL_ERROR, b"internal error"
    with contextlib.suppress(Exception):
        await ws.close(code=code, message=reason)
