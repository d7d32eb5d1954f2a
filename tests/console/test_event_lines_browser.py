"""System lines the router writes (SLA breached, back in the queue) read in the agent's own
language, with the clock and the classes they name translated too; English shows them as
written."""

from __future__ import annotations

import pytest

from router.escalation import plan
from tests.conftest import Harness
from tests.console.uxkit import DESKTOP, customer_says, sign_in, user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "raised", "back"),
    [
        ("zh-CN", "SLA 超时（首次响应）：优先级由普通升为高", "客服已离线，会话已回到队列"),
        ("en-US", "SLA breached (first response): priority raised from normal to high",
         "Back in the queue: its agent went offline"),
    ],
)  # fmt: skip
async def test_router_lines_in_the_agents_language(
    gateway: Harness, new_page, locale: str, raised: str, back: str
):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    channel, secret = await h.api_channel()
    conv = await customer_says(h, channel, secret, "m-1", "Where is my parcel?", "c-1")
    # The router's own steps write the lines: a breach of the first response, then a release.
    row = await h.gw.conversations.get(conv)
    sla = (await h.gw.router.policies.current()).sla
    late = plan(row, sla, int(row["first_response_due"]) + 1)
    raise_step = next(a for a in late.actions if a.kind == "raise")
    await h.gw.router.append_event(
        conv,
        raise_step.describe(late.breach, "normal"),
        [],
        *raise_step.event(late.breach, "normal"),
    )
    await h.gw.router.append_event(
        conv, "Back in the queue: its agent went offline", [], "agent_went_offline", {}
    )
    bp = await new_page(locale=locale)
    page = await sign_in(bp, h, "sue@example.com", DESKTOP)
    await page.goto(f"{h.base_url}/console#/inbox/{conv}")
    await page.locator("#log .msg.event", has_text=raised).wait_for()
    await page.locator("#log .msg.event", has_text=back).wait_for()
    assert not bp.errors, bp.errors
