"""A reply WeChat receives as several messages (text cut at 2,048 bytes, then each image), through
the real gateway and outbox: a retry resumes at the first part WeChat did not accept, after a
temporary error, an agent's retry of a failed reply, or a restart mid-send; the agent is told
which parts reached the customer. Official Account and WeCom kf alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from fake_wechat import FakeWeChat
from test_wechat_e2e import kf_config, oa_config
from wechat_payloads import (
    OPEN_KFID,
    kf_callback_xml,
    kf_request,
    kf_text_item,
    plain_query,
    text_xml,
)

from adapters.wechat.errors import PERMANENT, TOO_MANY
from adapters.wechat.shared import split_utf8
from gateway.outbox import PARTS_KEPT_MS
from tests.conftest import Harness, MakeGateway, wait_for

OA_SEND = "/cgi-bin/message/custom/send"
KF_SEND = "/cgi-bin/kf/send_msg"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# 680 CJK characters (2,040 bytes, the console's limit) and a file link: two text messages.
TEXT = "长" * 680


@dataclass
class Conversation:
    """A customer's conversation on one WeChat channel, accepted by an agent."""

    kind: str  # "oa" or "kf"
    gateway: Harness
    fake: FakeWeChat
    channel_id: str
    customer: str
    conv: str
    token: str

    @property
    def send_path(self) -> str:
        return OA_SEND if self.kind == "oa" else KF_SEND

    def calls(self) -> list[Any]:
        """Every send WeChat received, accepted or not: a text's content, or an image's bytes."""
        return [self._what(r.json) for r in self.fake.requests_to(self.send_path)]

    def accepted(self) -> list[Any]:
        sends = self.fake.custom_sends if self.kind == "oa" else self.fake.kf_sends
        return [self._what(body) for body in sends]

    def _what(self, body: dict[str, Any]) -> Any:
        if body["msgtype"] == "text":
            return body["text"]["content"]
        return self.fake.uploads[body["image"]["media_id"]][0]

    async def upload(self, data: bytes, name: str, content_type: str) -> dict[str, Any]:
        resp = await self.gateway.client.post(
            f"/api/v1/conversations/{self.conv}/attachments",
            params={"name": name},
            data=data,
            headers={**self.gateway.auth(self.token), "Content-Type": content_type},
        )
        assert resp.status == 201, await resp.text()
        return (await resp.json())["attachment"]

    async def reply_in_three_parts(self) -> tuple[int, list[str]]:
        """Reply with TEXT, a PDF (a link in the text) and an image: two text parts, then the
        image. Returns the seq and the two text parts WeChat must receive."""
        pdf = await self.upload(b"%PDF-1.4 invoice", "invoice.pdf", "application/pdf")
        image = await self.upload(PNG, "photo.png", "image/png")
        body = {"text": TEXT, "attachments": [pdf, image]}
        path = f"/api/v1/conversations/{self.conv}/messages"
        reply = await self.gateway.call("POST", path, self.token, body, expect=201)
        texts = split_utf8(f"{TEXT}\ninvoice.pdf: {self.gateway.base_url}{pdf['url']}")
        assert len(texts) == 2
        return reply["message"]["seq"], texts

    async def message(self, seq: int, gateway: Harness | None = None) -> dict[str, Any]:
        path = f"/api/v1/conversations/{self.conv}/messages"
        msgs = await (gateway or self.gateway).call("GET", path, self.token)
        return next(m for m in msgs["messages"] if m["seq"] == seq)

    async def settled(self, seq: int, gateway: Harness | None = None) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            m = await self.message(seq, gateway)
            return m if m["delivery"] in ("sent", "failed") else None

        return await wait_for(done, timeout=20)


