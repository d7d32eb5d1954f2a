"""Login limits: attempts are counted before the password is checked (no race past the limit)."""

from __future__ import annotations

import asyncio

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Harness, MakeGateway


async def _login(gateway: Harness, email: str, password: str, **headers: str) -> tuple[int, dict]:
    resp = await gateway.client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )
    return resp.status, await resp.json()


async def test_parallel_logins_cannot_race_past_the_limit(make_gateway: MakeGateway):
    gateway = await make_gateway()
    attempts = ["wrong-password"] * 39 + [ADMIN_PASSWORD]
    attempts.insert(20, attempts.pop())  # the right one somewhere in the middle
    results = await asyncio.gather(*(_login(gateway, ADMIN_EMAIL, p) for p in attempts))
    statuses = [status for status, _ in results]
    verdicts = [s for s in statuses if s in (200, 401)]
    assert len(verdicts) <= 5, statuses
    assert set(statuses) <= {200, 401, 429}
    assert statuses.count(429) >= 35


def _from(address: str) -> dict[str, str]:
    """A request through the trusted proxy (the test client, 127.0.0.1) for this client."""
    return {"X-Forwarded-For": address}


async def _user(gateway: Harness, email: str) -> str:
    password = "right-password-" + email.split("@")[0]
    body = {"email": email, "password": password, "name": email}
    await gateway.call("POST", "/api/v1/users", json_body=body, expect=201)
    return password


async def test_one_address_failing_on_one_account_locks_neither_others_nor_elsewhere(
    make_gateway: MakeGateway,
):
    """A whole office behind one NAT address: one user mistyping (or an attacker) must not
    lock the colleagues out, and must not lock that account for everyone else."""
    gateway = await make_gateway(trusted_proxies=["127.0.0.1"])
    a = await _user(gateway, "a@example.com")
    b = await _user(gateway, "b@example.com")
    office, home = _from("203.0.113.7"), _from("198.51.100.1")
    statuses = [(await _login(gateway, "a@example.com", "wrong", **office))[0] for _ in range(10)]
    assert statuses == [401] * 5 + [429] * 5
    assert (await _login(gateway, "b@example.com", b, **office))[0] == 200
    assert (await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD, **office))[0] == 200
    assert (await _login(gateway, "a@example.com", a, **home))[0] == 200
    # The pair itself stays locked, right password or not.
    status, body = await _login(gateway, "a@example.com", a, **office)
    assert status == 429 and body["error"]["retry_after"] > 0
    # Without trusted proxies the same holds for the plain TCP address.
    plain = await make_gateway()
    for _ in range(6):
        await _login(plain, ADMIN_EMAIL, "wrong")
    assert (await _login(plain, "b@example.com", b))[0] == 200


async def test_lockouts_grow_with_each_further_failure(make_gateway: MakeGateway):
    gateway = await make_gateway(login_max_failures=2, login_lockout_seconds=1)
    waits = []
    for rounds in range(3):
        for _ in range(2 if rounds == 0 else 1):
            assert (await _login(gateway, ADMIN_EMAIL, "wrong"))[0] == 401
        resp = await gateway.client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert resp.status == 429
        retry_after = int(resp.headers["Retry-After"])
        assert retry_after == (await resp.json())["error"]["retry_after"]
        waits.append(retry_after)
        await asyncio.sleep(retry_after + 0.1)
    assert waits == [1, 2, 4]
    # A right password ends it: the count starts again.
    assert (await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD))[0] == 200
    assert (await _login(gateway, ADMIN_EMAIL, "wrong"))[0] == 401
    assert (await _login(gateway, ADMIN_EMAIL, "wrong"))[0] == 401
    status, body = await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 429 and body["error"]["retry_after"] == 1


async def test_one_address_has_a_looser_cap_over_all_accounts(make_gateway: MakeGateway):
    gateway = await make_gateway(trusted_proxies=["127.0.0.1"], login_max_failures_per_address=6)
    spray = _from("203.0.113.9")
    for i in range(6):  # one or two guesses at many accounts: under each account's limit
        assert (await _login(gateway, f"user{i}@example.com", "guess", **spray))[0] == 401
    status, body = await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD, **spray)
    assert status == 429 and 0 < body["error"]["retry_after"] <= 300
    assert (await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD, **_from("198.51.100.2")))[0] == 200
    # Right passwords are no failures: a busy office signing in is never capped.
    office = _from("192.0.2.10")
    for _ in range(8):
        assert (await _login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD, **office))[0] == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(make_gateway: MakeGateway):
    # Behind a trusted proxy: the left-most entries (the client's own) do not change who it is.
    behind = await make_gateway(trusted_proxies=["127.0.0.1", "10.0.0.0/8"], login_max_failures=2)
    for spoof in ("1.1.1.1", "2.2.2.2"):
        hops = f"{spoof}, 203.0.113.5, 10.0.0.2"  # client-made, client, our inner proxy
        assert (await _login(behind, ADMIN_EMAIL, "wrong", **_from(hops)))[0] == 401
    hops = "3.3.3.3, 203.0.113.5"
    assert (await _login(behind, ADMIN_EMAIL, ADMIN_PASSWORD, **_from(hops)))[0] == 429
    assert (await _login(behind, ADMIN_EMAIL, ADMIN_PASSWORD, **_from("203.0.113.6")))[0] == 200
    # Not behind a trusted proxy: the header is ignored, whatever it says.
    direct = await make_gateway(login_max_failures=2)
    for spoof in ("1.1.1.1", "2.2.2.2"):
        assert (await _login(direct, ADMIN_EMAIL, "wrong", **_from(spoof)))[0] == 401
    assert (await _login(direct, ADMIN_EMAIL, ADMIN_PASSWORD, **_from("9.9.9.9")))[0] == 429
