"""Sender checks: the Authentication-Results header of our own receiving server decides whether a
From address is believed. Table tests on headers as Gmail, Microsoft 365, NetEase and a Postfix
with OpenDKIM/OpenDMARC write them, with forged headers above and below the trusted one; each
mail goes through the real MIME parser, so the header order is the one the parser sees."""

from __future__ import annotations

import pytest
from email_testkit import make_mail
from pydantic import ValidationError

from adapters.email.config import EmailConfig
from adapters.email.mime import parse_message
from adapters.email.normalize import Extras, address_of, build_inbound, contact_of
from adapters.email.senderauth import parse_header, verdict

GMAIL = ["mx.google.com"]
M365 = ["*.prod.outlook.com", "*.protection.outlook.com"]
OWN = ["mail.example.net"]

GMAIL_PASS = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@y.example header.s=20230601 header.b=AbCdEf12;\r\n"
    "       spf=pass (google.com: domain of alice@y.example designates 209.85.220.41 as permitted"
    " sender) smtp.mailfrom=alice@y.example;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=y.example"
)
GMAIL_SPOOFED = (
    "mx.google.com;\r\n"
    "       spf=pass (google.com: domain of bounce@attacker.example designates 198.51.100.7 as"
    " permitted sender) smtp.mailfrom=bounce@attacker.example;\r\n"
    "       dmarc=fail (p=QUARANTINE sp=QUARANTINE dis=QUARANTINE) header.from=y.example"
)
FORGED_PASS = "mx.attacker.example; dkim=pass header.d=y.example; dmarc=pass header.from=y.example"
MS_RECEIVED = (
    "from BN2PEPF000044A9.namprd04.prod.outlook.com (2603:10b6:208:1a7:cafe::4f) by"
    " BN9PR03CA0123.outlook.office365.com (2603:10b6:408:fe::8) with Microsoft SMTP Server"
    " (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7472.9;"
    " Mon, 6 May 2024 08:00:01 +0000"
)
MS_RECEIVED_OLD = (
    "from DM6NAM11FT041.eop-nam11.prod.protection.outlook.com (2603:10b6:5:1b3:cafe::d2) by"
    " DM6PR17CA0030.outlook.office365.com (2603:10b6:5:1b3::43) with Microsoft SMTP Server"
    " id 15.20.5.1; Mon, 6 May 2024 08:00:01 +0000"
)
MS_INTERNET_HOP = (
    "from mail-ed1-f44.google.com (209.85.208.44) by"
    " BN2PEPF000044A9.mail.protection.outlook.com (10.167.243.104) with Microsoft SMTP Server"
    " id 15.20.7472.9 via Frontend Transport; Mon, 6 May 2024 08:00:00 +0000"
)
MS_PASS = (
    "spf=pass (sender IP is 209.85.208.44)\r\n smtp.mailfrom=y.example; dkim=pass (signature"
    " was verified)\r\n header.d=y.example;dmarc=pass action=none\r\n"
    " header.from=y.example;compauth=pass reason=100"
)
MS_FAIL = (
    "spf=fail (sender IP is 198.51.100.7)\r\n smtp.mailfrom=y.example; dkim=none (message not"
    " signed)\r\n header.d=none;dmarc=fail action=quarantine\r\n"
    " header.from=y.example;compauth=fail reason=000"
)
MS_BESTGUESS = (
    "spf=softfail (sender IP is 203.0.113.5) smtp.mailfrom=y.example; dkim=pass (signature was"
    " verified) header.d=y.example;dmarc=bestguesspass action=none header.from=y.example;"
    "compauth=pass reason=109"
)


def mail(*trace: tuple[str, str], sender: str = "Alice <alice@y.example>") -> bytes:
    """A customer's mail with trace headers on top, in the given order (first = top), as the
    receiving servers prepend them."""
    head = "".join(f"{name}: {value}\r\n" for name, value in trace).encode()
    return head + make_mail(sender, "Order 1234", "Where is my parcel?")


def check(raw: bytes, servers: list[str]):
    parsed = parse_message(raw, max_attachment_bytes=1024 * 1024)
    return verdict(parsed.from_addr, parsed.auth_results, servers)


AR = "Authentication-Results"

