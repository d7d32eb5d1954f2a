"""/api/v1/kb: articles by role, search (Traditional, synonyms), import / export, and a change
live in a second process within a second."""

from __future__ import annotations

import asyncio
import time

from gateway.kb.articles import ArticleBody, Articles
from tests.conftest import Harness, MakeGateway

JAM = {
    "title": "打印机卡纸怎么办",
    "body": "关闭电源，打开前盖，慢慢取出卡住的纸张，再装回纸盒。",
    "language": "zh",
    "tags": ["打印机", "卡纸"],
    "product": "LaserJet 100",
}
REFUND = {
    "title": "如何申请退款",
    "body": "在订单页点击“申请退款”，三个工作日内到账。",
    "tags": ["退款"],
}


async def _article(h: Harness, body: dict, token: str | None = None) -> dict:
    return (await h.call("POST", "/api/v1/kb/articles", token, body, expect=201))["article"]


async def test_roles_crud_and_search(gateway: Harness) -> None:
    h = gateway
    _, supervisor = await h.create_user("sup@example.com", role="supervisor")
    _, agent = await h.create_user("agent@example.com")
    jam = await _article(h, JAM)
    refund = await _article(h, REFUND, supervisor)
    assert jam["language"] == "zh" and jam["tags"] == ["打印机", "卡纸"]
    await h.call("POST", "/api/v1/kb/articles", agent, JAM, expect=403)
    await h.call("PATCH", f"/api/v1/kb/articles/{jam['id']}", agent, {"title": "x"}, expect=403)
    await h.call("DELETE", f"/api/v1/kb/articles/{jam['id']}", agent, expect=403)
    # Agents read and search; Traditional characters find the Simplified article.
    found = await h.call("GET", "/api/v1/kb/search?q=印表機卡紙了怎麼辦", agent)
    assert found["results"][0]["article"]["id"] == jam["id"]
    assert found["results"][0]["match"]["confident"] is True
    listed = await h.call("GET", "/api/v1/kb/articles", agent)
    assert {a["id"] for a in listed["articles"]} == {jam["id"], refund["id"]}
    assert (await h.call("GET", "/api/v1/kb/articles?product=LaserJet 100", agent))["total"] == 1
    # Supervisors edit; a blank title is refused naming the field.
    patched = await h.call(
        "PATCH", f"/api/v1/kb/articles/{refund['id']}", supervisor, {"tags": ["退款", "售后"]}
    )
    assert patched["article"]["tags"] == ["退款", "售后"]
    bad = await h.call(
        "PATCH", f"/api/v1/kb/articles/{refund['id']}", supervisor, {"title": " "}, expect=400
    )
    assert bad["error"]["code"] == "invalid_field"
    await h.call("POST", "/api/v1/kb/articles", None, {**JAM, "title": ""}, expect=400)
    await h.call("DELETE", f"/api/v1/kb/articles/{jam['id']}", supervisor)
    await h.call("GET", f"/api/v1/kb/articles/{jam['id']}", agent, expect=404)
    found = await h.call("GET", "/api/v1/kb/search?q=打印机卡纸", agent)
    assert all(r["article"]["id"] != jam["id"] for r in found["results"])


async def test_synonyms_admins_add(gateway: Harness) -> None:
    h = gateway
    _, supervisor = await h.create_user("sup@example.com", role="supervisor")
    refund = await _article(h, REFUND)
    before = await h.call("GET", "/api/v1/kb/search?q=我要退钱")
    assert not before["results"] or not before["results"][0]["match"]["confident"]
    groups = {"groups": [["退款", "退钱", "refund", "money back"]]}
    await h.call("PUT", "/api/v1/kb/synonyms", supervisor, groups, expect=403)
    await h.call("PUT", "/api/v1/kb/synonyms", None, {"groups": [["only one"]]}, expect=400)
    assert (await h.call("PUT", "/api/v1/kb/synonyms", None, groups))["groups"] == groups["groups"]
    for question in ("我要退錢", "I want my money back"):
        after = await h.call("GET", f"/api/v1/kb/search?q={question}")
        assert after["results"][0]["article"]["id"] == refund["id"], question
    assert (await h.call("GET", "/api/v1/kb/synonyms", supervisor)) == groups


