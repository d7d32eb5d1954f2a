"""The visitor's view of a self-service answer (adapters/webchat/protocol.py): flagged by the
logged meta's ``bot`` alone, with its language and its text without the bot's label."""

from __future__ import annotations

import pytest

from adapters.webchat.protocol import visitor_view

ZH = "【智能客服】如何申请退款\n在“我的订单”中点击“申请退款”。"
EN = "[Assistant] How do I get a refund\nOpen My orders."


def _out(text: str, meta: dict, author_name: str | None = None) -> dict:
    return {"seq": 3, "conversation_id": "c1", "direction": "out", "text": text,
            "created_at": 1, "author_name": author_name, "meta": meta}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "meta", "language", "shown"),
    [
        (ZH, {"system": True, "bot": True, "language": "zh"}, "zh", ZH[len("【智能客服】") :]),
        (EN, {"system": True, "bot": True, "language": "en"}, "en", EN[len("[Assistant] ") :]),
        # Logged before answers carried their language: read from the label.
        (EN, {"system": True, "bot": True}, "en", EN[len("[Assistant] ") :]),
        ("没有标签的回答", {"system": True, "bot": True, "language": "zh"}, "zh", "没有标签的回答"),
    ],
)
def test_bot_answers_are_flagged(text, meta, language, shown):
    view = visitor_view(_out(text, meta))
    assert view is not None
    assert (view["from"], view["bot"], view["bot_language"], view["text"]) == (
        "system", True, language, shown
    )  # fmt: skip


@pytest.mark.parametrize(
    ("message", "sender"),
    [
        (_out(ZH, {"system": True}), "system"),  # a system message with the label
        (_out(ZH, {}, author_name="Lan"), "agent"),  # an agent's message with the label
        (_out(ZH, {"bot": True}, author_name="Lan"), "agent"),  # an agent is never the bot
        (_out(ZH, {"system": True, "bot": "yes"}), "system"),  # only true is true
    ],
)
def test_the_label_alone_is_no_bot_answer(message, sender):
    view = visitor_view(message)
    assert view is not None and view["from"] == sender
    assert "bot" not in view and view["text"] == ZH
