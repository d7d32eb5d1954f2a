"""Supervisors see a banner in the console when social mentions spike; its text is the alert's,
shown as text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness
from tests.console.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


async def test_spike_alert_shows_a_banner_to_supervisors(gateway: Harness, new_page: Any):
    password = "supervisor-pass-1"
    await gateway.call(
        "POST",
        "/api/v1/users",
        json_body={
            "email": "sup@example.com",
            "password": password,
            "name": "Sup",
            "role": "supervisor",
        },
        expect=201,
    )
    bp = await new_page()
    page = bp.page
    await page.goto(f"{gateway.base_url}/console")
    await page.fill("#login-form input[name=email]", "sup@example.com")
    await page.fill("#login-form input[name=password]", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#conn.conn-connected")
    assert await page.locator("#spike-banner").is_hidden()
    await gateway.gw.raise_spike_alert(
        {
            "type": "mention_spike",
            "channel_id": "ch_<b>x</b>",
            "channel_type": "weibo",
            "bucket_start": 1_795_000_000_000,
            "bucket_seconds": 300,
            "count": 42,
            "baseline": 3.5,
            "factor": 4.0,
            "min_count": 10,
            "post_id": "1",
            "url": None,
            "raised_at": 1_795_000_100_000,
        }
    )
    await page.wait_for_selector("#spike-banner:not([hidden])")
    text = await page.locator("#spike-text").text_content()
    assert "42 mentions in 5 minutes" in text and "ch_<b>x</b>" in text
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-spike-banner.png"))
    await page.click("#spike-dismiss")
    await page.wait_for_selector("#spike-banner", state="hidden")
    assert await page.locator("#nav a[href='/reports']").is_visible()
    assert bp.errors == [] and bp.dialogs == []