async def test_import_reports_every_row_and_writes_nothing_then_imports(gateway: Harness) -> None:
    h = gateway
    bad_csv = (
        "title,body,language,tags\r\n"
        "打印机卡纸怎么办,打开前盖取出纸张,zh,打印机;卡纸\r\n"
        ",没有标题,zh,\r\n"
        "Reset password,Use the link on the login page,english!,account\r\n"
    )
    resp = await h.client.post(
        "/api/v1/kb/import?format=csv", data=bad_csv.encode(), headers=h.auth(h.admin_token)
    )
    assert resp.status == 400
    rows = (await resp.json())["error"]["rows"]
    assert {(r["row"], r["field"]) for r in rows} == {(3, "title"), (4, "language")}
    assert (await h.call("GET", "/api/v1/kb/articles"))["total"] == 0
    missing = await h.client.post(
        "/api/v1/kb/import?format=csv", data="name,text\r\na,b\r\n", headers=h.auth(h.admin_token)
    )
    assert (await missing.json())["error"]["rows"][0]["field"] == "header"

    good = bad_csv.replace(",没有标题,zh,", "退货流程,七天无理由退货,zh,退货").replace(
        "english!", "en"
    )
    resp = await h.client.post(
        "/api/v1/kb/import?format=csv", data=good.encode(), headers=h.auth(h.admin_token)
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["created"] == 3

    # Markdown export, edited, imported again: updates, never duplicates.
    resp = await h.client.get("/api/v1/kb/export?format=markdown", headers=h.auth(h.admin_token))
    markdown = await resp.text()
    assert "attachment" in resp.headers["Content-Disposition"]
    assert "# 打印机卡纸怎么办" in markdown and "tags: 打印机; 卡纸" in markdown
    edited = markdown.replace("七天无理由退货", "七天无理由退货，运费由我们承担")
    resp = await h.client.post(
        "/api/v1/kb/import?format=markdown", data=edited.encode(), headers=h.auth(h.admin_token)
    )
    assert (await resp.json()) | {"ids": []} == {"created": 0, "updated": 3, "ids": []}
    articles = (await h.call("GET", "/api/v1/kb/articles"))["articles"]
    assert len(articles) == 3
    assert any("运费由我们承担" in a["body"] for a in articles)

    # CSV export opens in Excel (BOM) and imports back unchanged.
    resp = await h.client.get("/api/v1/kb/export?format=csv", headers=h.auth(h.admin_token))
    exported = await resp.text()
    assert exported.startswith("\ufeffid,title,language,tags,product,body")
    resp = await h.client.post(
        "/api/v1/kb/import?format=csv&dry_run=1",
        data=exported.encode(),
        headers=h.auth(h.admin_token),
    )
    assert (await resp.json())["updated"] == 3
    # A Markdown file whose heading has no body is reported by its line.
    resp = await h.client.post(
        "/api/v1/kb/import?format=md",
        data="# 有标题\nlanguage: zh\n\n正文\n\n# 没有正文\n".encode(),
        headers=h.auth(h.admin_token),
    )
    assert (await resp.json())["error"]["rows"] == [
        {"row": 6, "field": "body", "message": "Field required"}
    ]


async def test_change_is_live_in_another_process_within_a_second(
    make_gateway: MakeGateway,
) -> None:
    first, second = await make_gateway(), await make_gateway()
    created = await _article(first, JAM)
    started = time.monotonic()
    while True:
        found = await second.call("GET", "/api/v1/kb/search?q=打印机卡纸")
        if found["results"] and found["results"][0]["article"]["id"] == created["id"]:
            break
        assert time.monotonic() - started < 1.0, "not live in the second process"
        await asyncio.sleep(0.02)
    # A change whose event was lost (written without publishing): the version check.
    store = Articles(first.gw.redis, first.gw.keys)
    await store.create(ArticleBody.model_validate(REFUND), "script")
    started = time.monotonic()
    while not (await second.call("GET", "/api/v1/kb/search?q=申请退款"))["results"]:
        assert time.monotonic() - started < 1.0, "the version check did not catch up"
        await asyncio.sleep(0.02)
    await first.call("PATCH", f"/api/v1/kb/articles/{created['id']}", None, {"title": "卡纸处理"})
    started = time.monotonic()
    while True:
        found = await second.call("GET", "/api/v1/kb/search?q=卡纸处理")
        if found["results"][0]["article"]["title"] == "卡纸处理":
            break
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.02)
