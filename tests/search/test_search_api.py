"""GET /api/v1/search through the real app: customers' messages arrive through the real API
channel and inbox, and the index is this process's, fed by Redis's change feeds."""

from __future__ import annotations

import json
import time

import pytest

from gateway.models import now_ms
from tests.conftest import Harness, MakeGateway, wait_for
from tests.search.helpers import assigned_to, found, gone, ids, ready, say, search


@pytest.fixture
async def channel(gateway: Harness) -> tuple[str, str]:
    return await gateway.api_channel()


async def test_chinese_and_english_with_traditional_folding(gateway: Harness, channel):
    h = gateway
    invoice = await say(h, channel, "c1", "你好，我的發票還沒有開出來")
    english = await say(h, channel, "c2", "My parcel was shipped to the wrong address")
    other = await say(h, channel, "c3", "请问什么时候发货")
    await found(h, invoice, q="发票")
    assert ids(await search(h, q="发票")) == [invoice]  # Simplified finds Traditional
    assert ids(await search(h, q="發票")) == [invoice]
    assert ids(await search(h, q="开发票")) == []  # every bigram must be there
    assert ids(await search(h, q="发货")) == [other]
    await found(h, english, q="shipping address")  # stems: shipping -> ship
    assert ids(await search(h, q="wrong ADDRESS")) == [english]
    assert ids(await search(h, q="wrong 发票")) == []  # all terms, not any
    answer = await search(h, q="發票")
    hit = answer["conversations"][0]
    assert hit["match"]["excerpt"] == "你好，我的發票還沒有開出來"
    assert hit["contact_name"] == "c1" and hit["match"]["direction"] == "in"
    # A message written in Simplified is found by a Traditional query as well.
    simple = await say(h, channel, "c4", "退款申请已经提交了")
    await found(h, simple, q="退款申請")


async def test_agent_replies_and_notes_are_searched(gateway: Harness, channel):
    h = gateway
    conv = await say(h, channel, "c1", "hello")
    await h.call("POST", f"/api/v1/conversations/{conv}/messages", json_body={
        "text": "内部备注：客户要求补寄说明书", "type": "note"}, expect=201)  # fmt: skip
    await found(h, conv, q="说明书")


async def test_filters(gateway: Harness, channel):
    h = gateway
    other_channel = await h.api_channel()
    a = await say(h, channel, "c1", "invoice question")
    b = await say(h, other_channel, "c2", "invoice again")
    await found(h, a, q="invoice")
    await found(h, b, q="invoice")
    assert set(ids(await search(h, q="invoice"))) == {a, b}
    assert ids(await search(h, q="invoice", channel=channel[0])) == [a]
    assert set(ids(await search(h, q="invoice", channel="api"))) == {a, b}  # by type
    assert ids(await search(h, q="invoice", channel="wechat")) == []
    assert ids(await search(h, q="invoice", channel="no-such-channel")) == []
    await h.call("PUT", f"/api/v1/conversations/{b}/tags", json_body={"tags": ["Billing"]})
    assert ids(await search(h, q="invoice", tag="billing")) == [b]
    assert ids(await search(h, q="invoice", tag="shipping")) == []
    await h.call("POST", f"/api/v1/conversations/{a}/resolve", json_body={})
    assert ids(await search(h, q="invoice", status="resolved")) == [a]
    assert ids(await search(h, q="invoice", status="open")) == [b]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert set(ids(await search(h, q="invoice", **{"from": today, "to": today}))) == {a, b}
    assert ids(await search(h, q="invoice", to="2020-01-01")) == []
    assert ids(await search(h, q="invoice", **{"from": str(now_ms() + 3_600_000)})) == []
    # Newest activity first.
    await say(h, channel, "c1", "one more invoice")
    await wait_for(lambda: _first(h, a), timeout=5)


async def _first(h: Harness, conv: str) -> bool:
    return ids(await search(h, q="invoice"))[:1] == [conv]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a", "kind": "tickets"}, "kind"),
        ({"q": "a", "status": "closed"}, "status"),
        ({"q": "a", "from": "yesterday"}, "from"),
        ({"q": "a", "to": "2026-13-40"}, "to"),
        ({"q": "a", "from": "2026-02-02", "to": "2026-01-01"}, "to"),
        ({"q": "a", "limit": "0"}, "limit"),
        ({"q": "a", "limit": "51"}, "limit"),
        ({"q": "a", "limit": "ten"}, "limit"),
        ({"q": "a", "offset": "1001"}, "offset"),
        ({"q": "a", "tag": "t" * 101}, "tag"),
        ({"q": "a", "kind": "customers", "status": "open"}, "kind"),
    ],
)
async def test_bad_input_is_400_with_the_field(gateway: Harness, params, field):
    answer = await search(gateway, expect=400, **params)
    assert answer["error"]["field"] == field, answer


