"""Safe XML for WeChat callbacks: reject what WeChat never sends before a parser sees it.

WeChat's XML is flat: elements, text and CDATA. A DOCTYPE or ENTITY declaration can only be an
attack (XXE reads local files, "billion laughs" expands entities until memory runs out), so any
markup declaration other than CDATA or a comment is refused up front. Parsing itself goes
through xmltodict (expat) with entity declarations disabled as a second line of defence.
"""

from __future__ import annotations

import re
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

# WeChat messages are a few KiB; an encrypted envelope is base64 of the same.
MAX_XML_BYTES = 64 * 1024

# "<!" is allowed only to open CDATA or a comment; DOCTYPE, ENTITY, ELEMENT, ATTLIST are not.
_DECLARATION = re.compile(r"<!(?!\[CDATA\[|--)")


class MalformedXML(ValueError):
    """The body is not a well-formed, acceptable WeChat XML document (answer 400)."""


def to_text(body: bytes | str) -> str:
    """Decode strictly as UTF-8 (WeChat always sends UTF-8), so the checks below see the real
    characters: a UTF-16 body could otherwise hide "<!DOCTYPE" from a byte search."""
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedXML(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None


def check_safe(text: str) -> None:
    if len(text) > MAX_XML_BYTES:
        raise MalformedXML(f"XML larger than {MAX_XML_BYTES} bytes")
    if _DECLARATION.search(text):
        raise MalformedXML("DOCTYPE and ENTITY declarations are not accepted")


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """Parse a WeChat XML document into the dict under its ``<xml>`` root."""
    text = to_text(body)
    check_safe(text)
    try:
        doc = xmltodict.parse(text, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        raise MalformedXML(f"malformed XML: {exc}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise MalformedXML("expected an <xml> root element with fields")
    return root
