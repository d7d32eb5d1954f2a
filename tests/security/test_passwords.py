"""Common and guessable passwords are refused (zxcvbn score below 3, the user's email and name
counted as known): user creation, password change, `gateway admin create-user` and the first
admin from GATEWAY_ADMIN_PASSWORD; the 400 says why in zxcvbn's words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.bootstrap import ensure_admin
from gateway.cli import StartError
from gateway.redis_client import connect
from gateway.services import Gateway
from gateway.settings import load_settings
from tests.conftest import Harness

WEAK = ["1234567890", "password123", "qwertyuiop", "iloveyou2024", "aaaaaaaaaaaa"]
STRONG = "correct-Horse-battery-7"


async def test_weak_passwords_are_refused_at_creation(gateway: Harness):
    for password in WEAK:
        body = {"email": "weak@example.com", "password": password, "name": "Wei Chen"}
        resp = await gateway.call("POST", "/api/v1/users", json_body=body, expect=400)
        err = resp["error"]
        assert err["code"] == "weak_password" and err["field"] == "password", resp
        assert "too easy to guess" in err["message"]
    resp = await gateway.call("POST", "/api/v1/users", json_body={
        "email": "weak@example.com", "password": "1234567890", "name": "W",
    }, expect=400)  # fmt: skip
    assert "top-100 common password" in resp["error"]["message"]  # zxcvbn's own feedback


async def test_the_users_own_email_and_name_make_a_password_weak(gateway: Harness):
    body = {"email": "zhangwei.li@example.com", "name": "Zhang Weili"}
    for password in ("zhangwei.li@example.com", "ZhangWeiLi!"):
        body["password"] = password
        await gateway.call("POST", "/api/v1/users", json_body=body, expect=400)
    body["password"] = STRONG
    await gateway.call("POST", "/api/v1/users", json_body=body, expect=201)


async def test_weak_passwords_are_refused_on_change(gateway: Harness):
    user_id, _ = await gateway.create_user("change@example.com")
    for password in WEAK:
        resp = await gateway.call(
            "PATCH", f"/api/v1/users/{user_id}", json_body={"password": password}, expect=400
        )
        assert resp["error"]["code"] == "weak_password"
    await gateway.call("PATCH", f"/api/v1/users/{user_id}", json_body={"password": STRONG})
    await gateway.login("change@example.com", STRONG)


def test_cli_create_user_refuses_a_weak_password(tmp_path: Path):
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "admin", "create-user", "--email",
         "cli@example.com", "--name", "Cli", "--password", "1234567890"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "password: too easy to guess" in result.stderr
    assert "common password" in result.stderr


async def test_first_admin_from_a_weak_setting_is_refused(redis_url: str, prefix: str):
    settings = load_settings(
        {"redis_prefix": prefix, "admin_email": "root@example.com", "admin_password": "admin123"},
        environ={},
    )
    client = connect(redis_url)
    try:
        gw = Gateway(settings, client)
        with pytest.raises(StartError, match="GATEWAY_ADMIN_PASSWORD: too easy to guess"):
            await ensure_admin(gw)
        assert await gw.users.count() == 0
        settings.admin_password = STRONG
        assert await ensure_admin(gw) == ("root@example.com", None)
    finally:
        await client.aclose()
