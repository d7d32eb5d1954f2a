"""The public survey page behind a signed link: GET shows the form (1-5 and a comment), POST
records the answer once. Forged links answer 403, expired 410, already answered 409. The page
speaks the language of the conversation's channel (``auto``: the customer's browser)."""

from __future__ import annotations

import html
import re

from aiohttp import web

from gateway.appkeys import GATEWAY
from gateway.i18n import negotiate, translate
from gateway.surveys import (
    MAX_COMMENT,
    LinkError,
    conversation_language,
    load_settings,
    read_token,
    survey_text_in,
)

routes = web.RouteTableDef()

# Chinese first: a font stack that renders Simplified and Traditional Chinese on Windows, macOS,
# Linux and phones.
FONTS = (
    'system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei",'
    '"Noto Sans CJK SC","Source Han Sans SC","PingFang TC","Microsoft JhengHei",'
    '"Noto Sans CJK TC",sans-serif'
)

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:{fonts};max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.6}}
fieldset{{border:0;padding:0}} label{{margin-right:1rem;font-size:1.2rem}}
textarea{{width:100%;min-height:6rem}} button{{margin-top:1rem;padding:.5rem 1.5rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""

_FORM = """<form method="post">
<fieldset><legend>{legend}</legend>
{choices}</fieldset>
<p><label for="comment">{comment}</label></p>
<textarea id="comment" name="comment" maxlength="{max_comment}"></textarea>
<button type="submit">{send}</button></form>"""


def _t(lang: str, key: str) -> str:
    return html.escape(translate(lang, f"customer.survey_page.{key}"))


def _page(lang: str, title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(lang=lang, title=html.escape(title), body=body, fonts=FONTS),
        status=status,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the token must not leak to other sites
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Vary": "Accept-Language",
        },
    )


# What a link's token may hold (base64url body "." base64url signature). Anything else (non-ASCII,
# control characters, a path) is no link of ours: 404 before any signature check sees it.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,1000}")
_REFUSALS = {"forged": "forged", "expired": "expired", "used": "used", "invalid_field": "choose"}


def _refused(lang: str, exc: LinkError) -> web.Response:
    reason = _t(lang, _REFUSALS.get(exc.code, "forged"))
    return _page(
        lang, translate(lang, "customer.survey_page.survey"), f"<p>{reason}</p>", exc.status
    )


def _token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not _TOKEN.fullmatch(token):
        raise web.HTTPNotFound(text="no such survey")
    return token


async def _language(request: web.Request, token: str) -> str:
    """The channel's language of the conversation the link names (read before the signature is
    checked: a forged link only picks the language of its refusal)."""
    accept = request.headers.get("Accept-Language")
    link = read_token(token)
    if link is None:
        return negotiate(accept)
    gw = request.app[GATEWAY]
    return await conversation_language(gw.redis, gw.keys, link.conversation_id, accept)


@routes.get("/survey/{token}")
async def survey_form(request: web.Request) -> web.Response:
    token = _token(request)
    lang = await _language(request, token)
    gw = request.app[GATEWAY]
    try:
        await gw.aftercare.peek(token)
    except LinkError as exc:
        return _refused(lang, exc)
    settings = await load_settings(gw.redis, gw.keys)
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}" required> {n}</label>'
        for n in range(1, 6)
    )
    form = _FORM.format(
        legend=_t(lang, "legend"),
        choices=choices,
        comment=html.escape(survey_text_in(settings, "survey_comment_prompt", lang)),
        send=html.escape(survey_text_in(settings, "survey_send_label", lang)),
        max_comment=MAX_COMMENT,
    )
    return _page(lang, translate(lang, "customer.survey_page.title"), form)


@routes.post("/survey/{token}")
async def survey_answer(request: web.Request) -> web.Response:
    token = _token(request)
    lang = await _language(request, token)
    form = await request.post()
    try:
        score = int(str(form.get("score", "")))
    except ValueError:
        title = translate(lang, "customer.survey_page.survey")
        return _page(lang, title, f"<p>{_t(lang, 'choose')}</p>", 400)
    gw = request.app[GATEWAY]
    try:
        await gw.aftercare.answer(token, score, str(form.get("comment", "")))
    except LinkError as exc:
        return _refused(lang, exc)
    settings = await load_settings(gw.redis, gw.keys)
    thanks = html.escape(survey_text_in(settings, "survey_thanks_text", lang))
    return _page(lang, translate(lang, "customer.survey_page.thanks_title"), f"<p>{thanks}</p>")
