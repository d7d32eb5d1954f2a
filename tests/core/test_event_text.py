"""The message of a ``message.created`` event is JSON-encoded once (issue 21): the inbox encodes
the message once for the log (cut where the script writes the author's id) and hands over the
stored message with that text, and the bus splices that text into
the event instead of encoding the dict again. The text must be exactly what encoding the dict
gives, for every kind of message, and must not be used once the dict has changed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.base import IngestResult
from gateway.classify import parse_rules
from gateway.events import Encoded, encode_event
from gateway.inbox import Inbox
from gateway.keys import Keys
from gateway.models import Attachment, Channel, ContactIdentity, InboundMessage
from gateway.settings import config_dir
from router.sla import load_sla

CLASSIFIER = parse_rules({"default_class": "normal", "rules": []}, ["urgent", "normal", "low"])

MESSAGES = [
    {"text": "hi"},
    {"text": '引号 "quoted" \\ back\nslash \u2028 and \x00 nul', "meta": {"subject": "主题"}},
    {"text": "", "attachments": [Attachment(kind="image", url="https://x/1.png", name="1.png")]},
    {"text": "nested", "meta": {"a": [1, 2.5, None, True], "b": {"c": "é"}}},
    # What the inbox cuts the log's JSON at, written by the customer in the text and the meta.
    {"text": 'a "author_id": "\x02" b', "meta": {"author_id": "\x02"}},
]


def _event(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message.created",
        "data": {"conversation_id": message["conversation_id"], "message": message},
        "audience": {"users": [], "roles": ["supervisor", "admin", "agent"]},
    }


async def test_the_event_text_is_the_encoded_dict_for_every_kind_of_message(redis, keys: Keys):
    stored: list[dict[str, Any]] = []

    async def on_ingested(
        _result: IngestResult, _msg: InboundMessage, _a: str, _o: str, message: dict[str, Any]
    ) -> None:
        stored.append(message)

    sla = load_sla(config_dir() / "sla.toml")
    inbox = Inbox(
        redis, keys, CLASSIFIER, sla, reopen_window_seconds=3600, dedupe_ttl_seconds=60,
        on_ingested=on_ingested,
    )  # fmt: skip
    for n, fields in enumerate(MESSAGES * 2):  # new conversations, then appends
        await inbox.ingest(
            InboundMessage(
                channel_id="ch1",
                channel_type=Channel.API,
                external_id=f"m{n}",
                contact=ContactIdentity(external_id=f"c{n % len(MESSAGES)}", name='Ann "A"'),
                thread_key=f"t{n % len(MESSAGES)}",
                **fields,
            )
        )
    await inbox.batch.close()
    assert len(stored) == 2 * len(MESSAGES)
    for message in stored:
        assert isinstance(message, Encoded) and message.json is not None
        event = _event(message)
        assert encode_event(event) == json.dumps(event, ensure_ascii=False)
        # The log holds the same message (without the two fields the event adds).
        logged = await redis.hget(keys.messages(message["conversation_id"]), message["seq"])
        assert json.loads(logged) == {
            k: v for k, v in message.items() if k not in ("seq", "conversation_id")
        }


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.__setitem__("text", "edited"),
        lambda m: m.update(text="edited"),
        lambda m: m.pop("text"),
        lambda m: m.__delitem__("text"),
        lambda m: m.setdefault("extra", 1),
    ],
)
def test_a_changed_message_is_encoded_afresh(change: Any) -> None:
    message = Encoded(
        {"text": "hi", "seq": 1, "conversation_id": "cv_1"},
        '{"text": "hi", "seq": 1, "conversation_id": "cv_1"}',
    )
    change(message)
    event = _event(message)
    assert message.json is None
    assert json.loads(encode_event(event)) == json.loads(json.dumps(event))
