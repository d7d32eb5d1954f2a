"""Verified claims per channel (never a name, never what a visitor typed), and claims recorded
after ingest land on the contact a merge made meanwhile."""

from __future__ import annotations

from adapters.base import IngestResult
from gateway.contacts import Contacts, claims_of
from gateway.contacts.claims import phone_claim
from tests.contacts.conftest import inbound
from tests.router.conftest import Router

VERIFIED_AUTH = {"sender_auth": {"status": "verified", "method": "dmarc"}}


def test_what_each_channel_proves():
    email = inbound("Li@Example.com", channel="email", n=1, meta=VERIFIED_AUTH, name="Li")
    assert claims_of(email) == ["email:li@example.com"]
    unverified = {"sender_auth": {"status": "unverified", "reason": "dkim=fail"}}
    assert claims_of(inbound("li@example.com", channel="email", n=2, meta=unverified)) == []
    assert claims_of(inbound("li@example.com", channel="email", n=3)) == []  # not checked
    forged = inbound("unverified:li@example.com", channel="email", n=4, meta=VERIFIED_AUTH)
    assert claims_of(forged) == []
    # A web chat pre-chat form: whatever the visitor typed.
    form = inbound("visitor-1", channel="webchat", n=5, email="li@example.com", name="Li")
    assert claims_of(form) == []
    api = inbound("crm-7", channel="api", n=6, email="li@example.com", phone="+86 138-0013-8000",
                  meta={"metadata": {"verified": ["email", "phone"]}})  # fmt: skip
    assert claims_of(api) == ["email:li@example.com", "phone:13800138000"]
    said = inbound("crm-8", channel="api", n=7, email="li@example.com", meta={"metadata": {}})
    assert claims_of(said) == []
    wechat = inbound("openid-1", channel="wechat_oa", n=8, meta={"unionid": "u-42"}, name="李")
    assert claims_of(wechat) == ["unionid:u-42"]
    assert claims_of(inbound("openid-2", channel="wechat_oa", n=9, name="李")) == []
    # A name alone, on every channel, never.
    for n, channel in enumerate(("x", "mastodon", "weibo", "qq", "webchat", "api", "email")):
        assert claims_of(inbound("h", channel=channel, n=10 + n, name="李伟")) == []


def test_a_phone_is_the_same_claim_however_it_is_written():
    # A mainland mobile number with or without China's country code.
    for written in ("13800138000", "138-0013-8000", "+86 138 0013 8000", "0086 13800138000",
                    "8613800138000", "+86-13800138000"):  # fmt: skip
        assert phone_claim(written) == "phone:13800138000", written
    # Anything else keeps its digits and its +: a Beijing landline, another country's mobile.
    assert phone_claim("+86 10 6552 9988") == "phone:+861065529988"
    assert phone_claim("+1 415 555 0100") == "phone:+14155550100"
    assert phone_claim("+44 7911 123456") == "phone:+447911123456"
    assert phone_claim("1234") is None


async def test_claims_follow_a_merge_made_meanwhile(router: Router, contacts: Contacts):
    first = await router.inbox.ingest(
        inbound("a@example.com", channel="email", n=100, meta=VERIFIED_AUTH)
    )
    second = await router.inbox.ingest(inbound("crm-1", channel="api", n=101))
    await contacts.merge(first.contact_id, second.contact_id, "u1", "Ann")
    # The observation of a message filed before the merge arrives after it.
    late = inbound("a@example.com", channel="email", n=102, meta=VERIFIED_AUTH)
    await contacts.observe(IngestResult(first.conversation_id, 2, False, False, first.contact_id),
                           late)  # fmt: skip
    k = router.keys
    assert await router.redis.smembers(k.claim_contacts("email:a@example.com")) == {
        second.contact_id
    }
    assert await router.redis.smembers(k.contact_claims(second.contact_id)) == {
        "email:a@example.com"
    }
    # A third contact with the same verified address: a suggestion with the merged contact.
    third = await router.inbox.ingest(
        inbound("a@example.com", channel="email", n=103, meta=VERIFIED_AUTH, thread="x")
    )
    assert third.contact_id == second.contact_id  # the same identity: already that contact
    other = inbound("crm-2", channel="api", n=104, email="A@example.com",
                    meta={"metadata": {"verified": ["email"]}})  # fmt: skip
    fourth = await router.inbox.ingest(other)
    await contacts.observe(fourth, other)
    (suggestion,) = await contacts.suggestions()
    assert {c["id"] for c in suggestion["contacts"]} == {second.contact_id, fourth.contact_id}


