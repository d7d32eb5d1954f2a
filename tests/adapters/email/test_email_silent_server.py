"""An IMAP server that stops answering mid-session (a half-open connection, a hung server) must
cost the poller one timeout_seconds and a reconnect, never the mailbox: the leased poller would
otherwise wait forever while its lease stays renewed, and no later mail would be read."""

from __future__ import annotations

from email_testkit import ImapServer, Recorder, SmtpServer, email_config, make_mail

from tests.conftest import wait_for
from tests.silent_proxy import SilentProxy


async def _is(value: object) -> object:
    return value


async def test_unanswered_store_reconnects_and_reads_on(
    start_imap, smtp_server: SmtpServer, make_adapter
):
    imap = await start_imap(no_idle=True)
    await imap.append(make_mail("a@example.com", "one", "one", message_id="<one@x>"))
    async with SilentProxy(imap.port, b"UID STORE") as proxy:  # every \Seen, every time
        config = email_config(imap, smtp_server, imap_port=proxy.port, timeout_seconds=1)
        _adapter, rec = await make_adapter(config)
        await wait_for(lambda: _is(proxy.silenced), timeout=60)
        await imap.append(make_mail("b@example.com", "two", "two", message_id="<two@x>"))
        await wait_for(lambda: _is(len(rec.delivered) == 2), timeout=60)
        assert [m.external_id for m in rec.delivered] == ["<one@x>", "<two@x>"]


async def test_unanswered_idle_reconnects_and_reads_on(
    imap_server: ImapServer, smtp_server: SmtpServer, make_adapter
):
    async with SilentProxy(imap_server.port, b" IDLE\r\n") as proxy:  # every IDLE, every time
        config = email_config(imap_server, smtp_server, imap_port=proxy.port, timeout_seconds=1)
        _adapter, rec = await make_adapter(config, recorder=Recorder())
        await wait_for(lambda: _is(proxy.silenced), timeout=60)
        await imap_server.append(make_mail("c@example.com", "three", "three"))
        await wait_for(lambda: _is(rec.delivered), timeout=60)  # read on reconnecting
        assert rec.delivered[0].text == "three"


async def test_a_trickled_fetch_is_bounded_and_the_mail_read_after_reconnecting(
    start_imap, smtp_server: SmtpServer, make_adapter
):
    """The server (or the link) sends a 20 KB message 64 bytes at a time, each well within
    timeout_seconds, so the client's idle timeout never fires: the whole answer is bounded
    (timeout_seconds plus its size at 16 KiB/s), then the poller reconnects and reads on."""
    imap = await start_imap(no_idle=True)
    text = "a slow one\n" + "x" * 76 + "\n"
    await imap.append(make_mail("a@example.com", "slow", text * 250, message_id="<slow@x>"))
    async with SilentProxy(imap.port, b"BODY.PEEK[]", trickle_seconds=0.3, times=1) as proxy:
        config = email_config(imap, smtp_server, imap_port=proxy.port, timeout_seconds=1)
        _adapter, rec = await make_adapter(config)
        await wait_for(lambda: _is(proxy.silenced), timeout=60)
        # The trickled answer alone would take over 90 s (320 pieces, 0.3 s apart).
        await wait_for(lambda: _is(rec.delivered), timeout=20)
        assert [m.external_id for m in rec.delivered] == ["<slow@x>"]
        assert proxy.connections >= 2
