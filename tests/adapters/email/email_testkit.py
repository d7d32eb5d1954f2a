"""Helpers of the email tests: recorded fixtures, mail builders, the pymap and aiosmtpd servers,
a recording adapter context. Fixtures that use them are in conftest.py."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import email.policy
import json
import re
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aioimaplib
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.base import IngestResult
from gateway.models import InboundMessage

FIXTURES = Path(__file__).parent / "fixtures"
RUNNER = Path(__file__).parent / "pymap_runner.py"
MAILBOX_USER = "support@example.com"
MAILBOX_PASSWORD = "imap-password-1"
SMTP_USER = "support@example.com"
SMTP_PASSWORD = "smtp-password-1"


def fixture_mail(name: str, **values: str) -> bytes:
    """A recorded .eml with its {{PLACEHOLDERS}} filled (ids and addresses known at run time)."""
    raw = (FIXTURES / name).read_bytes()
    for key, value in values.items():
        raw = raw.replace(("{{" + key + "}}").encode(), value.encode())
    return raw


def make_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = MAILBOX_USER,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


# --- IMAP: pymap ---------------------------------------------------------------------------
@dataclass
class ImapServer:
    port: int
    process: asyncio.subprocess.Process
    user: str = MAILBOX_USER
    password: str = MAILBOX_PASSWORD
    host: str = "127.0.0.1"

    async def client(self) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=120)
        await client.wait_hello_from_server()
        response = await client.login(self.user, self.password)
        assert response.result == "OK", response
        return client

    async def append(self, raw: bytes, folder: str = "INBOX", arrived: float | None = None) -> None:
        """Put a mail into the mailbox, as the MTA delivering it would; ``arrived`` (epoch
        seconds) sets its INTERNALDATE, when the server took it."""
        client = await self.client()
        try:
            response = await client.append(raw, mailbox=folder, date=arrived)
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def command(self, name: str, *args: str) -> aioimaplib.Response:
        client = await self.client()
        try:
            return await client.protocol.simple_command(name, *args)
        finally:
            await client.logout()

    async def flags(self, folder: str = "INBOX") -> list[bytes]:
        client = await self.client()
        try:
            await client.select(folder)
            response = await client.fetch("1:*", "(UID FLAGS)")
            return [line for line in response.lines if b" FETCH (" in line]
        finally:
            await client.logout()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_pymap(
    *,
    no_idle: bool = False,
    tls: tuple[str, str] | None = None,
    port: int = 0,
    oauth_tokens: Path | None = None,
) -> ImapServer:
    """A real pymap server in a subprocess on a free port (see pymap_runner.py)."""
    args = [str(RUNNER), "--user", MAILBOX_USER, "--password", MAILBOX_PASSWORD]
    args += ["--port", str(port)]
    if no_idle:
        args.append("--no-idle")
    if oauth_tokens is not None:
        args += ["--oauth-tokens", str(oauth_tokens)]
    if tls:
        args += ["--cert", tls[0], "--key", tls[1]]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.startswith(b"PORT "), f"pymap did not start: {line!r}"
    return ImapServer(int(line.split()[1]), process)


# --- SMTP: aiosmtpd ------------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class SmtpRecorder:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient prefix -> SMTP reply
    logins: list[str] = field(default_factory=list)
    oauth_tokens: set[str] = field(default_factory=set)  # bearer tokens XOAUTH2 accepts
    oauth_refusals: int = 0
    data_delay: float = 0.0  # seconds before answering the final "." (a server scanning it)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """XOAUTH2 as Gmail answers it: a bad token gets an error challenge (base64 JSON) the
        client must acknowledge with an empty line, then 535."""
        if len(args) < 2:
            return AuthResult(success=False, handled=False)  # handled=False: aiosmtpd sends 535
        try:
            raw = base64.b64decode(args[1], validate=True).decode()
        except ValueError:
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        match = re.fullmatch(r"user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01", raw)
        if match and match[2] in self.oauth_tokens:
            self.logins.append(match[1])
            return AuthResult(success=True, auth_data=match[1])
        self.oauth_refusals += 1
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error))
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        for prefix, reply in self.refuse.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: SmtpRecorder

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def authenticator(recorder: SmtpRecorder) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = data.login.decode() == SMTP_USER and data.password.decode() == SMTP_PASSWORD
        if ok:
            recorder.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    return check


def new_id() -> str:
    return secrets.token_hex(4)


# --- the adapter ---------------------------------------------------------------------------
def email_config(imap: ImapServer, smtp: SmtpServer, **overrides: Any) -> dict[str, Any]:
    """A channel config for these servers, as an admin would register it."""
    return {
        "imap_host": imap.host,
        "imap_port": imap.port,
        "imap_security": "none",
        "imap_user": imap.user,
        "imap_password": imap.password,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "smtp_user": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "from_address": "support@example.com",
        "from_name": "Acme Support",
        "poll_interval_seconds": 1,
        "initial_import_days": 1,  # mail appended before the first connection counts
        "timeout_seconds": 60,
        **overrides,
    }


@dataclass
class Recorder:
    """The context callbacks, recording what the adapter hands to the gateway."""

    delivered: list[InboundMessage] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str, str | None]] = field(default_factory=dict)
    fail_deliver: bool = False
    health: list[tuple[str, float]] = field(default_factory=list)  # what it told /metrics

    def report_health(self, name: str, value: float) -> None:
        self.health.append((name, value))

    async def deliver(self, msg: InboundMessage) -> IngestResult:
        if self.fail_deliver:
            raise ConnectionError("redis is down")
        duplicate = any(m.external_id == msg.external_id for m in self.delivered)
        self.delivered.append(msg)
        return IngestResult("conv-1", len(self.delivered), duplicate, not duplicate, "contact-1")

    async def mark_failed(self, message_id: str, reason: str) -> None:
        self.failed.append((message_id, reason))

    async def store_media(self, data: bytes, name: str, ctype: str | None) -> str:
        url = f"/media/test/{len(self.media) + 1}-{name}"
        self.media[url] = (data, name, ctype)
        return url

    def by_id(self, external_id: str) -> list[InboundMessage]:
        return [m for m in self.delivered if m.external_id == external_id]
