"""The IMAP side against a real pymap server: IDLE, polling, restarts, UIDVALIDITY, the lease,
size limits and broken mail. Delivery goes to a recording context (the gateway's own inbox is
exercised in test_email_e2e.py)."""

from __future__ import annotations

import os

import pytest
from email_testkit import (
    ImapServer,
    Recorder,
    SmtpServer,
    email_config,
    fixture_mail,
    make_mail,
    new_id,
)
from redis.asyncio import Redis

from adapters.base import VerifyError
from adapters.email import EmailConfig
from adapters.email.imap import ImapConnection
from gateway.keys import Keys
from tests.conftest import wait_for


async def _is(value: object) -> object:
    return value


async def connected(adapter, mode: str | None = None) -> None:
    async def ready() -> bool:
        status = adapter.poller.status
        return status.get("state") == "connected" and (mode is None or status["mode"] == mode)

    await wait_for(ready, timeout=90)


async def delivered(rec: Recorder, count: int) -> None:
    await wait_for(lambda: _is(len(rec.delivered) >= count), timeout=90)


async def test_appended_mail_arrives_through_idle(
    imap_server: ImapServer, smtp_server: SmtpServer, make_adapter
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    await connected(adapter, "idle")
    await imap_server.append(make_mail("Wang Wei <wang@example.cn>", "Where is my order?", "Hi"))
    await delivered(rec, 1)
    msg = rec.delivered[0]
    assert msg.contact.external_id == "wang@example.cn" and msg.contact.name == "Wang Wei"
    assert msg.text == "Hi"
    assert msg.thread_key == msg.external_id  # a new thread, keyed by its Message-ID
    assert msg.meta["subject"] == "Where is my order?"
    assert msg.meta["thread_via"] == "new"


async def test_idle_is_renewed_before_the_server_drops_it(imap_server, smtp_server, make_adapter):
    config = email_config(imap_server, smtp_server, idle_timeout_seconds=5)
    adapter, rec = await make_adapter(config)
    await connected(adapter, "idle")
    # Nothing arrives: each IDLE ends after 5 s (29 min in production) and a new one starts.
    await wait_for(lambda: _is(adapter.poller.idles >= 2), timeout=60)
    await imap_server.append(make_mail("a@example.com", "late", "after renewals"))
    await delivered(rec, 1)
    assert rec.delivered[0].text == "after renewals"


async def test_polling_when_the_server_has_no_idle(start_imap, smtp_server, make_adapter):
    imap = await start_imap(no_idle=True)
    adapter, rec = await make_adapter(email_config(imap, smtp_server))
    await connected(adapter, "poll")
    await imap.append(make_mail("a@example.com", "polled", "first"))
    await imap.append(make_mail("b@example.com", "polled", "second"))
    await delivered(rec, 2)
    assert [m.text for m in rec.delivered] == ["first", "second"]  # in UID order


async def test_use_idle_never_polls(imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server, use_idle="never"))
    await connected(adapter, "poll")
    await imap_server.append(make_mail("a@example.com", "polled", "hello"))
    await delivered(rec, 1)


async def test_restart_misses_nothing_and_repeats_nothing(imap_server, smtp_server, make_adapter):
    config = email_config(imap_server, smtp_server)
    first, rec1 = await make_adapter(config)
    await connected(first)
    await imap_server.append(make_mail("a@example.com", "one", "one", message_id="<one@x>"))
    await delivered(rec1, 1)
    await first.stop()
    # While the gateway is down, two more arrive.
    await imap_server.append(make_mail("b@example.com", "two", "two", message_id="<two@x>"))
    await imap_server.append(make_mail("c@example.com", "three", "three", message_id="<3@x>"))
    _second, rec2 = await make_adapter(config)
    await delivered(rec2, 2)
    await imap_server.append(make_mail("d@example.com", "four", "four", message_id="<four@x>"))
    await delivered(rec2, 3)
    assert [m.external_id for m in rec1.delivered] == ["<one@x>"]
    assert [m.external_id for m in rec2.delivered] == ["<two@x>", "<3@x>", "<four@x>"]


async def test_uid_advances_only_after_delivery(
    imap_server, smtp_server, make_adapter, redis: Redis, keys: Keys
):
    rec = Recorder(fail_deliver=True)  # the inbox (Redis) is down
    adapter, _ = await make_adapter(email_config(imap_server, smtp_server), recorder=rec)
    await connected(adapter)
    await imap_server.append(make_mail("a@example.com", "held", "held", message_id="<held@x>"))
    state_key = keys.channel_state("ch-email", "imap")
    await wait_for(lambda: _is(adapter.poller.status.get("state") == "error"), timeout=90)
    uid_while_down = await redis.hget(state_key, "last_uid")
    rec.fail_deliver = False
    await wait_for(lambda: _is(len(rec.delivered) == 1), timeout=60)
    assert rec.delivered[0].external_id == "<held@x>"
    # The UID did not move while delivery failed; it moves once delivery succeeded (the poller
    # saves it right after the handler returns, so wait for that write).

    async def uid_moved() -> bool:
        return int(await redis.hget(state_key, "last_uid")) > int(uid_while_down)

    await wait_for(uid_moved, timeout=30)


