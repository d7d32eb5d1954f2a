"""The language a channel speaks to customers in, for what the gateway writes itself (survey and
follow-up prompts, self-service labels, the mail quote line), and the admin's own texts for them
per language. Every channel's config has these two fields (web chat has its own, with ``auto``
and the widget's texts); gateway/i18n/channels.py reads them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

CustomerLanguage = Literal["zh-CN", "en", "zh-TW"]
# The system messages a channel other than web chat carries (gateway/surveys.py).
SystemText = Literal["survey_message", "followup_message"]


class ChannelLanguage(BaseModel):
    language: CustomerLanguage = Field(
        "zh-CN",
        description="language of what the gateway writes to customers on this channel itself "
        "(survey and follow-up prompts, self-service labels, a mail's quote line): zh-CN, en "
        "or zh-TW",
    )
    texts: dict[CustomerLanguage, dict[SystemText, Annotated[str, Field(max_length=1000)]]] = Field(
        default_factory=dict,
        description="per language, texts that replace the defaults, e.g. "
        '{"en": {"survey_message": "How did we do? {link}"}}',
    )
