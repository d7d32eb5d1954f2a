"""The email channel's settings, as an admin registers them."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from adapters.language import ChannelLanguage

Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "oauth2"]

# The domain as dot-separated labels: one way to match, so a long bad value fails in linear time.
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\".]+(?:\.[^@\s<>\".]+)+$")
_LOCAL = re.compile(r"^[A-Za-z0-9._-]+$")
# A host name (an authserv-id), or "*." and a domain of at least two labels.
_SERVER = re.compile(r"^(\*\.[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)*)$")
_DEFAULT_PORTS = {
    ("imap", "ssl"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("smtp", "ssl"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 25,
}


class EmailConfig(ChannelLanguage):
    # --- inbound: IMAP ---
    imap_host: str
    imap_port: int | None = Field(default=None, ge=1, le=65535)  # default by security
    imap_security: Security = "ssl"
    imap_user: str
    imap_password: str = Field(default="", repr=False)  # auth = "password"
    imap_folder: str = "INBOX"
    # --- outbound: SMTP ---
    smtp_host: str
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Security = "ssl"
    smtp_user: str | None = None  # None: same as imap_user; "": no login
    smtp_password: str | None = Field(default=None, repr=False)  # None: same as imap_password
    # --- sign-in: a password, or OAuth 2.0 (XOAUTH2) for Gmail and Microsoft 365 ---
    auth: Auth = "password"
    oauth2_token_url: str | None = None  # e.g. https://oauth2.googleapis.com/token
    oauth2_client_id: str | None = None
    oauth2_client_secret: str | None = Field(default=None, repr=False)
    # A user's consent (authorization code flow); empty: the client credentials grant.
    oauth2_refresh_token: str | None = Field(default=None, repr=False)
    oauth2_scope: str | None = None  # e.g. https://outlook.office365.com/.default
    # --- addresses ---
    from_address: str
    from_name: str = "Customer Service"
    # Replies carry Reply-To: <reply_local>+<token>@<reply_domain>; both default to from_address.
    reply_local: str | None = None
    reply_domain: str | None = None
    plus_tokens: bool = True  # False when the mail server cannot deliver local+tag@domain
    # --- sender checks ---
    # The receiving servers whose Authentication-Results header is believed (its authserv-id,
    # e.g. "mx.google.com"; "*.prod.outlook.com" for any host under it). Empty: senders are
    # not checked ("unknown"). See adapters/email/senderauth.py and docs/channels/email.md.
    auth_servers: list[str] = Field(default_factory=list, max_length=20)
    # --- behaviour ---
    poll_interval_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    use_idle: Literal["auto", "never"] = "auto"
    idle_timeout_seconds: float = Field(default=1500.0, ge=5.0, le=1740.0)  # re-IDLE before 29 min
    initial_import_days: int = Field(default=3, ge=0, le=3650)  # on first start; 0: new mail only
    mark_seen: bool = True
    quote_customer: bool = True  # quote the customer's last message under the agent's reply
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=64 * 1024, le=200 * 1024 * 1024)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    tls_verify: bool = True
    timeout_seconds: float = Field(default=30.0, ge=1.0, le=600.0)

    # Where the passwords and OAuth 2.0 secrets go, and how (gateway/channels.py): a change of
    # any of these needs them entered again; the token URL must be https (unless loopback).
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({
        "imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port", "smtp_security",
        "tls_verify", "oauth2_token_url",
    })  # fmt: skip
    secret_url_fields: ClassVar[frozenset[str]] = frozenset({"oauth2_token_url"})
    # One mailbox folder, one channel: two would file every mail twice.
    account_fields: ClassVar[tuple[str, ...]] = ("imap_host", "imap_user", "imap_folder")

    @model_validator(mode="after")
    def _sign_in(self) -> EmailConfig:
        if self.auth == "password":
            if not self.imap_password:
                raise ValueError("imap_password is required (or set auth to oauth2)")
            return self
        if not self.oauth2_token_url or not self.oauth2_client_id:
            raise ValueError("auth oauth2 needs oauth2_token_url and oauth2_client_id")
        if not self.oauth2_refresh_token and not self.oauth2_client_secret:
            raise ValueError(
                "auth oauth2 needs oauth2_refresh_token (a user's consent) or "
                "oauth2_client_secret (the client credentials grant)"
            )
        return self

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if not _ADDRESS.match(value):
            raise ValueError("from_address must be an address like support@example.com")
        return value

    @field_validator("reply_local")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        if value is not None and not _LOCAL.match(value):
            raise ValueError("reply_local may hold letters, digits, '.', '_' and '-' only")
        return value

    @field_validator("auth_servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            name = name.strip().lower().rstrip(".")
            if not _SERVER.match(name):
                raise ValueError(
                    "auth_servers entries are host names like mx.google.com, or *.example.com "
                    "for any host under example.com"
                )
            out.append(name)
        return out

    @field_validator("imap_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "\r\n\0"):
            raise ValueError("imap_folder must be a mailbox name")
        return value

    # --- derived -----------------------------------------------------------------------
    @property
    def imap_port_effective(self) -> int:
        return self.imap_port or _DEFAULT_PORTS[("imap", self.imap_security)]

    @property
    def smtp_port_effective(self) -> int:
        return self.smtp_port or _DEFAULT_PORTS[("smtp", self.smtp_security)]

    @property
    def smtp_login(self) -> tuple[str, str] | None:
        """User and password for SMTP; under OAuth 2.0 the password is unused."""
        user = self.imap_user if self.smtp_user is None else self.smtp_user
        password = self.imap_password if self.smtp_password is None else self.smtp_password
        return (user, password) if user else None

    # Derived, not stored: a later change of from_address moves the reply address with it.
    @property
    def local_part(self) -> str:
        """The local part of reply addresses: reply_local, or from_address's (without +tag)."""
        return self.reply_local or self.from_address.rpartition("@")[0].split("+", 1)[0]

    @property
    def domain(self) -> str:
        """The domain of reply addresses and of our Message-IDs."""
        return (self.reply_domain or self.from_address.rpartition("@")[2]).lower()

    @property
    def reply_address(self) -> str:
        """The plain reply address (without a token)."""
        return f"{self.local_part}@{self.domain}"

    def reply_address_for(self, token: str) -> str:
        if not self.plus_tokens:
            return self.reply_address
        return f"{self.local_part}+{token}@{self.domain}"
