"""The verdict arguments of ingest.lua, packed once per SLA policy and classification variants
(gateway/ingest_args.py), are what packing every value afresh for each message gives: for
always-open classes (deadlines as offsets from now) and for business-hours ones (email in
config/sla.toml: deadlines across nights and weekends), message after message."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.classify import Variants, parse_rules
from gateway.ingest_args import VerdictArgs, deadlines, pack
from gateway.settings import config_dir
from router.sla import SlaPolicy, load_sla

SLA = load_sla(config_dir() / "sla.toml")
CLASSIFIER = parse_rules(
    {
        "default_class": "normal",
        "rules": [
            {"name": "fire", "class": "urgent", "keywords": ["fire"]},
            {"name": "vip", "class": "high", "tiers": ["vip", "gold"], "team": "vip-desk"},
            {"name": "repeat", "class": "high", "repeat": {"count": 2, "window_hours": 72}},
            {"name": "hint", "keywords": ["refund"], "skills": ["billing"], "language": "en"},
        ],
    },
    list(SLA.classes),
)
TEXTS = ["hello", "fire!", "refund please", "fire and refund"]
# Saturday 2026-12-05 23:59:59.999 UTC and around it, a Monday morning, a Tuesday noon.
NOWS = [1796515199999, 1796515200000, 1796547600000, 1796644800000, 1796724000123]


def _fresh(variants: Variants, sla: SlaPolicy, channel: str, now: int) -> list[bytes]:
    """Every value computed and packed for this message alone (what the inbox did before)."""
    lists: list[Any] = [
        len(variants.thresholds), *variants.thresholds, len(variants.tiers), *variants.tiers,
    ]  # fmt: skip
    out = [pack([*lists, "".join(chr(64 + n) for n in variants.numbers), len(variants.distinct)])]
    for verdict in variants.distinct:
        name = verdict.class_name
        skills = json.dumps(list(verdict.skills)) if verdict.skills else ""
        out.append(pack([name, sla.rank(name), verdict.rule or "",
                         *deadlines(sla, name, channel, now), verdict.team or "", skills,
                         verdict.language or ""]))  # fmt: skip
    return out


ARGS = VerdictArgs()  # one for the whole run, as an inbox keeps one


@settings(max_examples=200, deadline=None)
@given(
    text=st.sampled_from(TEXTS),
    tier=st.sampled_from([None, "VIP"]),
    channel=st.sampled_from(["api", "email", "wechat_oa"]),
    now=st.sampled_from(NOWS) | st.integers(1_700_000_000_000, 1_900_000_000_000),
)
def test_packed_once_equals_packed_afresh(
    text: str, tier: str | None, channel: str, now: int
) -> None:
    variants = CLASSIFIER.variants(text, tier, {}, channel)
    assert ARGS.args(variants, SLA, channel, now) == _fresh(variants, SLA, channel, now)


def test_business_hours_deadlines_are_not_offsets() -> None:
    """Email's classes run on business hours: the same message on Saturday night and on
    Tuesday noon gets deadlines that are not the same distance from now."""
    variants = CLASSIFIER.variants("hello", None, {}, "email")
    args = VerdictArgs()
    saturday, tuesday = NOWS[0], NOWS[3]
    on_saturday = args.args(variants, SLA, "email", saturday)
    on_tuesday = args.args(variants, SLA, "email", tuesday)
    assert on_saturday == _fresh(variants, SLA, "email", saturday)
    assert on_tuesday == _fresh(variants, SLA, "email", tuesday)
    first_due = deadlines(SLA, "normal", "email", saturday)[0]
    assert first_due - saturday != deadlines(SLA, "normal", "email", tuesday)[0] - tuesday


def test_a_new_sla_policy_is_packed_afresh() -> None:
    variants = CLASSIFIER.variants("hello", None, {}, "api")
    args = VerdictArgs()
    args.args(variants, SLA, "api", NOWS[0])
    stricter = load_sla(config_dir() / "sla.toml")
    normal = stricter.classes["normal"]
    stricter.classes["normal"] = replace(
        normal, first_response={**normal.first_response, "default": 1}
    )
    assert args.args(variants, stricter, "api", NOWS[0]) == _fresh(
        variants, stricter, "api", NOWS[0]
    )
    assert deadlines(stricter, "normal", "api", NOWS[0])[0] == NOWS[0] + 1000  # really new
