"""The settings pages in a real Chromium (issue 17, part B): an admin edits SLA targets,
priority rules (and tries a text against the form's rules before saving), business hours,
survey and follow-up settings and teams; every form refuses bad input with an error in words
beside the field, and what is saved is what the API then answers. A supervisor reads the
settings, tests texts and manages canned responses. Desktop 1440x900 and phone 390x844, English
and Chinese."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness, wait_for
from tests.console.uxkit import DESKTOP, PHONE, sign_in, user

pytestmark = pytest.mark.browser


async def _admin(h: Harness, new_page, viewport: dict[str, int] = DESKTOP, **ctx: Any) -> Any:
    await user(h, "root@example.com", "Root", role="admin")
    bp = await new_page(**ctx)
    page = await sign_in(bp, h, "root@example.com", viewport)
    return bp, page


async def _tab(page: Any, tab: str) -> None:
    await page.goto(page.url.split("#")[0] + f"#/settings/{tab}")
    await page.locator(f"#settings-{tab} form").first.wait_for()


async def test_admin_edits_sla_targets_with_errors_in_words(
    gateway: Harness, new_page, artifacts: Path
):
    h = gateway
    bp, page = await _admin(h, new_page)
    await page.locator("#nav a[data-page=settings]").click()
    await page.locator("#sla-form").wait_for()
    row = page.locator("#sla-form tr[data-cls=urgent]")
    first = row.locator("input[data-path='classes.urgent.first_response']")
    assert await first.input_value() == "15"  # 900 s in config/sla.toml
    await first.fill("-5")
    await row.locator("input[data-path='classes.urgent.resolution']").fill("")
    await page.locator("#sla-form button[type=submit]").click()
    errors = row.locator(".field-error")
    assert await errors.all_text_contents() == [
        "Enter a number of minutes from 0 to 525600.",
        "Fill this in.",
    ]
    assert await page.locator("#sla-form .form-error").text_content() == (
        "2 field(s) need fixing before saving."
    )
    await page.screenshot(path=str(artifacts / "settings-sla-errors.png"))
    policy = (await h.call("GET", "/api/v1/sla/classes"))["policy"]
    assert policy["classes"][1]["first_response"]["default"] == 900  # nothing saved

    await first.fill("10")
    await row.locator("input[data-path='classes.urgent.resolution']").fill("5")
    await page.locator("#sla-form button[type=submit]").click()
    assert await errors.all_text_contents() == ["Resolution cannot come before the first response."]
    await row.locator("input[data-path='classes.urgent.resolution']").fill("1440")
    await page.locator("#sla-form button[type=submit]").click()
    await page.locator("#toast", has_text="Settings saved").wait_for()
    got = await h.call("GET", "/api/v1/sla/classes")
    urgent = next(c for c in got["policy"]["classes"] if c["name"] == "urgent")
    assert urgent["first_response"]["default"] == 600 and urgent["resolution"]["default"] == 86400
    assert got["source"] == "redis"
    high = next(c for c in got["policy"]["classes"] if c["name"] == "high")
    assert high["first_response"] == {"default": 120, "email": 1800}  # per-channel kept
    assert bp.errors == []


async def test_rules_test_box_shows_the_matching_rule_and_a_draft_rule(
    gateway: Harness, new_page, artifacts: Path
):
    h = gateway
    bp, page = await _admin(h, new_page)
    await _tab(page, "rules")
    text = page.locator("#rule-test-text")
    await page.locator("#rule-test button[type=submit]").click()
    await page.locator("#rule-result", has_text="Write a message to test.").wait_for()
    await text.fill("Our kettle caught fire this morning")
    await page.locator("#rule-test button[type=submit]").click()
    result = page.locator("#rule-result .verdict")
    await result.filter(has_text="safety-hazard").wait_for()
    assert await result.text_content() == "Matches rule “safety-hazard”: class Urgent"
    assert await page.locator("#rules-list .rule.matched").count() == 1
    assert await page.locator("#rules-list .rule.matched input").first.input_value() == (
        "safety-hazard"
    )

    # A new rule, tried before it is saved; a rule without conditions is refused in words.
    await page.locator("#rules-form .add-rule").click()
    new = page.locator("#rules-list .rule").last
    await new.locator("input[data-path$='.name']").fill("refund")
    await new.locator("select").select_option("high")
    await page.locator("#rules-form button[type=submit]").click()
    assert await new.locator(".field-error").text_content() == (
        "Give at least one keyword, pattern or customer tier."
    )
    await new.locator("textarea[data-path$='.keywords']").fill("退款\nrefund")
    # A comma is pattern syntax, not a separator: one pattern a line.
    await new.locator("textarea[data-path$='.patterns']").fill("退.{0,2}款")
    await text.fill("我要退款")
    await page.locator("#rule-test button[type=submit]").click()
    await result.filter(has_text="refund").wait_for()
    assert await result.text_content() == "Matches rule “refund”: class High"
    assert (await h.call("GET", "/api/v1/sla/rules"))["source"] == "file"  # only tried
    await page.screenshot(path=str(artifacts / "settings-rules-test.png"))
    await page.locator("#rules-form button[type=submit]").click()
    await page.locator("#toast", has_text="Settings saved").wait_for()
    saved = await h.call("GET", "/api/v1/sla/rules")
    refund = next(r for r in saved["rules"]["rules"] if r["name"] == "refund")
    assert refund["class"] == "high" and refund["keywords"] == ["退款", "refund"]
    assert refund["patterns"] == ["退.{0,2}款"]
    assert bp.errors == []


async def test_business_hours_survey_and_teams_forms(gateway: Harness, new_page):
    h = gateway
    lan_id = await user(h, "lan@example.com", "Lan")
    bp, page = await _admin(h, new_page)

    await _tab(page, "hours")
    business = page.locator("fieldset[data-calendar=business]")
    await business.locator("input[data-path='calendars.business.hours.sat']").fill("18:00-09:00")
    await business.locator("textarea").fill("2026-10-01\n2026-13-01")
    await page.locator("#hours-form button[type=submit]").click()
    assert await business.locator(".field-error").all_text_contents() == [
        "“18:00-09:00” is not a time range like 09:00-18:00 (the end after the start).",
        "“2026-13-01” is not a date like 2026-10-01.",
    ]
    await business.locator("input[data-path='calendars.business.hours.sat']").fill("10:00-14:00")
    await business.locator("textarea").fill("2026-10-01")
    await page.locator("#hours-form button[type=submit]").click()
    await page.locator("#toast", has_text="Settings saved").wait_for()
    calendar = (await h.call("GET", "/api/v1/sla/classes"))["policy"]["calendars"]["business"]
    assert calendar["hours"]["sat"] == "10:00-14:00" and calendar["holidays"] == ["2026-10-01"]

    await _tab(page, "survey")
    form = page.locator("#survey-form")
    await form.locator("input[data-path=survey_ttl_hours]").fill("0")
    await form.locator("textarea[data-path=survey_text]").fill("Rate us please")
    await form.locator("input[data-path='followup_seconds.low']").fill("48")
    await form.locator("button[type=submit]").click()
    assert await form.locator(".field-error").all_text_contents() == [
        "Enter a number of hours above 0, up to 2160.",
        "Put {link} where the survey link goes.",
    ]
    await form.locator("input[data-path=survey_ttl_hours]").fill("24")
    await form.locator("textarea[data-path=survey_text]").fill("Rate us: {link}")
    await form.locator("button[type=submit]").click()

    # The toast of the hours form's save may still be showing: wait for the saved values.
    async def survey_saved() -> dict[str, Any] | None:
        settings = await h.call("GET", "/api/v1/reports/settings")
        return settings if settings["survey_ttl_hours"] == 24 else None

    settings = await wait_for(survey_saved, timeout=10)
    assert settings["survey_text"] == "Rate us: {link}"
    assert settings["followup_seconds"]["low"] == 48 * 3600

    await _tab(page, "teams")
    await page.locator("#new-team-form button[type=submit]").click()
    assert await page.locator("#new-team-form .field-error").all_text_contents() == [
        "Fill this in.",
        "Choose a person.",
    ]
    await page.fill("#new-team", "billing")
    await page.select_option("#new-team-member", lan_id)
    await page.locator("#new-team-form button[type=submit]").click()
    await page.locator("form.team[data-team=billing] li", has_text="Lan").wait_for()
    users = {u["id"]: u for u in (await h.call("GET", "/api/v1/users"))["users"]}
    assert users[lan_id]["teams"] == ["billing"]
    await page.fill("#new-team", "BILLING")
    await page.select_option("#new-team-member", lan_id)
    await page.locator("#new-team-form button[type=submit]").click()
    assert await page.locator("#new-team-form .field-error").text_content() == (
        "The team “BILLING” exists; add members to it below."
    )
    assert bp.errors == []


async def test_supervisor_reads_settings_tests_texts_and_manages_canned_on_a_phone(
    gateway: Harness, new_page, artifacts: Path
):
    h = gateway
    await user(h, "sue@example.com", "Sue", role="supervisor")
    bp = await new_page(locale="zh-CN")
    page = await sign_in(bp, h, "sue@example.com", PHONE)
    for link in ("settings", "supervisor", "canned"):  # shown to supervisors
        assert await page.locator(f"#nav a[data-page={link}]").get_attribute("hidden") is None
    assert await page.locator("#nav a[data-page=channels]").get_attribute("hidden") == ""
    await page.goto(page.url.split("#")[0] + "#/settings/rules")
    await page.locator("#rules-form").wait_for()
    assert (
        await page.locator(".read-only").text_content()
        == "您可以查看这些设置；只有管理员可以修改。"
    )
    assert await page.locator("#rules-form input").first.is_disabled()
    assert await page.locator("#rules-form button[type=submit]").count() == 0
    # What cannot be pressed looks it (the disabled buttons looked like live ones).
    looks = await page.eval_on_selector_all(
        "#rules-form button:disabled",
        "nodes => nodes.map(n => [getComputedStyle(n).opacity, getComputedStyle(n).cursor])",
    )
    assert looks and all(float(o) < 0.6 and c == "not-allowed" for o, c in looks), looks
    await page.fill("#rule-test-text", "有记者要曝光你们")
    await page.locator("#rule-test button[type=submit]").click()
    verdict = page.locator("#rule-result .verdict")
    await verdict.wait_for()
    assert await verdict.text_content() == "匹配规则“media-exposure”：优先级 敏感"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the phone
    await page.screenshot(path=str(artifacts / "settings-rules-phone-zh.png"))

    # Canned responses: supervisors manage them now.
    await page.goto(page.url.split("#")[0] + "#/canned")
    await page.locator("#page-canned button", has_text="新建").first.click()
    form = page.locator("#canned-form")
    await form.locator("input").first.fill("thanks")
    await form.locator("input").nth(1).fill("致谢")
    await form.locator("textarea").fill("谢谢您，{{customer.name|朋友}}！")
    await form.locator("button[type=submit]").click()
    await page.locator("#page-canned tr[data-canned]", has_text="thanks").wait_for()
    canned = (await h.call("GET", "/api/v1/canned"))["canned"]
    assert [c["shortcut"] for c in canned] == ["thanks"]
    assert bp.errors == []


async def test_a_save_that_finishes_after_the_admin_moved_on_keeps_the_new_tab(
    gateway: Harness, new_page
):
    """A slow save re-renders its own tab when it finishes; the tab the admin went to meanwhile
    must stay on screen (it was replaced by the survey form again)."""
    h = gateway
    _, page = await _admin(h, new_page)
    await _tab(page, "survey")
    answered = asyncio.Event()

    async def slow_put(route: Any) -> None:
        if route.request.method != "PUT":
            await route.continue_()
            return
        await asyncio.sleep(1.0)  # a slow network: the answer arrives after the tab changed
        await route.continue_()
        answered.set()

    await page.route("**/api/v1/reports/settings", slow_put)
    await page.locator("#survey-form input[data-path=survey_ttl_hours]").fill("12")
    await page.locator("#survey-form button[type=submit]").click()
    await _tab(page, "teams")
    await asyncio.wait_for(answered.wait(), 10)
    await page.locator("#toast", has_text="Settings saved").wait_for()
    assert await page.locator("#settings-teams form").first.is_visible()
    assert not await page.locator("#survey-form").count()
    assert (await h.call("GET", "/api/v1/reports/settings"))["survey_ttl_hours"] == 12
