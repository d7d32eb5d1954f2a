"""The message catalogues: every ``*.po`` file under ``locale/<lang>/LC_MESSAGES/``, read with
Babel at start (no compile step) and merged per language.

Message ids are stable keys (``console.inbox.empty``), never English sentences. Keys starting
with ``customer.`` are what customers read (widget, survey pages, system messages): those exist
in every language, zh-TW included; for the agents' keys zh-TW falls back to zh-CN.
Placeholders are ``{name}``, filled by :func:`fill` (a missing parameter stays as written).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh-CN", "en", "zh-TW")
DEFAULT_LANGUAGE = "zh-CN"
CUSTOMER_PREFIX = "customer."
# Where a key missing in a language is looked up next (the last resort is the key itself).
FALLBACK = {"zh-TW": ("zh-TW", "zh-CN", "en"), "zh-CN": ("zh-CN", "en"), "en": ("en", "zh-CN")}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def folder_of(lang: str) -> str:
    """``zh-CN`` -> ``zh_CN`` (gettext's folder names)."""
    return lang.replace("-", "_")


def read_folder(folder: Path) -> dict[str, str]:
    """Every .po file of one language folder merged (files sorted by name; a later file's
    translation of the same key wins). Untranslated entries (empty msgstr) are left out."""
    messages: dict[str, str] = {}
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string:
                messages[message.id] = str(message.string)
    return messages


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The merged catalogue of one language (read once per process)."""
    if lang not in LANGUAGES:
        raise KeyError(lang)
    return read_folder(LOCALE_DIR / folder_of(lang) / "LC_MESSAGES")


@cache
def resolved(lang: str) -> Mapping[str, str]:
    """Every key any catalogue has, in ``lang`` or its fallback: what the JavaScript gets."""
    out: dict[str, str] = {}
    for step in reversed(FALLBACK[lang]):
        out.update(catalogue(step))
    return out


def fill(text: str, params: Mapping[str, object]) -> str:
    return _PLACEHOLDER.sub(
        lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text
    )


def translate(lang: str, key: str, **params: object) -> str:
    """``translate("zh-CN", "customer.widget.send")`` -> ``发送``; an unknown language is
    zh-CN, an unknown key is returned as it is (a test keeps the catalogues complete)."""
    table = resolved(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    return fill(table.get(key, key), params)
