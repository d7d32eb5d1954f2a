"""End to end through a running gateway, per platform: a public mention on the fake platform ->
the channel's poller -> a conversation offered to an agent -> the agent's reply -> the fake
platform receives a public reply to the right post; the customer's answer joins the same
conversation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.adapters.health import health
from tests.adapters.social.conftest import Served
from tests.adapters.social.fakes import _iso, _weibo_time
from tests.conftest import Harness, wait_for


async def _conversation_flow(
    gateway: Harness,
    channel_type: str,
    config: dict[str, Any],
    post_mention: Callable[[], str],
    replies: Callable[[], list[Any]],
) -> tuple[dict[str, Any], str, str]:
    """Runs mention -> offer -> accept -> reply; returns (conversation, agent token, post id)."""
    agent_id, token = await gateway.agent_online("agent@example.com", name="Mei")
    channel = await gateway.create_channel(channel_type, {**config, "poll_interval_seconds": 1})
    channel_id = channel["id"]
    post_id = post_mention()

    async def offered() -> dict[str, Any] | None:
        convs = await gateway.call("GET", f"/api/v1/conversations?channel={channel_id}")
        for conv in convs["conversations"]:
            if conv.get("offered_to") == agent_id or conv.get("assignee") == agent_id:
                return conv
        return None

    conv = await wait_for(offered, timeout=30)
    detail = await gateway.call("GET", f"/api/v1/conversations/{conv['id']}", token)
    assert detail["channel"]["public_replies"] is True
    assert "public" in detail["channel"]["reply_warning"]
    messages = await gateway.call("GET", f"/api/v1/conversations/{conv['id']}/messages", token)
    (inbound,) = messages["messages"]
    assert inbound["external_id"] == post_id
    # The agent sees the public post, its author and a link.
    assert inbound["meta"]["post_id"] == post_id
    assert inbound["meta"]["author_handle"]
    assert inbound["meta"]["url"].startswith("http")

    await gateway.call("POST", f"/api/v1/conversations/{conv['id']}/accept", token)
    reply = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        token,
        {"text": "Sorry about that, we are on it."},
        expect=201,
    )
    seq = reply["message"]["seq"]

    async def sent() -> bool:
        msgs = await gateway.call("GET", f"/api/v1/conversations/{conv['id']}/messages", token)
        return any(m["seq"] == seq and m["delivery"] == "sent" for m in msgs["messages"])

    await wait_for(lambda: _value(len(replies()) == 1), timeout=30)
    await wait_for(sent, timeout=30)
    return conv, token, post_id


async def _follow_up_joins(
    gateway: Harness, conv: dict[str, Any], token: str, post: Callable[[], str]
):
    follow = post()

    async def joined() -> bool:
        msgs = await gateway.call("GET", f"/api/v1/conversations/{conv['id']}/messages", token)
        return any(m.get("external_id") == follow for m in msgs["messages"])

    await wait_for(joined, timeout=30)


async def _value(value: Any) -> Any:
    return value


async def test_x_mention_to_public_reply(gateway: Harness, x_api: Served) -> None:
    fake = x_api.fake
    config = {
        "api_base_url": x_api.url,
        "api_key": fake.consumer_key,
        "api_key_secret": fake.consumer_secret,
        "access_token": fake.token,
        "access_token_secret": fake.token_secret,
    }
    conv, token, post = await _conversation_flow(
        gateway,
        "x",
        config,
        lambda: fake.tweet("wanglei", "@acme the app keeps crashing"),
        lambda: fake.replies,
    )
    assert fake.replies[0]["reply"] == {"in_reply_to_tweet_id": post}
    assert fake.replies[0]["text"] == "Sorry about that, we are on it."
    (ours,) = [p for p in fake.posts.values() if p["author_id"] == fake.user_id]
    await _follow_up_joins(
        gateway, conv, token, lambda: fake.tweet("wanglei", "@acme thanks!", in_reply_to=ours["id"])
    )

    # A reply too long as X counts it is refused before it is queued, with a clear reason.
    refused = await gateway.call(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        token,
        {"text": "非常抱歉给您带来不便" * 15},
        expect=400,
    )
    assert "allows 280" in refused["error"]["message"]
    assert len(fake.replies) == 1


async def test_mastodon_mention_to_public_reply(gateway: Harness, mastodon_api: Served) -> None:
    fake = mastodon_api.fake
    config = {"base_url": mastodon_api.url, "access_token": fake.token}
    conv, token, post = await _conversation_flow(
        gateway,
        "mastodon",
        config,
        lambda: fake.toot("alice", "@acme my parcel is lost"),
        lambda: fake.posted,
    )
    sent = fake.posted[0]
    assert sent["in_reply_to_id"] == post
    assert sent["status"] == "@alice Sorry about that, we are on it."
    # Public replies carry text only: an agent's file is refused with the reason.
    upload = await gateway.client.post(
        f"/api/v1/conversations/{conv['id']}/attachments",
        params={"name": "label.pdf"},
        data=b"%PDF-1.4",
        headers=gateway.auth(token),
    )
    assert upload.status == 400
    error = (await upload.json())["error"]
    assert error["code"] == "attachments_unsupported" and "mastodon" in error["message"]
    assert sent["idempotency_key"].startswith(conv["id"] + ":")
    ours = fake.idempotency[sent["idempotency_key"]]
    await _follow_up_joins(
        gateway, conv, token, lambda: fake.toot("alice", "@acme found it", in_reply_to=ours)
    )


async def test_weibo_mention_to_public_comment(gateway: Harness, weibo_api: Served) -> None:
    fake = weibo_api.fake
    config = {"api_base_url": weibo_api.url, "access_token": fake.token}
    conv, token, post = await _conversation_flow(
        gateway,
        "weibo",
        config,
        lambda: fake.post("zaku", "@AcmeCN 冰箱不制冷了"),
        lambda: fake.created,
    )
    assert fake.created[0] == {"id": post, "comment": "Sorry about that, we are on it."}
    # A comment on the same post that mentions us continues the conversation.
    await _follow_up_joins(
        gateway, conv, token, lambda: fake.comment("zaku", post, "@AcmeCN 谢谢，什么时候来？")
    )


def _old_mention(platform: str, fake: Any, age: float) -> None:
    """A mention posted ``age`` seconds ago (before the channel existed)."""
    then = time.time() - age
    if platform == "x":
        post = fake.tweet("wanglei", "@acme still waiting for my refund")
        fake.posts[post]["created_at"] = _iso(then)
    elif platform == "mastodon":
        status = fake.toot("alice", "@acme still waiting for my refund")
        fake.statuses[status]["created_at"] = _iso(then)
    else:
        post = fake.post("zaku", "@AcmeCN 退款还没到")
        fake.statuses[post]["created_at"] = _weibo_time(then)


def _social_config(platform: str, served: Served) -> dict[str, Any]:
    fake = served.fake
    if platform == "x":
        return {
            "api_base_url": served.url,
            "api_key": fake.consumer_key,
            "api_key_secret": fake.consumer_secret,
            "access_token": fake.token,
            "access_token_secret": fake.token_secret,
        }
    if platform == "mastodon":
        return {"base_url": served.url, "access_token": fake.token}
    return {"api_base_url": served.url, "access_token": fake.token}


@pytest.mark.parametrize("platform", ["x", "mastodon", "weibo"])
async def test_poller_health_in_metrics(
    gateway: Harness, platform: str, x_api: Served, mastodon_api: Served, weibo_api: Served
) -> None:
    """After a poll /metrics shows the channel's poll_ok and poll_lag: the age of the newest
    mention it delivered by the platform's timestamp, then 0 once a poll finds nothing new."""
    served = {"x": x_api, "mastodon": mastodon_api, "weibo": weibo_api}[platform]
    _old_mention(platform, served.fake, 600)
    started = time.time()
    # Polls 10 s apart: time enough to read the first poll's figures before the second.
    config = {**_social_config(platform, served), "poll_interval_seconds": 10}
    channel_id = (await gateway.create_channel(platform, config))["id"]

    async def lag_is(test: Any) -> dict[str, float] | None:
        figures = await health(gateway, channel_id)
        return figures if "poll_lag" in figures and test(figures["poll_lag"]) else None

    first = await wait_for(lambda: lag_is(lambda lag: lag >= 600), timeout=60)
    assert first["poll_lag"] < 3600
    assert started - 5 <= first["poll_ok"] <= time.time() + 5
    assert "token_errors" not in first
    again = await wait_for(lambda: lag_is(lambda lag: lag == 0), timeout=90)
    assert again["poll_ok"] > first["poll_ok"]
