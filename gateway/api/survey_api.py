"""The public survey page behind a signed link: GET shows the form (1-5 and a comment), POST
records the answer once. Forged links answer 403, expired 410, already answered 409."""

from __future__ import annotations

import html
import re

from aiohttp import web

from gateway.appkeys import GATEWAY
from gateway.surveys import MAX_COMMENT, LinkError

routes = web.RouteTableDef()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
fieldset{{border:0;padding:0}} label{{margin-right:1rem;font-size:1.2rem}}
textarea{{width:100%;min-height:6rem}} button{{margin-top:1rem;padding:.5rem 1.5rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""

_FORM = """<form method="post">
<fieldset><legend>How satisfied are you with our help? (1 = not at all, 5 = very)</legend>
{choices}</fieldset>
<p><label for="comment">Anything to add? (optional)</label></p>
<textarea id="comment" name="comment" maxlength="{max_comment}"></textarea>
<button type="submit">Send</button></form>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body),
        status=status,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the token must not leak to other sites
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


# What a link's token may hold (base64url body "." base64url signature). Anything else (non-ASCII,
# control characters, a path) is no link of ours: 404 before any signature check sees it.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,1000}")


def _refused(exc: LinkError) -> web.Response:
    return _page("Survey", f"<p>{html.escape(str(exc))}</p>", exc.status)


def _token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not _TOKEN.fullmatch(token):
        raise web.HTTPNotFound(text="no such survey")
    return token


@routes.get("/survey/{token}")
async def survey_form(request: web.Request) -> web.Response:
    try:
        await request.app[GATEWAY].aftercare.peek(_token(request))
    except LinkError as exc:
        return _refused(exc)
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}" required> {n}</label>'
        for n in range(1, 6)
    )
    return _page("How did we do?", _FORM.format(choices=choices, max_comment=MAX_COMMENT))


@routes.post("/survey/{token}")
async def survey_answer(request: web.Request) -> web.Response:
    token = _token(request)
    form = await request.post()
    try:
        score = int(str(form.get("score", "")))
    except ValueError:
        return _page("Survey", "<p>Please choose a rating from 1 to 5.</p>", 400)
    try:
        await request.app[GATEWAY].aftercare.answer(token, score, str(form.get("comment", "")))
    except LinkError as exc:
        return _refused(exc)
    return _page("Thank you", "<p>Thank you, your answer was recorded.</p>")
