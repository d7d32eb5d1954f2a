"""Agents attach files to replies: upload, reply, what the channel receives, and every refusal."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import CallbackServer, Harness, wait_for
from tests.core.test_outbox import _assigned_conversation, _message

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8  # binary content, 2 KiB


async def upload(
    h: Harness,
    conv: str,
    token: str,
    data: bytes,
    name: str = "invoice 2026.pdf",
    content_type: str = "application/pdf",
) -> aiohttp.ClientResponse:
    return await h.client.post(
        f"/api/v1/conversations/{conv}/attachments",
        params={"name": name},
        data=data,
        headers={**h.auth(token), "Content-Type": content_type},
    )


async def test_an_uploaded_file_goes_out_with_the_reply(
    gateway: Harness, callback_server: CallbackServer
):
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    resp = await upload(gateway, conv, token, PDF)
    assert resp.status == 201
    attachment = (await resp.json())["attachment"]
    assert attachment["kind"] == "file"
    assert attachment["name"] == "invoice 2026.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)
    assert attachment["url"].startswith("/media/")
    stored = await gateway.client.get(attachment["url"])
    assert await stored.read() == PDF

    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token,
        {"text": "Here is your invoice.", "attachments": [attachment]}, expect=201,
    )  # fmt: skip
    seq = reply["message"]["seq"]

    async def sent():
        m = await _message(gateway, conv, seq, token)
        return m if m["delivery"] == "sent" else None

    message = await wait_for(sent)
    assert message["attachments"] == [attachment]
    # The receiving system gets a link it can fetch: absolute, serving the same bytes.
    body = json.loads(callback_server.received[-1][1])
    [out] = body["attachments"]
    assert out["url"] == gateway.base_url + attachment["url"]
    assert (out["name"], out["size"]) == ("invoice 2026.pdf", len(PDF))
    async with aiohttp.ClientSession() as session, session.get(out["url"]) as fetched:
        assert await fetched.read() == PDF


async def test_a_reply_may_be_only_a_file_and_images_are_images(
    gateway: Harness, callback_server: CallbackServer
):
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    resp = await upload(gateway, conv, token, png, "photo.png", "image/png; charset=binary")
    attachment = (await resp.json())["attachment"]
    assert (attachment["kind"], attachment["content_type"]) == ("image", "image/png")
    # Size and kind come from the stored file, whatever the request says.
    claimed = {**attachment, "size": 1, "kind": "file"}
    reply = await gateway.call(
        "POST", f"/api/v1/conversations/{conv}/messages", token,
        {"attachments": [claimed]}, expect=201,
    )  # fmt: skip
    assert reply["message"]["text"] == ""
    assert reply["message"]["attachments"][0]["size"] == len(png)
    assert reply["message"]["attachments"][0]["kind"] == "image"


async def _refused(resp: aiohttp.ClientResponse, status: int, code: str) -> str:
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code
    return error["message"]


async def test_uploads_refused_with_a_reason(make_gateway, callback_server: CallbackServer):
    gateway = await make_gateway(max_attachment_bytes=4096)
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    assert "limit" in await _refused(await upload(gateway, conv, token, PDF * 3), 413, "too_large")
    assert "empty" in await _refused(await upload(gateway, conv, token, b""), 400, "invalid_field")
    for name in ("", "../../secret.key", "a\\b"):
        await _refused(await upload(gateway, conv, token, PDF, name), 400, "invalid_field")
    # Another agent (not the assignee) may not attach to this conversation.
    _, other = await gateway.agent_online("b@example.com")
    resp = await upload(gateway, conv, other, PDF)
    assert resp.status == 403


async def test_replies_refuse_files_not_uploaded_to_the_channel(
    gateway: Harness, callback_server: CallbackServer
):
    conv, token = await _assigned_conversation(gateway, callback_server.url)
    attachment = (await (await upload(gateway, conv, token, PDF)).json())["attachment"]
    channel_folder = attachment["url"].rsplit("/", 1)[0]
    path = f"/api/v1/conversations/{conv}/messages"
    for url in (
        "https://elsewhere.example.com/x.pdf",
        "/media/other-channel/" + attachment["url"].rsplit("/", 1)[1],
        f"{channel_folder}/missing.pdf",
        f"{channel_folder}/../secret.key",
    ):
        body = await gateway.call(
            "POST", path, token, {"text": "see", "attachments": [{"url": url}]}, expect=400
        )
        assert body["error"]["field"] == "attachments"
    body = await gateway.call(
        "POST", path, token, {"type": "note", "attachments": [attachment]}, expect=400
    )
    assert "notes" in body["error"]["message"]
    body = await gateway.call("POST", path, token, {"text": ""}, expect=400)
    assert body["error"]["field"] == "text"


async def test_media_urls_cannot_leave_the_media_folder(gateway: Harness):
    media = gateway.gw.media.root
    for channel in ("ch1", "ch2"):
        (media / channel).mkdir(parents=True)
        (media / channel / "ok.txt").write_text(channel)
    assert (media.parent / "secret.key").is_file()  # what an escape would reach
    assert await (await gateway.client.get("/media/ch1/ok.txt")).text() == "ch1"
    for raw in (
        "/media/%2E%2E/secret.key",
        "/media/ch1/%2E%2E",
        "/media/ch1/..%2Fch2%2Fok.txt",
        "/media/ch1/..%2F..%2Fsecret.key",
    ):
        resp = await gateway.client.get(raw)
        assert resp.status == 404, raw


async def test_stored_files_are_served_typed_by_their_bytes_and_never_as_a_page(gateway: Harness):
    """A stored file's name is the sender's claim: HTML named .png is not served as an image,
    HTML or SVG by name is served as bytes, a real image by its bytes; every file is a
    download, sandboxed should a browser render it."""
    folder = gateway.gw.media.root / "ch1"
    folder.mkdir(parents=True)
    html = b"<html><script>alert(1)</script></html>"
    files = {
        "fake.png": (html, "application/octet-stream"),
        "page.html": (html, "application/octet-stream"),
        "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
                        "application/octet-stream"),
        "photo.bin": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"),
        "photo.jpg": (b"\xff\xd8\xff\xe0" + b"\0" * 40, "image/jpeg"),
        "invoice.pdf": (b"%PDF-1.7\n", "application/pdf"),
        "notes.txt": ("订单 12345".encode(), "text/plain"),
    }  # fmt: skip
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    for name, (data, expected) in files.items():
        resp = await gateway.client.get(f"/media/ch1/{name}")
        assert resp.status == 200
        assert resp.content_type == expected, name
        assert await resp.read() == data
        assert resp.headers["Content-Disposition"] == "attachment"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"].startswith("sandbox")
