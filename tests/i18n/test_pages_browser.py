"""Every main page in a real Chromium, in zh-CN and in en (the widget and the survey page in
zh-TW too): in Chinese no English word outside the allow-list is visible (tests/i18n/pagetext.py),
in every language no catalogue key shows, and one screenshot per page and language is kept in
artifacts/screenshots/. The browser's locale sets its Accept-Language and navigator.language:
the console opens in it before anyone signs in."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.surveys import SurveyLink
from tests.conftest import Harness
from tests.console.conftest import BrowserPage, CustomerSite
from tests.i18n.pagetext import check_page, english_words, visible_text
from tests.webchat.visitor import Visitor, webchat_channel

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "agent-password-123"
# What the test itself wrote in English (data, not interface) on the English-data pages.
NAMES = {"zh-CN": ("王经理", "李伟", "张三"), "en": ("Wang", "Li Wei", "Zhang San")}


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def _setup(h: Harness, lang: str) -> dict[str, Any]:
    """An admin, an online agent, a web chat and an API channel, a customer's conversation with
    a tag, a canned response with a Chinese shortcut and a knowledge-base article."""
    boss, agent, customer = NAMES[lang]
    body = {"email": "wang@example.com", "password": PASSWORD, "name": boss, "role": "admin"}
    await h.call("POST", "/api/v1/users", json_body=body, expect=201)
    agent_id, _ = await h.agent_online("li@example.com", name=agent)
    await h.create_channel(
        "webchat", {"allowed_origins": ["https://shop.example.com"], "language": lang}, "茶叶店"
    )
    secret = secrets.token_hex(16)
    api = await h.create_channel("api", {"secret": secret}, "商城接口")
    status, got = await h.post_api_message(
        api["id"],
        secret,
        {"message_id": "m-1", "sender": {"id": "c-1", "name": customer}, "text": "我的快递还没到"},
    )
    assert status == 202
    conv_id = got["conversation_id"]
    await h.call(
        "PUT",
        f"/api/v1/conversations/{conv_id}/tags",
        json_body={"tags": ["物流"], "product": "绿茶"},
    )
    canned = {"shortcut": "你好", "title": "问候", "text": "您好 {{customer.name}}，请稍等。"}
    await h.call("POST", "/api/v1/canned", json_body=canned, expect=201)
    article = {
        "title": "快递多久到",
        "body": "一般三天内送达。",
        "language": "zh",
        "tags": ["物流"],
    }
    await h.call("POST", "/api/v1/kb/articles", json_body=article, expect=201)
    return {"conv": conv_id, "agent_id": agent_id, "customer": customer}


async def _sign_in(page: Any, h: Harness, lang: str, shots: Path) -> None:
    await page.goto(f"{h.base_url}/console")
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.evaluate("document.documentElement.lang") == lang
    await check_page(page, lang, shots, "login")
    await page.fill("#login-form input[name=email]", "wang@example.com")
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_selector("#conn.conn-connected")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_agent_pages_in_the_browsers_language(
    gateway: Harness, new_page, lang: str, shots: Path
) -> None:
    h = gateway
    data = await _setup(h, lang)
    bp: BrowserPage = await new_page(locale=lang)
    page = bp.page
    await _sign_in(page, h, lang, shots)

    # The inbox, every conversation.
    await page.select_option("#filters select[name=view]", "all")
    row = page.locator("#conversations .row", has_text=data["customer"])
    await row.wait_for()
    await check_page(page, lang, shots, "inbox")

    # A conversation: transferred, a note, the canned picker on a Chinese shortcut.
    await row.click()
    await page.locator("#log .msg.in").wait_for()
    await page.select_option("#conv-head .group select", data["agent_id"])
    await page.locator("#conv-head .group button").last.click()
    await page.locator("#log .msg.event").wait_for()
    await page.select_option("#reply-mode", "note")
    await page.fill("#reply-text", "已联系快递公司")
    await page.locator("#composer button[type=submit]").click()
    await page.locator("#log .msg.note").wait_for()
    await page.select_option("#reply-mode", "reply")
    await page.locator("#reply-text").type("/你")
    await page.locator("#canned-picker li", has_text="/你好").wait_for()
    text = await check_page(page, lang, shots, "conversation")
    if lang == "en":
        assert f"Transferred to {NAMES['en'][1]} by {NAMES['en'][0]}" in text
    else:
        assert f"{NAMES['zh-CN'][0]} 已转给 {NAMES['zh-CN'][1]}" in text
    await page.locator("#canned-picker li", has_text="/你好").click()
    assert await page.locator("#reply-text").input_value() == f"您好 {data['customer']}，请稍等。"

    # Users, canned responses, the knowledge base, channels (and a channel's form).
    await page.click("#nav a[data-page=users]")
    await page.locator("#page-users tr", has_text="li@example.com").wait_for()
    await check_page(page, lang, shots, "users")
    await page.click("#nav a[data-page=canned]")
    await page.locator("#page-canned td", has_text="/你好").wait_for()
    await check_page(page, lang, shots, "canned")
    await page.click("#nav a[data-page=kb]")
    await page.locator("#kb-articles tbody tr", has_text="快递多久到").wait_for()
    await check_page(page, lang, shots, "kb")
    await page.click("#nav a[data-page=channels]")
    card = page.locator("#channel-list .channel", has_text="茶叶店")
    await card.wait_for()
    await check_page(page, lang, shots, "channels")

    # Errors in words: the form names the field as it labels it and says what to do.
    await card.locator(".buttons button").nth(1).click()  # edit
    form = card.locator("form")
    await form.locator("input[name=session_secret]").fill("short")
    await form.locator("button[type=submit]").click()
    error = form.locator("p.error")
    await error.wait_for()
    said = await error.text_content()
    if lang == "zh-CN":
        assert said == "会话密钥至少需要 16 个字符。"
    else:
        assert said == "session secret needs at least 16 characters."
    await check_page(page, lang, shots, "channel-form")

    # Reports, in the same language.
    await page.goto(f"{h.base_url}/reports")
    await page.locator("#summary thead th").first.wait_for()
    await page.locator("#live-agents tbody tr").first.wait_for()
    await check_page(page, lang, shots, "reports")
    # The one failed request is the refused channel form above (Chromium logs it).
    assert [e for e in bp.errors if "status of 400" not in e] == [] and bp.dialogs == []


async def _open_widget(page: Any) -> None:
    await page.locator("[data-gateway-chat] .launcher").click()
    await page.locator("[data-gateway-chat] .panel .status").wait_for(state="hidden")


@pytest.mark.parametrize(
    ("lang", "setting", "hello"),
    [("zh-CN", "zh-CN", "你好，请问绿茶有货吗？"), ("en", "en", "Is green tea in stock?"),
     ("zh-TW", "auto", "你好，請問綠茶有貨嗎？")],
)  # fmt: skip
async def test_widget_in_each_language(
    gateway: Harness,
    new_page,
    customer_site: CustomerSite,
    shots: Path,
    lang: str,
    setting: str,
    hello: str,
) -> None:
    """zh-TW comes from the visitor's browser: the channel says "auto"."""
    h = gateway
    config = {"allowed_origins": [customer_site.origin], "language": setting, "prechat_form": True}
    channel = await h.create_channel("webchat", config, "茶叶店")
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    bp: BrowserPage = await new_page(locale=lang)
    site = bp.page
    await site.goto(customer_site.url)
    await _open_widget(site)
    await site.locator("[data-gateway-chat] .prechat input[name=name]").wait_for()
    allowed = {"Tea", "shop", "Shop", "Green", "tea", "oolong", "pu", "erh"}  # the host page
    prechat = await check_page(site, lang, shots, "widget-prechat", allowed=allowed)
    await site.locator("[data-gateway-chat] .prechat input[name=name]").fill("小林")
    await site.locator("[data-gateway-chat] .prechat button").click()
    await site.locator("[data-gateway-chat] .composer textarea").wait_for()
    await site.locator("[data-gateway-chat] .composer textarea").fill(hello)
    await site.locator("[data-gateway-chat] .composer textarea").press("Enter")
    await site.locator("[data-gateway-chat] .msg.visitor[data-seq]").wait_for()
    text = await check_page(site, lang, shots, "widget", allowed=allowed)
    expected = {
        "zh-CN": ("开始之前，请问怎么称呼您？", "我们现在不在线"),
        "zh-TW": ("開始之前，請問怎麼稱呼您？", "我們現在不在線上"),
        "en": ("Before we start, how should we call you?", "We are away right now"),
    }[lang]
    assert expected[0] in prechat and expected[1] in text
    assert bp.errors == []


