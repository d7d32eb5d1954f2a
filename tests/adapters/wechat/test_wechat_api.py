"""The API client and token cache against the fake WeChat server, with a real Redis."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from fake_wechat import FakeWeChat
from redis.asyncio import Redis
from wechat_payloads import APP_ID, APP_SECRET, CORP_ID, KF_SECRET

from adapters.wechat.api import (
    AccessTokens,
    ApiError,
    WeChatApi,
    corp_token_fetcher,
    stable_token_fetcher,
)
from gateway.keys import Keys


def oa_api(
    redis: Redis,
    keys: Keys,
    http: aiohttp.ClientSession,
    fake: FakeWeChat,
    secret: str = APP_SECRET,
) -> WeChatApi:
    tokens = AccessTokens(
        redis,
        keys.channel_state("ch1", "access_token"),
        keys.lease("ch1:access_token"),
        stable_token_fetcher(http, fake.url, APP_ID, secret),
    )
    return WeChatApi(http, fake.url, tokens)


def corp_api(redis: Redis, keys: Keys, http: aiohttp.ClientSession, fake: FakeWeChat) -> WeChatApi:
    tokens = AccessTokens(
        redis,
        keys.channel_state("ch2", "access_token"),
        keys.lease("ch2:access_token"),
        corp_token_fetcher(http, fake.url, CORP_ID, KF_SECRET),
    )
    return WeChatApi(http, fake.url, tokens)


def text(openid: str, content: str) -> dict[str, object]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


async def test_token_is_fetched_once_and_cached_in_redis(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    fake.customer_wrote("o1")
    for i in range(3):
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", f"hi {i}"))
    assert fake.token_requests == {"stable_token": 1}
    cached = await redis.get(keys.channel_state("ch1", "access_token"))
    assert cached == fake.stable_token
    assert 6000 < await redis.ttl(keys.channel_state("ch1", "access_token")) <= 6900
    # A second client (another process) uses the same cached token.
    await oa_api(redis, keys, http, fake).call(
        "POST", "/cgi-bin/message/custom/send", json_body=text("o1", "again")
    )
    assert fake.token_requests == {"stable_token": 1}
    assert [m["text"]["content"] for m in fake.custom_sends] == ["hi 0", "hi 1", "hi 2", "again"]


async def test_expired_token_refreshes_once_and_retries(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    fake.customer_wrote("o1")
    await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "first"))
    old = fake.stable_token
    fake.expire_tokens()
    await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "second"))
    sends = fake.requests_to("/cgi-bin/message/custom/send")
    assert [r.query["access_token"] == old for r in sends] == [True, True, False]
    assert [m["text"]["content"] for m in fake.custom_sends] == ["first", "second"]
    assert fake.token_requests == {"stable_token": 2}


async def test_invalid_token_forces_a_stable_refresh(redis, keys, http, fake) -> None:
    """40001 while the stable endpoint still returns the same token: force_refresh once."""
    api = oa_api(redis, keys, http, fake)
    fake.customer_wrote("o1")
    await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "one"))
    fake.inject("/cgi-bin/message/custom/send", 40001, "invalid credential")
    await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "two"))
    assert fake.token_requests == {"stable_token": 2, "stable_token_force": 1}
    assert [m["text"]["content"] for m in fake.custom_sends] == ["one", "two"]


async def test_token_error_twice_gives_up(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    fake.customer_wrote("o1")
    fake.inject("/cgi-bin/message/custom/send", 42001, "access_token expired", times=2)
    with pytest.raises(ApiError) as info:
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "x"))
    assert info.value.errcode == 42001
    assert len(fake.requests_to("/cgi-bin/message/custom/send")) == 2


async def test_no_refresh_storm(redis, keys, http, fake) -> None:
    """Thirty concurrent sends from two 'processes' after expiry: one token request."""
    apis = [oa_api(redis, keys, http, fake), oa_api(redis, keys, http, fake)]
    fake.enforce_window = False
    await apis[0].call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "warm"))
    fake.expire_tokens()
    await asyncio.gather(
        *(
            apis[i % 2].call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", str(i)))
            for i in range(30)
        )
    )
    assert fake.token_requests == {"stable_token": 2}
    assert len(fake.custom_sends) == 31


@pytest.mark.parametrize(("errcode", "path"), [(45015, "custom"), (45047, "custom")])
async def test_business_errors_surface_with_their_code(redis, keys, http, fake, errcode, path):
    api = oa_api(redis, keys, http, fake)
    fake.customer_wrote("o1")
    fake.inject("/cgi-bin/message/custom/send", errcode, "refused")
    with pytest.raises(ApiError) as info:
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "x"))
    assert info.value.errcode == errcode
    assert fake.custom_sends == []


async def test_fake_window_and_quota_follow_the_documented_rules(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    with pytest.raises(ApiError) as info:  # the customer never wrote
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o9", "x"))
    assert info.value.errcode == 45015
    fake.customer_wrote("o9")
    for i in range(5):
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o9", str(i)))
    with pytest.raises(ApiError) as info:
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o9", "6th"))
    assert info.value.errcode == 45047


async def test_wrong_secret(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake, secret="wrong")
    with pytest.raises(ApiError) as info:
        await api.call("POST", "/cgi-bin/message/custom/send", json_body=text("o1", "x"))
    assert info.value.errcode == 40125


async def test_unreachable_api_is_a_network_error(redis, keys, http) -> None:
    tokens = AccessTokens(
        redis,
        keys.channel_state("c", "t"),
        keys.lease("c:t"),
        stable_token_fetcher(http, "http://127.0.0.1:9", APP_ID, APP_SECRET),
    )
    with pytest.raises(ApiError) as info:
        await WeChatApi(http, "http://127.0.0.1:9", tokens).call("POST", "/x", json_body={})
    assert info.value.errcode == -3


async def test_media_download(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    fake.add_media("m1", b"\x89PNG-bytes", "image/png", "photo.png")
    fake.add_video("v1", b"mp4-bytes")
    assert await api.download_media("m1") == (b"\x89PNG-bytes", "image/png", "photo.png")
    data, ctype, name = await api.download_media("v1")  # JSON {"video_url"} then the file
    assert (data, ctype, name) == (b"mp4-bytes", "video/mp4", "v1")
    with pytest.raises(ApiError) as info:
        await api.download_media("nope")
    assert info.value.errcode == 40007


async def test_media_download_refreshes_an_expired_token(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    fake.add_media("m1", b"img", "image/jpeg", "a.jpg")
    await api.download_media("m1")
    fake.expire_tokens()
    assert (await api.download_media("m1"))[0] == b"img"
    assert fake.token_requests == {"stable_token": 2}


async def test_upload_image_retries_with_a_fresh_form(redis, keys, http, fake) -> None:
    api = oa_api(redis, keys, http, fake)
    await api.tokens.get()
    fake.expire_tokens()
    media_id = await api.upload_image(b"jpeg-bytes", "x.jpg", "image/jpeg")
    assert fake.uploads[media_id] == (b"jpeg-bytes", "image/jpeg", "x.jpg")


async def test_corp_token_and_kf_pages(redis, keys, http, fake) -> None:
    api = corp_api(redis, keys, http, fake)
    fake.page_size = 2
    for i in range(5):
        fake.add_kf_message(
            {
                "msgid": f"m{i}",
                "open_kfid": "wk1",
                "external_userid": "u1",
                "origin": 3,
                "msgtype": "text",
                "text": {"content": str(i)},
            }
        )
    token = fake.new_callback_token()
    cursor, seen, pages = "", [], 0
    while True:
        page = await api.call(
            "POST",
            "/cgi-bin/kf/sync_msg",
            json_body={"cursor": cursor, "token": token, "open_kfid": "wk1"},
        )
        seen += [m["msgid"] for m in page["msg_list"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not page["has_more"]:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4"] and pages == 3
    assert fake.token_requests == {"gettoken": 1}
    with pytest.raises(ApiError) as info:
        await api.call("POST", "/cgi-bin/kf/sync_msg", json_body={"token": "forged"})
    assert info.value.errcode == 95007
    fake.expire_tokens()
    await api.call("POST", "/cgi-bin/kf/sync_msg", json_body={"cursor": cursor, "open_kfid": "wk1"})
    assert fake.token_requests == {"gettoken": 2}