async def test_a_rescan_after_a_crash_delivers_nothing_twice(
    imap_server, smtp_server, make_adapter, redis: Redis, keys: Keys
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server, use_idle="never"))
    await connected(adapter)
    for i in range(3):
        await imap_server.append(make_mail("a@example.com", f"m{i}", f"m{i}"))
    await delivered(rec, 3)
    # As if the process died after delivering but before the UID was saved.
    await redis.hset(keys.channel_state("ch-email", "imap"), "last_uid", 0)
    adapter.poller.wake.set()
    await imap_server.append(make_mail("a@example.com", "m3", "m3"))
    await delivered(rec, 4)
    assert len({m.external_id for m in rec.delivered}) == len(rec.delivered) == 4


async def test_uidvalidity_change_rescans_and_dedupes_by_message_id(
    imap_server, smtp_server, make_adapter
):
    await imap_server.command("CREATE", '"Support"')
    config = email_config(imap_server, smtp_server, imap_folder="Support", use_idle="never")
    adapter, rec = await make_adapter(config)
    await connected(adapter)
    one = make_mail("a@example.com", "one", "one", message_id="<one@x>")
    await imap_server.append(one, folder="Support")
    await imap_server.append(make_mail("b@example.com", "two", "two"), folder="Support")
    await delivered(rec, 2)
    # The folder is rebuilt (a server migration): new UIDVALIDITY, old mail again, one new.
    await imap_server.command("DELETE", '"Support"')
    await imap_server.command("CREATE", '"Support"')
    await imap_server.append(one, folder="Support")
    await imap_server.append(make_mail("c@example.com", "three", "three"), folder="Support")
    # Mail is handled in UID order: once this marker is in, everything before it was handled.
    await imap_server.append(make_mail("d@example.com", "marker", "marker"), folder="Support")
    await wait_for(lambda: _is(rec.delivered and rec.delivered[-1].text == "marker"), timeout=90)
    assert [m.text for m in rec.delivered] == ["one", "two", "three", "marker"]


async def test_initial_import_takes_recent_mail_or_only_new_mail(
    imap_server, smtp_server, make_adapter
):
    await imap_server.append(make_mail("old@example.com", "before", "before"))
    fresh, rec = await make_adapter(
        email_config(imap_server, smtp_server, initial_import_days=0), channel_id="ch-new"
    )
    _importing, rec2 = await make_adapter(
        email_config(imap_server, smtp_server, initial_import_days=3), channel_id="ch-import"
    )
    await connected(fresh)
    await delivered(rec2, 1)
    assert rec2.delivered[0].text == "before"
    await imap_server.append(make_mail("new@example.com", "after", "after"))
    await delivered(rec, 1)
    assert [m.text for m in rec.delivered] == ["after"]  # initial_import_days=0: new mail only


async def test_handled_mail_is_marked_seen(imap_server, smtp_server, make_adapter):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    await connected(adapter)
    await imap_server.append(make_mail("a@example.com", "seen?", "hello"))
    await delivered(rec, 1)
    await wait_for(lambda: _seen(imap_server), timeout=60)


async def _seen(imap: ImapServer) -> bool:
    lines = await imap.flags()
    return bool(lines) and all(b"\\Seen" in line for line in lines)


async def test_one_poller_per_mailbox_across_processes(imap_server, smtp_server, make_adapter):
    config = email_config(imap_server, smtp_server)
    one = await make_adapter(config)
    two = await make_adapter(config, recorder=Recorder())  # the same channel, a 2nd process

    async def holder():
        found = [pair for pair in (one, two) if pair[0].poller.status.get("state") == "connected"]
        return found[0] if found else None

    (active, active_rec) = await wait_for(holder, timeout=90)
    (standby, standby_rec) = two if active is one[0] else one
    await imap_server.append(make_mail("a@example.com", "one", "one"))
    await delivered(active_rec, 1)
    assert standby.poller.status["state"] == "starting" and not standby_rec.delivered
    await active.stop()  # the holder goes away; the other process takes over the lease
    await connected(standby)
    await imap_server.append(make_mail("b@example.com", "two", "two"))
    await delivered(standby_rec, 1)
    assert [m.text for m in active_rec.delivered] == ["one"]
    assert [m.text for m in standby_rec.delivered] == ["two"]


async def test_reconnects_after_the_server_goes_away(start_imap, smtp_server, make_adapter):
    imap = await start_imap()
    adapter, rec = await make_adapter(email_config(imap, smtp_server))
    await connected(adapter)
    await imap.stop()
    await wait_for(lambda: _is(adapter.poller.status.get("state") == "error"), timeout=90)
    back = await start_imap(port=imap.port)  # a new, empty server on the same port
    await back.append(make_mail("a@example.com", "back", "back again"))
    await wait_for(lambda: _is(len(rec.delivered) == 1), timeout=60)
    assert rec.delivered[0].text == "back again"


