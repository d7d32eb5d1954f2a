"""Satisfaction surveys: on resolve a signed link goes out on the channel; the page records one
answer; a second use, an expired link and a forged link are refused."""

from __future__ import annotations

from gateway.models import now_ms
from gateway.surveys import LinkSigner, SurveyLink
from tests.conftest import CallbackServer, Harness, wait_for
from tests.reports.flow import (
    LINK,
    answered,
    customer_writes,
    offered_to,
    resolve,
    system_texts,
)


async def _resolved_with_survey(h: Harness, callback: CallbackServer) -> tuple[str, str]:
    channel_id, secret = await h.api_channel(callback.url)
    agent = await h.agent_online("ann@example.com", name="Ann")
    conversation_id = await customer_writes(h, channel_id, secret, "c1", "m1", "My order is late")
    await answered(h, agent, conversation_id, "It ships today.")
    await resolve(h, agent[1], conversation_id)

    async def link() -> str | None:
        for text in await system_texts(h, conversation_id):
            if match := LINK.search(text):
                return match.group(1)
        return None

    token = await wait_for(link)
    return conversation_id, token


async def test_survey_link_answered_once(gateway: Harness, callback_server: CallbackServer):
    conversation_id, token = await _resolved_with_survey(gateway, callback_server)
    # The survey went out on the channel itself (the API channel's callback).
    await wait_for(lambda: _sent_with(callback_server, "/survey/"))
    page = await gateway.client.get(f"/survey/{token}")
    assert page.status == 200
    assert 'name="score"' in await page.text()

    first = await gateway.client.post(f"/survey/{token}", data={"score": "4", "comment": "quick"})
    assert first.status == 200, await first.text()
    conv = await gateway.gw.conversations.get(conversation_id)
    assert conv["csat_score"] == "4" and conv["csat_comment"] == "quick"
    assert conv.get("survey_sent_at")

    second = await gateway.client.post(f"/survey/{token}", data={"score": "1"})
    assert second.status == 409
    assert (await gateway.client.get(f"/survey/{token}")).status == 409
    conv = await gateway.gw.conversations.get(conversation_id)
    assert conv["csat_score"] == "4"  # the second answer changed nothing

    # The rating shows in the report.
    report = await gateway.call("GET", "/api/v1/reports/summary?by=channel")
    row = next(r for r in report["rows"] if r["key"] == "api")
    assert (row["csat_average"], row["csat_response_rate"], row["csat_score"]) == (4.0, 1.0, 1.0)


async def test_forged_expired_and_bad_links_refused(
    gateway: Harness, callback_server: CallbackServer
):
    conversation_id, token = await _resolved_with_survey(gateway, callback_server)
    body, mac = token.split(".")
    # Another conversation's id under the same signature.
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for bad in (forged, body + "." + mac[::-1], "nonsense", body):
        resp = await gateway.client.post(f"/survey/{bad}", data={"score": "5"})
        assert resp.status == 403, bad
    # Signed with another secret.
    other = LinkSigner(b"another-secret").sign(
        SurveyLink(conversation_id, 1, now_ms() + 60_000, "n")
    )
    assert (await gateway.client.post(f"/survey/{other}", data={"score": "5"})).status == 403
    # Expired: a genuine signature whose time is up.
    expired = gateway.gw.aftercare.signer.sign(
        SurveyLink(conversation_id, 1, now_ms() - 1, "old-nonce")
    )
    assert (await gateway.client.get(f"/survey/{expired}")).status == 410
    assert (await gateway.client.post(f"/survey/{expired}", data={"score": "5"})).status == 410
    # A score out of range is refused and does not use the link up.
    assert (await gateway.client.post(f"/survey/{token}", data={"score": "9"})).status == 400
    assert (await gateway.client.post(f"/survey/{token}", data={"score": "x"})).status == 400
    assert (await gateway.client.post(f"/survey/{token}", data={"score": "5"})).status == 200
    conv = await gateway.gw.conversations.get(conversation_id)
    assert conv["csat_score"] == "5"


