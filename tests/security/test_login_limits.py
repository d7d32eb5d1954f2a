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
