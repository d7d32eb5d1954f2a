"""The knowledge base in the console, in a real Chromium: the suggested answers beside a
conversation (articles and canned responses for the customer's words, the customer's earlier
tags; one click fills the reply box), and the Knowledge base page of a supervisor (create and
edit a Chinese article, import a CSV with a bad row and then a good one, export). Screenshots
land in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Harness, wait_for
from tests.console.test_browser import _sign_in, _user

pytestmark = pytest.mark.browser

CANNED = "{{customer.name|您}}好，卡纸很常见，我来帮您处理。"
JAM = {
    "title": "打印机卡纸怎么办",
    "body": "先关闭电源，打开前盖，慢慢取出卡住的纸张。",
    "tags": ["打印机", "卡纸"],
    "product": "LaserJet 100",
}


def _customer(h: Harness, channel_id: str, secret: str):
    """A customer's message on the API channel -> its conversation id."""

    async def says(message_id: str, sender: tuple[str, str], thread: str, text: str) -> str:
        body = {"message_id": message_id, "sender": {"id": sender[0], "name": sender[1]},
                "thread_id": thread, "text": text}  # fmt: skip
        status, res = await h.post_api_message(channel_id, secret, body)
        assert status == 202, res
        return res["conversation_id"]

    return says


async def test_suggested_answers_fill_the_reply_box(gateway: Harness, new_page, artifacts: Path):
    h = gateway
    article = (await h.call("POST", "/api/v1/kb/articles", None, JAM, expect=201))["article"]
    await h.call("POST", "/api/v1/kb/articles", None,
                 {"title": "如何申请退款", "body": "订单页点击申请退款。"}, expect=201)  # fmt: skip
    await h.call(
        "POST", "/api/v1/canned", None,
        {"shortcut": "jam", "title": "卡纸安抚", "text": CANNED},
        expect=201,
    )  # fmt: skip
    channel_id, secret = await h.api_channel()
    # An earlier conversation of the same customer, tagged.
    says = _customer(h, channel_id, secret)
    first = await says("old", ("c1", "王丽"), "old", "发票怎么开")
    await h.gw.redis.hset(h.gw.keys.conversation(first), "tags", json.dumps(["发票", "老客户"]))
    await h.call("POST", f"/api/v1/conversations/{first}/resolve", None, {})
    conversation_id = await says("new", ("c1", "王丽"), "new", "我的印表機又卡紙了！")
    await _user(h, "lan@example.com", "Lan", role="supervisor")
    page = await _sign_in(await new_page(), h, "lan@example.com")
    await page.goto(f"{h.base_url}/console#/inbox/{conversation_id}")
    first_article = page.locator(f"#kb-suggest li[data-article='{article['id']}'] button.insert")
    await first_article.wait_for()
    assert (
        await page.locator("#kb-suggest li.suggestion").first.get_attribute("data-article")
        == article["id"]
    )
    await page.locator("#kb-suggest .known-tags", has_text="老客户").wait_for()
    await first_article.click()
    assert await page.locator("#reply-text").input_value() == JAM["body"]
    await page.locator("#kb-suggest li.canned button.insert").click()
    assert await page.locator("#reply-text").input_value() == "王丽好，卡纸很常见，我来帮您处理。"
    await page.screenshot(path=str(artifacts / "console-kb-suggestions.png"))

    # A suggestion that does not fit is dismissed, and stays so when the customer writes again
    # (the list is rendered anew) and after a reload.
    await page.locator(f"#kb-suggest li[data-article='{article['id']}'] button.dismiss").click()
    assert await page.locator(f"#kb-suggest li[data-article='{article['id']}']").count() == 0
    await says("again", ("c1", "王丽"), "new", "印表機還是卡紙")
    await page.locator("li.msg", has_text="印表機還是卡紙").wait_for()
    await page.reload()
    await page.locator("#kb-suggest li.canned").wait_for()
    assert await page.locator(f"#kb-suggest li[data-article='{article['id']}']").count() == 0
    # Another conversation of the same question still gets the article.
    other = await says("other", ("c2", "李雷"), "other", "打印机卡纸了")
    await page.goto(f"{h.base_url}/console#/inbox/{other}")
    await page.locator(f"#kb-suggest li[data-article='{article['id']}']").wait_for()


