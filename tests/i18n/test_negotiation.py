"""Accept-Language -> one of zh-CN, en, zh-TW; translate with fallbacks and placeholders."""

from __future__ import annotations

import pytest

from gateway.i18n import negotiate, normalize, pick, translate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh", "zh-CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-SG", "zh-CN"),
        ("zh-TW", "zh-TW"),
        ("zh-HK,en;q=0.5", "zh-TW"),
        ("zh-Hant", "zh-TW"),
        ("zh_hant_hk", "zh-TW"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,en;q=0.3,zh;q=0.2", "en"),
        ("en;q=0.4,zh-TW;q=0.8", "zh-TW"),
        ("de-DE", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
        ("zh;q=abc,en", "en"),
        ("en;q=0", "zh-CN"),
        (",,;;;q=", "zh-CN"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_default_when_nothing_matches() -> None:
    assert negotiate("ja-JP", default="en") == "en"


def test_normalize_rejects_other_languages() -> None:
    assert normalize("ja") is None
    assert normalize("zhx") is None
    assert normalize("ZH-hk") == "zh-TW"


def test_setting_wins_over_browser_unless_auto() -> None:
    assert pick("en", "zh-CN") == "en"
    assert pick("zh-TW", "en") == "zh-TW"
    assert pick("auto", "zh-HK") == "zh-TW"
    assert pick("auto", None) == "zh-CN"
    assert pick(None, "en-US") == "en"


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert translate("en", "customer.email.quote_undated", who="Li Wei") == "Li Wei wrote:"
    assert translate("zh-CN", "customer.email.quote_undated", who="李伟") == "李伟 写道："
    assert translate("zh-TW", "customer.email.quote_undated", who="李偉") == "李偉 寫道："
    # an agent-only key in zh-TW: the zh-CN text
    assert translate("zh-TW", "console.login.submit") == translate("zh-CN", "console.login.submit")
    # an unknown language: zh-CN; an unknown key: the key
    assert translate("xx", "console.login.submit") == "登录"
    assert translate("en", "no.such.key") == "no.such.key"
    # a parameter not given stays visible as written; one given is not re-read as a template
    assert translate("en", "customer.email.quote", who="{when}") == "On {when}, {when} wrote:"
