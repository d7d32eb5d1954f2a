"""Hostile path parameters (NUL, non-ASCII, invalid UTF-8, CR/LF, traversal, very long) answer
400 or 404, never 500: the survey token and the media file name first, then every other
parameter of every route."""

from __future__ import annotations

import pytest
from yarl import URL

from tests.conftest import Harness

HOSTILE = [
    "%00",
    "a%00b",
    "a.%C3%A9",
    "%C3%A9.%C3%A9",
    "%FF%FE",
    "%0D%0Ax",
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "%E2%80%AE",
    "x" * 3000,
    "a.b.c",
]


async def _status(gateway: Harness, method: str, path: str, token: str | None = None) -> int:
    headers = gateway.auth(token) if token else {}
    url = URL(gateway.base_url + path, encoded=True)
    async with gateway.client.session.request(method, url, headers=headers) as resp:
        await resp.read()
        return resp.status


@pytest.mark.parametrize("token", ["a.%C3%A9", "%C3%A9", "%00.%00", "a%0Ab.c"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_hostile_survey_token_is_not_found(gateway: Harness, token: str, method: str):
    assert await _status(gateway, method, f"/survey/{token}") == 404


@pytest.mark.parametrize(
    "path", ["/media/x/%00", "/media/%00/x", "/media/x/a%00b", "/media/%C3%A9/%FF", "/media/x/%0A"]
)
async def test_a_hostile_media_path_is_refused(gateway: Harness, path: str):
    assert await _status(gateway, "GET", path) in (400, 404)


ROUTES = [
    ("GET", "/survey/{}"),
    ("POST", "/survey/{}"),
    ("GET", "/media/{}/file"),
    ("GET", "/media/channel/{}"),
    ("GET", "/api/v1/conversations/{}"),
    ("GET", "/api/v1/conversations/{}/messages"),
    ("POST", "/api/v1/conversations/{}/accept"),
    ("POST", "/api/v1/conversations/{}/messages/{}/retry"),
    ("PUT", "/api/v1/conversations/{}/tags"),
    ("GET", "/api/v1/channels/{}"),
    ("PATCH", "/api/v1/channels/{}"),
    ("DELETE", "/api/v1/channels/{}"),
    ("POST", "/api/v1/channels/{}/verify"),
    ("PATCH", "/api/v1/users/{}"),
    ("DELETE", "/api/v1/users/{}"),
    ("PATCH", "/api/v1/canned/{}"),
    ("DELETE", "/api/v1/canned/{}"),
    ("GET", "/console/{}"),
    ("POST", "/channels/{}/messages"),
    ("GET", "/channels/{}/webchat/ws"),
]


@pytest.mark.parametrize(("method", "template"), ROUTES)
async def test_no_path_parameter_makes_a_server_error(gateway: Harness, method: str, template: str):
    failures = []
    for value in HOSTILE:
        path = template.replace("{}", value)
        status = await _status(gateway, method, path, gateway.admin_token)
        if status >= 500 or status not in (400, 401, 403, 404, 405, 409, 413, 414, 431):
            failures.append((value[:20], status))
    assert not failures, failures


async def test_a_hostile_survey_token_in_the_web_chat_is_refused(gateway: Harness):
    from tests.webchat.visitor import Visitor, webchat_channel

    visitor = Visitor(gateway, await webchat_channel(gateway))
    await visitor.connect()
    for token in ["a.\u00e9", "\u00e9", "a\x00.b", "x" * 1001]:
        await visitor.send_frame({"type": "survey_answer", "token": token, "score": 5})
        result = await visitor.next("survey_result")
        assert (result["ok"], result["status"]) == (False, 400), result
    assert (await visitor.say("c1", "still connected"))["type"] == "ack"
