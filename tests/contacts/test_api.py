"""/api/v1/contacts through the real app and Redis, every answer checked against the OpenAPI
document: list and paging, profile across conversations, edit rules (roles, 400 with the
field), merge suggestions (a verified email, never a name or an unverified address), merge and
undo, export and erase (admins only)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Harness
from tests.security.test_openapi_responses import Checked

_n = itertools.count(1)


async def contact_of(h: Harness, conversation_id: str) -> str:
    conv = await h.call("GET", f"/api/v1/conversations/{conversation_id}")
    return conv["conversation"]["contact_id"]


VERIFIED = {"metadata": {"verified": ["email"]}}


async def test_contacts_api(gateway: Harness):
    h = gateway
    api = Checked(h, await (await h.client.get("/api/v1/openapi.json")).json())
    admin = h.admin_token
    _, agent = await h.create_user("ann@example.com", name="Ann")
    _, boss = await h.create_user("sue@example.com", role="supervisor", name="Sue")
    channel, secret = await h.api_channel()

    async def post(sender: dict[str, Any], text: str, verified: bool = False) -> str:
        n = next(_n)
        payload: dict[str, Any] = {
            "message_id": f"m{n}", "sender": sender, "thread_id": f"t{n}", "text": text,
        }  # fmt: skip
        if verified:
            payload.update(VERIFIED)
        status, body = await h.post_api_message(channel, secret, payload)
        assert status == 202, body
        return body["conversation_id"]

    li = {"name": "Li Wei", "email": "li@example.com"}
    conv1 = await post({"id": "shop-1", **li}, "我的订单还没到", verified=True)
    conv2 = await post({"id": "app-7", **li}, "order A-1001?", verified=True)
    # Same name, same address, but not verified: never suggested.
    conv3 = await post({"id": "guest-9", **li}, "hello")
    c1, c2, c3 = [await contact_of(h, c) for c in (conv1, conv2, conv3)]
    assert len({c1, c2, c3}) == 3

    # --- list, paging ----------------------------------------------------------------------
    listed = await api.call("GET", "/api/v1/contacts", agent)
    assert [c["id"] for c in listed["contacts"]] == [c3, c2, c1]
    page1 = await api.call("GET", "/api/v1/contacts?limit=2", agent)
    page2 = await api.call("GET", f"/api/v1/contacts?limit=2&before={page1['next_before']}", agent)
    assert [c["id"] for c in page1["contacts"] + page2["contacts"]] == [c3, c2, c1]
    await api.call("GET", "/api/v1/contacts?limit=0", agent, expect=400)
    await api.call("GET", "/api/v1/contacts?before=x", agent, expect=400)
    await api.call("GET", "/api/v1/contacts", None, expect=401)

    # --- suggestions: the verified email only ---------------------------------------------
    got = await api.call("GET", "/api/v1/contacts/suggestions", agent)
    assert [(s["claim"], sorted(c["id"] for c in s["contacts"])) for s in got["suggestions"]] == [
        ("email:li@example.com", sorted([c1, c2]))
    ]
    mine = await api.call("GET", f"/api/v1/contacts/{c3}/suggestions", agent)
    assert mine["suggestions"] == []
    await api.call("GET", "/api/v1/contacts/ct_missing/suggestions", agent, expect=404)

    # --- edit: agents notes and attrs, staff the rest; 400 with the field -------------------
    notes = {"notes": "prefers <b>email</b>", "attrs": {"order": "A-1001"}}
    edited = await api.call("PATCH", f"/api/v1/contacts/{c1}", agent, notes)
    assert edited["contact"]["attrs"] == {"order": "A-1001"}
    await api.call("PATCH", f"/api/v1/contacts/{c1}", agent, {"tier": "vip"}, 403)
    boss_id = (await h.call("GET", "/api/v1/auth/me", boss))["user"]["id"]
    staff = await api.call(
        "PATCH", f"/api/v1/contacts/{c1}", boss, {"tier": "vip", "advisor": boss_id}
    )
    assert staff["contact"]["tier"] == "vip" and staff["contact"]["advisor"] == boss_id
    for bad, field in [
        ({"advisor": "u_nobody"}, "advisor"),
        ({"attrs": {"bad name!": "x"}}, "attrs"),
        ({"attrs": {"order": "x" * 501}}, "attrs"),
        ({"tier": "v i p"}, "tier"),
        ({"name": "x" * 201}, "name"),
        ({"colour": "red"}, "colour"),
        ({}, "body"),
    ]:
        answer = await api.call("PATCH", f"/api/v1/contacts/{c1}", boss, bad, 400)
        assert answer["error"]["field"] == field, (bad, answer)
    await api.raw("PATCH", f"/api/v1/contacts/{c1}", boss, 400, data=b"{not json")
    await api.call("PATCH", "/api/v1/contacts/ct_missing", boss, {"notes": "x"}, 404)

    # --- merge: c2 into c1; its conversations, sidebar history and suggestions follow -------
    merge = {"source": c2, "target": c1}
    merged = (await api.call("POST", "/api/v1/contacts/merge", agent, merge))["merge"]
    assert merged["conversations"] == 1 and merged["identities"] == [f"{channel}:app-7"]
    profile = await api.call("GET", f"/api/v1/contacts/{c1}", agent)
    assert {c["id"] for c in profile["conversations"]} == {conv1, conv2}
    assert {i["external_id"] for i in profile["contact"]["identities"]} == {"shop-1", "app-7"}
    # Each identity says which channel it came in on, by type and name, not only its id.
    channel_row = await h.gw.redis.hmget(h.gw.keys.channel(channel), ["type", "name"])
    assert {(i["channel_type"], i["channel_name"]) for i in profile["contact"]["identities"]} == {
        (channel_row[0], channel_row[1])
    } and channel_row[0] == "api"
    assert profile["timeline"][0]["type"] == "merge"
    tomb = await api.call("GET", f"/api/v1/contacts/{c2}", agent)
    assert tomb["contact"]["merged_into"] == c1 and tomb["conversations"] == []
    detail = await h.call("GET", f"/api/v1/conversations/{conv2}", agent)
    assert detail["contact"]["id"] == c1 and [c["id"] for c in detail["history"]] == [conv1]
    assert (await api.call("GET", "/api/v1/contacts/suggestions", agent))["suggestions"] == []
    listed = await api.call("GET", "/api/v1/contacts", agent)
    assert [c["id"] for c in listed["contacts"]] == [c3, c1]
    # A new message from the merged-away sender joins the merged contact.
    conv4 = await post({"id": "app-7", **li}, "still waiting")
    assert await contact_of(h, conv4) == c1
    for bad, status in [
        ({"source": c1, "target": c1}, 400),
        ({"source": c2, "target": c1}, 409),
        ({"source": "ct_missing", "target": c1}, 404),
        ({"source": c1}, 400),
    ]:
        await api.call("POST", "/api/v1/contacts/merge", agent, bad, status)

    # --- undo: c2 back with both its conversations --------------------------------------------
    undo_path = f"/api/v1/contacts/merges/{merged['id']}/undo"
    undone = (await api.call("POST", undo_path, agent))["merge"]
    assert undone["undone_at"] and undone["moved_back"] == 2
    back = await api.call("GET", f"/api/v1/contacts/{c2}", agent)
    assert {c["id"] for c in back["conversations"]} == {conv2, conv4}
    assert [e["type"] for e in back["timeline"]] == ["undo", "merge"]
    assert (await api.call("GET", f"/api/v1/contacts/{c1}", agent))["contact"]["tier"] == "vip"
    await api.call("POST", undo_path, agent, expect=409)
    await api.call("POST", "/api/v1/contacts/merges/mg_missing/undo", agent, expect=404)
    assert len((await api.call("GET", "/api/v1/contacts/suggestions", agent))["suggestions"]) == 1

    # --- export and erase: admins only ---------------------------------------------------------
    await api.call("GET", f"/api/v1/contacts/{c1}/export", agent, expect=403)
    await api.call("GET", f"/api/v1/contacts/{c1}/export", boss, expect=403)
    exported = await api.call("GET", f"/api/v1/contacts/{c1}/export", admin)
    texts = [m["text"] for c in exported["conversations"] for m in c["messages"]]
    assert "我的订单还没到" in texts and exported["notes"] == "prefers <b>email</b>"
    assert exported["claims"] == ["email:li@example.com"]
    await api.call("GET", "/api/v1/contacts/ct_missing/export", admin, expect=404)
    await api.call("POST", f"/api/v1/contacts/{c1}/erase", agent, expect=403)
    gw, k = h.gw, h.gw.keys
    thread1 = await gw.redis.hget(k.conversation(conv1), "thread_key")
    assert await gw.redis.get(k.thread(channel, thread1)) == conv1
    report = "/api/v1/reports/summary?by=channel"
    volume = lambda: h.call("GET", report, admin)  # noqa: E731
    counted = {r["key"]: r["volume"] for r in (await volume())["rows"]}
    erased = (await api.call("POST", f"/api/v1/contacts/{c1}/erase", admin))["erased"]
    assert erased == {
        "conversations": 1, "messages": 1, "identities": 1, "files": 0, "merged_contacts": 0,
    }  # fmt: skip
    await api.call("POST", f"/api/v1/contacts/{c1}/erase", admin, expect=409)
    assert await gw.redis.get(k.contact_identity(channel, "shop-1")) is None
    assert await gw.redis.get(k.thread(channel, thread1)) is None
    row = await gw.redis.hgetall(k.contact(c1))
    assert set(row) == {"id", "created_at", "erased_at"}
    messages = await h.call("GET", f"/api/v1/conversations/{conv1}/messages", admin)
    customer = [m for m in messages["messages"] if m["direction"] == "in"]
    assert customer and all(m["text"] == "" and m["redacted"] for m in customer)
    conv = await gw.redis.hgetall(k.conversation(conv1))
    assert "contact_external_id" not in conv and "reply_context" not in conv
    assert conv["status"] and conv["channel_type"] == "api"  # reports keep counting it
    assert {r["key"]: r["volume"] for r in (await volume())["rows"]} == counted == {"api": 4}
    assert await gw.redis.zscore(k.conversations_index(), conv1) == int(conv["erased_at"])
    assert await gw.redis.zscore(k.contacts_changed(), c1) is not None
    after = await api.call("GET", f"/api/v1/contacts/{c1}/export", admin)
    assert all(not m["text"] for c in after["conversations"] for m in c["messages"])
    assert after["notes"] == "" and after["identities"] == []
    # The same person writing again is a new contact; the suggestion is gone with c1.
    conv5 = await post({"id": "shop-1", **li}, "hi again")
    assert await contact_of(h, conv5) not in (c1, c2, c3)
    assert (await api.call("GET", "/api/v1/contacts/suggestions", agent))["suggestions"] == []
    assert c1 not in {
        c["id"] for c in (await api.call("GET", "/api/v1/contacts", agent))["contacts"]
    }
