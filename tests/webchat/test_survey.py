"""The satisfaction survey inside the web chat widget, over the visitor WebSocket of a real
gateway: on resolve the visitor gets a rating card (no link to follow), answers 1-5 with a
comment, and the rating is recorded where the survey page records it (reports count it). A
second answer, a forged token, another visitor's token and an expired one are refused like on
the page; a reload shows the card in the same state."""

from __future__ import annotations

from typing import Any

from gateway.models import now_ms
from gateway.surveys import SurveyLink
from tests.conftest import CallbackServer, Harness, wait_for
from tests.reports.flow import answered, customer_writes, resolve
from tests.webchat.visitor import Visitor, webchat_channel

RATE_US = "How was your chat with us? Pick 1 to 5."


def _survey_message(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "message" and bool(frame["message"].get("survey"))


async def _resolved_chat(h: Harness, **settings: Any) -> tuple[str, Visitor, str]:
    """A visitor chats, an agent answers and resolves; returns (channel, visitor, conversation)."""
    body = {"survey_webchat_text": RATE_US, **settings}
    await h.call("PUT", "/api/v1/reports/settings", None, body)
    channel_id = await webchat_channel(h, language="en")  # English texts (default: zh-CN)
    visitor = Visitor(h, channel_id)
    await visitor.connect()
    ack = await visitor.say("c1", "My parcel never arrived")
    conversation_id = ack["conversation_id"]
    agent = await h.agent_online("ann@example.com", name="Ann")
    await answered(h, agent, conversation_id, "It is on its way, sorry!")
    await resolve(h, agent[1], conversation_id)
    return channel_id, visitor, conversation_id


async def _answer(visitor: Visitor, token: str, score: Any, comment: str = "") -> dict[str, Any]:
    await visitor.send_frame(
        {"type": "survey_answer", "token": token, "score": score, "comment": comment}
    )
    return await visitor.next("survey_result")


async def test_rating_card_answered_once_and_counted(gateway: Harness):
    h = gateway
    channel_id, visitor, conversation_id = await _resolved_chat(h)
    frame = await visitor.next(_survey_message, timeout=60)
    card = frame["message"]
    assert card["from"] == "system"
    assert card["text"] == RATE_US  # the link is not shown in the chat
    assert card["survey"]["state"] == "pending"
    token = card["survey"]["token"]
    # Agents read the same system message with the link in it, as on every channel.
    logged = (await h.call("GET", f"/api/v1/conversations/{conversation_id}/messages"))["messages"]
    assert any(f"/survey/{token}" in m["text"] for m in logged)
    assert visitor.welcome["survey"]["max_comment"] == 2000

    # Reloading before answering: the card is still there, still pending.
    tab = Visitor(h, channel_id)
    await tab.connect(token=visitor.token)
    [replayed] = [m for m in tab.history["messages"] if m.get("survey")]
    assert replayed["survey"] == card["survey"] and replayed["text"] == RATE_US

    too_long = await _answer(visitor, token, 5, "x" * 2001)
    assert (too_long["ok"], too_long["status"], too_long["code"]) == (False, 400, "too_long")
    bad_score = await _answer(visitor, token, 6)
    assert (bad_score["ok"], bad_score["status"]) == (False, 400)

    comment = "<script>alert(1)</script> fast & kind"
    done = await _answer(visitor, token, 4, comment)
    assert done == {
        "type": "survey_result",
        "token": token,
        "ok": True,
        "score": 4,
        "message": "Thank you, your answer was recorded.",
    }
    assert (await tab.next("survey_result"))["ok"] is True  # the other tab shows the thanks
    conv = await h.gw.conversations.get(conversation_id)
    assert (conv["csat_score"], conv["csat_comment"]) == ("4", comment)  # stored as data

    again = await _answer(visitor, token, 1, "changed my mind")
    assert (again["ok"], again["status"], again["code"]) == (False, 409, "used")
    assert "already answered" in again["message"]
    assert (await h.gw.conversations.get(conversation_id))["csat_score"] == "4"
    # The survey page refuses the same token too: one answer per survey, wherever it came from.
    assert (await h.client.post(f"/survey/{token}", data={"score": "2"})).status == 409

    report = await h.call("GET", "/api/v1/reports/summary?by=channel")
    row = next(r for r in report["rows"] if r["key"] == "webchat")
    assert (row["csat_average"], row["csat_response_rate"], row["csat_score"]) == (4.0, 1.0, 1.0)

    # A reload after answering shows the card answered (no buttons).
    later = Visitor(h, channel_id)
    await later.connect(token=visitor.token)
    [replayed] = [m for m in later.history["messages"] if m.get("survey")]
    assert replayed["survey"]["state"] == "answered"
    for v in (visitor, tab, later):
        await v.close()


async def test_forged_foreign_and_expired_tokens_are_refused(
    gateway: Harness, callback_server: CallbackServer
):
    h = gateway
    _, visitor, conversation_id = await _resolved_chat(h)
    token = (await visitor.next(_survey_message, timeout=60))["message"]["survey"]["token"]
    body, _, mac = token.partition(".")

    forged = await _answer(visitor, f"{body}.{mac[:-2]}AA", 5)
    assert (forged["ok"], forged["status"], forged["code"]) == (False, 403, "forged")
    garbage = await _answer(visitor, "not-a-token", 5)
    assert (garbage["ok"], garbage["status"]) == (False, 403)

    # A validly signed survey of someone else's conversation is not this visitor's to answer.
    api_channel, secret = await h.api_channel(callback_server.url)
    other = await customer_writes(h, api_channel, secret, "c9", "m9", "Hello")
    signer = h.gw.aftercare.signer
    foreign = signer.sign(SurveyLink(other, now_ms(), now_ms() + 3_600_000, "nonce-foreign"))
    refused = await _answer(visitor, foreign, 5)
    assert (refused["ok"], refused["status"]) == (False, 403)
    assert "csat_score" not in await h.gw.conversations.get(other)

    expired = signer.sign(SurveyLink(conversation_id, now_ms() - 10, now_ms() - 1, "nonce-old"))
    late = await _answer(visitor, expired, 5)
    assert (late["ok"], late["status"], late["code"]) == (False, 410, "expired")

    assert "csat_score" not in await h.gw.conversations.get(conversation_id)
    # None of the refusals used the real survey up.
    assert (await _answer(visitor, token, 3))["ok"] is True
    await visitor.close()


async def test_expired_card_shows_expired_after_reload(gateway: Harness):
    h = gateway
    # Surveys that expire 2 seconds after they are sent.
    channel_id, visitor, _ = await _resolved_chat(h, survey_ttl_hours=2 / 3600)
    card = (await visitor.next(_survey_message, timeout=60))["message"]["survey"]
    await wait_for(lambda: _past(card["expires_at"]), timeout=30)
    later = Visitor(h, channel_id)
    await later.connect(token=visitor.token)
    [replayed] = [m for m in later.history["messages"] if m.get("survey")]
    assert replayed["survey"]["state"] == "expired"
    late = await _answer(later, card["token"], 5)
    assert (late["ok"], late["status"], late["code"]) == (False, 410, "expired")
    await visitor.close()
    await later.close()


async def _past(moment_ms: int) -> bool:
    return now_ms() > moment_ms
