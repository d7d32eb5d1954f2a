"""Spoofed mail through the real gateway: a mail that claims to be from an existing customer but
fails the checks of our receiving server arrives through a real IMAP server (pymap). It opens a
conversation of its own under a contact of its own (the customer's history is not shown with
it, and their thread is not joined even through our plus token and References), and the API
shows it unverified, with the address a reply would go to."""

from __future__ import annotations

from email_testkit import ImapServer, SmtpServer, make_mail
from test_email_e2e import connected, conversations, delivery, email_channel, messages

from tests.conftest import Harness, wait_for

TRUSTED = "mx.example.net"
ALICE = "Alice Wong <alice@y.example>"


def received(raw: bytes, *results: str) -> bytes:
    """The mail as our receiving server stored it: its Authentication-Results on top, then
    whatever the sender wrote (forged headers included)."""
    head = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return head.encode() + raw


async def _is(value: object) -> object:
    return value


async def test_spoofed_mail_does_not_join_the_customers_conversation(
    gateway: Harness, imap_server: ImapServer, smtp_server: SmtpServer
):
    h = gateway
    channel_id = await email_channel(h, imap_server, smtp_server, auth_servers=[TRUSTED])
    await connected(h, channel_id)
    agent_id, token = await h.agent_online("agent@example.com", name="Agent")

    # Alice's real mail: DMARC passed at our server.
    await imap_server.append(received(
        make_mail(ALICE, "Invoice for order 1234", "Please send the invoice.",
                  message_id="<real-1@y.example>"),
        f"{TRUSTED}; dkim=pass header.i=@y.example header.s=s1; spf=pass"
        " smtp.mailfrom=alice@y.example; dmarc=pass (p=REJECT) header.from=y.example",
    ))  # fmt: skip
    [alice_conv] = await conversations(h, channel_id, 1)
    [first] = await messages(h, alice_conv["id"], 1)
    assert first["meta"]["sender_auth"]["status"] == "verified"
    assert first["meta"]["sender_auth"]["method"] == "dmarc"
    assert "claimed_from" not in first["meta"]

    async def offered() -> bool:
        found = await h.call("GET", f"/api/v1/conversations/{alice_conv['id']}", token)
        return found["conversation"].get("offered_to") == agent_id

    await wait_for(offered, timeout=90)
    await h.call("POST", f"/api/v1/conversations/{alice_conv['id']}/accept", token)
    reply = await h.call(
        "POST", f"/api/v1/conversations/{alice_conv['id']}/messages", token,
        {"text": "Here is your invoice."}, expect=201,
    )  # fmt: skip
    await delivery(h, alice_conv["id"], reply["message"]["seq"], "sent")
    await wait_for(lambda: _is(len(smtp_server.received) == 1), timeout=60)
    ours = smtp_server.received[0].message

    # The attacker: From Alice, Reply-To their own address, answering our reply (its plus
    # token and Message-ID, as a leaked or quoted mail gives them); our server says DMARC
    # failed, a header they wrote themselves says it passed.
    spoof = make_mail(
        ALICE, "Re: Invoice for order 1234", "Please send it to my new address instead.",
        to=ours["Reply-To"].addresses[0].addr_spec, in_reply_to=ours["Message-ID"],
        references=f"<real-1@y.example> {ours['Message-ID']}",
        headers={"Reply-To": "attacker@x.example"},
    )  # fmt: skip
    await imap_server.append(received(
        spoof,
        f"{TRUSTED}; spf=fail smtp.mailfrom=alice@y.example; dkim=none;"
        " dmarc=fail (p=REJECT) header.from=y.example",
        "mx.attacker.example; dkim=pass header.d=y.example; dmarc=pass header.from=y.example",
    ))  # fmt: skip

    both = await conversations(h, channel_id, 2)
    [spoofed] = [c for c in both if c["id"] != alice_conv["id"]]
    assert spoofed["contact_id"] != alice_conv["contact_id"]
    # Alice's conversation did not get the mail.
    found = await h.call("GET", f"/api/v1/conversations/{alice_conv['id']}/messages")
    assert [m["direction"] for m in found["messages"] if m["direction"] != "event"] == ["in", "out"]

    # The API shows it unverified, who it claims to be and where a reply would go; Alice's
    # history is not shown with it.
    detail = await h.call("GET", f"/api/v1/conversations/{spoofed['id']}")
    assert detail["contact"]["email"] == "alice@y.example"
    assert alice_conv["id"] not in [c["id"] for c in detail["history"]]
    [message] = await messages(h, spoofed["id"], 1)
    meta = message["meta"]
    assert meta["sender_auth"] == {
        "status": "unverified", "reason": "fail", "domain": "y.example", "server": TRUSTED,
        "detail": "DMARC fail for y.example",
    }  # fmt: skip
    assert meta["from"] == meta["claimed_from"] == "alice@y.example"
    assert meta["reply_to"] == "attacker@x.example"
    assert meta["thread_via"] == "new"

    # Alice writing again (really) still lands in her own conversation.
    await imap_server.append(received(
        make_mail(ALICE, "Re: Invoice for order 1234", "Thanks!",
                  to=ours["Reply-To"].addresses[0].addr_spec, in_reply_to=ours["Message-ID"]),
        f"{TRUSTED}; dkim=pass header.i=@y.example; dmarc=pass header.from=y.example",
    ))  # fmt: skip
    assert len(await messages(h, alice_conv["id"], 3)) == 3
    await conversations(h, channel_id, 2)


async def test_unverified_customer_gets_the_reply_at_their_address(
    gateway: Harness, imap_server: ImapServer, smtp_server: SmtpServer
):
    """A sender whose domain publishes nothing stays unverified ("none"); answering them still
    works, to their From address."""
    h = gateway
    channel_id = await email_channel(h, imap_server, smtp_server, auth_servers=[TRUSTED])
    await connected(h, channel_id)
    agent_id, token = await h.agent_online("agent@example.com", name="Agent")
    await imap_server.append(received(
        make_mail("bob@plain.example", "Hello", "Do you ship to Macau?"),
        f"{TRUSTED}; spf=none smtp.mailfrom=bob@plain.example; dkim=none; dmarc=none",
    ))  # fmt: skip
    [conv] = await conversations(h, channel_id, 1)
    [message] = await messages(h, conv["id"], 1)
    assert message["meta"]["sender_auth"]["status"] == "unverified"
    assert message["meta"]["sender_auth"]["reason"] == "none"

    async def offered() -> bool:
        found = await h.call("GET", f"/api/v1/conversations/{conv['id']}", token)
        return found["conversation"].get("offered_to") == agent_id

    await wait_for(offered, timeout=90)
    await h.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    reply = await h.call("POST", f"/api/v1/conversations/{conv['id']}/messages", token,
                         {"text": "Yes, we do."}, expect=201)  # fmt: skip
    await delivery(h, conv["id"], reply["message"]["seq"], "sent")
    await wait_for(lambda: _is(len(smtp_server.received) == 1), timeout=60)
    assert smtp_server.received[0].rcpt_tos == ["bob@plain.example"]
