"""Admins edit priority classes, SLA targets and classification rules through the API; the
inbox applies them to the next message; agents may not edit."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Harness


async def _message(gateway: Harness, channel: tuple[str, str], n: int, text: str) -> dict[str, Any]:
    channel_id, secret = channel
    status, body = await gateway.post_api_message(
        channel_id, secret, {"message_id": f"m{n}", "sender": {"id": f"c{n}"}, "text": text}
    )
    assert status == 202, body
    return (await gateway.call("GET", f"/api/v1/conversations/{body['conversation_id']}"))[
        "conversation"
    ]


async def test_sla_classes_are_read_and_replaced(gateway: Harness):
    got = await gateway.call("GET", "/api/v1/sla/classes")
    assert got["source"] == "file"
    names = [c["name"] for c in got["policy"]["classes"]]
    assert names == ["incident", "urgent", "sensitive", "high", "normal", "low"]

    policy = got["policy"]
    normal = next(c for c in policy["classes"] if c["name"] == "normal")
    normal["first_response"] = {"default": "1m", "email": "1h"}
    put = await gateway.call("PUT", "/api/v1/sla/classes", json_body=policy)
    assert put["source"] == "redis"
    changed = next(c for c in put["policy"]["classes"] if c["name"] == "normal")
    assert changed["first_response"] == {"default": 60, "email": 3600}

    channel = await gateway.api_channel()
    conv = await _message(gateway, channel, 1, "hello")
    assert conv["priority"] == "normal"
    assert conv["first_response_due"] - conv["created_at"] == 60_000

    reset = await gateway.call("DELETE", "/api/v1/sla/classes")
    assert reset["source"] == "file"
    conv = await _message(gateway, channel, 2, "hello")
    assert conv["first_response_due"] - conv["created_at"] == 180_000


async def test_rules_are_replaced_and_the_conversation_records_the_rule(gateway: Harness):
    rules = (await gateway.call("GET", "/api/v1/sla/rules"))["rules"]
    assert {r["name"] for r in rules["rules"]} >= {"safety-hazard", "vip-customer"}
    rules["rules"].append({"name": "refund-now", "class": "urgent", "keywords": ["退款", "refund"]})
    put = await gateway.call("PUT", "/api/v1/sla/rules", json_body=rules)
    assert put["source"] == "redis"

    channel = await gateway.api_channel()
    conv = await _message(gateway, channel, 1, "I want a REFUND")
    assert (conv["priority"], conv["priority_rule"]) == ("urgent", "refund-now")

    await gateway.call("DELETE", "/api/v1/sla/rules")
    conv = await _message(gateway, channel, 2, "I want a refund")
    assert (conv["priority"], conv["priority_rule"]) == ("normal", None)


async def test_bad_edits_are_refused_with_the_field(gateway: Harness):
    bad = await gateway.call("PUT", "/api/v1/sla/classes", json_body={"classes": []}, expect=400)
    assert bad["error"]["code"] == "invalid_field"
    assert "normal" in bad["error"]["message"]

    policy = (await gateway.call("GET", "/api/v1/sla/classes"))["policy"]
    without_urgent = {**policy, "classes": [c for c in policy["classes"] if c["name"] != "urgent"]}
    # The escalation table and the rules still name "urgent".
    refused = await gateway.call("PUT", "/api/v1/sla/classes", json_body=without_urgent, expect=400)
    assert "urgent" in refused["error"]["message"]

    rules = {"rules": [{"name": "x", "class": "critical", "keywords": ["a"]}]}
    bad_rules = await gateway.call("PUT", "/api/v1/sla/rules", json_body=rules, expect=400)
    assert "rules.0.class" in bad_rules["error"]["message"]
    assert (await gateway.call("GET", "/api/v1/sla/rules"))["source"] == "file"

    not_json = await gateway.client.put(
        "/api/v1/sla/rules", data=b"{", headers=gateway.auth(gateway.admin_token)
    )
    assert not_json.status == 400


async def test_agents_may_not_edit(gateway: Harness):
    _, token = await gateway.create_user("agent@example.com")
    await gateway.call("GET", "/api/v1/sla/classes", token, expect=403)
    await gateway.call("PUT", "/api/v1/sla/rules", token, json_body={"rules": []}, expect=403)
    _, boss = await gateway.create_user("boss@example.com", role="supervisor")
    assert (await gateway.call("GET", "/api/v1/sla/rules", boss))["source"] == "file"
    await gateway.call("DELETE", "/api/v1/sla/classes", boss, expect=403)


async def test_a_backtracking_pattern_is_refused_and_one_stored_earlier_cannot_stall(
    gateway: Harness, redis, keys
):
    """A pattern runs on every customer message: one that backtracks without bound is refused
    when saved or tried, with its rule named; one already stored (an older version, a hand
    edit) gives up after its time limit on a hostile message, which is filed as unmatched."""
    rules = (await gateway.call("GET", "/api/v1/sla/rules"))["rules"]
    rules["rules"].append({"name": "runaway", "class": "urgent", "patterns": ["(a|aa)+$"]})
    refused = await gateway.call("PUT", "/api/v1/sla/rules", json_body=rules, expect=400)
    assert "'runaway'" in refused["error"]["message"]
    assert "too slow" in refused["error"]["message"]
    assert (await gateway.call("GET", "/api/v1/sla/rules"))["source"] == "file"
    tried = await gateway.call(
        "POST", "/api/v1/priority-rules/test", json_body={"text": "aaa", "rules": rules},
        expect=400,
    )  # fmt: skip
    assert "'runaway'" in tried["error"]["message"]

    await redis.set(keys.priority_rules(), json.dumps(rules))
    gateway.gw.inbox.policies.invalidate()
    channel = await gateway.api_channel()
    conv = await _message(gateway, channel, 1, "a" * 5000 + "!")  # days with re's backtracking
    assert (conv["priority"], conv["priority_rule"]) == ("normal", None)
    conv = await _message(gateway, channel, 2, "aaa")  # the pattern still matches
    assert (conv["priority"], conv["priority_rule"]) == ("urgent", "runaway")
