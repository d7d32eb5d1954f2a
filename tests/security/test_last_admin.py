"""The deployment always keeps an admin: deleting or demoting the last one answers 409
``last_admin`` (whoever asks), and two admins removing each other at the same moment cannot
both succeed (one Lua script checks and writes)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from tests.conftest import Harness


async def _admins(gateway: Harness, token: str | None = None) -> list[str]:
    users = (await gateway.call("GET", "/api/v1/users", token))["users"]
    return [u["id"] for u in users if u["role"] == "admin"]


async def test_the_last_admin_cannot_delete_or_demote_themselves(gateway: Harness):
    [me] = await _admins(gateway)
    for method, body in [("DELETE", None), ("PATCH", {"role": "agent"}),
                         ("PATCH", {"role": "supervisor", "name": "Still me"})]:  # fmt: skip
        refused = await gateway.call(method, f"/api/v1/users/{me}", json_body=body, expect=409)
        assert refused["error"]["code"] == "last_admin"
        assert "last admin" in refused["error"]["message"]
    assert await _admins(gateway) == [me]
    # Nothing of a refused change was written, and the session still works.
    users = (await gateway.call("GET", "/api/v1/users"))["users"]
    assert [u["name"] for u in users if u["id"] == me] != ["Still me"]
    # Other changes to the last admin are fine.
    await gateway.call("PATCH", f"/api/v1/users/{me}", json_body={"role": "admin", "name": "Boss"})


async def test_another_admin_cannot_remove_the_last_one_either(gateway: Harness):
    [me] = await _admins(gateway)
    other, other_token = await gateway.create_user("second@example.com", role="admin")
    # Two admins: one may go, by another's hand.
    await gateway.call("DELETE", f"/api/v1/users/{me}", other_token)
    # Now `other` is the last one: not even they may remove themselves.
    for method, body in [("DELETE", None), ("PATCH", {"role": "agent"})]:
        refused = await gateway.call(
            method, f"/api/v1/users/{other}", other_token, json_body=body, expect=409
        )
        assert refused["error"]["code"] == "last_admin"
    assert await _admins(gateway, other_token) == [other]
    # Non-admins come and go as before.
    agent, _ = await _create(gateway, "agent@example.com", "agent", other_token)
    await gateway.call("DELETE", f"/api/v1/users/{agent}", other_token)


@pytest.mark.parametrize("how", ["demote", "delete", "mixed"])
async def test_two_admins_removing_each_other_at_once_leave_one(gateway: Harness, how: str):
    [first] = await _admins(gateway)
    first_token = gateway.admin_token
    for round_ in range(6):
        second, second_token = await _create(
            gateway, f"r{round_}-{how}@example.com", "admin", first_token
        )
        a = ("PATCH", {"role": "agent"}) if how in ("demote", "mixed") else ("DELETE", None)
        b = ("PATCH", {"role": "agent"}) if how == "demote" else ("DELETE", None)
        statuses = await asyncio.gather(
            _status(gateway, a[0], f"/api/v1/users/{second}", first_token, a[1]),
            _status(gateway, b[0], f"/api/v1/users/{first}", second_token, b[1]),
        )
        survivor_token = first_token if statuses[0] == 200 else second_token
        left = await _admins(gateway, survivor_token)
        assert len(left) == 1, (statuses, left)
        assert statuses.count(200) == 1, statuses
        assert set(statuses) <= {200, 401, 409}, statuses
        first, first_token = left[0], survivor_token


async def _status(gateway: Harness, method: str, path: str, token: str, body) -> int:
    resp = await gateway.client.request(method, path, json=body, headers=gateway.auth(token))
    await resp.read()
    return resp.status


async def _create(gateway: Harness, email: str, role: str, token: str) -> tuple[str, str]:
    """A user created by the admin holding ``token``; returns (id, the user's own token)."""
    password = secrets.token_urlsafe(16)
    body = {"email": email, "password": password, "name": email.split("@")[0], "role": role}
    user = await gateway.call("POST", "/api/v1/users", token, body, expect=201)
    return user["user"]["id"], await gateway.login(email, password)