async def test_public_social_channels_get_no_survey_unless_enabled(gateway: Harness):
    aftercare = gateway.gw.aftercare
    conv = {"id": "c-x", "channel_type": "x", "priority": "normal", "resolved_at": 1000}
    assert await aftercare.plan(conv) == []
    settings = await gateway.call("GET", "/api/v1/reports/settings")
    assert settings["survey_public_channels"] is False
    await gateway.call(
        "PUT", "/api/v1/reports/settings", json_body={**settings, "survey_public_channels": True}
    )
    assert [kind for _, kind, _, _ in await aftercare.plan(conv)] == ["survey"]
    # Urgent and sensitive get a follow-up after 24 h by default.
    urgent = {**conv, "channel_type": "email", "priority": "urgent"}
    planned = {kind: due for _, kind, _, due in await aftercare.plan(urgent)}
    assert planned == {"survey": 1000, "followup": 1000 + 24 * 3600 * 1000}


async def test_settings_validated_and_admin_only(gateway: Harness):
    resp = await gateway.call(
        "PUT", "/api/v1/reports/settings", json_body={"survey_ttl_hours": -1}, expect=400
    )
    assert resp["error"]["code"] == "invalid_field"
    _, token = await gateway.create_user("sup@example.com", role="supervisor")
    await gateway.call("PUT", "/api/v1/reports/settings", token, {}, expect=403)
    await gateway.call("GET", "/api/v1/reports/settings", token)


async def _sent_with(callback: CallbackServer, needle: str) -> bool:
    return any(needle.encode() in raw for _, raw in callback.received)


async def test_no_survey_for_a_conversation_closed_without_reply(
    gateway: Harness, callback_server: CallbackServer
):
    h = gateway
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("ian@example.com")
    conversation_id = await customer_writes(h, channel_id, secret, "c1", "m1", "BUY CHEAP WATCHES")
    await wait_for(lambda: offered_to(h, conversation_id, agent[0]))
    await h.call("POST", f"/api/v1/conversations/{conversation_id}/accept", agent[1])
    await resolve(h, agent[1], conversation_id)
    resolved_at = (await h.gw.conversations.get(conversation_id))["resolved_at"]

    async def job_done() -> bool:
        return not await h.gw.redis.exists(h.gw.keys.job(f"survey:{conversation_id}:{resolved_at}"))

    await wait_for(job_done)
    assert await system_texts(h, conversation_id) == []
    conv = await h.gw.conversations.get(conversation_id)
    assert conv.get("first_response_at") is None and conv.get("survey_sent_at") is None


async def test_each_resolution_gets_its_survey_once(
    gateway: Harness, callback_server: CallbackServer
):
    h = gateway
    channel_id, secret = await h.api_channel(callback_server.url)
    agent = await h.agent_online("jo@example.com")
    conversation_id = await customer_writes(h, channel_id, secret, "c1", "m1", "Help")
    await answered(h, agent, conversation_id, "Done")
    await resolve(h, agent[1], conversation_id)

    async def surveys(n: int) -> bool:
        return sum("/survey/" in t for t in await system_texts(h, conversation_id)) == n

    await wait_for(lambda: surveys(1))
    first = (await h.gw.conversations.get(conversation_id))["resolved_at"]
    # Running the same job again (a process died after sending) sends nothing.
    payload = {"conversation_id": conversation_id, "resolved_at": first}
    await h.gw.aftercare.send_survey(payload)
    assert await surveys(1)
    # The customer writes again, it is answered and resolved again: a new survey.
    await customer_writes(h, channel_id, secret, "c1", "m2", "One more thing")
    await answered(h, agent, conversation_id, "Sure")
    await resolve(h, agent[1], conversation_id)
    await wait_for(lambda: surveys(2))
