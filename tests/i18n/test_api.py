"""The catalogue endpoint, the console page's language and the agent's language setting."""

from __future__ import annotations

from tests.conftest import Harness


async def test_catalogue_json_is_cacheable_and_complete(gateway: Harness) -> None:
    resp = await gateway.client.get("/console/i18n/zh-CN.json")
    assert resp.status == 200
    assert "max-age" in resp.headers["Cache-Control"]
    table = await resp.json()
    assert table["console.login.submit"] == "登录"
    again = await gateway.client.get(
        "/console/i18n/zh-CN.json", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304
    tw = await (await gateway.client.get("/console/i18n/zh-TW.json")).json()
    assert tw["customer.email.quote_undated"] == "{who} 寫道："
    assert tw["console.login.submit"] == "登录"  # agent texts: zh-CN
    missing = await gateway.client.get("/console/i18n/fr.json")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "unknown_language"


async def test_console_page_opens_in_the_browsers_language(gateway: Harness) -> None:
    for header, lang in (
        ("en-US,en;q=0.9", "en"),
        ("zh-TW", "zh-TW"),
        ("zh-CN", "zh-CN"),
        ("", "zh-CN"),
    ):
        resp = await gateway.client.get("/console", headers={"Accept-Language": header})
        assert f'<html lang="{lang}">' in await resp.text()
        assert resp.headers["Vary"] == "Accept-Language"


async def test_agent_language_setting(gateway: Harness) -> None:
    h = gateway
    _, token = await h.create_user("li@example.com", name="李伟")
    client = h.client
    auth = h.auth(token)
    got = await (
        await client.get("/api/v1/me/language", headers={**auth, "Accept-Language": "en"})
    ).json()
    assert got == {"language": None, "effective": "en", "time_zone": h.settings.zone_name}
    resp = await client.put("/api/v1/me/language", json={"language": "zh-TW"}, headers=auth)
    assert resp.status == 200
    got = await (
        await client.get("/api/v1/me/language", headers={**auth, "Accept-Language": "en"})
    ).json()
    assert got["language"] == got["effective"] == "zh-TW"
    bad = await client.put("/api/v1/me/language", json={"language": "fr"}, headers=auth)
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "language"
    resp = await client.put("/api/v1/me/language", json={"language": None}, headers=auth)
    assert (await resp.json())["language"] is None
    assert (await client.get("/api/v1/me/language")).status == 401
