"""A spoofed mail in the console, in a real Chromium: it came through a real IMAP server (pymap),
failed the checks of our receiving server, and claims to be from alice@y.example while asking
for replies at attacker@x.example. The message and the conversation header carry an
"Unverified sender" badge with the reason, and say where a reply would go."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters" / "email"))
from email_testkit import (
    ImapServer,
    SmtpRecorder,
    SmtpServer,
    email_config,
    free_port,
    make_mail,
    start_pymap,
)

from tests.conftest import Harness, wait_for
from tests.console.conftest import ARTIFACTS
from tests.console.test_browser import _sign_in, _user

pytestmark = pytest.mark.browser


@pytest.fixture
async def imap() -> AsyncIterator[ImapServer]:
    server = await start_pymap()
    yield server
    await server.stop()


async def test_unverified_sender_badge_and_reply_to_warning(
    gateway: Harness, imap: ImapServer, new_page: Any
):
    h = gateway
    # Replies are never sent here: the SMTP server need not run.
    smtp = SmtpServer("127.0.0.1", free_port(), SmtpRecorder())
    config = email_config(imap, smtp, auth_servers=["mx.example.net"])
    channel = await h.create_channel("email", config, "Support")

    async def connected() -> bool:
        adapter = h.gw.channels.adapter(channel["id"])
        return adapter is not None and adapter.poller.status.get("state") == "connected"

    await wait_for(connected, timeout=90)
    spoof = make_mail(
        "Alice Wong <alice@y.example>", "Change of bank details",
        "Please send the refund to my new account.",
        headers={"Reply-To": "attacker@x.example"},
    )  # fmt: skip
    await imap.append(
        b"Authentication-Results: mx.example.net; spf=fail smtp.mailfrom=alice@y.example;"
        b" dkim=none; dmarc=fail (p=REJECT) header.from=y.example\r\n"
        b"Authentication-Results: mx.attacker.example; dmarc=pass header.from=y.example\r\n" + spoof
    )

    async def listed() -> list[dict[str, Any]] | None:
        found = await h.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return found["conversations"] or None

    [conv] = await wait_for(listed, timeout=90)

    await _user(h, "sup@example.com", "Sup", role="supervisor")
    bp = await new_page()
    page = await _sign_in(bp, h, "sup@example.com")
    await page.goto(f"{h.base_url}/console#/inbox/{conv['id']}")
    badge = page.locator("#log .msg.in .sender-badge.unverified")
    await badge.wait_for()
    assert await badge.text_content() == "Unverified sender (fail): DMARC fail for y.example"
    warning = "Replies go to attacker@x.example, not alice@y.example"
    assert await page.locator("#log .msg.in .reply-to-warning").text_content() == warning
    head = page.locator("#conv-head")
    assert await head.locator(".sender-badge.unverified").text_content() == (
        "Unverified sender (fail): DMARC fail for y.example"
    )
    assert await head.locator(".reply-to-warning").text_content() == warning
    assert await head.locator(".sender-badge.unverified").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-unverified-mail.png"))
    assert bp.errors == [] and bp.dialogs == []
