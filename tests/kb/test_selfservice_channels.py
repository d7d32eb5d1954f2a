"""Self-service end to end on WeChat Official Account, WeCom customer service (kf) and QQ (C2C),
through the real gateway and the local fake platforms of the adapter tests: with the channel's
self-service "always" and a confident article, the customer's question gets the bot's answer
through the platform's send API, as the platform receives it (the 【智能客服】 label, the article,
the "did this solve it / 转人工" prompt); then "转人工" hands the conversation to an online agent,
who sees the bot's answer in the history and whose reply leaves through the same platform."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.kb.conftest import adapter_tests

wechat_e2e = adapter_tests("wechat", "test_wechat_e2e")
wechat = adapter_tests("wechat", "wechat_payloads")
qq_e2e = adapter_tests("qq", "test_qq_e2e")
qq = adapter_tests("qq", "qq_payloads")
qq_config = adapter_tests("qq", "conftest").qq_config

ARTICLE = {
    "title": "如何申请退款",
    "body": "在“我的订单”中点击“申请退款”，款项1至3个工作日原路退回。",
    "tags": ["退款", "退钱"],
}
# The answer exactly as the platform receives it.
ANSWER = (
    "【智能客服】如何申请退款\n在“我的订单”中点击“申请退款”，款项1至3个工作日原路退回。\n\n"
    "这个回答解决您的问题了吗？回复“已解决”，或回复“转人工”联系人工客服。"
)


async def _self_service(h: Harness, channel_id: str) -> None:
    await h.call("POST", "/api/v1/kb/articles", None, ARTICLE, expect=201)
    await h.call("PUT", f"/api/v1/kb/selfservice/{channel_id}", None, {"mode": "always"})


async def _answered(h: Harness, channel_id: str) -> str:
    """The channel's one conversation, once the bot answered it (pending, off the queue)."""

    async def pending() -> str | None:
        found = await wechat_e2e.conversations(h, channel_id)
        return found[0]["id"] if found and found[0]["status"] == "pending" else None

    conv = await wechat.wait_for(pending)
    got = (await h.call("GET", f"/api/v1/conversations/{conv}"))["conversation"]
    assert got["bot_state"] == "answered" and not got.get("first_response_at")
    return conv


async def _agent_sees_the_answer(h: Harness, conv: str, token: str) -> None:
    history = await qq_e2e.messages(h, conv, token)
    bot = [m for m in history if m["meta"].get("bot")]
    assert [m["text"] for m in bot] == [ANSWER]
    assert bot[0]["delivery"] == "sent"
    assert any("handed this to a person: asked_for_person" in m["text"] for m in history)
    got = (await h.call("GET", f"/api/v1/conversations/{conv}", token))["conversation"]
    assert got["bot_state"] == "handed_off" and got["bot_handoff"] == "asked_for_person"


async def test_wechat_official_account(gateway: Harness, wechat_fake: Any) -> None:
    h, fake = gateway, wechat_fake
    channel = await h.create_channel("wechat_oa", wechat_e2e.oa_config(fake), "Official Account")
    await _self_service(h, channel["id"])
    url = f"/channels/{channel['id']}/wechat"
    openid = "oKB_selfservice_0001"

    async def customer(text: str, msg_id: int) -> None:
        fake.customer_wrote(openid)
        body, query = wechat.safe_request(wechat.text_xml(openid, text, msg_id=msg_id))
        resp = await h.client.post(url, params=query, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")

    await customer("请问怎么申请退款？", 990001)
    await wechat.wait_for(lambda: fake.custom_sends)
    assert fake.custom_sends == [{"touser": openid, "msgtype": "text", "text": {"content": ANSWER}}]
    conv = await _answered(h, channel["id"])

    _, token = await h.agent_online("oa-agent@example.com", name="Mei")
    await customer("转人工", 990002)
    handed, seq = await wechat_e2e.accept_and_reply(h, channel["id"], token, "您好，我来帮您。")
    assert handed == conv
    await _agent_sees_the_answer(h, conv, token)
    sent = await wechat.wait_for(lambda: wechat_e2e.delivery(h, conv, seq))
    assert sent["delivery"] == "sent"
    assert fake.custom_sends[1] == {
        "touser": openid, "msgtype": "text", "text": {"content": "您好，我来帮您。"}
    }  # fmt: skip
    assert len(fake.custom_sends) == 2  # no second answer from the bot


async def test_wecom_customer_service(gateway: Harness, wechat_fake: Any) -> None:
    h, fake = gateway, wechat_fake
    channel = await h.create_channel("wecom_kf", wechat_e2e.kf_config(fake), "WeCom kf")
    await _self_service(h, channel["id"])
    user = "wmKB_selfservice"

    async def customer(text: str, msgid: str) -> None:
        fake.add_kf_message(wechat.kf_text_item(msgid, user, text))
        callback = wechat.kf_callback_xml(wechat.OPEN_KFID, fake.new_callback_token())
        body, query = wechat.kf_request(callback)
        resp = await h.client.post(
            f"/channels/{channel['id']}/wecom-kf", params=query, data=body.encode()
        )
        assert (resp.status, await resp.text()) == (200, "success")

    await customer("请问怎么申请退款？", "kfkb-1")
    await wechat.wait_for(lambda: fake.kf_sends)
    [sent] = fake.kf_sends
    assert sent.pop("msgid")  # each part's own (adapters/wechat/kf.py)
    assert sent == {"touser": user, "open_kfid": wechat.OPEN_KFID, "msgtype": "text",
                    "text": {"content": ANSWER}}  # fmt: skip
    conv = await _answered(h, channel["id"])

    _, token = await h.agent_online("kf-agent@example.com", name="Jun")
    await customer("转人工", "kfkb-2")
    handed, seq = await wechat_e2e.accept_and_reply(h, channel["id"], token, "您好，我来帮您。")
    assert handed == conv
    await _agent_sees_the_answer(h, conv, token)
    sent = await wechat.wait_for(lambda: wechat_e2e.delivery(h, conv, seq))
    assert sent["delivery"] == "sent"
    assert [s["text"]["content"] for s in fake.kf_sends] == [ANSWER, "您好，我来帮您。"]


async def test_qq_private_chat(gateway: Harness, qq_fake: Any) -> None:
    h, fake = gateway, qq_fake
    channel = await h.create_channel("qq", qq_config(fake), "QQ")
    await _self_service(h, channel["id"])

    async def customer(text: str) -> dict[str, Any]:
        d = qq.c2c_message(qq.USER_OPENID, text)
        fake.note_message(d, "C2C_MESSAGE_CREATE")
        await qq_e2e.webhook(h, channel["id"], "C2C_MESSAGE_CREATE", d)
        return d

    question = await customer("请问怎么申请退款？")
    await wechat.wait_for(lambda: fake.messages)
    [answer] = fake.messages
    assert answer.path == f"/v2/users/{qq.USER_OPENID}/messages"
    # A passive reply to the customer's question, as an agent's would be.
    assert answer.json == {"msg_type": 0, "content": ANSWER, "msg_id": question["id"], "msg_seq": 1}
    conv = await _answered(h, channel["id"])

    _, token = await h.agent_online("qq-agent@example.com", name="Lan")
    await customer("转人工")
    assert await qq_e2e.accept(h, channel["id"], token) == conv
    await _agent_sees_the_answer(h, conv, token)
    sent = await qq_e2e.reply(h, conv, token, {"text": "您好，我来帮您。"})
    assert sent["delivery"] == "sent"
    assert [m.json["content"] for m in fake.messages] == [ANSWER, "您好，我来帮您。"]
