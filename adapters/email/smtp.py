"""Sending through SMTP (aiosmtplib), with failures sorted for the outbox: 4xx and network
trouble are transient (retried), 5xx are permanent (shown to the agent)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib

from adapters.base import PermanentSendError, SendError, TransientSendError
from adapters.email.config import EmailConfig
from adapters.email.imap import tls_context


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
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentSendError(f"SMTP server cannot do what the settings ask: {exc}")
    return TransientSendError(f"SMTP connection failed: {type(exc).__name__}: {exc}")


def _error(permanent: bool, reason: str) -> SendError:
    return PermanentSendError(reason) if permanent else TransientSendError(reason)


async def send_mail(config: EmailConfig, message: EmailMessage, recipients: list[str]) -> None:
    login = config.smtp_login
    try:
        errors, _ = await aiosmtplib.send(
            message,
            sender=config.from_address,
            recipients=recipients,
            username=login[0] if login else None,
            password=login[1] if login else None,
            **_connection_args(config),
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise classify_error(exc) from exc
    if errors:  # some recipients refused while others were accepted
        refused = [
            aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr) for addr, r in errors.items()
        ]
        raise classify_error(aiosmtplib.SMTPRecipientsRefused(refused))


async def verify_smtp(config: EmailConfig) -> None:
    """Connect and log in; raise SendError with the reason when that fails."""
    client = aiosmtplib.SMTP(**_connection_args(config))
    login = config.smtp_login
    try:
        await client.connect()
        if login:
            await client.login(*login)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise classify_error(exc) from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
