"""The settings pages' API additions through the real app: the "test this text" endpoint
(POST /api/v1/priority-rules/test) with the rules in force and with a draft, for staff only."""

from __future__ import annotations

from tests.conftest import Harness

TEST = "/api/v1/priority-rules/test"


async def test_a_text_is_classified_by_the_rules_in_force(gateway: Harness):
    h = gateway
    _boss_id, boss = await h.create_user("boss@example.com", role="supervisor")
    _agent_id, agent = await h.create_user("agent@example.com")
    fire = await h.call("POST", TEST, boss, {"text": "The kettle CAUGHT FIRE yesterday"})
    assert (fire["class"], fire["rule"], fire["source"]) == ("urgent", "safety-hazard", "file")
    assert fire["matched"] == ["safety-hazard"]
    both = await h.call("POST", TEST, boss, {"text": "记者问起火的事", "tier": "vip"})
    assert both["class"] == "urgent"  # the most urgent of the matching rules wins
    assert both["matched"] == ["safety-hazard", "media-exposure", "vip-customer"]
    plain = await h.call("POST", TEST, boss, {"text": "Where is my parcel?"})
    assert (plain["class"], plain["rule"], plain["matched"]) == ("normal", None, [])
    await h.call("POST", TEST, agent, {"text": "fire"}, expect=403)
    empty = await h.call("POST", TEST, boss, {"text": ""}, expect=400)
    assert empty["error"]["field"] == "text"


async def test_a_draft_is_tried_without_being_stored(gateway: Harness):
    h = gateway
    draft = {
        "default_class": "low",
        "rules": [{"name": "refund", "class": "high", "keywords": ["退款", "refund"]}],
    }
    got = await h.call("POST", TEST, json_body={"text": "我要退款", "rules": draft})
    assert (got["class"], got["rule"], got["source"]) == ("high", "refund", "draft")
    other = await h.call("POST", TEST, json_body={"text": "hello", "rules": draft})
    assert (other["class"], other["rule"]) == ("low", None)
    bad = {"rules": [{"name": "x", "class": "nonsense", "keywords": ["a"]}]}
    refused = await h.call("POST", TEST, json_body={"text": "a", "rules": bad}, expect=400)
    assert refused["error"]["field"] == "rules" and "nonsense" in refused["error"]["message"]
    stored = await h.call("GET", "/api/v1/sla/rules")
    assert stored["source"] == "file"  # nothing was saved
