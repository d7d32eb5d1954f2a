"""A merge suggestion an agent rejects ("these are different people") is not shown again, for
every agent, until another contact shares the claim; a merge is still possible by hand. API
answers checked against the OpenAPI document; the console's button in a real Chromium."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Harness
from tests.console.test_browser import _sign_in, _user
from tests.security.test_openapi_responses import Checked

_n = itertools.count(1)


async def _customer(h: Harness, sender: dict[str, Any]) -> str:
    """A verified message from ``sender``; answers its contact's id."""
    channel, secret = await h.api_channel()
    n = next(_n)
    status, body = await h.post_api_message(
        channel, secret,
        {"message_id": f"d{n}", "sender": sender, "thread_id": f"d{n}", "text": "您好",
         "metadata": {"verified": ["email"]}},
    )  # fmt: skip
    assert status == 202, body
    conv = await h.call("GET", f"/api/v1/conversations/{body['conversation_id']}")
    return conv["conversation"]["contact_id"]


def _groups(got: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(s["claim"], sorted(c["id"] for c in s["contacts"])) for s in got["suggestions"]]


async def test_a_dismissed_suggestion_stays_gone_until_someone_new_shares_the_claim(
    gateway: Harness,
):
    h = gateway
    api = Checked(h, await (await h.client.get("/api/v1/openapi.json")).json())
    _, ann = await h.create_user("ann@example.com", name="Ann")
    _, bob = await h.create_user("bob@example.com", name="Bob")
    shared = {"email": "family@example.com"}
    mother = await _customer(h, {"id": "mum", "name": "张丽", **shared})
    son = await _customer(h, {"id": "son", "name": "张伟", **shared})
    claim = "email:family@example.com"
    assert _groups(await api.call("GET", "/api/v1/contacts/suggestions", ann)) == [
        (claim, sorted([mother, son]))
    ]

    # Bad requests say why and change nothing.
    dismiss = "/api/v1/contacts/suggestions/dismiss"
    await api.call("POST", dismiss, ann, {"contacts": [mother]}, expect=400)
    await api.call("POST", dismiss, ann, {"contacts": [mother, mother]}, expect=400)
    await api.call("POST", dismiss, ann, {"contacts": [mother, "ct_nobody"]}, expect=404)
    await api.call("POST", dismiss, ann, {"contacts": [mother, son], "x": 1}, expect=400)
    await api.call("POST", dismiss, None, {"contacts": [mother, son]}, expect=401)
    assert len((await api.call("GET", "/api/v1/contacts/suggestions", ann))["suggestions"]) == 1

    answer = await api.call("POST", dismiss, ann, {"contacts": [son, mother]})
    assert answer == {"dismissed": 1}
    assert (await api.call("POST", dismiss, ann, {"contacts": [mother, son]})) == {"dismissed": 0}
    # Gone for every agent, in the list and on either contact.
    assert (await api.call("GET", "/api/v1/contacts/suggestions", bob))["suggestions"] == []
    for one in (mother, son):
        got = await api.call("GET", f"/api/v1/contacts/{one}/suggestions", bob)
        assert got["suggestions"] == []

    # A third contact with the same verified address: the suggestion is back, with all three.
    daughter = await _customer(h, {"id": "girl", "name": "张静", **shared})
    assert _groups(await api.call("GET", "/api/v1/contacts/suggestions", ann)) == [
        (claim, sorted([mother, son, daughter]))
    ]
    # A merge by hand is still possible after a dismissal.
    await api.call("POST", dismiss, ann, {"contacts": [mother, son, daughter]})
    assert (await api.call("GET", "/api/v1/contacts/suggestions", ann))["suggestions"] == []
    body = {"source": son, "target": mother}
    merged = await api.call("POST", "/api/v1/contacts/merge", ann, body)
    assert merged["merge"]["target"] == mother


async def test_the_console_dismisses_a_suggestion(gateway: Harness, new_page):
    h = gateway
    shared = {"email": "twins@example.com"}
    await _customer(h, {"id": "a", "name": "王一", **shared})
    await _customer(h, {"id": "b", "name": "王二", **shared})
    await _user(h, "lan@example.com", "Lan")
    page = await _sign_in(await new_page(locale="zh-CN"), h, "lan@example.com")
    await page.goto(page.url.split("#")[0] + "#/contacts")
    suggestion = page.locator("#contact-suggestions li.suggestion")
    await suggestion.wait_for()
    await suggestion.locator("button.dismiss-suggestion").click()
    await page.locator("#contact-suggestions li.muted").wait_for()  # "none" in its place
    assert await suggestion.count() == 0
    await page.reload()
    await page.locator("#contact-suggestions li.muted").wait_for()
    assert await suggestion.count() == 0
    assert (await h.call("GET", "/api/v1/contacts/suggestions"))["suggestions"] == []
