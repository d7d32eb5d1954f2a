"""Classification rules: keywords (Chinese and English), patterns, tier, spike flag, repeat
complainers, per-channel defaults, routing hints; the winning rule is recorded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.classify import MessageForms, RulesError, load_classifier, parse_rules
from gateway.settings import config_dir
from router.sla import load_sla

ORDER = list(load_sla(config_dir() / "sla.toml").classes)
SHIPPED = load_classifier(config_dir() / "priority_rules.toml", ORDER)


@pytest.mark.parametrize(
    ("text", "tier", "meta", "complaints", "expected", "rule"),
    [
        ("充电器冒烟了，有安全隐患", None, {}, 0, "urgent", "safety-hazard"),
        ("My charger caught FIRE", None, {}, 0, "urgent", "safety-hazard"),
        ("it burned my hand", None, {}, 0, "urgent", "safety-hazard"),
        ("整批产品全部出现故障", None, {}, 0, "urgent", "batch-failure"),
        ("我要找记者曝光你们", None, {}, 0, "sensitive", "media-exposure"),
        ("the press will hear about this", None, {}, 0, "sensitive", "media-exposure"),
        ("我要打315投诉", None, {}, 0, "sensitive", "media-exposure"),
        ("please answer immediately", None, {}, 0, "normal", None),  # not "media"
        ("sent by express", None, {}, 0, "normal", None),  # not "press"
        ("订单号A31502", None, {}, 0, "normal", None),  # not "315"
        # As customers type them: Traditional characters, full-width letters and digits.
        ("機器冒煙了，還漏電", None, {}, 0, "urgent", "safety-hazard"),
        ("著火了", None, {}, 0, "urgent", "safety-hazard"),
        ("整批產品全部故障", None, {}, 0, "urgent", "batch-failure"),
        ("我要投訴到消協", None, {}, 0, "sensitive", "media-exposure"),
        ("看了３１５晚会", None, {}, 0, "sensitive", "media-exposure"),
        ("订单号Ａ３１５０２", None, {}, 0, "normal", None),
        ("ＦＩＲＥ in the kitchen", None, {}, 0, "urgent", "safety-hazard"),
        ("where is my order", "VIP", {}, 0, "high", "vip-customer"),
        # A spike's mentions are ordinary (their incident's item goes to a senior).
        ("so many people angry", None, {"spike": True}, 0, "normal", None),
        ("Mention spike on weibo", None, {"incident": "in_1"}, 0, "incident", "spike-incident"),
        ("the press will hear of this", None, {"spike": True}, 0, "sensitive", "media-exposure"),
        ("still broken", None, {}, 3, "high", "repeat-complainer"),
        ("still broken", None, {}, 2, "normal", None),
        ("a suggestion for the app", None, {}, 0, "low", "feedback"),
        ("VIP here, my charger caught fire", "vip", {}, 0, "urgent", "safety-hazard"),
    ],
)
def test_shipped_rules(text, tier, meta, complaints, expected, rule):
    verdict = SHIPPED.classify(text, tier, meta, "webchat", complaints)
    assert (verdict.class_name, verdict.rule) == (expected, rule)


def test_channel_defaults_hints_and_channel_limited_rules():
    classifier = parse_rules(
        {
            "default_class": "normal",
            "channel_defaults": {"email": {"class": "low", "team": "mail"}, "x": "high"},
            "rules": [
                {"name": "english", "patterns": [r"^[\x00-\x7f]+$"], "language": "en"},
                {"name": "refund", "keywords": ["退款", "refund"], "skills": ["refunds"]},
                {"name": "weibo-all", "class": "high", "channels": ["weibo"], "team": "social"},
                {"name": "urgent", "class": "urgent", "keywords": ["fire"], "team": "safety"},
            ],
        },
        ORDER,
    )
    email = classifier.classify("I want a refund", channel_type="email")
    assert (email.class_name, email.rule, email.team) == ("low", "channel-default:email", "mail")
    assert email.skills == ("refunds",) and email.language == "en"
    assert classifier.classify("hi", channel_type="x").class_name == "high"
    weibo = classifier.classify("你好", channel_type="weibo")
    assert (weibo.class_name, weibo.rule, weibo.team, weibo.language) == (
        "high", "weibo-all", "social", None,
    )  # fmt: skip
    fire = classifier.classify("fire!", channel_type="email")
    assert (fire.class_name, fire.team) == ("urgent", "safety")  # the winning rule's team
    assert classifier.classify("hello", channel_type="webchat").rule is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"default_class": "critical"}, "default_class"),
        ({"rules": [{"name": "x", "class": "critical", "keywords": ["a"]}]}, "rules.0.class"),
        ({"rules": [{"name": "x", "class": "low"}]}, "at least one condition"),
        ({"rules": [{"name": "x", "patterns": ["(unclosed"]}]}, "rules.0.patterns"),
        ({"rules": [{"class": "low", "keywords": ["a"]}]}, "rules.0.name"),
        ({"rules": [{"name": "x", "keywords": "a"}, {"name": "x", "keywords": "b"}]}, "twice"),
        ({"rules": [{"name": "x", "repeat": {"count": 2, "window_hours": 0}}]}, "window_hours"),
        ({"channel_defaults": {"email": {"class": "nope"}}}, "channel_defaults.email.class"),
    ],
)
def test_bad_rules_name_the_field(doc: dict, field: str):
    with pytest.raises(RulesError, match=field.replace(".", r"\.")):
        parse_rules(doc, ORDER)


def test_repeat_window_is_known_to_the_inbox():
    assert SHIPPED.repeat_window_ms == 72 * 3_600_000
    assert parse_rules({"rules": []}, ORDER).repeat_window_ms == 0


def test_admins_rules_match_every_way_a_customer_types():
    """A keyword or a pattern written in Traditional matches Simplified text and the other way
    round, full-width too; a pattern with full-width characters of its own sees the message as
    written."""
    rules = parse_rules(
        {
            "rules": [
                {"name": "complaint", "class": "high", "keywords": ["投訴", "ＲＥＦＵＮＤ"]},
                {"name": "software", "class": "urgent", "patterns": ["(軟體|系統)故障"]},
                {"name": "exclaimed", "class": "low", "patterns": ["退款！"]},
            ]
        },
        ORDER,
    )
    assert rules.classify("我要投诉").rule == "complaint"
    assert rules.classify("我要投訴").rule == "complaint"
    assert rules.classify("refund please").rule == "complaint"
    assert rules.classify("软件故障").rule == "software"
    assert rules.classify("軟體故障").rule == "software"
    assert rules.classify("退款！").rule == "exclaimed"
    assert rules.classify("退款").rule is None


def _each_rule_alone(classifier, text: str) -> list[str]:
    """The rules whose own patterns and keywords match, with no screen in front of them."""
    forms = MessageForms(text)
    return [r.name for r in classifier.rules if r.matches(forms, None, {}, "webchat")]


def _screened(classifier, text: str) -> list[str]:
    forms = classifier.forms(text)
    return [r.name for r in classifier.rules if r.matches(forms, None, {}, "webchat")]


# Fragments of what the shipped patterns look for, and of what they must not take.
_FRAGMENTS = [
    *("fire", "burnt", "press", "express", "315", "A315", "３１５", "所有", "整批", "坏", "失灵"),
    *("all our units", "every of the machines", "media", " ", "!", "订单", "\n", "打", "12315"),
    *("批", "批次", "批量", "200台", "都", "过敏", "没有", "smoke", " detector", "swallowed"),
    *("孩子", "吞", "发", "抖音", "曝光", "度", "律师", "事务所", "the ", "units", "dead", "个"),
]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=10))
def test_skipping_patterns_changes_no_verdict_of_the_shipped_rules(parts: list[str]):
    """A pattern runs only on a message that holds one of the strings every match of it holds
    (gateway/textsearch/literals.py), the others behind one alternation first: the rules that
    match are the same as with every pattern searched."""
    assert SHIPPED.literals is not None
    text = "".join(parts)
    assert _screened(SHIPPED, text) == _each_rule_alone(SHIPPED, text)


@pytest.mark.parametrize(
    ("patterns", "text"),
    [
        # \1 would name the first pattern's group in the alternation: "aa" would not match
        (["(x)y", r"(a)\1"], "aa"),
        # (?x) would make every pattern verbose: "order number" would lose its space
        (["order number", "(?x) z z"], "order number"),
        (["(?P<d>[0-9])(?P=d)", "(?P<d>x)"], "77"),
    ],
)
def test_patterns_that_mean_something_else_in_an_alternation_run_alone(patterns, text):
    rules = parse_rules(
        {
            "rules": [
                {"name": f"r{i}", "class": "high", "patterns": [p]} for i, p in enumerate(patterns)
            ]
        },
        ORDER,
    )
    assert rules.screen is None
    assert rules.classify(text).class_name == "high"


def test_a_screen_that_runs_out_of_time_leaves_the_patterns_to_decide():
    """A backtracking pattern holds the alternation past its limit: the rules' own searches
    still find the other rule's match (the slow one gives up alone)."""
    rules = parse_rules(
        {
            "rules": [
                {"name": "slow", "class": "urgent", "patterns": ["([a-c]|[a-c][a-c])+$"]},
                {"name": "refund", "class": "high", "patterns": ["refund"]},
            ]
        },
        ORDER,
    )
    assert rules.screen is not None
    verdict = rules.classify("a" * 5_000 + "! refund")
    assert verdict.rule == "refund"
