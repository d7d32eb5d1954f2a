"""Users, roles and tokens: every role's forbidden routes answer 403, revoked tokens 401."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_EMAIL, Harness

ADMIN_ONLY = [
    ("GET", "/api/v1/channels"),
    ("POST", "/api/v1/channels"),
    ("GET", "/api/v1/channel-types"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/u_x"),
    ("DELETE", "/api/v1/users/u_x"),
    ("DELETE", "/api/v1/channels/ch_x"),
]
STAFF_ONLY = [("GET", "/api/v1/users"), ("GET", "/api/v1/queue")]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY + STAFF_ONLY)
async def test_agent_is_forbidden_admin_and_staff_routes(gateway: Harness, method, path):
    _, token = await gateway.create_user("agent@example.com")
    body = await gateway.call(method, path, token, json_body={}, expect=403)
    assert body["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
async def test_supervisor_is_forbidden_admin_routes(gateway: Harness, method, path):
    _, token = await gateway.create_user("sup@example.com", role="supervisor")
    await gateway.call(method, path, token, json_body={}, expect=403)


@pytest.mark.parametrize(("method", "path"), STAFF_ONLY)
async def test_supervisor_may_use_staff_routes(gateway: Harness, method, path):
    _, token = await gateway.create_user("sup@example.com", role="supervisor")
    await gateway.call(method, path, token, expect=200)


async def test_no_token_or_garbage_token_is_401(gateway: Harness):
    resp = await gateway.client.get("/api/v1/conversations")
    assert resp.status == 401
    resp = await gateway.client.get(
        "/api/v1/conversations", headers={"Authorization": "Bearer nonsense"}
    )
    assert resp.status == 401


async def test_logout_revokes_the_token(gateway: Harness):
    _, token = await gateway.create_user("bob@example.com")
    await gateway.call("GET", "/api/v1/auth/me", token)
    await gateway.call("POST", "/api/v1/auth/logout", token)
    await gateway.call("GET", "/api/v1/auth/me", token, expect=401)


async def test_password_change_revokes_tokens(gateway: Harness):
    user_id, token = await gateway.create_user("carol@example.com")
    await gateway.call(
        "PATCH", f"/api/v1/users/{user_id}", json_body={"password": "a-new-password-1"}
    )
    await gateway.call("GET", "/api/v1/auth/me", token, expect=401)
    assert await gateway.login("carol@example.com", "a-new-password-1")


async def test_wrong_password_and_unknown_email_look_the_same(gateway: Harness):
    bad_password = await gateway.client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-password"}
    )
    unknown = await gateway.client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x"}
    )
    assert bad_password.status == unknown.status == 401
    assert (await bad_password.json()) == (await unknown.json())


async def test_repeated_failures_are_rate_limited(make_gateway):
    gateway = await make_gateway(login_max_failures=3)
    for _ in range(3):
        resp = await gateway.client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "nope"}
        )
        assert resp.status == 401
    resp = await gateway.client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "nope"}
    )
    assert resp.status == 429
    assert (await resp.json())["error"]["retry_after"] > 0


async def test_login_body_errors_name_the_field(gateway: Harness):
    resp = await gateway.client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL})
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "password"


async def test_agent_sees_only_own_and_unassigned_conversations(gateway: Harness):
    channel_id, secret = await gateway.api_channel()
    alice, alice_token = await gateway.agent_online("alice@example.com")
    _, bob_token = await gateway.create_user("bob@example.com")
    _, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    conv = res["conversation_id"]
    # Unassigned (or offered to alice): bob may look at it while it waits.
    from tests.conftest import wait_for

    async def offered():
        c = (await gateway.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
        return c["offered_to"] == alice

    await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", alice_token)
    await gateway.call("GET", f"/api/v1/conversations/{conv}", alice_token)
    await gateway.call("GET", f"/api/v1/conversations/{conv}", bob_token, expect=403)
    listed = await gateway.call("GET", "/api/v1/conversations", bob_token)
    assert conv not in [c["id"] for c in listed["conversations"]]
    # Bob may not reply to, resolve or transfer alice's conversation.
    await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", bob_token, {"text": "hijack"}, expect=403
    )
    await gateway.call("POST", f"/api/v1/conversations/{conv}/resolve", bob_token, {}, expect=403)
