"""The shipped priority rules against messages as customers write them.

corpus/classify_corpus.json: 299 messages written the way customers of a consumer-goods shop
write on WeChat, QQ, e-mail, Weibo, X and the web chat (simplified and traditional Chinese,
English, typos, full-width digits, spaced-out characters), each labelled with the class a
supervisor would give, including look-alikes that must stay routine ("火速发货", "批次号",
"Fire TV Stick", "工商银行卡", "press the power button"). The shipped rules missed 68% of the
urgent and 58% of the sensitive ones of its first 214 (2026-12-07); the ceilings below are what
the rules reach now, so a change that loses ground fails here. The last 40 ("blind") were
written after the rules' second draft: on them that draft still missed 10 of 14 urgent
messages, so the figures flatter the rules on phrasing nobody has written yet (docs/routing.md).
E-mails go through the e-mail adapter's own parsing and quote cutting, and their subject is
read with the text, as the inbox does.
"""

from __future__ import annotations

import json
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

from adapters.email.mime import parse_message
from adapters.email.normalize import reply_of
from gateway.classify import load_classifier
from gateway.inbox import classified_text
from gateway.models import Channel, ContactIdentity, InboundMessage
from gateway.settings import config_dir
from router.sla import load_sla

CORPUS = json.loads((Path(__file__).parent / "corpus" / "classify_corpus.json").read_text("utf-8"))
ORDER = list(load_sla(config_dir() / "sla.toml").classes)
# Most messages of each expected class the shipped rules may get wrong (measured 2026-12-07).
CEILING = {"urgent": 2, "sensitive": 0, "normal": 5, "low": 2}


def _inbound(item: dict[str, str]) -> InboundMessage:
    text, meta = item["text"], {}
    if item["channel"] == "email":
        mail = EmailMessage()
        mail["From"] = "Customer <c@example.com>"
        mail["To"] = "support@shop.example"
        mail["Subject"] = item.get("subject", "")
        mail["Message-ID"] = "<corpus@example.com>"
        mail.set_content(text)
        parsed = parse_message(mail.as_bytes(), max_attachment_bytes=1 << 20)
        text, meta = reply_of(parsed).text, {"subject": parsed.subject}
    return InboundMessage(
        channel_id="ch",
        channel_type=Channel(item["channel"]),
        external_id="m",
        contact=ContactIdentity(external_id="c"),
        thread_key="t",
        text=text,
        meta=meta,
    )


def test_shipped_rules_on_customers_messages():
    classifier = load_classifier(config_dir() / "priority_rules.toml", ORDER)
    wrong: Counter[str] = Counter()
    misses = []
    for item in CORPUS:
        msg = _inbound(item)
        verdict = classifier.variants(classified_text(msg), None, msg.meta, item["channel"])
        got = verdict.pick(None, 0).class_name
        if got != item["expected"]:
            wrong[item["expected"]] += 1
            misses.append(f"{item['expected']} -> {got}: {item['text'][:60]!r}")
    over = {c: n for c, n in wrong.items() if n > CEILING.get(c, 0)}
    assert not over, f"{over} over {CEILING}:\n" + "\n".join(misses)


def test_the_corpus_covers_every_class_and_channel():
    classes = Counter(item["expected"] for item in CORPUS)
    assert min(classes[c] for c in ("urgent", "sensitive", "normal", "low")) >= 15
    assert {item["channel"] for item in CORPUS} >= {"wechat_oa", "email", "webchat", "weibo", "x"}
