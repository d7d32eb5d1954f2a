"""Fixtures for the email tests: a real pymap IMAP server (a subprocess, see pymap_runner.py), a
real aiosmtpd SMTP server, a self-signed certificate for the TLS paths, and an adapter wired to a
recording context. Redis (`redis`, `keys`) comes from tests/conftest.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from email_testkit import (
    ImapServer,
    Recorder,
    SmtpRecorder,
    SmtpServer,
    authenticator,
    free_port,
    start_pymap,
)
from redis.asyncio import Redis

from adapters.base import AdapterContext
from adapters.email import EmailAdapter, EmailConfig
from gateway.keys import Keys
from gateway.media import MediaStore
from gateway.secretbox import SecretBox

StartImap = Callable[..., Awaitable[ImapServer]]


@pytest.fixture
async def start_imap() -> AsyncIterator[StartImap]:
    started: list[ImapServer] = []

    async def start(
        *,
        no_idle: bool = False,
        tls: tuple[str, str] | None = None,
        port: int = 0,
        oauth_tokens: Path | None = None,
    ) -> ImapServer:
        server = await start_pymap(no_idle=no_idle, tls=tls, port=port, oauth_tokens=oauth_tokens)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def imap_server(start_imap: StartImap) -> ImapServer:
    return await start_imap()


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def start_smtp() -> Iterator[StartSmtp]:
    controllers: list[Controller] = []

    def start(
        *, ssl_context: ssl.SSLContext | None = None, tls_context: ssl.SSLContext | None = None
    ) -> SmtpServer:
        recorder = SmtpRecorder()
        port = free_port()
        controller = Controller(
            recorder,
            hostname="127.0.0.1",
            port=port,
            authenticator=authenticator(recorder),
            auth_require_tls=False,
            ssl_context=ssl_context,
            tls_context=tls_context,
            require_starttls=tls_context is not None,
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port, recorder)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp: StartSmtp) -> SmtpServer:
    return start_smtp()


# --- TLS -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def server_tls(tls_files: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


# --- the adapter ---------------------------------------------------------------------------
@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


MakeAdapter = Callable[..., Awaitable[tuple[EmailAdapter, Recorder]]]


@pytest.fixture
async def make_adapter(
    redis: Redis, keys: Keys, http: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[MakeAdapter]:
    """Build (and by default start) an EmailAdapter with a recording context. Several adapters
    made with the same ``channel_id`` share state, like one channel in several processes."""
    adapters: list[EmailAdapter] = []
    box = SecretBox(Fernet.generate_key())  # one gateway key: adapters of a channel share state

    async def make(
        config: dict[str, Any],
        *,
        recorder: Recorder | None = None,
        channel_id: str = "ch-email",
        start: bool = True,
    ) -> tuple[EmailAdapter, Recorder]:
        recorder = recorder or Recorder()
        ctx = AdapterContext(
            channel_id=channel_id,
            config=EmailConfig(**config),
            deliver=recorder.deliver,
            redis=redis,
            keys=keys,
            http=http,
            public_url="http://127.0.0.1:1",
            data_dir=str(tmp_path / "data"),
            mark_failed=recorder.mark_failed,
            store_media=recorder.store_media,
            load_media=MediaStore(tmp_path / "data" / "media").read,
            health=recorder.report_health,
            box=box,
        )
        adapter = EmailAdapter(ctx)
        adapters.append(adapter)
        if start:
            await adapter.start()
        return adapter, recorder

    yield make
    for adapter in adapters:
        with contextlib.suppress(Exception):
            await adapter.stop()
