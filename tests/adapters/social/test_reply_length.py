"""The API refuses a reply longer than the platform counts, before it is queued."""

from __future__ import annotations

import pytest

from adapters.base import PermanentSendError
from gateway.models import OutboundMessage
from tests.adapters.social.conftest import Served
from tests.conftest import Harness, wait_for


async def test_x_reply_too_long_as_x_counts_is_refused_up_front(
    gateway: Harness, x_api: Served
) -> None:
    fake = x_api.fake
    agent_id, token = await gateway.agent_online("agent@example.com")
    channel = await gateway.create_channel(
        "x",
        {
            "api_base_url": x_api.url,
            "api_key": fake.consumer_key,
            "api_key_secret": fake.consumer_secret,
            "access_token": fake.token,
            "access_token_secret": fake.token_secret,
            "poll_interval_seconds": 1,
        },
    )
    fake.tweet("wanglei", "@acme 坏了")

    async def offered():
        convs = await gateway.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return next((c for c in convs["conversations"] if c["offered_to"] == agent_id), None)

    conv = await wait_for(offered, timeout=30)
    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    # 150 CJK characters: 150 by len(), 300 as X counts them (limit 280).
    body = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        token,
        {"text": "好" * 150},
        expect=400,
    )
    # One message, the documented one, also what the adapter's send would fail with.
    expected = (
        "This reply is 300 characters as X counts them (Chinese, Japanese and Korean characters "
        "and emoji count 2, every link 23); X allows 280. Shorten it by 20."
    )
    assert body["error"] == {"code": "invalid_field", "message": expected, "field": "text"}
    adapter = gateway.gw.channels.adapter(channel["id"])
    assert adapter is not None
    with pytest.raises(PermanentSendError) as info:
        await adapter.send(
            OutboundMessage(
                message_id=f"{conv['id']}:99", conversation_id=conv["id"],
                channel_id=channel["id"], contact_external_id="1", thread_key="1",
                text="好" * 150,
            )
        )  # fmt: skip
    assert info.value.reason == expected
    await gateway.call(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        token,
        {"text": "好" * 140},
        expect=201,
    )


async def test_mastodon_counts_the_handle_it_adds_before_queueing(
    gateway: Harness, mastodon_api: Served
) -> None:
    """Mastodon replies start with the author's @handle: the API's check counts it too, so a
    reply it accepts is not refused at send."""
    url, token = await _answering_alice(gateway, mastodon_api, "@acme broken again")
    # 95 characters + "@alice " = 102 as published.
    body = await gateway.call("POST", url, token, {"text": "x" * 95}, expect=400)
    assert body["error"]["message"] == (
        "This reply is 102 characters as Mastodon counts them (the author's @handle included, "
        "every link 23); this server allows 100. Shorten it by 2."
    )
    await gateway.call("POST", url, token, {"text": "x" * 93}, expect=201)

    async def published():
        return mastodon_api.fake.posted

    posted = await wait_for(published, timeout=30)
    assert posted[-1]["status"] == "@alice " + "x" * 93


async def test_x_counts_cjk_after_a_link_before_queueing(gateway: Harness, x_api: Served) -> None:
    """A link ends where X ends it: text written straight after it (no space, as in Chinese)
    counts at its own weight, not inside the link's 23."""
    fake = x_api.fake
    agent_id, token = await gateway.agent_online("agent@example.com")
    channel = await gateway.create_channel(
        "x",
        {"api_base_url": x_api.url, "api_key": fake.consumer_key,
         "api_key_secret": fake.consumer_secret, "access_token": fake.token,
         "access_token_secret": fake.token_secret, "poll_interval_seconds": 1},
    )  # fmt: skip
    fake.tweet("wanglei", "@acme 怎么退货")

    async def offered():
        convs = await gateway.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return next((c for c in convs["conversations"] if c["offered_to"] == agent_id), None)

    conv = await wait_for(offered, timeout=30)
    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    url = f"/api/v1/conversations/{conv['id']}/messages"
    # "请访问 " 7 + the link 23 + "，" 2 + 130 CJK characters 260 = 292.
    link = "请访问 https://example.com/help，"
    body = await gateway.call("POST", url, token, {"text": link + "谢" * 130}, expect=400)
    assert body["error"]["message"] == (
        "This reply is 292 characters as X counts them (Chinese, Japanese and Korean characters "
        "and emoji count 2, every link 23); X allows 280. Shorten it by 12."
    )
    await gateway.call("POST", url, token, {"text": link + "谢" * 124}, expect=201)


async def test_mastodon_counts_a_link_without_scheme_in_full(
    gateway: Harness, mastodon_api: Served
) -> None:
    """Mastodon gives the 23-character concession only to links starting with http(s)://."""
    url, token = await _answering_alice(gateway, mastodon_api, "@acme how do I return this?")
    path = "/returns/" + "a" * 60
    # "@alice " 7 + "Returns: " 9 + "www.example.com" 15 + the path 69 + "xx" 2 = 102.
    body = await gateway.call(
        "POST", url, token, {"text": "Returns: www.example.com" + path + "xx"}, expect=400
    )
    assert body["error"]["message"] == (
        "This reply is 102 characters as Mastodon counts them (the author's @handle included, "
        "every link 23); this server allows 100. Shorten it by 2."
    )
    # The same link with its scheme counts 23.
    await gateway.call(
        "POST", url, token, {"text": "Returns: https://www.example.com" + path + "xx"}, expect=201
    )


async def _answering_alice(gateway: Harness, mastodon_api: Served, toot: str) -> tuple[str, str]:
    """A Mastodon channel (100 characters) where alice's ``toot`` is accepted by an agent: the
    URL to post the agent's reply to, and the agent's token."""
    agent_id, token = await gateway.agent_online("agent@example.com")
    channel = await gateway.create_channel(
        "mastodon",
        {"base_url": mastodon_api.url, "access_token": mastodon_api.fake.token,
         "max_characters": 100, "poll_interval_seconds": 1},
    )  # fmt: skip
    mastodon_api.fake.toot("alice", toot)

    async def offered():
        convs = await gateway.call("GET", f"/api/v1/conversations?channel={channel['id']}")
        return next((c for c in convs["conversations"] if c["offered_to"] == agent_id), None)

    conv = await wait_for(offered, timeout=30)
    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    return f"/api/v1/conversations/{conv['id']}/messages", token
