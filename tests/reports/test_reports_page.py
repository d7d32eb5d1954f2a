"""The reports page in a real Chromium: a supervisor signed in to the console opens /reports and
sees the live view, the summary table and chart, and the heat map, with no script errors (the
page runs under the console's strict CSP). Screenshot in test-artifacts/reports.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CallbackServer, Harness
from tests.console.conftest import artifacts, browser, new_page  # noqa: F401 (fixtures)
from tests.reports.flow import answered, customer_writes

pytestmark = pytest.mark.browser
PASSWORD = "super-password-123"


async def test_reports_page_shows_figures(
    gateway: Harness,
    callback_server: CallbackServer,
    new_page,  # noqa: F811
    artifacts: Path,  # noqa: F811
):
    h = gateway
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("hal@example.com", name="Hal")
    c1 = await customer_writes(h, channel_id, secret, "c1", "m1", "Lid broken <b>now</b>")
    await answered(h, agent, c1, "Sending a new one")
    await h.call("PUT", f"/api/v1/conversations/{c1}/tags", json_body={"tags": ["<i>lid</i>"]})
    body = {"email": "sue@example.com", "password": PASSWORD, "name": "Sue", "role": "supervisor"}
    await h.call("POST", "/api/v1/users", json_body=body, expect=201)

    bp = await new_page()
    page = bp.page
    await page.goto(f"{h.base_url}/console")
    await page.fill("#login-form input[name=email]", "sue@example.com")
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")

    await page.goto(f"{h.base_url}/reports")
    await page.wait_for_selector("#live-agents td:has-text('Hal')")
    await page.wait_for_selector("#live-queue td:has-text('urgent')")
    await page.wait_for_selector("#summary td:has-text('api')")
    await page.wait_for_selector("#chart svg rect")
    # Tags are shown as text, never as markup.
    await page.wait_for_selector("#heatmap td:has-text('<i>lid</i>')")
    assert await page.locator("#heatmap i").count() == 0
    await page.select_option("#range select[name=by]", "agent")
    await page.click("#range button[type=submit]")
    await page.wait_for_selector("#summary th:has-text('Occupancy')")
    await page.wait_for_selector("#summary td:has-text('Hal')")
    await page.screenshot(path=str(artifacts / "reports.png"), full_page=True)
    assert bp.errors == [] and bp.dialogs == []
