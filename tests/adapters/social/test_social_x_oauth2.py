"""X with OAuth 2.0 user context: the gateway renews the two-hour access token with the rotating
refresh token, against a fake X whose token endpoint follows the documented contract (each
refresh token works once; confidential clients authenticate with HTTP Basic)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from adapters.base import PermanentSendError, VerifyError
from adapters.oauth2 import Client, TokenError, parse_token_answer
from adapters.social.poller import PermanentApiError
from adapters.social.x import XAdapter, XConfig
from tests.adapters.social.conftest import Served, WireAdapter
from tests.adapters.social.test_social_x import outbound

OWN_ID = "2244994945"


def oauth2_config(api: Served, refresh_token: str, **extra) -> dict:
    return {
        "api_base_url": api.url,
        "user_id": OWN_ID,
        "client_id": api.fake.client_id,
        "refresh_token": refresh_token,
        "backfill": 5,
        **extra,
    }


# --- pure ------------------------------------------------------------------------------------


def test_token_answers() -> None:
    client = Client("https://api.x.com/2/oauth2/token", "c1")
    ok = b'{"token_type":"bearer","expires_in":7200,"access_token":"a2","refresh_token":"r2"}'
    token = parse_token_answer(200, ok, "r1", 1000.0, client)
    assert (token.access_token, token.refresh_token, token.expires_at) == ("a2", "r2", 8200.0)
    # No new refresh token in the answer: the old one stays the one to use.
    same = parse_token_answer(200, b'{"access_token":"a3","expires_in":60}', "r1", 0.0, client)
    assert (same.refresh_token, same.expires_at) == ("r1", 60.0)

    refused = (
        b'{"error":"invalid_request","error_description":"Value passed for the token was invalid."}'
    )
    with pytest.raises(TokenError, match="authorize the app again") as err:
        parse_token_answer(400, refused, "r1", 0.0, client)
    assert "Value passed for the token was invalid" in err.value.reason
    assert not err.value.transient
    with pytest.raises(TokenError, match="check the client id, client secret"):
        parse_token_answer(401, b'{"error":"invalid_client"}', "r1", 0.0, client)
    for status, body in [(503, b"{}"), (429, b"{}"), (200, b"<html>"), (200, b'{"x":1}')]:
        with pytest.raises(TokenError) as err:
            parse_token_answer(status, body, "r1", 0.0, client)
        assert err.value.transient


def test_config_needs_a_client_id_with_a_refresh_token() -> None:
    with pytest.raises(ValidationError, match="needs the client_id"):
        XConfig(refresh_token="r1")
    assert XConfig(client_id="c", refresh_token="r1").refresh_token == "r1"
    secret = {"client_secret", "refresh_token"}
    assert secret <= XAdapter.secret_fields


# --- against the fake X ----------------------------------------------------------------------


async def test_tokens_renew_rotate_and_survive_a_restart(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    seed = fake.authorize()
    post = fake.tweet("wanglei", "@acme where is my parcel?")
    one = await wire(XAdapter, oauth2_config(x_api, seed), channel_id="ch-x2")
    await one.adapter.poll_mentions()
    assert one.new_ids() == [post]
    assert fake.token_requests == 1 and fake.unauthorized == 0
    assert seed not in fake.refresh_tokens  # rotated: the configured token is spent

    # What Redis holds is sealed: neither token appears in clear.
    stored = await one.ctx.redis.hgetall(one.ctx.state_key("oauth2"))
    [current_refresh] = fake.refresh_tokens
    flat = " ".join(str(v) for v in stored.values())
    assert current_refresh not in flat and seed not in flat
    pair = await one.adapter.tokens.load()
    assert pair is not None and pair.refresh_token == current_refresh

    # The access token is reused while it is fresh.
    await one.adapter.poll_mentions()
    assert fake.token_requests == 1

    # A restart (a new adapter with the same, now spent, configured token) carries on with the
    # stored pair; five minutes before expiry it refreshes without waiting for a 401.
    await one.ctx.redis.hset(one.ctx.state_key("oauth2"), "expires_at", str(time.time() + 60))
    two = await wire(XAdapter, oauth2_config(x_api, seed), channel_id="ch-x2")
    later = fake.tweet("wanglei", "@acme hello?")
    await two.adapter.poll_mentions()
    assert two.new_ids() == [later]
    assert fake.token_requests == 2 and fake.unauthorized == 0


async def test_a_refused_access_token_is_renewed_once_and_the_call_retried(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    wired = await wire(XAdapter, oauth2_config(x_api, fake.authorize()))
    await wired.adapter.verify()
    assert fake.token_requests == 1
    fake.access_tokens.clear()  # X revoked it (or it expired early)

    reply_context = {"post_id": fake.tweet("wanglei", "@acme refund?"), "author_id": "1001"}
    post_id = await wired.adapter.send(outbound(wired, reply_context, "We are on it."))
    assert fake.posts[post_id]["text"] == "We are on it."
    assert (fake.unauthorized, fake.token_requests) == (1, 2)


async def test_two_processes_refresh_once(wire: WireAdapter, x_api: Served) -> None:
    """Rotation makes a second refresh with the same token fail: the lease lets one process
    refresh while the other waits for its result."""
    fake = x_api.fake
    seed = fake.authorize()
    one = await wire(XAdapter, oauth2_config(x_api, seed), channel_id="ch-x3")
    two = await wire(XAdapter, oauth2_config(x_api, seed), channel_id="ch-x3")
    tokens = await asyncio.gather(*(w.adapter.tokens.get() for w in (one, two, one, two)))
    assert len(set(tokens)) == 1
    assert fake.token_requests == 1


async def test_a_new_refresh_token_from_the_admin_replaces_the_stored_one(
    wire: WireAdapter, x_api: Served
) -> None:
    fake = x_api.fake
    old = await wire(XAdapter, oauth2_config(x_api, fake.authorize()), channel_id="ch-x4")
    await old.adapter.verify()
    fake.refresh_tokens.clear()  # the user revoked the app: every refresh token is dead
    fake.access_tokens.clear()

    with pytest.raises(VerifyError, match="authorize the app again"):
        await old.adapter.verify()
    assert ("token_error", 1) in old.health

    # The admin authorizes again and pastes the new token into the channel.
    new = await wire(XAdapter, oauth2_config(x_api, fake.authorize()), channel_id="ch-x4")
    await new.adapter.verify()
    post = fake.tweet("wanglei", "@acme back again")
    await new.adapter.poll_mentions()
    assert new.new_ids() == [post]


async def test_confidential_client_and_refusals(wire: WireAdapter, x_api: Served) -> None:
    fake = x_api.fake
    fake.client_secret = "s3cret"
    seed = fake.authorize()
    wrong = await wire(XAdapter, oauth2_config(x_api, seed, client_secret="nope"))
    with pytest.raises(PermanentApiError, match="check the client id, client secret"):
        await wrong.adapter.poll_mentions()
    assert seed in fake.refresh_tokens  # a refused client spends nothing

    right = await wire(XAdapter, oauth2_config(x_api, seed, client_secret="s3cret"))
    await right.adapter.verify()

    # A send whose token cannot be renewed fails with the reason, for the agent to see.
    fake.refresh_tokens.clear()
    fake.access_tokens.clear()
    with pytest.raises(PermanentSendError, match="authorize the app again"):
        await right.adapter.send(outbound(right, {"post_id": "1"}, "Hello", "conv9:2"))
