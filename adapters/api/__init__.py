"""The generic signed API channel: how any other system (QQ, a mobile app, a CRM) joins the
inbox. Inbound ``POST /channels/{id}/messages``; replies POSTed to the callback URL, both signed
``X-Gateway-Signature: sha256=<hex HMAC-SHA256 of the body>``."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, Field, HttpUrl, ValidationError

from adapters.api.payload import InboundPayload, non_finite, to_inbound
from adapters.api.signing import HEADER, sign, verify
from adapters.base import (
    Adapter,
    AdapterRoute,
    PermanentSendError,
    TransientSendError,
    VerifyError,
)
from adapters.language import ChannelLanguage
from gateway.api.http import InvalidJSON, error, json_error, loads, validation_error
from gateway.models import Attachment, Channel, OutboundMessage


class ApiConfig(ChannelLanguage):
    secret: str = Field(min_length=16, description="shared HMAC secret, 16 characters or more")
    callback_url: HttpUrl | None = Field(None, description="where replies are POSTed")
    timeout_seconds: float = Field(10, gt=0, le=60)

    # Replies go to callback_url's host: a new host needs the secret entered again.
    endpoint_fields: ClassVar[frozenset[str]] = frozenset({"callback_url"})


class ApiAdapter(Adapter):
    channel_type = Channel.API
    Config: ClassVar[type[BaseModel]] = ApiConfig
    secret_fields = frozenset({"secret"})
    max_text_length = 20000
    supports_attachments = True

    @property
    def config(self) -> ApiConfig:
        return self.ctx.config  # type: ignore[return-value]

    def routes(self) -> list[AdapterRoute]:
        return [AdapterRoute("POST", "/messages", self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()  # over the size limit: 413 from aiohttp
        if not verify(self.config.secret, body, request.headers.get(HEADER)):
            raise error(401, "bad_signature", f"missing or wrong {HEADER}")
        try:
            data = loads(body)
        except InvalidJSON as exc:
            raise json_error(exc) from None
        if not isinstance(data, dict):
            raise error(400, "invalid_json", "body must be a JSON object")
        if (where := non_finite(data)) is not None:
            # They parse, but are no JSON: filed, the conversation's log (the console's, the
            # callback's) would no longer be JSON.
            raise error(400, "invalid_field", f"{where}: NaN and Infinity are not JSON numbers",
                        field=where, reason="finite_number", limits={})  # fmt: skip
        try:
            payload = InboundPayload.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc) from None
        result = await self.ctx.deliver(to_inbound(self.ctx.channel_id, payload))
        return web.json_response(
            {
                "conversation_id": result.conversation_id,
                "seq": result.seq,
                "duplicate": result.duplicate,
            },
            status=200 if result.duplicate else 202,
        )

    def _attachment(self, attachment: Attachment) -> dict[str, Any]:
        """As the receiving system can fetch it: the gateway's own URLs made absolute."""
        out = attachment.model_dump(exclude_none=True)
        if attachment.url:
            out["url"] = self.ctx.public_link(attachment.url)
        return out

    async def verify(self) -> None:
        if self.config.callback_url is None:
            return
        try:
            async with self.ctx.http.head(
                str(self.config.callback_url), timeout=aiohttp.ClientTimeout(total=5)
            ):
                pass
        except aiohttp.ClientError as exc:
            raise VerifyError(f"callback URL unreachable: {exc}") from None

    async def send(self, message: OutboundMessage) -> str:
        if self.config.callback_url is None:
            raise PermanentSendError("this API channel has no callback_url for replies")
        body = json.dumps({
            "message_id": message.message_id,
            "conversation_id": message.conversation_id,
            "thread_id": message.reply_context.get("thread_id", message.thread_key),
            "recipient_id": message.contact_external_id,
            "in_reply_to": message.reply_context.get("external_id"),
            "text": message.text,
            "author_name": message.author_name,
            "attachments": [self._attachment(a) for a in message.attachments],
        }, ensure_ascii=False).encode()  # fmt: skip
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self.config.secret, body),
            "Idempotency-Key": message.message_id,
        }
        try:
            async with self.ctx.http.post(
                str(self.config.callback_url),
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
            ) as resp:
                text = await resp.text()
                if resp.status >= 500 or resp.status in (408, 429):
                    retry = resp.headers.get("Retry-After")
                    raise TransientSendError(
                        f"callback answered {resp.status}",
                        retry_after=float(retry) if retry and retry.isdigit() else None,
                    )
                if resp.status >= 400:
                    raise PermanentSendError(
                        f"callback refused the reply: {resp.status} {text[:200]}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(f"callback unreachable: {exc!r}") from None
        try:
            reply = json.loads(text) if text else {}
        except ValueError:
            reply = {}
        return (
            str(reply.get("id") or message.message_id)
            if isinstance(reply, dict)
            else message.message_id
        )
