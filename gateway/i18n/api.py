"""The catalogues for the browser and the agent's language setting.

``GET /console/i18n/{lang}.json``: every key in ``lang`` (with its fallbacks), cacheable.
``GET /api/v1/me/language``; ``PUT /api/v1/me/language`` with
``{"language": "zh-CN" | "en" | "zh-TW" | null}`` (null: the browser's).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from gateway.api.http import ANY_USER, error, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.i18n.catalog import LANGUAGES, resolved
from gateway.i18n.negotiate import negotiate
from gateway.i18n.prefs import LanguagePrefs

routes = web.RouteTableDef()


@cache
def _body(lang: str) -> tuple[bytes, str]:
    body = json.dumps(resolved(lang), ensure_ascii=False, sort_keys=True).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


@routes.get("/console/i18n/{lang}.json")
async def catalogue_json(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise error(404, "unknown_language", f"no catalogue for {lang!r}; have {list(LANGUAGES)}")
    body, etag = _body(lang)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=body, content_type="application/json", charset="utf-8", headers=headers
    )


class LanguageBody(BaseModel):
    language: Literal["zh-CN", "en", "zh-TW"] | None = None


class LanguageAnswer(BaseModel):
    language: str | None  # the setting; null: the browser's
    effective: str  # what the console shows
    time_zone: str  # the deployment's zone (report days); times are shown in the viewer's


RESPONSES = {"GET /api/v1/me/language": LanguageAnswer, "PUT /api/v1/me/language": LanguageAnswer}


def _prefs(request: web.Request) -> LanguagePrefs:
    return request.app[GATEWAY].languages


def _answer(request: web.Request, language: str | None) -> web.Response:
    effective = language or negotiate(request.headers.get("Accept-Language"))
    zone = request.app[GATEWAY].settings.zone_name
    return ok({"language": language, "effective": effective, "time_zone": zone})


@routes.get("/api/v1/me/language")
@requires(*ANY_USER)
async def get_language(request: web.Request) -> web.Response:
    return _answer(request, await _prefs(request).get(session(request).user.id))


@routes.put("/api/v1/me/language")
@requires(*ANY_USER)
async def put_language(request: web.Request) -> web.Response:
    body = await parse(request, LanguageBody)
    if not await _prefs(request).set(session(request).user.id, body.language):
        raise error(404, "not_found", "no such user")
    return _answer(request, body.language)
