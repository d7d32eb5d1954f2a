"""Which of our languages a browser or a setting asks for."""

from __future__ import annotations

from gateway.i18n.catalog import LANGUAGES

_TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")


def normalize(tag: str | None) -> str | None:
    """One language tag -> ``zh-CN`` / ``zh-TW`` / ``en``, or None when we have none of it.
    zh, zh-CN, zh-SG, zh-Hans(-*) -> zh-CN; zh-TW, zh-HK, zh-MO, zh-Hant(-*) -> zh-TW; en* -> en."""
    text = (tag or "").strip().replace("_", "-").lower()
    if not text:
        return None
    if text == "zh" or text.startswith("zh-"):
        return "zh-TW" if text.startswith(_TRADITIONAL) else "zh-CN"
    if text == "en" or text.startswith("en-"):
        return "en"
    return None


def negotiate(accept_language: str | None, default: str = "zh-CN") -> str:
    """The best of our languages for an ``Accept-Language`` header (q-values honoured, order
    breaks ties); ``default`` when it names none of them or is missing or malformed."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang = normalize(tag)
        if lang is not None and quality > 0:
            choices.append((-quality, index, lang))
    return min(choices)[2] if choices else (default if default in LANGUAGES else "zh-CN")


def pick(setting: str | None, accept_language: str | None, default: str = "zh-CN") -> str:
    """A setting that names a language wins; ``auto`` or nothing: the browser's."""
    named = normalize(setting) if setting and setting != "auto" else None
    return named or negotiate(accept_language, default)