@pytest.mark.parametrize(("lang", "setting"), [("zh-CN", "zh-CN"), ("en", "en"), ("zh-TW", "auto")])
async def test_survey_page_in_each_language(
    gateway: Harness, new_page, shots: Path, lang: str, setting: str
) -> None:
    h = gateway
    channel_id = await webchat_channel(h, language=setting)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "谢谢")
    await visitor.close()
    now = int(time.time() * 1000)
    link = SurveyLink(ack["conversation_id"], now, now + 3_600_000, secrets.token_urlsafe(12))
    token = h.gw.aftercare.signer.sign(link)
    bp: BrowserPage = await new_page(locale=lang)
    page = bp.page
    await page.goto(f"{h.base_url}/survey/{token}")
    await page.locator("input[name=score]").first.wait_for()
    assert await page.evaluate("document.documentElement.lang") == lang
    form = await check_page(page, lang, shots, "survey")
    await page.locator("input[name=score][value='5']").check()
    await page.locator("button[type=submit]").click()
    await page.locator("h1").wait_for()
    thanks = await check_page(page, lang, shots, "survey-thanks")
    expected = {
        "zh-CN": ("您对我们的服务满意吗？", "谢谢，您的评价已记录。"),
        "zh-TW": ("您對我們的服務滿意嗎？", "謝謝，您的評價已記錄。"),
        "en": ("How satisfied are you with our help?", "Thank you, your answer was recorded."),
    }[lang]
    assert expected[0] in form and expected[1] in thanks