CASES = {
    # name: (trace headers top first, auth_servers, status, reason, method)
    "gmail pass": ([(AR, GMAIL_PASS)], GMAIL, "verified", None, "dmarc"),
    "gmail dmarc fail (spoofed From)": ([(AR, GMAIL_SPOOFED)], GMAIL, "unverified", "fail", None),
    "forged pass above the trusted header": (
        [(AR, FORGED_PASS), (AR, GMAIL_SPOOFED)], GMAIL, "unverified", "fail", None),
    "forged pass below the trusted header": (
        [(AR, GMAIL_SPOOFED), (AR, FORGED_PASS)], GMAIL, "unverified", "fail", None),
    "only a forged header": ([(AR, FORGED_PASS)], GMAIL, "unverified", "no trusted header", None),
    "no header at all": ([], GMAIL, "unverified", "no trusted header", None),
    "no trusted server configured": ([(AR, GMAIL_PASS)], [], "unknown", None, None),
    "forged header naming our server, below a foreign one": (
        [(AR, "mail.example.net; dmarc=none header.from=y.example"),
         (AR, "relay.attacker.example; spf=pass smtp.mailfrom=y.example"),
         (AR, "mail.example.net; dkim=pass header.d=y.example")],
        OWN, "unverified", "none", None),
    "several headers of our server (OpenDMARC over OpenDKIM over SPF)": (
        [(AR, "mail.example.net; dmarc=none (p=none dis=none) header.from=y.example"),
         (AR, "mail.example.net;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=mail.y.example"
              " header.i=@mail.y.example header.a=rsa-sha256 header.s=s1 header.b=QmFy"),
         (AR, "mail.example.net; spf=none smtp.mailfrom=alice@y.example")],
        OWN, "verified", None, "dkim"),
    "no DMARC record: SPF pass for an aligned subdomain": (
        [(AR, "mail.example.net; spf=pass smtp.mailfrom=bounce@bounces.y.example; dkim=none")],
        OWN, "verified", None, "spf"),
    "passes only for other domains": (
        [(AR, "mail.example.net; spf=pass smtp.mailfrom=esp.example;"
              " dkim=pass header.d=esp.example; dmarc=none header.from=y.example")],
        OWN, "unverified", "none", None),
    "DMARC pass for another From domain does not count": (
        [(AR, "mail.example.net; dmarc=pass header.from=other.example; spf=none")],
        OWN, "unverified", "none", None),
    "microsoft 365 pass (no authserv-id, the top header)": (
        [("Received", MS_RECEIVED), (AR, MS_PASS), ("Received-SPF", "Pass (protection.outlook"
          ".com: domain of y.example designates 209.85.208.44 as permitted sender)"),
         ("Received", MS_INTERNET_HOP)],
        M365, "verified", None, "dmarc"),
    "microsoft 365, older frontend names": (
        [("Received", MS_RECEIVED_OLD), ("X-MS-Exchange-Organization-SCL", "1"), (AR, MS_PASS)],
        M365, "verified", None, "dmarc"),
    "microsoft 365 fail with a forged pass below": (
        [("Received", MS_RECEIVED), (AR, MS_FAIL), ("Received", MS_INTERNET_HOP), (AR, MS_PASS)],
        M365, "unverified", "fail", None),
    "microsoft 365 bestguesspass: DKIM aligned decides": (
        [("Received", MS_RECEIVED), (AR, MS_BESTGUESS)], M365, "verified", None, "dkim"),
    "a header without authserv-id below another is never believed": (
        [("Received", MS_RECEIVED), (AR, FORGED_PASS), (AR, MS_PASS)],
        M365, "unverified", "no trusted header", None),
    "a header without authserv-id passed on by an untrusted host": (
        [("Received", "from mx.attacker.example (198.51.100.7) by mail.example.net"),
         (AR, MS_PASS)],
        M365, "unverified", "no trusted header", None),
    "netease: dkim pass aligned, no dmarc": (
        [(AR, "mx19; spf=softfail smtp.mail=alice@y.example; dkim=\r\n\tpass header.i=@y.example")],
        ["mx19"], "verified", None, "dkim"),
    "qq mail writes no header": (
        [("Received", "from 198.51.100.7 (unknown [198.51.100.7]) by newmx40.qq.com (NewMx)"),
         ("X-QQ-mid", "mxszc19t1580527179t7of1hq7a")],
        ["*.qq.com"], "unverified", "no trusted header", None),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_table(name: str):
    trace, servers, status, reason, method = CASES[name]
    auth = check(mail(*trace), servers)
    assert (auth.status, auth.reason, auth.method) == (status, reason, method), auth
    if status == "verified":
        assert auth.domain == "y.example"
    if status == "unverified" and reason != "no trusted header":
        assert auth.detail


def test_parser_reads_comments_quotes_and_microsoft_form():
    header = parse_header(
        "mx.example.net 1; spf=pass (domain of a@x.example; really) smtp.mailfrom=a@x.example;"
        ' dkim=pass reason="good; signature" header.d=x.example'
    )
    assert header is not None and header.authserv_id == "mx.example.net"
    assert [(r.method, r.result) for r in header.results] == [("spf", "pass"), ("dkim", "pass")]
    assert header.results[0].props == {"smtp.mailfrom": "a@x.example"}
    assert header.results[1].props["reason"] == "good; signature"
    ms = parse_header(MS_PASS)
    assert ms is not None and ms.authserv_id is None
    assert [(r.method, r.result) for r in ms.results] == [
        ("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass"), ("compauth", "pass")]  # fmt: skip
    none = parse_header("mx.google.com; none")
    assert none is not None and none.results == []
    assert parse_header("   ") is None


def test_details_tell_the_agent_why():
    auth = check(mail((AR, GMAIL_SPOOFED)), GMAIL)
    assert auth.detail == "DMARC fail for y.example"
    auth = check(mail((AR, FORGED_PASS)), GMAIL)
    assert auth.detail == "no Authentication-Results from mx.google.com"
    auth = check(mail((AR, GMAIL_PASS)), [])
    assert auth.status == "unknown" and "auth_servers" in auth.detail


def test_unverified_sender_is_a_contact_of_its_own():
    raw = mail((AR, GMAIL_SPOOFED))
    parsed = parse_message(raw.replace(b"Subject:", b"Reply-To: attacker@x.example\r\nSubject:", 1),
                           max_attachment_bytes=1024)  # fmt: skip
    auth = verdict(parsed.from_addr, parsed.auth_results, GMAIL)
    contact = contact_of(parsed, auth)
    assert contact.external_id == "unverified:alice@y.example"
    assert contact.email == "alice@y.example"
    assert address_of(contact.external_id) == "alice@y.example"
    msg = build_inbound(
        parsed, Extras("<m@y.example>", "<m@y.example>", "new", sender_auth=auth), channel_id="c"
    )
    assert msg.meta["from"] == "alice@y.example"
    assert msg.meta["claimed_from"] == "alice@y.example"
    assert msg.meta["reply_to"] == "attacker@x.example"
    assert msg.meta["sender_auth"] == {
        "status": "unverified", "reason": "fail", "domain": "y.example",
        "server": "mx.google.com", "detail": "DMARC fail for y.example",
    }  # fmt: skip
    # Verified and unchecked senders keep their address as identity (threads and history as
    # before).
    ok = verdict(parsed.from_addr, [(GMAIL_PASS, None)], GMAIL)
    assert contact_of(parsed, ok).external_id == "alice@y.example"
    assert contact_of(parsed, verdict(parsed.from_addr, [], [])).external_id == "alice@y.example"
    # An address that looks like the prefix cannot pass for an unverified sender's identity.
    for sender in ('"unverified:alice"@y.example', "unverified:alice@y.example"):
        odd = parse_message(make_mail(sender, "s", "b"), max_attachment_bytes=1)
        assert contact_of(odd, ok).external_id != "unverified:alice@y.example"


def test_auth_servers_setting():
    base = {"imap_host": "i", "imap_user": "u", "imap_password": "p", "smtp_host": "s",
            "from_address": "support@example.com"}  # fmt: skip
    assert EmailConfig(**base).auth_servers == []
    config = EmailConfig(**base, auth_servers=["MX.Google.com.", "*.prod.outlook.com", "mx19"])
    assert config.auth_servers == ["mx.google.com", "*.prod.outlook.com", "mx19"]
    for bad in (["*"], ["*.com"], ["mx google"], [""], ["a@b.example"]):
        with pytest.raises(ValidationError):
            EmailConfig(**base, auth_servers=bad)
