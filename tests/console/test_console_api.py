"""Without a browser: the console and widget files as served, canned responses (CRUD, roles,
variables), and the agent WebSocket's typing / read commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.api.canned_api import render
from tests.conftest import Harness
from tests.webchat.visitor import Visitor, agent_socket, next_event, webchat_channel

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "console" / "static"


async def test_console_page_and_assets_are_served_with_a_strict_policy(gateway: Harness):
    resp = await gateway.client.get("/console")
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    html = await resp.text()
    for asset in re.findall(r'(?:src|href)="(/console/[^"]+)"', html):
        got = await gateway.client.get(asset)
        assert got.status == 200, asset
    for name in ("console.js", "api.js", "dom.js", "inbox.js", "conversation.js", "admin.js"):
        got = await gateway.client.get(f"/console/{name}")
        assert got.status == 200 and got.content_type == "text/javascript", name
    for bad in ("/console/..%2Fpages.py", "/console/pages.py", "/console/nope.js",
                "/console/widget.js", "/console/.hidden.js"):  # fmt: skip
        assert (await gateway.client.get(bad)).status == 404, bad


async def test_widget_script_is_public_and_cacheable(gateway: Harness):
    resp = await gateway.client.get("/widget.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = await resp.text()
    assert "attachShadow" in body and "data-channel" in body
    assert len(body.encode()) < 48_000  # small: no framework inside (words come from the server)


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC.glob("*.js")))
def test_scripts_never_parse_text_as_html(name):
    source = (STATIC / name).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{name} uses {sink}"


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("Hi {{customer.name}}!", {"customer.name": "Mei"}, "Hi Mei!"),
        ("Hi {{ customer.name }}!", {"customer.name": "Mei"}, "Hi Mei!"),
        ("Hi {{customer.name|there}}!", {"customer.name": ""}, "Hi there!"),
        ("Hi {{customer.name|there}}!", {"customer.name": "Mei"}, "Hi Mei!"),
        ("Hi {{customer.name}}!", {"customer.name": ""}, "Hi !"),
        ("{{customer.nmae}} stays", {"customer.name": "Mei"}, "{{customer.nmae}} stays"),
        ("{{agent.name}} / {{channel.name}}", {"agent.name": "Al", "channel.name": "Shop"},
         "Al / Shop"),
        ("no variables", {}, "no variables"),
        ("{{customer.name}}", {"customer.name": "{{agent.name}}", "agent.name": "x"},
         "{{agent.name}}"),  # values are not expanded again
    ],
)  # fmt: skip
def test_render(text, values, expected):
    assert render(text, values) == expected


async def test_canned_responses_admin_crud_agents_read(gateway: Harness):
    h = gateway
    _agent_id, agent = await h.create_user("agent@example.com")
    _boss_id, boss = await h.create_user("boss@example.com", role="supervisor")
    body = {"shortcut": "hello", "title": "Greeting", "text": "Hello {{customer.name|there}}"}
    created = (await h.call("POST", "/api/v1/canned", json_body=body, expect=201))["canned"]
    await h.call("POST", "/api/v1/canned", agent, body, expect=403)
    # Supervisors manage them too: create, edit and delete one of their own.
    theirs = {"shortcut": "bye", "title": "Bye", "text": "Bye!"}
    made = (await h.call("POST", "/api/v1/canned", boss, theirs, expect=201))["canned"]
    await h.call("PATCH", f"/api/v1/canned/{made['id']}", boss, {"title": "Goodbye"})
    await h.call("DELETE", f"/api/v1/canned/{made['id']}", boss)
    dup = await h.call("POST", "/api/v1/canned", json_body=body, expect=409)
    assert dup["error"]["code"] == "exists"
    bad = await h.call("POST", "/api/v1/canned", json_body={**body, "shortcut": "Has Space"},
                       expect=400)  # fmt: skip
    assert bad["error"]["field"] == "shortcut"

    listed = (await h.call("GET", "/api/v1/canned", agent))["canned"]
    assert [c["shortcut"] for c in listed] == ["hello"]

    path = f"/api/v1/canned/{created['id']}"
    await h.call("PATCH", path, agent, {"title": "x"}, expect=403)
    await h.call("PATCH", path, boss, {"title": "By the supervisor"})
    patched = await h.call("PATCH", path, json_body={"shortcut": "hi", "title": "Hi"})
    assert patched["canned"]["shortcut"] == "hi" and patched["canned"]["text"] == body["text"]
    await h.call("DELETE", path, agent, expect=403)
    await h.call("DELETE", path)
    await h.call("DELETE", path, expect=404)
    assert (await h.call("GET", "/api/v1/canned"))["canned"] == []
    spec = await h.call("GET", "/api/v1/openapi.json")
    assert "/api/v1/canned" in spec["paths"] and "/api/v1/canned/{id}" in spec["paths"]


async def test_canned_responses_rendered_for_a_conversation(gateway: Harness):
    h = gateway
    await h.call(
        "POST",
        "/api/v1/canned",
        json_body={"shortcut": "hi", "title": "Hi", "text": "Hi {{customer.name|there}}, "
                   "{{agent.name}} from {{channel.name}} here."},
        expect=201,
    )  # fmt: skip
    channel_id = await webchat_channel(h, prechat_form=True)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    await visitor.send_frame({"type": "profile", "name": "Mei"})
    await visitor.next("profile")
    conversation_id = (await visitor.say("c1", "hello"))["conversation_id"]
    await visitor.close()

    _other_id, other = await h.create_user("other@example.com", name="Other")
    admin = (await h.call("GET", f"/api/v1/canned?conversation_id={conversation_id}"))["canned"]
    assert admin[0]["rendered"] == "Hi Mei, 管理员 from Shop chat here."
    # Unassigned: an agent may see it, and gets it rendered under their own name.
    seen = await h.call("GET", f"/api/v1/canned?conversation_id={conversation_id}", other)
    assert seen["canned"][0]["rendered"] == "Hi Mei, Other from Shop chat here."
    await h.call("GET", "/api/v1/canned?conversation_id=cv_nope", expect=404)

    # Assigned to someone else: the agent may not read the customer's details through it.
    owner_id, _owner = await h.agent_online("owner@example.com", name="Owner")
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/transfer",
                 json_body={"agent_id": owner_id})  # fmt: skip
    await h.call("GET", f"/api/v1/canned?conversation_id={conversation_id}", other, expect=403)


async def test_agent_signals_go_only_where_the_agent_may_look(gateway: Harness):
    h = gateway
    channel_id = await webchat_channel(h)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    conversation_id = (await visitor.say("c1", "hi"))["conversation_id"]
    owner_id, owner = await h.agent_online("owner@example.com", name="Owner")
    _other_id, other = await h.create_user("other@example.com", name="Other")
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/transfer",
                 json_body={"agent_id": owner_id})  # fmt: skip

    other_ws = await agent_socket(h, other)
    # Not theirs, unknown, or malformed: ignored, and the socket keeps working.
    for command in (
        {"type": "typing", "conversation_id": conversation_id, "on": True},
        {"type": "typing", "conversation_id": "cv_nope", "on": True},
        {"type": "typing"},
        {"type": "read", "conversation_id": conversation_id, "seq": "x"},
    ):
        await other_ws.send_json(command)
    await other_ws.send_json({"type": "ping"})
    assert (await next_event(other_ws, "pong"))["type"] == "pong"

    owner_ws = await agent_socket(h, owner)
    await owner_ws.send_json({"type": "typing", "conversation_id": conversation_id, "on": True})
    frame = await visitor.next("typing")
    assert frame["name"] == "Owner"  # the first typing frame the visitor got is the owner's
    assert not [f for f in visitor.frames if f.get("type") == "typing"]

    # An API channel conversation: typing is simply not a thing there.
    api_channel, secret = await h.api_channel()
    status, body = await h.post_api_message(
        api_channel, secret, {"message_id": "m1", "sender": {"id": "u1"}, "text": "hi"}
    )
    assert status == 202
    await owner_ws.send_json({"type": "typing", "conversation_id": body["conversation_id"]})
    await owner_ws.send_json({"type": "ping"})
    await next_event(owner_ws, "pong")
    await other_ws.close()
    await owner_ws.close()
    await visitor.close()
