"""Email with OAuth 2.0 (XOAUTH2), as Gmail and Microsoft 365 require: a real pymap IMAP server
and a real aiosmtpd SMTP server that take bearer tokens, and a local token endpoint that follows
the identity platforms' contract (tests/adapters/email/oauth_provider.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from email_testkit import ImapServer, SmtpServer, email_config, make_mail
from oauth_provider import TokenEndpoint
from pydantic import ValidationError

from adapters.base import PermanentSendError, VerifyError
from adapters.email import EmailConfig
from gateway.models import OutboundMessage
from tests.conftest import wait_for


@pytest.fixture
async def provider(
    tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[tuple[TokenEndpoint, str]]:
    endpoint = TokenEndpoint(tmp_path / "imap-tokens", smtp_server.recorder)
    endpoint.token_file.write_text("")
    server = TestServer(endpoint.app())
    await server.start_server()
    yield endpoint, str(server.make_url("/oauth2/v2.0/token"))
    await server.close()


@pytest.fixture
async def imap_oauth(start_imap, provider) -> ImapServer:
    return await start_imap(oauth_tokens=provider[0].token_file)


def oauth_config(imap: ImapServer, smtp: SmtpServer, token_url: str, **extra) -> dict:
    config = email_config(imap, smtp, auth="oauth2", oauth2_token_url=token_url,
                          oauth2_client_id="mail-client", **extra)  # fmt: skip
    del config["imap_password"], config["smtp_password"]  # no password anywhere
    config["smtp_user"] = None  # the mailbox signs in to both
    return config


def reply(text: str = "Your parcel left today.") -> OutboundMessage:
    return OutboundMessage(
        message_id="conv1:2",
        conversation_id="conv1",
        channel_id="ch-email",
        contact_external_id="wang@example.cn",
        thread_key="<t1@example.cn>",
        text=text,
        author_name="Alice",
        reply_context={"message_id": "<t1@example.cn>", "subject": "Parcel"},
    )


def test_config_asks_for_what_each_sign_in_needs(imap_server, smtp_server) -> None:
    base = email_config(imap_server, smtp_server)
    with pytest.raises(ValidationError, match="imap_password is required"):
        EmailConfig(**{**base, "imap_password": ""})
    with pytest.raises(ValidationError, match="needs oauth2_token_url and oauth2_client_id"):
        EmailConfig(**{**base, "auth": "oauth2"})
    with pytest.raises(ValidationError, match=r"oauth2_refresh_token .* or"):
        EmailConfig(
            **{**base, "auth": "oauth2", "oauth2_token_url": "https://t", "oauth2_client_id": "c"}
        )


async def test_mail_in_and_out_with_a_users_refresh_token(
    imap_oauth: ImapServer, smtp_server: SmtpServer, provider, make_adapter
) -> None:
    endpoint, token_url = provider
    config = oauth_config(
        imap_oauth, smtp_server, token_url, oauth2_refresh_token=endpoint.consent()
    )
    adapter, rec = await make_adapter(config)
    await imap_oauth.append(make_mail("Wang Wei <wang@example.cn>", "Parcel", "Where is it?"))

    async def arrived() -> bool:
        return len(rec.delivered) == 1

    await wait_for(arrived, timeout=90)
    await adapter.send(reply())
    [sent] = smtp_server.received
    assert "Your parcel left today." in sent.message.get_body().get_content()
    assert smtp_server.recorder.logins == [imap_oauth.user]
    # One token serves IMAP and SMTP; the rotated refresh token is what is stored now.
    assert [f["grant_type"] for f in endpoint.forms] == ["refresh_token"]
    stored = await adapter.oauth2.load()
    assert stored is not None and stored.refresh_token in endpoint.refresh_tokens


async def test_a_revoked_access_token_is_renewed_for_smtp_and_imap(
    imap_oauth: ImapServer, smtp_server: SmtpServer, provider, make_adapter
) -> None:
    endpoint, token_url = provider
    config = oauth_config(
        imap_oauth, smtp_server, token_url, oauth2_refresh_token=endpoint.consent()
    )
    adapter, _ = await make_adapter(config, start=False)
    await adapter.verify()
    assert len(endpoint.forms) == 1

    endpoint.revoke_access_tokens()
    await adapter.send(reply())  # refused once (Gmail's error challenge), renewed, sent
    assert len(smtp_server.received) == 1 and smtp_server.recorder.oauth_refusals == 1
    assert len(endpoint.forms) == 2

    endpoint.revoke_access_tokens()
    await adapter.verify()  # IMAP refuses the old token on one connection, takes the new one
    assert len(endpoint.forms) == 3


async def test_app_only_access_with_client_credentials(
    imap_oauth: ImapServer, smtp_server: SmtpServer, provider, make_adapter
) -> None:
    """Microsoft 365 app-only: no user consent, the app's secret and the .default scope."""
    endpoint, token_url = provider
    scope = "https://outlook.office365.com/.default"
    secret = endpoint.client_secret
    config = oauth_config(imap_oauth, smtp_server, token_url,
                          oauth2_client_secret=secret, oauth2_scope=scope)  # fmt: skip
    adapter, _ = await make_adapter(config, start=False)
    await adapter.verify()
    await adapter.send(reply())
    assert len(smtp_server.received) == 1
    [form] = endpoint.forms
    assert form == {"client_id": "mail-client", "grant_type": "client_credentials",
                    "scope": scope, "client_secret": endpoint.client_secret}  # fmt: skip

    wrong = oauth_config(imap_oauth, smtp_server, token_url,
                         oauth2_client_secret="not-it", oauth2_scope=scope)  # fmt: skip
    bad, rec = await make_adapter(wrong, channel_id="ch-email-2", start=False)
    with pytest.raises(VerifyError, match=r"invalid_client.*check the client id, client secret"):
        await bad.verify()
    assert ("token_error", 1) in rec.health


async def test_a_refused_refresh_token_says_what_to_do(
    imap_oauth: ImapServer, smtp_server: SmtpServer, provider, make_adapter
) -> None:
    _, token_url = provider
    config = oauth_config(imap_oauth, smtp_server, token_url, oauth2_refresh_token="rt-revoked")
    adapter, rec = await make_adapter(config, start=False)
    advice = "authorize the app again and put the new oauth2_refresh_token in the channel"
    with pytest.raises(VerifyError, match=advice):
        await adapter.verify()
    with pytest.raises(PermanentSendError, match="invalid_grant"):
        await adapter.send(reply())
    assert smtp_server.received == [] and ("token_error", 1) in rec.health