async def test_needs_a_login(gateway: Harness):
    resp = await gateway.client.get("/api/v1/search?q=x")
    assert resp.status == 401


async def test_paging_is_bounded(gateway: Harness, channel):
    h = gateway
    convs = [await say(h, channel, f"p{i}", f"paging test {i}") for i in range(5)]
    await found(h, convs[-1], q="paging")
    first = await search(h, q="paging", limit=2)
    second = await search(h, q="paging", limit=2, offset=2)
    third = await search(h, q="paging", limit=2, offset=4)
    assert first["has_more"] and second["has_more"] and not third["has_more"]
    assert ids(first) + ids(second) + ids(third) == list(reversed(convs))


async def test_an_agent_never_sees_what_they_may_not_open(gateway: Harness, channel):
    h = gateway
    ann, ann_token = await h.agent_online("ann@example.com")
    mine = await say(h, channel, "vip", "我的退货单号 RT-88 还没处理", name="李雷")
    await assigned_to(h, ann_token, ann, mine)
    # Away: Ann keeps hers (an agent gone offline would give a waiting customer back) and
    # is offered nothing new.
    await h.call("PUT", "/api/v1/agents/me/status", ann_token, {"status": "away"})
    _, bob_token = await h.create_user("bob@example.com")
    _, boss = await h.create_user("boss@example.com", role="supervisor")
    free = await say(h, channel, "walkin", "退货怎么办理")
    await found(h, free, q="退货")
    assert set(ids(await search(h, ann_token, q="退货"))) == {mine, free}
    assert ids(await search(h, bob_token, q="退货")) == [free]  # Ann's is not Bob's to open
    assert set(ids(await search(h, boss, q="退货"))) == {mine, free}
    for conv in ids(await search(h, bob_token, q="退货")):
        await h.call("GET", f"/api/v1/conversations/{conv}", bob_token)  # he may open each
    await h.call("GET", f"/api/v1/conversations/{mine}", bob_token, expect=403)
    # The customer whose only conversation is Ann's: every user may open a contact's profile
    # (the contacts API's rule), so Bob finds her too, but not a conversation to open.
    contact = (await h.call("GET", f"/api/v1/conversations/{mine}"))["contact"]["id"]
    await found(h, contact, ann_token, q="李雷", kind="customers")
    for token, latest in ((ann_token, mine), (boss, mine), (bob_token, None)):
        answer = await search(h, token, q="李", kind="customers")
        assert [(c["id"], c["latest_conversation_id"]) for c in answer["customers"]] == [
            (contact, latest)
        ]
    await h.call("GET", f"/api/v1/contacts/{contact}", bob_token)  # he may open it


