"""One rule for the client's address behind proxies (gateway/clientaddr.py), for the login
limits and the web chat's per-IP limits: the right-most X-Forwarded-For hop that is not a
trusted proxy; the header ignored unless the peer is a trusted proxy."""

from __future__ import annotations

import pytest

from gateway.clientaddr import client_address
from gateway.settings import SettingsError, load_settings
from tests.conftest import Harness, MakeGateway
from tests.rawhttp import raw_request
from tests.webchat.visitor import ORIGIN, Visitor, webchat_channel

TRUSTED = ("127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # left-most is the client's word
        ("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3", "203.0.113.5"),  # inner proxies skipped
        ("127.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9"),  # every hop ours: the first
        ("127.0.0.1", "", "127.0.0.1"),
        ("198.51.100.4", "6.6.6.6, 203.0.113.5", "198.51.100.4"),  # untrusted peer: ignored
        ("::ffff:127.0.0.1", "[2001:db8::1]:4431", "2001:db8::1"),  # mapped peer, v6 with port
        ("2001:db8:ffff::2", "203.0.113.5:5555", "203.0.113.5"),  # v4 with port
        ("127.0.0.1", "203.0.113.5, not-an-ip", "not-an-ip"),
        # Bytes that are no UTF-8 (surrogates here): kept, but as text Redis can store.
        ("127.0.0.1", "203.0.113.5, x\udcff", "x?"),
    ],
)
def test_client_address(remote: str, forwarded: str, client: str):
    assert client_address(remote, forwarded, TRUSTED) == client


def test_no_trusted_proxies_ignores_the_header():
    assert client_address("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"


def test_trusted_proxies_setting():
    env = {"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7 ::1"}
    assert load_settings(environ=env).trusted_proxies == ["10.0.0.0/8", "192.0.2.7", "::1"]
    with pytest.raises(SettingsError, match="GATEWAY_TRUSTED_PROXIES"):
        load_settings(environ={"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})


async def _shares_budget(gateway: Harness, channel_id: str) -> None:
    """Two visitors whose X-Forwarded-For differ only in the left-most (client-made) entry share
    one per-IP budget; a visitor with another real address has its own."""
    first, second, elsewhere = (Visitor(gateway, channel_id) for _ in range(3))
    await first.connect(headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.5"})
    await second.connect(headers={"X-Forwarded-For": "2.2.2.2, 203.0.113.5"})
    await elsewhere.connect(headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.1"})
    assert [(await first.say(f"a{i}", "hi"))["type"] for i in range(2)] == ["ack", "ack"]
    assert (await second.say("b1", "hi"))["code"] == "rate_limited"
    assert (await elsewhere.say("c1", "hi"))["type"] == "ack"
    for visitor in (first, second, elsewhere):
        await visitor.close()


async def test_web_chat_trust_forwarded_for_takes_the_proxys_entry(gateway: Harness):
    channel_id = await webchat_channel(
        gateway, trust_forwarded_for=True, messages_per_minute_per_ip=2
    )
    await _shares_budget(gateway, channel_id)


async def test_web_chat_follows_the_gateways_trusted_proxies(make_gateway: MakeGateway):
    gateway = await make_gateway(trusted_proxies=["127.0.0.1"])
    await _shares_budget(gateway, await webchat_channel(gateway, messages_per_minute_per_ip=2))


async def test_a_forwarded_for_of_bytes_that_are_no_utf8_is_no_crash(gateway: Harness):
    """A proxy passing on what a client wrote: the hop, no address, named the per-IP limits'
    Redis keys, which could not be encoded (a 500 on every web chat request)."""
    channel_id = await webchat_channel(gateway, trust_forwarded_for=True)
    visitor = Visitor(gateway, channel_id)
    await visitor.connect()
    assert visitor.token is not None
    headers = [("Origin", ORIGIN), ("Authorization", f"Bearer {visitor.token}"),
               ("X-Forwarded-For", b"203.0.113.5, \xff\xfe")]  # fmt: skip
    path = f"/channels/{channel_id}/webchat/upload?name=a.txt"
    answer = await raw_request(gateway.client, "POST", path, headers, b"hello")
    assert answer.status == 201, answer
    await visitor.close()
