"""What the widget says, in the widget's language: the channel's ``language`` (zh-CN by default),
or the visitor's browser when it is ``auto``. Every text is a catalogue key
``customer.widget.<name>`` (gateway/i18n); an admin overrides any of them per language in the
channel's ``texts`` ({"zh-TW": {"greeting": "..."}}). The older single-language fields (title,
greeting, offline_message, offline_message_chat_only) still work: set, they override that text
in every language (a value equal to the old English default counts as not set)."""

from __future__ import annotations

from typing import Any

from gateway.i18n import pick, translate
from gateway.i18n.catalog import LANGUAGES

# Every text the widget shows (the names after customer.widget.).
WIDGET_TEXTS = (
    "title", "greeting", "offline_message", "offline_message_chat_only", "open_chat",
    "close_chat", "connecting", "reconnecting", "connection_lost", "prechat_intro", "your_name",
    "email_optional", "start_chat", "your_email", "save", "write_message", "message", "send",
    "send_file", "seen", "sent", "sending", "not_sent", "retry", "agent", "support", "typing",
    "offline_email_prompt", "file", "rating", "survey_send", "survey_comment", "survey_thanks",
    "survey_expired", "survey_used", "survey_invalid", "survey_not_connected", "something_wrong",
    "file_too_large", "file_sending", "file_failed", "bot_label", "bot_solved", "bot_human",
    "rate_limited", "too_many_connections", "message_too_long",
    "too_long", "origin_not_allowed",  # widgetfix.po
)  # fmt: skip
# What a channel's ``texts`` may replace: the widget's texts and the system messages it carries
# (gateway/surveys.py reads these two).
CHANNEL_TEXTS = (*WIDGET_TEXTS, "survey_message", "followup_message")
SURVEY_TEXTS = {  # widget text -> the survey setting that overrides it (gateway/surveys.py)
    "survey_comment": "survey_comment_prompt",
    "survey_send": "survey_send_label",
    "survey_thanks": "survey_thanks_text",
}
LEGACY_FIELDS = ("title", "greeting", "offline_message", "offline_message_chat_only")
LEGACY_DEFAULTS = {
    "title": "Chat with us",
    "greeting": "Hi! How can we help you today?",
    "offline_message": "We are away right now. Leave your message and your email address, "
    "and we will answer you by email.",
    "offline_message_chat_only": "We are away right now. Leave your message here and we will "
    "answer in this chat as soon as we are back.",
}


def widget_language(setting: str, accept_language: str | None) -> str:
    """The channel's language, or the visitor's browser's when the setting is ``auto``."""
    return pick(setting, accept_language)


def legacy_override(name: str, value: str) -> str | None:
    """An older single-language text field: its value when an admin set one."""
    value = (value or "").strip()
    return value if value and value != LEGACY_DEFAULTS.get(name) else None


def widget_texts(
    config: Any, lang: str, survey_overrides: dict[str, str | None] | None = None
) -> dict[str, str]:
    """Every widget text in ``lang`` with the channel's overrides applied."""
    lang = lang if lang in LANGUAGES else "zh-CN"
    per_language = (getattr(config, "texts", None) or {}).get(lang, {})
    out: dict[str, str] = {}
    for name in WIDGET_TEXTS:
        text = translate(lang, f"customer.widget.{name}")
        if name in LEGACY_FIELDS:
            text = legacy_override(name, getattr(config, name, "")) or text
        if name in SURVEY_TEXTS and survey_overrides and survey_overrides.get(SURVEY_TEXTS[name]):
            text = str(survey_overrides[SURVEY_TEXTS[name]])
        out[name] = per_language.get(name) or text
    # A self-service answer is labelled in its own language (English article: English label and
    # buttons), Chinese ones in the widget's script when the widget is Chinese.
    chinese = lang if lang.startswith("zh") else "zh-CN"
    for kind, kind_lang in (("en", "en"), ("zh", chinese)):
        for part in ("label", "solved", "human"):
            out[f"bot_{kind}_{part}"] = translate(kind_lang, f"customer.widget.bot_{part}")
    return out