async def test_one_customer_with_an_identity_of_every_kind(router: Router, contacts: Contacts):
    """One person writing on every channel type is first one contact per identity; the
    verified email, phone and unionid suggest the merges (names never), and after them one
    contact holds every identity, every conversation and every claim."""
    verified = {"metadata": {"verified": ["email", "phone"]}}
    writes = [
        inbound("openid-oa", channel="wechat_oa", n=200, meta={"unionid": "u-7"}, name="李伟"),
        inbound("openid-kf", channel="wecom_kf", n=201, meta={"unionid": "u-7"}, name="李伟"),
        inbound("li@example.com", channel="email", n=202, meta=VERIFIED_AUTH, name="李伟"),
        inbound(
            "crm-li",
            channel="api",
            n=203,
            email="li@example.com",
            phone="13800138000",
            meta=verified,
            name="李伟",
        ),
        inbound(
            "crm-li-2",
            channel="api",
            n=204,
            phone="+86 138-0013-8000",
            meta={"metadata": {"verified": ["phone"]}},
        ),
        inbound("visitor-9", channel="webchat", n=205, email="li@example.com", name="李伟"),
        inbound("@liwei", channel="x", n=206, name="李伟"),
        inbound("@liwei@mastodon.social", channel="mastodon", n=207, name="李伟"),
        inbound("liwei_weibo", channel="weibo", n=208, name="李伟"),
        inbound("qq-openid-li", channel="qq", n=209, name="李伟"),
    ]
    owners = {}
    for msg in writes:
        result = await router.inbox.ingest(msg)
        await contacts.observe(result, msg)
        owners[msg.contact.external_id] = (result.contact_id, result.conversation_id)
    assert len({contact for contact, _ in owners.values()}) == len(writes)
    claimed = {s["claim"]: {c["id"] for c in s["contacts"]} for s in await contacts.suggestions()}
    of = lambda *who: {owners[w][0] for w in who}  # noqa: E731
    assert claimed == {
        "unionid:u-7": of("openid-oa", "openid-kf"),
        "email:li@example.com": of("li@example.com", "crm-li"),
        "phone:13800138000": of("crm-li", "crm-li-2"),
    }
    # An agent follows the suggestions, then adds the unverified ones by hand.
    target = owners["crm-li"][0]
    for who in ("openid-oa", "openid-kf", "li@example.com", "crm-li-2", "visitor-9", "@liwei",
                "@liwei@mastodon.social", "liwei_weibo", "qq-openid-li"):  # fmt: skip
        await contacts.merge(owners[who][0], target, "u1", "Ann")
    assert await contacts.suggestions() == []
    profile = await contacts.get(target, _admin())
    held = {(i["channel_id"], i["external_id"]) for i in profile["contact"]["identities"]}
    assert held == {(m.channel_id, m.contact.external_id) for m in writes}
    assert {c["id"] for c in profile["conversations"]} == {c for _, c in owners.values()}
    assert {c["channel_type"] for c in profile["conversations"]} == {
        m.channel_type.value for m in writes
    }
    assert profile["contact"]["phone"] == "13800138000"
    assert profile["contact"]["email"] == "li@example.com"
    assert await router.redis.smembers(router.keys.contact_claims(target)) == {
        "unionid:u-7", "email:li@example.com", "phone:13800138000",
    }  # fmt: skip


def _admin():
    from gateway.conversations import Viewer
    from gateway.models import Role

    return Viewer("admin", Role.ADMIN)