async def test_limits_and_broken_mail_never_stop_the_poller(imap_server, smtp_server, make_adapter):
    config = email_config(imap_server, smtp_server, max_attachment_bytes=1024 * 1024)
    adapter, rec = await make_adapter(config)
    await connected(adapter)
    big = _mail_with_attachment("big@example.com", "30 MB", os.urandom(22 * 1024 * 1024))
    assert len(big) > 30 * 1000 * 1000
    mails = [
        fixture_mail("broken_mime.eml"),
        big,
        fixture_mail("no_message_id.eml").replace(b"\n", b"\r\n"),
        _mail_with_attachment("mid@example.com", "2 MB", os.urandom(2 * 1024 * 1024)),
        make_mail("after@example.com", "after", "still running"),
    ]
    for raw in mails:
        await imap_server.append(raw)
    await wait_for(lambda: _is(len(rec.delivered) == 5), timeout=300)
    broken, huge, no_id, mid, after = rec.delivered
    assert "Hello, my order is broken." in broken.text
    assert "NoBoundaryInMultipartDefect" in broken.meta["defects"]
    # Over max_message_bytes (25 MB): the head is read, the text kept, the attachment not.
    assert huge.meta["truncated"] is True
    assert huge.text.startswith("Please see the attached file.")
    assert "over the 25.0 MB limit" in huge.text
    assert all(a.url is None for a in huge.attachments)
    assert no_id.external_id.endswith("@no-message-id.invalid>")
    # Under the message limit but over max_attachment_bytes: listed, not stored.
    [attachment] = mid.attachments
    assert attachment.url is None and attachment.meta["skipped"] == "too large"
    assert "over the 1.0 MB limit" in mid.text
    assert after.text == "still running"


def _mail_with_attachment(sender: str, subject: str, data: bytes) -> bytes:
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, "support@example.com", subject
    msg["Message-ID"] = f"<{new_id()}@example.com>"
    msg.set_content("Please see the attached file.")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="f.bin")
    return msg.as_bytes()


async def test_attachments_are_stored_and_inline_images_shown(
    imap_server, smtp_server, make_adapter
):
    adapter, rec = await make_adapter(email_config(imap_server, smtp_server))
    await connected(adapter)
    await imap_server.append(fixture_mail("attachments.eml"))
    await delivered(rec, 1)
    msg = rec.delivered[0]
    assert [a.name for a in msg.attachments] == ["box.png", "发票.pdf", "退货说明.docx"]
    assert [a.kind for a in msg.attachments] == ["image", "file", "file"]
    image_url = msg.attachments[0].url
    assert rec.media[image_url][0].startswith(b"\x89PNG")
    assert msg.attachments[0].meta == {"inline": True, "content_id": "photo1@example.org"}
    # The console's HTML shows the inline image from the gateway, not by cid.
    assert f'<img src="{image_url}" alt="photo">' in msg.meta["html"]


async def test_verify_logs_in_to_both_servers(imap_server, smtp_server, make_adapter):
    good, _ = await make_adapter(email_config(imap_server, smtp_server), start=False)
    await good.verify()
    assert smtp_server.recorder.logins == ["support@example.com"]
    bad_imap, _ = await make_adapter(
        email_config(imap_server, smtp_server, imap_password="wrong"), start=False
    )
    with pytest.raises(VerifyError, match="IMAP"):
        await bad_imap.verify()
    bad_smtp, _ = await make_adapter(
        email_config(imap_server, smtp_server, smtp_password="wrong"), start=False
    )
    with pytest.raises(VerifyError, match="SMTP login rejected"):
        await bad_smtp.verify()
    missing_folder, _ = await make_adapter(
        email_config(imap_server, smtp_server, imap_folder="Nope"), start=False
    )
    with pytest.raises(VerifyError, match="SELECT"):
        await missing_folder.verify()


async def test_connection_identifies_itself(imap_server, smtp_server):
    conn = ImapConnection(EmailConfig(**email_config(imap_server, smtp_server)))
    try:
        await conn.open()
        assert conn.identified  # RFC 2971 ID, which NetEase mailboxes require before SELECT
        assert conn.supports_idle
        status = await conn.select("INBOX")
        assert status.uidvalidity > 0 and status.exists == 0
    finally:
        await conn.close()


async def test_starttls_imap_and_ssl_smtp(
    start_imap, start_smtp, tls_files, server_tls, make_adapter
):
    imap = await start_imap(tls=tls_files)
    smtp = start_smtp(ssl_context=server_tls)
    config = email_config(
        imap, smtp, imap_security="starttls", smtp_security="ssl", tls_verify=False
    )
    adapter, rec = await make_adapter(config)
    await adapter.verify()
    await connected(adapter)
    await imap.append(make_mail("tls@example.com", "over TLS", "secure"))
    await delivered(rec, 1)
    # A self-signed certificate is refused unless the admin turned verification off.
    strict, _ = await make_adapter({**config, "tls_verify": True}, start=False)
    with pytest.raises(VerifyError, match=r"(?i)certificate"):
        await strict.verify()
