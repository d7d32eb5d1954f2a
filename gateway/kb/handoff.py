"""When self-service must not answer: the reasons a message goes to a person at once.

Pure functions of the message and its classification (gateway/classify.py), shared by the
self-service step and bench/kb_retrieval.py. The order of the checks is the order of the
reasons reported: a customer asking for a person is reported as such even when the message is
also urgent."""

from __future__ import annotations

import re

from gateway.classify import Classifier
from gateway.textsearch import fold

# Asking for a person, in the words customers use (folded: Simplified, lowercase).
_PERSON = re.compile(
    r"转人工|人工客服|人工服务|人工坐席|找人工|要人工|接人工|转接人工|人工|真人|活人|客服人员|"
    r"客服小姐姐|找客服|联系客服|打电话给我|来电|回电|"
    r"(?<![a-z])(human|humans|real person|a person|someone real|live agent|agent|representative|"
    r"operator|talk to (someone|somebody|a person)|speak (to|with) (someone|somebody|a person)|"
    r"call me|phone me)\b"
)
# A complaint or anger that a canned answer would make worse.
_COMPLAINT = re.compile(
    r"投诉|举报|差评|骗子|骗人|欺诈|垃圾|坑人|退一赔三|赔偿|太差|气死|无语|忍无可忍|"
    r"(?<![a-z])(complain|complaint|complaints|scam|fraud|compensation|unacceptable|ridiculous|"
    r"disgusting|worst)(?![a-z])"
)

URGENT_CLASSES = ("incident", "urgent")
SENSITIVE_CLASSES = ("sensitive",)

# Every reason a conversation is handed to the router, as the reports name them.
REASONS = (
    "asked_for_person",
    "urgent",
    "sensitive",
    "vip",
    "repeat_complainer",
    "complaint",
    "not_confident",
    "no_article",
    "unhelpful",
    "held_by_agent",
)


def asks_for_person(text: str) -> bool:
    return bool(_PERSON.search(fold(text)))


def handoff_reason(
    text: str,
    class_name: str,
    rule: str | None,
    classifier: Classifier,
    *,
    tier: str | None = None,
) -> str | None:
    """Why this message must go to a person whatever the knowledge base holds, or None.

    ``class_name``, ``rule``: the conversation's classification (its most urgent so far);
    ``tier``: the customer's stored tier."""
    folded = fold(text)
    if _PERSON.search(folded):
        return "asked_for_person"
    if class_name in URGENT_CLASSES:
        return "urgent"
    if class_name in SENSITIVE_CLASSES:
        return "sensitive"
    by_name = {r.name: r for r in classifier.rules}
    winner = by_name.get(rule or "")
    vip_tiers = {t for r in classifier.rules for t in r.tiers}
    if (winner is not None and winner.tiers) or (tier and tier.lower() in vip_tiers):
        return "vip"
    if winner is not None and winner.repeat_count:
        return "repeat_complainer"
    if _COMPLAINT.search(folded):
        return "complaint"
    return None
