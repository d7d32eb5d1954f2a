"""The email channel: IMAP in, SMTP out, threads that hold (see docs/channels/email.md)."""

from adapters.email.adapter import EmailAdapter
from adapters.email.config import EmailConfig

__all__ = ["EmailAdapter", "EmailConfig"]