async def open_conversation(gateway: Harness, fake: FakeWeChat, kind: str) -> Conversation:
    _, token = await gateway.agent_online(f"{kind}-agent@example.com", name="Mei")
    if kind == "oa":
        channel = await gateway.create_channel("wechat_oa", oa_config(fake, mode="plain"))
        customer = "oParts_customer_0001"
        fake.customer_wrote(customer)
        xml = text_xml(customer, "发票呢？", msg_id=990001)
        resp = await gateway.client.post(
            f"/channels/{channel['id']}/wechat", params=plain_query(), data=xml.encode()
        )
    else:
        channel = await gateway.create_channel("wecom_kf", kf_config(fake))
        customer = "wmParts_customer"
        fake.add_kf_message(kf_text_item("kfmsg-parts", customer, "发票呢？"))
        body, query = kf_request(kf_callback_xml(OPEN_KFID, fake.new_callback_token()))
        resp = await gateway.client.post(
            f"/channels/{channel['id']}/wecom-kf", params=query, data=body.encode()
        )
    assert resp.status == 200

    async def offered() -> str | None:
        path = f"/api/v1/conversations?channel={channel['id']}"
        convs = (await gateway.call("GET", path))["conversations"]
        return next((c["id"] for c in convs if c.get("offered_to")), None)

    conv = await wait_for(offered)
    await gateway.call("POST", f"/api/v1/conversations/{conv}/accept", token)
    return Conversation(kind, gateway, fake, channel["id"], customer, conv, token)


@pytest.mark.parametrize("kind", ["oa", "kf"])
async def test_a_temporary_error_on_part_2_resumes_at_part_2(
    gateway: Harness, fake: FakeWeChat, kind: str
) -> None:
    c = await open_conversation(gateway, fake, kind)
    fake.fail_nth(c.send_path, 2, -1, "system busy")  # retried after WeChat's 5 s
    seq, (part1, part2) = await c.reply_in_three_parts()

    message = await c.settled(seq)
    assert message["delivery"] == "sent"
    assert message["attempts"] == 2
    assert c.calls() == [part1, part2, part2, PNG]  # part 1 and the image once each
    assert c.accepted() == [part1, part2, PNG]
    assert len(fake.requests_to("/cgi-bin/media/upload")) == 1
    # Kept a while once sent (a part reported undelivered later is the only one resent), not
    # for ever.
    key = gateway.gw.keys.send_parts(c.conv, seq)
    assert 0 < await gateway.gw.redis.pttl(key) <= PARTS_KEPT_MS


@pytest.mark.parametrize(("kind", "errcode"), [("oa", 45047), ("kf", 95001)])
async def test_a_permanent_error_on_part_2_names_what_arrived_and_a_retry_resumes(
    gateway: Harness, fake: FakeWeChat, kind: str, errcode: int
) -> None:
    """The customer's reply quota runs out after part 1: the agent reads that part 1 reached
    them; once the customer writes again, the agent's retry sends parts 2 and 3 only."""
    c = await open_conversation(gateway, fake, kind)
    fake.fail_nth(c.send_path, 2, errcode, "out of response count limit")
    seq, (part1, part2) = await c.reply_in_three_parts()

    failed = await c.settled(seq)
    assert failed["delivery"] == "failed"
    reason = TOO_MANY if kind == "oa" else PERMANENT[95001]
    assert failed["delivery_error"] == f"part 1 of 3 delivered; part 2: {reason}"
    assert c.accepted() == [part1]

    fake.customer_wrote(c.customer)
    path = f"/api/v1/conversations/{c.conv}/messages/{seq}/retry"
    await gateway.call("POST", path, c.token)
    sent = await c.settled(seq)
    assert sent["delivery"] == "sent"
    assert c.calls() == [part1, part2, part2, PNG]
    assert c.accepted() == [part1, part2, PNG]


@pytest.mark.parametrize("kind", ["oa", "kf"])
async def test_a_restart_mid_reply_resumes_at_the_recorded_part(
    make_gateway: MakeGateway, fake: FakeWeChat, kind: str
) -> None:
    """The process stops while WeChat holds part 2 (as if killed): another process on the same
    Redis claims the reply and sends part 2 and the image, not part 1 again."""
    first = await make_gateway(shutdown_grace_seconds=0)
    c = await open_conversation(first, fake, kind)
    held = fake.stall(c.send_path, 2)
    seq, (part1, _) = await c.reply_in_three_parts()
    await asyncio.wait_for(held.arrived.wait(), 15)
    assert c.accepted() == [part1]
    await first.client.close()  # the send in flight is cancelled; its entry stays pending

    second = await make_gateway(outbox_claim_idle_seconds=0.5)
    try:
        sent = await c.settled(seq, second)
    finally:
        held.release.set()
    assert sent["delivery"] == "sent"
    calls, accepted = c.calls(), c.accepted()
    assert calls.count(part1) == 1
    # Part 2's link names the second process's public URL: the same part, another address.
    assert len(calls) == 4 and calls[3] == PNG
    assert accepted == [part1, calls[2], PNG]
    assert calls[2].startswith(".pdf: http")  # part 1 ends "...长\ninvoice"
