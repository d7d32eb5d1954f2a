"""Outlook's winmail.dat (application/ms-tnef): the files and the body it wraps.

Outlook sends a message in its own TNEF format when it believes the recipient is another
Outlook; every other client shows the customer's attachments as one opaque "winmail.dat".
tnefparse decodes it; what it cannot decode stays the winmail.dat it was."""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field

from tnefparse import TNEF

from adapters.email.charsets import decode_bytes

# tnefparse logs every property it does not know at WARNING/INFO: noise, not our errors.
logging.getLogger("tnefparse").setLevel(logging.ERROR)

_MAX_FILES = 100


@dataclass
class TnefFile:
    name: str | None  # None: TNEF gave none
    content_type: str
    data: bytes


@dataclass
class TnefContent:
    files: list[TnefFile] = field(default_factory=list)
    text: str = ""  # the plain body, when TNEF carries one
    html: str = ""


def is_tnef(content_type: str, filename: str | None) -> bool:
    return content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or (
        (filename or "").lower() == "winmail.dat"
    )


def unpack(data: bytes) -> TnefContent | None:
    """What a winmail.dat holds, or None when it is not one tnefparse can read (the caller
    keeps the file as it came). RTF-only bodies are not converted: the files still are."""
    try:
        tnef = TNEF(data)
    except Exception:  # any malformed bytes: the file stays as it came
        return None
    codepage = tnef.codepage  # the OEM code page of its 8-bit strings (cp936 in China)
    content = TnefContent(
        text=_text(tnef.body, codepage).strip(), html=_text(tnef.htmlbody, codepage).strip()
    )
    for attachment in tnef.attachments[:_MAX_FILES]:
        payload = attachment.data
        if not isinstance(payload, bytes) or not payload:
            continue
        name = _name(attachment)
        ctype = mimetypes.guess_type(name or "", strict=False)[0] or "application/octet-stream"
        content.files.append(TnefFile(name=name, content_type=ctype, data=payload))
    return content


def _name(attachment: object) -> str | None:
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except (UnicodeDecodeError, ValueError):  # an 8.3 title in a code page tnefparse misreads
        return None
    if isinstance(name, bytes):
        name = decode_bytes(name)
    name = str(name or "").strip("\x00").strip()
    return name or None


def _text(value: object, codepage: str | None) -> str:
    if isinstance(value, bytes):
        return decode_bytes(value.rstrip(b"\x00"), codepage)
    return str(value or "").strip("\x00")
