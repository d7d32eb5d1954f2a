"""The self-service section of the reports page, in a real Chromium: a bot answer marked solved,
a question with no article and a 转人工 show up by channel, by reason and as a gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CallbackServer, Harness, wait_for
from tests.console.conftest import artifacts, browser, new_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
PASSWORD = "super-password-123"


async def test_self_service_figures_on_the_reports_page(
    gateway: Harness,
    callback_server: CallbackServer,
    new_page,  # noqa: F811
    artifacts: Path,  # noqa: F811
):
    h = gateway
    await h.call(
        "POST", "/api/v1/kb/articles", None,
        {"title": "如何申请退款", "body": "订单页点击申请退款。", "tags": ["退款"]}, expect=201,
    )  # fmt: skip
    channel_id, secret = await h.api_channel(callback_server.url)
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel_id}", None, {"mode": "always"})
    for n, (who, text) in enumerate(
        [("a", "怎么申请退款"), ("a", "已解决"), ("b", "你们老板是谁"), ("c", "转人工")]
    ):
        status, _ = await h.post_api_message(
            channel_id, secret,
            {"message_id": f"m{n}", "sender": {"id": who}, "thread_id": who, "text": text},
        )  # fmt: skip
        assert status == 202

    async def counted() -> bool:
        report = await h.call("GET", "/api/v1/kb/reports")
        return report["by_channel"].get("api", {}).get("solved") == 1

    await wait_for(counted)
    body = {"email": "sue@example.com", "password": PASSWORD, "name": "Sue", "role": "supervisor"}
    await h.call("POST", "/api/v1/users", json_body=body, expect=201)
    page = (await new_page()).page
    await page.goto(f"{h.base_url}/console")
    await page.fill("#login-form input[name=email]", "sue@example.com")
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")
    await page.goto(f"{h.base_url}/reports")
    row = page.locator("#kb-channels tbody tr", has_text="api")
    await row.wait_for()
    cells = [await c.text_content() for c in await row.locator("td").all()]
    assert cells == ["api", "3", "1", "1", "0", "2", "33.3%"]
    await page.locator("#kb-handoffs tr", has_text="asked_for_person").wait_for()
    await page.locator("#kb-gaps tr", has_text="你们老板是谁").wait_for()
    await page.locator("#kb-rated tr", has_text="如何申请退款").wait_for()
    await page.locator("#kb-report").screenshot(path=str(artifacts / "reports-self-service.png"))
