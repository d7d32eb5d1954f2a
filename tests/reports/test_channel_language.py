"""Every channel has a language for what the gateway writes to its customers itself, and the
admin's own texts per language: an API channel's survey comes in the channel's language, or in
the channel's own text for that language, with the link."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from gateway.i18n import translate
from tests.conftest import Harness, wait_for
from tests.reports.flow import LINK, answered, customer_writes, resolve, system_texts


async def _survey_text(h: Harness, config: dict[str, Any], agent_email: str) -> str:
    secret = secrets.token_hex(16)
    channel = await h.create_channel(
        "api", {"secret": secret, **config}, name=f"api {secrets.token_hex(3)}"
    )
    agent = await h.agent_online(agent_email)
    conversation_id = await customer_writes(h, channel["id"], secret, "c1", "m1", "order late")
    await answered(h, agent, conversation_id, "It ships today.")
    await resolve(h, agent[1], conversation_id)

    async def survey() -> str | None:
        return next((t for t in await system_texts(h, conversation_id) if LINK.search(t)), None)

    return await wait_for(survey)


@pytest.mark.parametrize("language", ["zh-CN", "en", "zh-TW"])
async def test_an_api_channel_surveys_in_its_language(gateway: Harness, language: str):
    text = await _survey_text(gateway, {"language": language}, "ann@example.com")
    url = re.search(r"https?://\S+/survey/\S+", text)
    assert url
    expected = translate(language, "customer.survey.message", link="{link}")
    assert text == expected.replace("{link}", url.group(0))


async def test_the_channel_text_for_its_language_replaces_the_default(gateway: Harness):
    own = {"zh-CN": {"survey_message": "请为本次服务打分：{link} 谢谢"}, "en": {}}
    text = await _survey_text(gateway, {"texts": own}, "bo@example.com")
    assert text.startswith("请为本次服务打分：http") and text.endswith(" 谢谢")
    assert LINK.search(text)


async def test_an_unknown_language_or_text_name_is_refused(gateway: Harness):
    for config in ({"language": "fr"}, {"texts": {"en": {"greeting": "hi"}}}):
        body = {"type": "api", "name": "bad", "config": {"secret": "s" * 16, **config}}
        await gateway.call("POST", "/api/v1/channels", json_body=body, expect=400)