async def test_customers_by_name_email_phone_handle_and_order(gateway: Harness, channel, redis):
    h = gateway
    conv = await say(h, channel, "wx-openid-9f8e", "hi", name="張偉",
                     email="zhang.wei@example.cn", phone="13800138000")  # fmt: skip
    other = await say(h, channel, "alice-99", "hello", name="Alice Smith")
    contact = (await h.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
    alice = (await h.call("GET", f"/api/v1/conversations/{other}"))["contact"]["id"]
    await found(h, contact, q="张伟", kind="customers")  # Traditional name, Simplified query
    for query in ("張", "zhang.wei@example.cn", "example.cn", "13800138000", "1380013", "8000",
                  "wx-openid-9f8e", "9f8e"):  # fmt: skip
        assert ids(await search(h, q=query, kind="customers")) == [contact], query
    # Alice wrote after 張偉: her contact may come in the next poll (within a second).
    await found(h, alice, q="ali", kind="customers", timeout=2.0)
    assert ids(await search(h, q="ali", kind="customers")) == [alice]
    assert ids(await search(h, q="alice smith", kind="customers")) == [alice]
    # Custom attributes (order numbers), as the contacts feature stores them: the change feed
    # brings the edit within a second.
    k = h.gw.keys
    await redis.hset(k.contact(contact), "attrs", json.dumps({"orders": ["SO20261205-7731"]}))
    await redis.zadd(k.contacts_changed(), {contact: now_ms()})
    elapsed = await found(h, contact, q="SO20261205-7731", kind="customers")
    assert elapsed < 1.0
    # A contact merged into another is not a result of its own.
    await redis.hset(k.contact(alice), "merged_into", contact)
    await redis.zadd(k.contacts_changed(), {alice: now_ms()})
    await gone(h, alice, q="alice", kind="customers")


async def test_current_within_a_second_in_two_processes(make_gateway: MakeGateway):
    """Either process answers (the one that does not hold the index hands its searches to
    the one that does), current within a second of a message through either."""
    first = await make_gateway()
    second = await make_gateway()
    await ready(first)
    await ready(second)
    assert first.gw.search.holding != second.gw.search.holding
    channel = await first.api_channel()
    conv = await say(first, channel, "c1", "第一条消息")
    await found(first, conv, q="第一条")
    await found(second, conv, q="第一条")
    # A new message in an existing conversation, through the real inbox of one process:
    # current in both within a second.
    posted = time.monotonic()
    assert await say(first, channel, "c1", "补充：订单号 778899 的快递丢了") == conv
    waits = [await found(h, conv, q="快递 778899") for h in (first, second)]
    assert time.monotonic() - posted < 1.0 + 0.5, waits  # both found (second checked after)
    assert max(waits) < 1.0


async def test_rebuilt_after_a_restart(make_gateway: MakeGateway):
    first = await make_gateway()
    channel = await first.api_channel()
    convs = [await say(first, channel, f"c{i}", f"售后问题 {i} 号") for i in range(3)]
    await found(first, convs[-1], q="售后")
    await first.client.close()
    again = await make_gateway()
    await ready(again)
    assert set(ids(await search(again, q="售后"))) == set(convs)


async def test_erased_text_is_gone(gateway: Harness, channel, redis):
    """An erasure redacts the contact's messages in Redis and bumps its conversations and the
    contact in the change feeds (the contacts feature's contract): the old text is dropped."""
    h = gateway
    conv = await say(h, channel, "gone", "我的身份证号是 110101199003071234", name="王芳")
    keep = await say(h, channel, "stays", "身份证 办理")
    await found(h, conv, q="身份证")
    contact = (await h.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
    await found(h, contact, q="王芳", kind="customers")
    k = h.gw.keys
    body = json.loads(await redis.hget(k.messages(conv), "1"))
    body["text"] = "[erased]"
    pipe = redis.pipeline(transaction=True)
    pipe.hset(k.messages(conv), "1", json.dumps(body, ensure_ascii=False))
    pipe.hdel(k.contact(contact), "name", "email", "phone")
    pipe.zadd(k.conversations_index(), {conv: now_ms()})
    pipe.zadd(k.contacts_changed(), {contact: now_ms()})
    await pipe.execute()
    await gone(h, conv, q="身份证")
    assert ids(await search(h, q="110101199003071234")) == []
    assert ids(await search(h, q="身份证")) == [keep]
    await gone(h, contact, q="王芳", kind="customers")


async def test_answers_match_the_openapi_document(gateway: Harness, channel):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    h = gateway
    conv = await say(h, channel, "c1", "schema check 订单", email="s@example.com")
    await found(h, conv, q="订单")
    doc = await h.call("GET", "/api/v1/openapi.json")
    registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, DRAFT202012))
    responses = doc["paths"]["/api/v1/search"]["get"]["responses"]
    assert {"200", "400", "401"} <= set(responses)

    def check(status: str, body: dict) -> None:
        where = (
            "urn:doc#/paths/~1api~1v1~1search/get/responses/"
            f"{status}/content/application~1json/schema"
        )
        errors = list(Draft202012Validator({"$ref": where}, registry=registry).iter_errors(body))
        assert not errors, errors

    check("200", await search(h, q="订单"))
    check("200", await search(h, q="s@example.com", kind="customers"))
    check("400", await search(h, q="x", status="nope", expect=400))


async def test_erasure_through_the_contacts_api(gateway: Harness, channel):
    """The contacts feature's real erase (POST /api/v1/contacts/{id}/erase): the contact and
    its conversations' old text leave the index of this process within a second."""
    h = gateway
    conv = await say(h, channel, "erase-me", "我的住址是朝阳区望京西路 88 号", name="赵敏",
                     email="zhao@example.com")  # fmt: skip
    await found(h, conv, q="望京西路")
    contact = (await h.call("GET", f"/api/v1/conversations/{conv}"))["contact"]["id"]
    await found(h, contact, q="zhao@example.com", kind="customers")
    await h.call("POST", f"/api/v1/contacts/{contact}/erase", json_body={})
    started = time.monotonic()
    await gone(h, conv, q="望京西路")
    await gone(h, contact, q="zhao@example.com", kind="customers")
    assert time.monotonic() - started < 1.5
    assert ids(await search(h, q="赵敏", kind="customers")) == []


async def test_a_merged_contact_is_found_once(gateway: Harness, channel):
    h = gateway
    first = await say(h, channel, "shop-1", "订单 SO-99 发票", name="林小姐")
    second = await say(h, channel, "app-7", "还是发票的问题", name="林小姐")
    source = (await h.call("GET", f"/api/v1/conversations/{first}"))["contact"]["id"]
    target = (await h.call("GET", f"/api/v1/conversations/{second}"))["contact"]["id"]
    await found(h, source, q="林小姐", kind="customers")
    await found(h, target, q="林小姐", kind="customers")
    await h.call("POST", "/api/v1/contacts/merge", json_body={"source": source, "target": target})
    await gone(h, source, q="林小姐", kind="customers")
    assert ids(await search(h, q="林小姐", kind="customers")) == [target]
    assert set(ids(await search(h, q="发票"))) == {first, second}  # both conversations stay
