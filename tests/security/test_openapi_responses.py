"""Every JSON body the API answers matches the schema its OpenAPI document declares for that
path, method and status: a realistic flow through the real app (login, channels, a customer's
message on the API channel, the agent's work on it, canned responses, reports, SLA, users, a
mention spike on (fake) Mastodon that becomes an incident, uploads, and the errors
400/401/403/404/409/413), each answer validated as it arrives with jsonschema against the
document the app serves. A handler whose body drifts from its schema (a required field renamed,
dropped or retyped, a field added to a closed object) fails here, and so does a status the
document does not declare for the route; every documented success answer is exercised."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.api.schemas import RESPONSES
from tests.adapters.social.fakes import FakeMastodon
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, CallbackServer, Harness, wait_for

DOC_URI = "urn:gateway:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Checked:
    """A client of the app that validates every JSON answer against the document's schema for
    its path, method and status (``problems`` lists what does not match)."""

    h: Harness
    doc: dict[str, Any]
    seen: set[str] = field(default_factory=set)  # "METHOD template status"

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.templates = [
            (re.compile("^" + re.sub(r"{\w+}", "[^/]+", p) + "$"), p) for p in self.doc["paths"]
        ]

    def template(self, path: str) -> str:
        path = path.split("?")[0]
        if path in self.doc["paths"]:
            return path
        matches = [t for pattern, t in self.templates if pattern.match(path)]
        assert len(matches) == 1, f"{path}: documented as {matches}"
        return matches[0]

    def problems(
        self, method: str, template: str, status: int, body: Any, content: str = "application/json"
    ) -> list[str]:
        op = self.doc["paths"][template].get(method.lower())
        if op is None:
            return [f"{method} {template} is not documented"]
        answer = op["responses"].get(str(status))
        if answer is None:
            return [f"{method} {template} answered {status}, which it does not document"]
        if content not in answer.get("content", {}):
            return [f"{method} {template} {status} does not document {content}"]
        where = _pointer(
            "paths", template, method.lower(), "responses", str(status), "content", content,
            "schema",
        )  # fmt: skip
        validator = Draft202012Validator({"$ref": f"{DOC_URI}#/{where}"}, registry=self.registry)
        return [
            f"{method} {template} {status}: /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        ]

    async def raw(
        self, method: str, path: str, token: str | None, expect: int, **kwargs: Any
    ) -> Any:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers = {**self.h.auth(token), **headers}
        resp = await self.h.client.request(method, path, headers=headers, **kwargs)
        text = await resp.text()
        assert resp.status == expect, f"{method} {path} -> {resp.status}: {text}"
        assert resp.content_type == "application/json", f"{method} {path}: {resp.content_type}"
        body = json.loads(text)
        template = self.template(path)
        problems = self.problems(method, template, resp.status, body)
        assert not problems, "\n".join(problems[:10])
        self.seen.add(f"{method} {template} {resp.status}")
        return body

    async def call(
        self, method: str, path: str, token: str | None, body: Any = None, expect: int = 200
    ) -> Any:
        kwargs = {} if body is None else {"json": body}
        return await self.raw(method, path, token, expect, **kwargs)


@pytest.fixture
async def mastodon() -> AsyncIterator[tuple[FakeMastodon, str]]:
    """The fake Mastodon instance of the social adapter tests, on a local port."""
    fake = FakeMastodon()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


async def _offered_to(api: Checked, conv: str, token: str) -> str | None:
    got = await api.call("GET", f"/api/v1/conversations/{conv}", token)
    return got["conversation"]["offered_to"]


async def test_every_answer_matches_its_documented_schema(
    make_gateway, callback_server: CallbackServer, mastodon: tuple[FakeMastodon, str]
):
    h: Harness = await make_gateway(max_attachment_bytes=4096, max_body_bytes=64 * 1024)
    api = Checked(h, await (await h.client.get("/api/v1/openapi.json")).json())
    await api.call("GET", "/api/v1/openapi.json", None)

    # --- auth ------------------------------------------------------------------------------
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    session = await api.call("POST", "/api/v1/auth/login", None, login)
    admin = session["token"]
    await api.call("POST", "/api/v1/auth/login", None, {**login, "password": "wrong"}, 401)
    await api.call("POST", "/api/v1/auth/login", None, {"email": "x"}, 400)
    await api.raw("POST", "/api/v1/auth/login", None, 400, data=b"{not json")
    await api.call("GET", "/api/v1/auth/me", admin)
    await api.call("GET", "/api/v1/auth/me", None, expect=401)
    await api.call("GET", "/api/v1/auth/me", "not-a-token", expect=401)

    # --- channels (credentials never come back) --------------------------------------------
    await api.call("GET", "/api/v1/channel-types", admin)
    secret = "s3cret-" + "x" * 24
    created = await api.call(
        "POST", "/api/v1/channels", admin,
        {"type": "api", "name": "CRM", "config": {"secret": secret,
                                                 "callback_url": callback_server.url}},
        201,
    )  # fmt: skip
    channel_id = created["channel"]["id"]
    assert secret not in json.dumps(created)
    await api.call("POST", "/api/v1/channels", admin, {"type": "nope", "name": "x"}, 400)
    await api.call("GET", "/api/v1/channels", admin)
    await api.call("GET", f"/api/v1/channels/{channel_id}", admin)
    await api.call("GET", "/api/v1/channels/ch_missing", admin, expect=404)
    await api.call("PATCH", f"/api/v1/channels/{channel_id}", admin, {"name": "CRM app"})
    dup = {"type": "api", "name": " crm APP ", "config": {"secret": secret}}
    await api.call("POST", "/api/v1/channels", admin, dup, 409)
    await api.call("POST", f"/api/v1/channels/{channel_id}/verify", admin)
    unreachable = await api.call(
        "POST", "/api/v1/channels", admin,
        {"type": "api", "name": "Old CRM", "config": {"secret": secret,
                                                     "callback_url": "http://127.0.0.1:9/cb"}},
        201,
    )  # fmt: skip
    path = f"/api/v1/channels/{unreachable['channel']['id']}"
    assert not (await api.call("POST", f"{path}/verify", admin))["ok"]
    await api.call("PATCH", path, admin, {"config": {"callback_url": "http://example.com/x"}}, 400)
    await api.call("DELETE", path, admin)

    # --- users and presence ----------------------------------------------------------------
    agent_body = {"email": "ann@example.com", "password": "correct-horse-battery-9",
                  "name": "Ann", "teams": ["billing"], "skills": ["refunds"]}  # fmt: skip
    ann = (await api.call("POST", "/api/v1/users", admin, agent_body, 201))["user"]
    await api.call("POST", "/api/v1/users", admin, agent_body, 409)
    bob_body = {**agent_body, "email": "bob@example.com", "name": "Bob"}
    bob = (await api.call("POST", "/api/v1/users", admin, bob_body, 201))["user"]
    boss_body = {**agent_body, "email": "sue@example.com", "name": "Sue", "role": "supervisor"}
    await api.call("POST", "/api/v1/users", admin, boss_body, 201)
    await api.call("POST", "/api/v1/users", admin, {**agent_body, "capacity": 1000}, 400)
    ann_token = (await api.call("POST", "/api/v1/auth/login", None, agent_body))["token"]
    bob_token = (await api.call("POST", "/api/v1/auth/login", None, bob_body))["token"]
    boss = (await api.call("POST", "/api/v1/auth/login", None, boss_body))["token"]
    await api.call("GET", "/api/v1/users", boss)
    await api.call("GET", "/api/v1/users", ann_token, expect=403)
    await api.call("PATCH", f"/api/v1/users/{bob['id']}", admin, {"capacity": 3})
    await api.call("PATCH", "/api/v1/users/u_missing", admin, {"capacity": 3}, 404)
    await api.call("PUT", "/api/v1/agents/me/status", ann_token, {"status": "online"})
    await api.call("PUT", "/api/v1/agents/me/status", ann_token, {"status": "asleep"}, 400)
    await api.call("GET", "/api/v1/agents/me/status", ann_token)
    await api.call("GET", "/api/v1/agents", ann_token)

    # --- a customer writes through the API channel; Ann is offered it and takes it ----------
    status, res = await h.post_api_message(
        channel_id, secret,
        {"message_id": "m-1", "sender": {"id": "cust-1", "name": "Carol"}, "text": "Refund?"},
    )  # fmt: skip
    assert status == 202, res
    conv = res["conversation_id"]
    await wait_for(lambda: _offered_to(api, conv, admin))
    await api.call("GET", "/api/v1/conversations", admin)
    await api.call("GET", "/api/v1/conversations?assignee=me&status=open", ann_token)
    await api.call("GET", "/api/v1/conversations?limit=0", admin, expect=400)
    await api.call("GET", f"/api/v1/conversations/{conv}", ann_token)
    await api.call("GET", "/api/v1/conversations/cv_missing", admin, expect=404)
    await api.call("GET", f"/api/v1/conversations/{conv}/messages", ann_token)
    await api.call("GET", "/api/v1/queue", boss)
    await api.call("GET", "/api/v1/queue", ann_token, expect=403)
    await api.call("POST", f"/api/v1/conversations/{conv}/accept", bob_token, expect=409)
    await api.call("POST", f"/api/v1/conversations/{conv}/accept", ann_token)
    await api.call("GET", f"/api/v1/conversations/{conv}", bob_token, expect=403)

    # --- files, replies, notes -------------------------------------------------------------
    upload = f"/api/v1/conversations/{conv}/attachments"
    file_headers = {"Content-Type": "application/pdf"}
    attached = await api.raw(
        "POST", upload, ann_token, 201, params={"name": "invoice.pdf"}, data=b"%PDF-1.4 tiny",
        headers=file_headers,
    )  # fmt: skip
    await api.raw(
        "POST", upload, ann_token, 413, params={"name": "big.pdf"}, data=b"x" * 5000,
        headers=file_headers,
    )  # fmt: skip
    await api.raw("POST", upload, ann_token, 400, params={"name": "a/b"}, data=b"x")
    messages = f"/api/v1/conversations/{conv}/messages"
    callback_server.status.append(400)  # the first send fails for good
    reply = await api.call(
        "POST", messages, ann_token,
        {"text": "Here is the invoice.", "attachments": [attached["attachment"]]}, 201,
    )  # fmt: skip
    seq = reply["message"]["seq"]

    async def failed() -> bool:
        got = await api.call("GET", messages, ann_token)
        return any(m["seq"] == seq and m.get("delivery") == "failed" for m in got["messages"])

    await wait_for(failed)
    await api.call("POST", f"{messages}/{seq}/retry", ann_token)
    await api.call("POST", f"{messages}/{seq - 1}/retry", ann_token, expect=409)
    await api.call("POST", f"{messages}/x/retry", ann_token, expect=400)
    await api.call("POST", messages, ann_token, {"text": "called back", "type": "note"}, 201)
    await api.call("POST", messages, ann_token, {"text": ""}, 400)
    await api.call("POST", messages, bob_token, {"text": "hi"}, 403)
    await api.raw("POST", messages, ann_token, 413, data=b'{"text": "' + b"x" * 70000 + b'"}')
    await api.call("PUT", f"/api/v1/conversations/{conv}/tags", ann_token,
                   {"tags": ["refund"], "product": "Pro"})  # fmt: skip
    await api.call("PUT", "/api/v1/conversations/cv_missing/tags", ann_token, {"tags": []}, 404)
    await api.call("GET", "/api/v1/tags", ann_token)
    await api.call("POST", f"/api/v1/conversations/{conv}/read", ann_token, {"seq": 0})
    await api.call("GET", "/api/v1/conversations?sort=sla&tag=refund", ann_token)

    # --- canned responses ------------------------------------------------------------------
    canned = {"shortcut": "thanks", "title": "Thanks", "text": "Thanks {{customer.name}}!"}
    item = (await api.call("POST", "/api/v1/canned", admin, canned, 201))["canned"]
    await api.call("POST", "/api/v1/canned", admin, canned, 409)
    await api.call("POST", "/api/v1/canned", ann_token, canned, 403)
    await api.call("GET", "/api/v1/canned", ann_token)
    await api.call("GET", f"/api/v1/canned?conversation_id={conv}", ann_token)
    await api.call("PATCH", f"/api/v1/canned/{item['id']}", admin, {"title": "Thank you"})
    await api.call("PATCH", "/api/v1/canned/cr_missing", admin, {"title": "x"}, 404)
    await api.call("DELETE", f"/api/v1/canned/{item['id']}", admin)

    # --- snooze, transfer, resolve ---------------------------------------------------------
    action = f"/api/v1/conversations/{conv}"
    await api.call("POST", f"{action}/snooze", ann_token, {"minutes": 30})
    await api.call("POST", f"{action}/snooze", ann_token, {"minutes": 0}, 400)
    await api.call("POST", f"{action}/transfer", ann_token, {}, 400)
    await api.call("POST", f"{action}/transfer", ann_token, {"agent_id": bob["id"]}, 409)
    await api.call("PUT", "/api/v1/agents/me/status", bob_token, {"status": "away"})
    await api.call("POST", f"{action}/transfer", ann_token, {"agent_id": bob["id"]})
    await api.call("POST", f"{action}/transfer", ann_token, {"agent_id": bob["id"]}, 403)
    await api.call("POST", f"{action}/resolve", boss, {"reason": "refunded"})
    await api.call("POST", f"{action}/decline", admin, expect=409)
    # The customer writes again on another thread: a second conversation, the first in history.
    status, res = await h.post_api_message(
        channel_id, secret,
        {"message_id": "m-2", "sender": {"id": "cust-1"}, "thread_id": "order-7", "text": "And?"},
    )  # fmt: skip
    assert status == 202, res
    detail = await api.call("GET", f"/api/v1/conversations/{res['conversation_id']}", boss)
    assert [c["id"] for c in detail["history"]] == [conv]
    again = res["conversation_id"]
    assert await wait_for(lambda: _offered_to(api, again, boss)) == ann["id"]
    await api.call("POST", f"/api/v1/conversations/{again}/decline", ann_token)

    # --- reports and their settings --------------------------------------------------------
    for report in ("summary", "summary?by=agent", "summary?by=all", "heatmap", "live",
                   "mentions"):  # fmt: skip
        await api.call("GET", f"/api/v1/reports/{report}", boss)
    await api.call("GET", "/api/v1/reports/summary?by=colour", boss, expect=400)
    csv = await h.client.get("/api/v1/reports/summary?format=csv", headers=h.auth(boss))
    assert csv.status == 200 and csv.content_type == "text/csv"
    assert not api.problems("GET", "/api/v1/reports/summary", 200, await csv.text(), "text/csv")
    await api.call("GET", "/api/v1/reports/summary", ann_token, expect=403)
    settings = await api.call("GET", "/api/v1/reports/settings", boss)
    await api.call("PUT", "/api/v1/reports/settings", admin, settings)
    await api.call("PUT", "/api/v1/reports/settings", boss, settings, 403)

    # --- SLA policy and rules --------------------------------------------------------------
    policy = await api.call("GET", "/api/v1/sla/classes", boss)
    rules = await api.call("GET", "/api/v1/sla/rules", boss)
    await api.call("PUT", "/api/v1/sla/classes", admin, policy["policy"])
    await api.call("PUT", "/api/v1/sla/rules", admin, rules["rules"])
    await api.call("PUT", "/api/v1/sla/classes", admin, {"classes": "nope"}, 400)
    await api.call("DELETE", "/api/v1/sla/classes", admin)
    await api.call("DELETE", "/api/v1/sla/rules", admin)
    await api.call("POST", "/api/v1/priority-rules/test", boss, {"text": "it caught fire"})
    await api.call("POST", "/api/v1/priority-rules/test", boss, {"text": ""}, 400)
    await api.call("POST", "/api/v1/priority-rules/test", ann_token, {"text": "x"}, 403)
    await api.call("GET", "/api/v1/agents/board", boss)
    await api.call("GET", "/api/v1/agents/board", ann_token, expect=403)

    # --- a mention spike on Mastodon: one incident, its item taken by the supervisor ----------
    await api.call("GET", "/api/v1/incidents", ann_token)
    await api.call("GET", "/api/v1/incidents?status=maybe", ann_token, expect=400)
    await api.call("GET", "/api/v1/incidents/in_missing", ann_token, expect=404)
    await api.call("PUT", "/api/v1/agents/me/status", boss, {"status": "online"})
    fake, fake_url = mastodon
    social = await api.call(
        "POST", "/api/v1/channels", admin,
        {"type": "mastodon", "name": "Mastodon", "config": {
            "base_url": fake_url, "access_token": fake.token, "poll_interval_seconds": 1,
            "spike_min_count": 2, "spike_factor": 1.5}},
        201,
    )  # fmt: skip
    assert fake.token not in json.dumps(social)
    for i in range(6):
        fake.toot(f"fan{i}", f"@{fake.our_acct} is it down again? #{i}")

    async def incident_item() -> dict[str, Any] | None:
        got = await api.call("GET", "/api/v1/incidents", boss)
        return next((i for i in got["incidents"] if i.get("conversation_id")), None)

    incident = await wait_for(incident_item, timeout=60)
    item = incident["conversation_id"]
    await wait_for(lambda: _offered_to(api, item, boss))
    await api.call("POST", f"/api/v1/conversations/{item}/accept", boss)
    path = f"/api/v1/incidents/{incident['id']}"
    await api.call("GET", path, ann_token)
    await api.call("POST", f"{path}/reply", boss, {}, 400)
    await api.call("PATCH", path, ann_token, {"statement": "x"}, 403)
    await api.call("PATCH", path, boss, {"statement": "We know; a fix is rolling out."})
    await api.call("POST", f"/api/v1/conversations/{item}/messages", boss, {"text": "x"}, 409)
    listed = await api.call("GET", f"/api/v1/conversations?channel={social['channel']['id']}", boss)
    mention = next(c for c in listed["conversations"] if c.get("incident_item") != "1")
    detail = await api.call("GET", f"/api/v1/conversations/{mention['id']}", boss)
    assert detail["suggested_reply"] and detail["channel"]["public_replies"]
    mentions = await api.call("GET", "/api/v1/reports/mentions", boss)
    assert mentions["channels"][0]["alerts"]
    live = await api.call("GET", "/api/v1/reports/live", boss)
    assert live["mention_spikes"] and live["sla_at_risk"]
    await api.call("POST", f"{path}/reply", boss, {}, 202)
    await api.call("PATCH", path, boss, {"title": "Outage", "status": "resolved"})
    await api.call("GET", "/api/v1/incidents?status=resolved", ann_token)

    # --- the knowledge base ----------------------------------------------------------------
    article = {"title": "Refunds", "body": "A refund takes 5 days.", "language": "en",
               "tags": ["refund"]}  # fmt: skip
    kb = (await api.call("POST", "/api/v1/kb/articles", boss, article, 201))["article"]
    await api.call("POST", "/api/v1/kb/articles", ann_token, article, 403)
    await api.call("POST", "/api/v1/kb/articles", boss, {"title": "x"}, 400)
    await api.call("GET", "/api/v1/kb/articles", ann_token)
    await api.call("GET", "/api/v1/kb/articles/kb_missing", ann_token, expect=404)
    await api.call("PATCH", f"/api/v1/kb/articles/{kb['id']}", boss, {"product": "Pro"})
    await api.call("GET", f"/api/v1/kb/articles/{kb['id']}", ann_token)
    await api.call("PUT", "/api/v1/kb/synonyms", admin, {"groups": [["refund", "money back"]]})
    await api.call("GET", "/api/v1/kb/synonyms", ann_token)
    csv_file = "title,body,language\r\nDelivery,Parcels arrive in 3 days.,en\r\n"
    await api.raw("POST", "/api/v1/kb/import?format=csv", boss, 200, data=csv_file.encode())
    await api.raw("POST", "/api/v1/kb/import?format=csv", boss, 400, data=b"name\r\nx\r\n")

    async def searchable() -> bool:
        got = await api.call("GET", "/api/v1/kb/search?q=refund", ann_token)
        return bool(got["results"])

    await wait_for(searchable)
    await api.call("GET", "/api/v1/kb/articles?q=refund", ann_token)
    await api.call("GET", "/api/v1/kb/search", ann_token, expect=400)
    exported = await h.client.get("/api/v1/kb/export?format=markdown", headers=h.auth(boss))
    documented = api.doc["paths"]["/api/v1/kb/export"]["get"]["responses"]["200"]["content"]
    assert exported.status == 200 and exported.content_type in documented
    api.seen.add("GET /api/v1/kb/export 200")
    await api.call("DELETE", f"/api/v1/kb/articles/{kb['id']}", boss)

    # --- the end of things -----------------------------------------------------------------
    await api.call("DELETE", f"/api/v1/users/{bob['id']}", admin)
    await api.call("DELETE", f"/api/v1/users/{bob['id']}", admin, expect=404)
    await api.call("DELETE", f"/api/v1/users/{ann['id']}", boss, expect=403)
    await api.call("DELETE", f"/api/v1/channels/{channel_id}", admin)
    await api.call("POST", "/api/v1/auth/logout", ann_token)
    await api.call("GET", "/api/v1/auth/me", ann_token, expect=401)

    # The agent WebSocket: 101 with a token, a plain-text 401 without one (as documented).
    ws_doc = api.doc["paths"]["/api/v1/ws"]["get"]["responses"]
    ws = await h.client.ws_connect("/api/v1/ws", headers=h.auth(boss))
    assert "101" in ws_doc and (await ws.receive_json())["type"] == "hello"
    await ws.close()
    refused = await h.client.get("/api/v1/ws")
    assert refused.status == 401 and "text/plain" in ws_doc["401"]["content"]
    api.seen.add("GET /api/v1/ws 101")

    # Every documented success answer was checked, and every kind of error.
    success = {
        f"{key} {status}"
        for key in RESPONSES
        for status, _ in _documented(api.doc, key)
        if status < "300"
    }
    assert success - api.seen == set()
    errors = {s.rsplit(" ", 1)[1] for s in api.seen if s.rsplit(" ", 1)[1] >= "400"}
    assert {"400", "401", "403", "404", "409", "413"} <= errors


def _documented(doc: dict[str, Any], key: str) -> list[tuple[str, Any]]:
    method, path = key.split(" ", 1)
    return list(doc["paths"][path][method.lower()]["responses"].items())


async def test_a_drifted_body_fails_its_schema(gateway: Harness):
    """The schemas are not vacuous: real answers pass, the same answers drifted do not."""
    api = Checked(gateway, await (await gateway.client.get("/api/v1/openapi.json")).json())
    me = await api.call("GET", "/api/v1/auth/me", gateway.admin_token)
    channel_id, _ = await gateway.api_channel()
    channel = await api.call("GET", f"/api/v1/channels/{channel_id}", gateway.admin_token)

    def fails(path: str, body: Any, change: Any) -> bool:
        drifted = copy.deepcopy(body)
        change(drifted)
        return bool(api.problems("GET", path, 200, drifted))

    assert fails("/api/v1/auth/me", me, lambda b: b["user"].pop("email"))
    assert fails("/api/v1/auth/me", me, lambda b: b["user"].update(capacity="5"))
    assert fails("/api/v1/auth/me", me, lambda b: b.update(token="t"))  # closed object
    assert fails("/api/v1/auth/me", me, lambda b: b.update(expires_at=None))
    path = "/api/v1/channels/{id}"
    assert fails(path, channel, lambda b: b["channel"].update(running="yes"))
    assert fails(path, channel, lambda b: b["channel"].pop("credentials_set"))
    # A secret in a channel's config never validates, whatever the channel type.
    assert fails(path, channel, lambda b: b["channel"]["config"].update(secret="s" * 16))
    assert fails(path, channel, lambda b: b["channel"]["config"].update(smtp_password="p"))
    assert not fails(path, channel, lambda b: None)
