"""Sending through SMTP (aiosmtplib), with failures sorted for the outbox: 4xx and network
trouble are transient (retried), 5xx are permanent (shown to the agent)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib

from adapters.base import PermanentSendError, SendError, TransientSendError
from adapters.email.compose import OUT_POLICY
from adapters.email.config import EmailConfig
from adapters.email.imap import tls_context
from adapters.oauth2 import TokenError, TokenSource, with_fresh_token

# RFC 5321 4.5.3.2: a client waits at least 5 minutes for MAIL and RCPT and 10 for the answer
# to the final "." (servers scan the message then). Giving up earlier on a message the server
# goes on to accept makes the outbox send it again: the customer gets it twice.
TRANSACTION_TIMEOUT = 600.0


def transaction_timeout(config: EmailConfig) -> float:
    return max(config.timeout_seconds, TRANSACTION_TIMEOUT)


def longest_send(config: EmailConfig) -> float:
    """An upper bound of one send_mail: connect, TLS, login (each ``timeout_seconds``, twice
    under OAuth 2.0) and MAIL, RCPT, DATA and its end (each up to the transaction timeout)."""
    return 8 * config.timeout_seconds + 4 * transaction_timeout(config)


def _connection_args(config: EmailConfig) -> dict[str, Any]:
    args: dict[str, Any] = {
        "hostname": config.smtp_host,
        "port": config.smtp_port_effective,
        "timeout": config.timeout_seconds,
        # EHLO with the mail domain: getfqdn() may stall on hosts without reverse DNS.
        "local_hostname": config.domain,
        "validate_certs": config.tls_verify,
    }
    if config.smtp_security == "ssl":
        args.update(use_tls=True, start_tls=False, tls_context=tls_context(config.tls_verify))
    elif config.smtp_security == "starttls":
        args.update(use_tls=False, start_tls=True, tls_context=tls_context(config.tls_verify))
    else:
        args.update(use_tls=False, start_tls=False)
    return args


def classify_error(exc: BaseException) -> SendError:
    """Map an aiosmtplib / network failure to the outbox's transient or permanent error."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return _error(permanent, f"recipient refused: {reason}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _error(exc.code >= 500, f"SMTP login rejected: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _error(exc.code >= 500, f"SMTP server answered {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPException) and "XOAUTH2" in str(exc):
        return PermanentSendError(f"SMTP server cannot sign in with OAuth 2.0: {exc}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentSendError(f"SMTP server cannot do what the settings ask: {exc}")
    return TransientSendError(f"SMTP connection failed: {type(exc).__name__}: {exc}")


def token_error(exc: TokenError) -> SendError:
    return _error(not exc.transient, f"OAuth 2.0: {exc.reason}")


def _error(permanent: bool, reason: str) -> SendError:
    return PermanentSendError(reason) if permanent else TransientSendError(reason)


def _login_args(config: EmailConfig, token: str | None) -> dict[str, Any]:
    """aiosmtplib's sign-in arguments: the password, or an OAuth 2.0 access token (XOAUTH2)."""
    login = config.smtp_login
    if login is None:
        return {}
    if token is None:
        return {"username": login[0], "password": login[1]}

    async def access_token() -> str:
        return token

    return {"username": login[0], "oauth_token_generator": access_token}


async def send_mail(
    config: EmailConfig,
    message: EmailMessage,
    recipients: list[str],
    token: TokenSource | None = None,
) -> None:
    """Send one message. Under OAuth 2.0 a refused login (nothing was sent yet) is tried once
    more with a fresh token."""

    addresses = [config.from_address, *recipients]
    # Generated here with our policy (encoded-words of 75 characters at most): aiosmtplib's
    # own generation refolds with 78-character lines. Non-ASCII addresses need SMTPUTF8,
    # which aiosmtplib's send_message negotiates (headers then in UTF-8, no encoded-words).
    data = message.as_bytes(policy=OUT_POLICY) if all(a.isascii() for a in addresses) else None
    timeout = transaction_timeout(config)

    async def send(access: str | None) -> dict[str, Any]:
        client = aiosmtplib.SMTP(**_login_args(config, access), **_connection_args(config))
        async with client:  # connects, and logs in when given a username
            if data is not None:
                errors, _ = await client.sendmail(
                    config.from_address, recipients, data, timeout=timeout
                )
            else:
                errors, _ = await client.send_message(
                    message, sender=config.from_address, recipients=recipients, timeout=timeout
                )
        return errors

    try:
        if token is None:
            errors = await send(None)
        else:
            errors = await with_fresh_token(token, send, _login_refused)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise classify_error(exc) from exc
    except TokenError as exc:
        raise token_error(exc) from exc
    if errors:  # some recipients refused while others were accepted
        refused = [
            aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr) for addr, r in errors.items()
        ]
        raise classify_error(aiosmtplib.SMTPRecipientsRefused(refused))


def _login_refused(exc: Exception) -> bool:
    return isinstance(exc, aiosmtplib.SMTPAuthenticationError)


async def verify_smtp(config: EmailConfig, token: TokenSource | None = None) -> None:
    """Connect and log in; raise SendError with the reason when that fails."""
    try:
        access = await token(None) if token is not None else None
    except TokenError as exc:
        raise token_error(exc) from exc
    client = aiosmtplib.SMTP(**_login_args(config, access), **_connection_args(config))
    try:
        await client.connect()  # logs in when given a username
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise classify_error(exc) from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
