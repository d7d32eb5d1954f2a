"""Verified claims: what an identity proves about its customer, the only grounds of a merge
suggestion (a name alone never is).

What "verified" means, per channel:

- **email**: the From address, when our receiving server's Authentication-Results passed it
  (``meta.sender_auth.status == "verified"``: DMARC, or DKIM / SPF aligned with the From
  domain; adapters/email/senderauth.py). An unverified or unchecked sender claims nothing.
- **api**: the business's own backend signs every call with the channel secret; the sender's
  ``email`` / ``phone`` count as verified only when the payload's metadata names them in
  ``"verified": ["email", "phone"]`` (the backend checked them, e.g. a confirmed login).
- **wechat_oa / wecom_kf**: a ``unionid`` in the message's meta (the platform's own id of one
  person across the company's WeChat apps) is verified by the platform.
- **webchat**: never: the pre-chat form's email is whatever the visitor typed. Likewise
  social handles (X, Mastodon, Weibo) and QQ claim no email or phone.

A claim is ``email:<address, lowercase>``, ``phone:<digits, leading + kept; a mainland
mobile number without China's country code>`` or ``unionid:<id>``.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.models import Channel, InboundMessage

UNVERIFIED_EMAIL_PREFIX = "unverified:"  # adapters/email/normalize.py
_WECHAT = (Channel.WECHAT_OA, Channel.WECOM_KF)


def email_claim(address: str) -> str | None:
    address = address.strip().lower()
    return f"email:{address}" if "@" in address and len(address) <= 320 else None


# A mainland mobile number (11 digits from 1) after China's country code, written +86, 0086
# or 86: the same number as the 11 digits alone.
_CN_MOBILE = re.compile(r"(?:\+|00)?86(1\d{10})")


def phone_claim(number: str) -> str | None:
    digits = re.sub(r"\D", "", number)
    if len(digits) < 5 or len(digits) > 20:
        return None
    plus = "+" if number.strip().startswith("+") else ""
    mobile = _CN_MOBILE.fullmatch(plus + digits)
    return "phone:" + (mobile.group(1) if mobile else plus + digits)


def claims_of(msg: InboundMessage) -> list[str]:
    """The verified claims one inbound message makes about its sender."""
    found: list[str | None] = []
    meta: dict[str, Any] = msg.meta or {}
    if msg.channel_type == Channel.EMAIL:
        auth = meta.get("sender_auth") or {}
        external = msg.contact.external_id
        if auth.get("status") == "verified" and not external.startswith(UNVERIFIED_EMAIL_PREFIX):
            found.append(email_claim(external))
    elif msg.channel_type == Channel.API:
        verified = (meta.get("metadata") or {}).get("verified") or []
        if isinstance(verified, list):
            if "email" in verified and msg.contact.email:
                found.append(email_claim(msg.contact.email))
            if "phone" in verified and msg.contact.phone:
                found.append(phone_claim(msg.contact.phone))
    elif msg.channel_type in _WECHAT:
        unionid = meta.get("unionid")
        if isinstance(unionid, str) and 0 < len(unionid) <= 128:
            found.append(f"unionid:{unionid}")
    return sorted({c for c in found if c})


def split_claim(claim: str) -> tuple[str, str]:
    kind, _, value = claim.partition(":")
    return kind, value