def test_the_english_word_check_can_fail() -> None:
    """The check itself: interface English is found, data and allowed names are not."""
    assert english_words("请选择一个会话。 Pick a conversation") == ["Pick", "a", "conversation"]
    assert (
        english_words("王经理 wang@example.com https://shop.example.com cv_01ab 12:30 CSAT SLA")
        == []
    )
    assert english_words("微信 WeChat 和 QQ") == []


async def test_visible_text_skips_hidden_and_code(new_page) -> None:
    bp: BrowserPage = await new_page()
    await bp.page.set_content(
        "<p>可见</p><p hidden>Hidden</p><code>&lt;script src=x&gt;</code>"
        "<input placeholder='请输入'><select><option>选项</option><option>Other</option></select>"
    )
    text = await visible_text(bp.page)
    assert "可见" in text and "请输入" in text and "选项" in text
    assert "Hidden" not in text and "script" not in text and "Other" not in text


async def test_the_agents_language_menu_is_kept_on_the_profile(gateway: Harness, new_page) -> None:
    """A browser in Chinese signs in in Chinese; the agent picks English in the header: the
    console reloads in English, and another browser (Chinese too) opens it in English after
    sign-in, since the choice is on the profile."""
    h = gateway
    body = {"email": "li@example.com", "password": PASSWORD, "name": "李伟", "role": "agent"}
    await h.call("POST", "/api/v1/users", json_body=body, expect=201)

    async def sign_in(bp: BrowserPage) -> Any:
        page = bp.page
        await page.goto(f"{h.base_url}/console")
        await page.fill("#login-form input[name=email]", "li@example.com")
        await page.fill("#login-form input[name=password]", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#app:not([hidden])")
        return page

    page = await sign_in(await new_page(locale="zh-CN"))
    assert await page.locator("#nav a[data-page=inbox]").text_content() == "会话"
    async with page.expect_navigation():
        await page.select_option("#language", "en")
    await page.wait_for_selector("#app:not([hidden])")
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.locator("#nav a[data-page=inbox]").text_content() == "Conversations"

    other = await sign_in(await new_page(locale="zh-CN"))
    await other.wait_for_function("document.documentElement.lang === 'en'")
    await other.wait_for_selector("#app:not([hidden])")
    assert await other.locator("#nav a[data-page=inbox]").text_content() == "Conversations"
    got = await h.call("GET", "/api/v1/me/language", await h.login("li@example.com", PASSWORD))
    assert got["language"] == "en"