async def test_supervisor_manages_articles_in_chinese(
    gateway: Harness, new_page, artifacts: Path, tmp_path: Path
):
    h = gateway
    await _user(h, "sue@example.com", "Sue", role="supervisor")
    page = await _sign_in(await new_page(), h, "sue@example.com")
    await page.click("#nav a[data-page=kb]")
    await page.wait_for_selector("#kb-articles")
    assert await page.locator("#kb-synonyms").count() == 0  # admins only

    await page.click("#kb-new")
    await page.fill("#kb-form input[name=title]", "如何更换墨盒")
    await page.fill("#kb-form textarea[name=body]", "打开仓门，按下旧墨盒取出，插入新墨盒。")
    await page.fill("#kb-form input[name=tags]", "墨盒，换墨盒")
    await page.click("#kb-form button[type=submit]")
    row = page.locator("#kb-articles tr", has_text="如何更换墨盒")
    await row.wait_for()
    assert "墨盒, 换墨盒" in (await row.text_content() or "")
    await row.locator("button", has_text="Edit").click()
    await page.fill("#kb-form input[name=title]", "墨盒怎么换")
    await page.click("#kb-form button[type=submit]")
    await page.locator("#kb-articles tr", has_text="墨盒怎么换").wait_for()

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "title,body,language\n退货流程,七天无理由退货,zh\n,没有标题,zh\n", encoding="utf-8"
    )
    await page.set_input_files("#kb-import-file", str(bad))
    await page.locator("#kb-import-report .import-errors", has_text="Row 3, title").wait_for()
    good = tmp_path / "good.csv"
    good.write_text("title,body,language,tags\n退货流程,七天无理由退货,zh,退货\n", encoding="utf-8")
    await page.set_input_files("#kb-import-file", str(good))
    await page.locator("#kb-import-report", has_text="1 new").wait_for()
    await page.locator("#kb-articles tr", has_text="退货流程").wait_for()
    await page.fill("#kb-search", "退貨")  # Traditional finds the Simplified article
    rows = page.locator("#kb-articles tbody tr")

    async def one_row() -> bool:
        return await rows.count() == 1

    await wait_for(one_row)
    assert "退货流程" in (await rows.first.text_content() or "")
    await page.screenshot(path=str(artifacts / "console-kb-page.png"))
    async with page.expect_download() as info:
        await page.click("text=Export CSV")
    download = await info.value
    text = Path(await download.path()).read_text(encoding="utf-8-sig")
    assert "墨盒怎么换" in text and "退货流程" in text

    async def both() -> bool:
        return (await h.call("GET", "/api/v1/kb/articles"))["total"] == 2

    await wait_for(both)


async def test_an_incidents_statement_is_the_first_suggestion(
    gateway: Harness, new_page, artifacts: Path
):
    """A mention of a spike shows its incident's approved statement, once set, first among the
    suggested answers; a click puts it in the reply box."""
    from gateway.models import Channel, ContactIdentity, InboundMessage

    h = gateway
    results = []
    for i in range(2):
        msg = InboundMessage(
            channel_id="chX", channel_type=Channel.X, external_id=f"p{i}",
            contact=ContactIdentity(external_id=f"u{i}", name=f"user{i}"), thread_key=f"p{i}",
            text="又宕机了 @acme", meta={"spike": True},
        )  # fmt: skip
        results.append(await h.gw.deliver(msg))
    incident = (await h.call("GET", "/api/v1/incidents"))["incidents"][0]
    statement = "我们已经知道服务中断，正在修复。进展请看 status.example。"
    await h.call("PATCH", f"/api/v1/incidents/{incident['id']}", None, {"statement": statement})
    await _user(h, "lan@example.com", "Lan", role="supervisor")
    page = await _sign_in(await new_page(), h, "lan@example.com")
    await page.goto(f"{h.base_url}/console#/inbox/{results[1].conversation_id}")
    first = page.locator("#kb-suggest li.suggestion").first
    await first.locator("button", has_text="Approved statement").wait_for()
    await first.locator("button").click()

    async def inserted() -> bool:
        return await page.input_value("#reply-text") == statement

    await wait_for(inserted)
    await page.screenshot(path=str(artifacts / "console-incident-statement.png"))
