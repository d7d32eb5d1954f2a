"""Upload names are cleaned at upload (both endpoints: agents' attachments, web chat visitors'
files): no CR, LF or other control or format character reaches a stored name, so an email
reply carrying the file can always be built and sent (a CR/LF in a MIME filename made every
send fail and held back the conversation's later replies)."""

from __future__ import annotations

import pytest

from adapters.email.compose import OutFile, build_reply
from tests.conftest import Harness
from tests.webchat.visitor import ORIGIN, Visitor, webchat_channel

HOSTILE = [
    ("report\r\nBcc: victim@example.com.pdf", "report Bcc: victim@example.com.pdf"),
    ("a\nb.txt", "a b.txt"),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override
    ("line\u2028sep.txt", "line sep.txt"),
    ("\r\n\x00", "file"),  # nothing left: a safe fallback name
    ("发票 №42.txt", "发票 №42.txt"),  # ordinary names are kept as they are
]


def _mail_with(name: str) -> bytes:
    msg = build_reply(
        from_name="Support", from_address="support@example.com", reply_to="support@example.com",
        to="customer@example.com", message_id="<m1@example.com>", text="Attached.", context={},
        files=[OutFile(name=name, content_type="text/plain", data=b"data")],
    )  # fmt: skip
    return msg.as_bytes()


@pytest.mark.parametrize(("given", "kept"), HOSTILE)
async def test_agent_attachment_names_are_cleaned(gateway: Harness, given: str, kept: str):
    channel_id, secret = await gateway.api_channel()
    status, res = await gateway.post_api_message(
        channel_id, secret, {"message_id": "m1", "sender": {"id": "c1"}, "text": "hi"}
    )
    assert status == 202, res
    resp = await gateway.client.post(
        f"/api/v1/conversations/{res['conversation_id']}/attachments",
        params={"name": given},
        data=b"some bytes",
        headers={**gateway.auth(gateway.admin_token), "Content-Type": "text/plain"},
    )
    assert resp.status == 201, await resp.text()
    attachment = (await resp.json())["attachment"]
    assert attachment["name"] == kept
    assert not any(c in attachment["url"] for c in "\r\n\x00")
    _mail_with(attachment["name"])  # an email carrying it can be built


@pytest.mark.parametrize(("given", "kept"), HOSTILE)
async def test_web_chat_upload_names_are_cleaned(gateway: Harness, given: str, kept: str):
    visitor = Visitor(gateway, await webchat_channel(gateway))
    await visitor.connect()
    resp = await gateway.client.post(
        f"/channels/{visitor.channel_id}/webchat/upload",
        params={"name": given},
        data=b"\x89PNG data",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {visitor.token}",
                 "Content-Type": "image/png"},
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["attachment"]["name"] == kept
    await visitor.close()


def test_a_cr_lf_name_cannot_add_a_header_to_the_mail():
    """Why: a name stored before the cleaning, or from another path, reaches the e-mail
    composer too; it replaces control characters itself, so no header is injected and the
    mail is built (it used to refuse it with a ValueError: every send failed)."""
    raw = _mail_with("report\r\nBcc: victim@example.com.pdf")
    assert not any(line.lower().startswith(b"bcc:") for line in raw.splitlines())
    _mail_with("report Bcc: victim@example.com.pdf")
