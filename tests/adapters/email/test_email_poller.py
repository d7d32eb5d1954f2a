"""The IMAP side against a real pymap server: IDLE, polling, restarts, UIDVALIDITY, limits."""

from __future__ import annotations

from email_testkit import ImapServer, SmtpServer, email_config, make_mail

from tests.conftest import wait_for


async def test_appended_mail_arrives_through_idle(
    imap_server: ImapServer, smtp_server: SmtpServer, make_adapter
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    await wait_for(lambda: _true(adapter.poller.status.get("state") == "connected"), timeout=30)
    assert adapter.poller.status["mode"] == "idle"
    await imap_server.append(make_mail("Wang Wei <wang@example.cn>", "Where is my order?", "Hi"))
    await wait_for(lambda: _true(len(rec.delivered) == 1), timeout=30)
    msg = rec.delivered[0]
    assert msg.contact.external_id == "wang@example.cn"
    assert msg.text == "Hi"
    assert msg.thread_key == msg.external_id


async def _true(value: bool) -> bool:
    return value
