"""Safe XML for WeChat callbacks: reject what WeChat never sends before a parser sees it.

WeChat's XML is flat: elements, text and CDATA. A DOCTYPE or ENTITY declaration can only be an
attack (XXE reads local files, "billion laughs" expands entities until memory runs out), so any
markup declaration other than CDATA or a comment is refused up front. The inside of a CDATA
section or a comment is skipped: it is the customer's text (``<!DOCTYPE html>`` pasted into a
chat), and no parser reads a declaration there. Parsing itself goes through xmltodict (expat)
with entity declarations disabled as a second line of defence.
"""

from __future__ import annotations

import re
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

# WeChat messages are a few KiB; an encrypted envelope is base64 of the same.
MAX_XML_BYTES = 64 * 1024

# Outside CDATA, comments and processing instructions "<!" may only open CDATA or a comment:
# DOCTYPE, ENTITY, ELEMENT, ATTLIST are refused. Each section opened is skipped to its end as
# the parser reads it, so text inside one ("<![CDATA[" in a comment) cannot hide what follows.
_MARKUP = re.compile(r"<(!\[CDATA\[|!--|\?|!)")
_CLOSERS = {"![CDATA[": "]]>", "!--": "-->", "?": "?>"}


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
    if _has_declaration(text):
        raise MalformedXML("DOCTYPE and ENTITY declarations are not accepted")


def _has_declaration(text: str) -> bool:
    """True when "<!" opens anything but CDATA or a comment, outside those and processing
    instructions. A section left open runs to the end (the parser then refuses the document
    as malformed)."""
    pos = 0
    while (found := _MARKUP.search(text, pos)) is not None:
        opened = found.group(1)
        if opened == "!":
            return True
        end = text.find(_CLOSERS[opened], found.end())
        if end < 0:
            return False
        pos = end + len(_CLOSERS[opened])
    return False


def parse_xml(body: bytes | str, *, strip_whitespace: bool = True) -> dict[str, Any]:
    """Parse a WeChat XML document into the dict under its ``<xml>`` root. With
    ``strip_whitespace=False`` text keeps its leading and trailing whitespace (a customer's)."""
    text = to_text(body)
    check_safe(text)
    try:
        doc = xmltodict.parse(text, disable_entities=True, strip_whitespace=strip_whitespace)
    except (ExpatError, ValueError) as exc:
        raise MalformedXML(f"malformed XML: {exc}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise MalformedXML("expected an <xml> root element with fields")
    return root
