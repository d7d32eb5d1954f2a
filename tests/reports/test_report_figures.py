"""Report figures from a fixture of conversations with known times, against hand-computed
answers. Email (class normal) counts business hours: the shipped calendar is Asia/Shanghai,
09:00-18:00 Monday to Friday; Friday 2026-11-20 to Monday 2026-11-23 crosses a weekend."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.reports import (
    ConvRecord,
    heat_map,
    iso_week,
    occupancy,
    online_intervals,
    percentile,
    summarize,
    to_csv,
)
from router.sla import load_sla

SLA = load_sla(Path(__file__).resolve().parents[2] / "config" / "sla.toml")
TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime(2026, 11, day, hh, mm, ss, tzinfo=TZ).timestamp() * 1000)


FAR = at(30, 12, 0)
NOW = at(23, 12, 0)  # Monday noon

RECORDS = [
    # Friday 17:30 -> Monday 09:20: 30 + 20 = 50 business minutes (3000 s), within 1 h.
    ConvRecord(
        "E1",
        "email",
        at(20, 17, 30),
        first_response_at=at(23, 9, 20),
        first_response_due=at(23, 9, 30),
        resolved_at=at(23, 10, 0),
        resolution_due=FAR,
        survey_sent_at=at(23, 10, 0),
        agent="a1",
        team="mail",
    ),
    # Friday 17:50 -> Monday 09:15: 10 + 15 = 25 minutes (1500 s); not resolved yet.
    ConvRecord(
        "E2",
        "email",
        at(20, 17, 50),
        first_response_at=at(23, 9, 15),
        first_response_due=at(23, 9, 50),
        resolution_due=FAR,
        agent="a1",
        team="mail",
    ),
    # Monday 09:00 -> 10:30: 5400 s, late (due 10:00); resolved 11:00 (7200 s); reopened.
    ConvRecord(
        "E3",
        "email",
        at(23, 9, 0),
        first_response_at=at(23, 10, 30),
        first_response_due=at(23, 10, 0),
        resolved_at=at(23, 11, 0),
        resolution_due=FAR,
        reopened=1,
        survey_sent_at=at(23, 11, 0),
        csat_score=2,
        agent="a2",
        team="mail",
    ),
    # Friday 17:00, never answered: at Monday noon 1 h + 3 h of business time, late.
    ConvRecord(
        "E4",
        "email",
        at(20, 17, 0),
        first_response_due=at(20, 18, 0),
        resolution_due=FAR,
        team="mail",
    ),
    # Web chat counts wall-clock time ("always"): 150 s, within 3 minutes; resolved after 720 s.
    ConvRecord(
        "W1",
        "webchat",
        at(20, 17, 58),
        first_response_at=at(20, 18, 0, 30),
        first_response_due=at(20, 18, 1),
        resolved_at=at(20, 18, 10),
        resolution_due=FAR,
        survey_sent_at=at(20, 18, 10),
        csat_score=5,
        agent="a1",
    ),
    # Saturday: 300 s, late.
    ConvRecord(
        "W2",
        "webchat",
        at(21, 10, 0),
        first_response_at=at(21, 10, 5),
        first_response_due=at(21, 10, 3),
        resolution_due=FAR,
        survey_sent_at=at(21, 10, 5),
        csat_score=4,
        agent="a2",
    ),
]


def by_key(rows):
    return {r["key"]: r for r in rows}


def test_deadlines_of_the_fixture_cross_the_weekend_as_the_sla_does():
    assert SLA.first_response_due("normal", "email", at(20, 17, 30)) == at(23, 9, 30)
    assert SLA.first_response_due("normal", "email", at(20, 17, 0)) == at(20, 18, 0)


def test_per_channel_figures_match_hand_computed_answers():
    rows = by_key(summarize(RECORDS, SLA, "channel", NOW))
    email = rows["email"]
    assert email["volume"] == 4
    assert email["first_response_p50"] == 3000  # of 1500, 3000, 5400
    assert email["first_response_p90"] == 5400
    assert email["within_target"] == 0.5  # E1, E2 of E1..E4 (E4 is late unanswered)
    assert email["resolution_p50"] == 5400  # E1: 30 min Friday + 60 min Monday
    assert email["resolution_p90"] == 7200  # E3
    assert email["sla_attainment"] == 0.5  # E1, E2 met; E3, E4 missed
    assert email["reopen_rate"] == 0.25
    assert email["csat_score"] == 0.0
    assert email["csat_average"] == 2.0
    assert email["csat_response_rate"] == 0.5  # E3 of E1, E3
    chat = rows["webchat"]
    assert (chat["volume"], chat["first_response_p50"], chat["first_response_p90"]) == (2, 150, 300)
    assert chat["within_target"] == 0.5
    assert (chat["resolution_p50"], chat["resolution_p90"]) == (720, 720)
    assert chat["sla_attainment"] == 0.5
    assert chat["reopen_rate"] == 0.0
    assert (chat["csat_score"], chat["csat_average"], chat["csat_response_rate"]) == (1.0, 4.5, 1.0)


def test_per_agent_team_and_total():
    agents = by_key(summarize(RECORDS, SLA, "agent", NOW))
    assert {k: r["volume"] for k, r in agents.items()} == {"a1": 3, "a2": 2, "(unassigned)": 1}
    # a1: E1 3000 s, E2 1500 s (business), W1 150 s (wall clock)
    assert agents["a1"]["first_response_p50"] == 1500
    assert agents["a1"]["within_target"] == 1.0
    teams = by_key(summarize(RECORDS, SLA, "team", NOW))
    assert teams["mail"]["volume"] == 4 and teams["(none)"]["volume"] == 2
    total = summarize(RECORDS, SLA, "all", NOW)
    assert len(total) == 1 and total[0]["volume"] == 6
    assert total[0]["sla_attainment"] == 0.5  # E1, E2, W1 of six
    assert total[0]["csat_score"] == pytest.approx(2 / 3, abs=1e-4)


def test_a_later_now_decides_an_unanswered_conversation():
    early = [ConvRecord("X", "email", at(20, 17, 30), first_response_due=at(23, 9, 30))]
    # Friday 17:50: 20 business minutes waited, not late yet -> no verdict.
    row = summarize(early, SLA, "all", at(20, 17, 50))[0]
    assert row["within_target"] is None and row["sla_attainment"] is None
    # Monday 09:20: 30 + 20 = 50 business minutes, still within the hour.
    row = summarize(early, SLA, "all", at(23, 9, 20))[0]
    assert row["within_target"] is None and row["sla_attainment"] is None
    # Monday 09:40: 70 business minutes, late on both counts.
    row = summarize(early, SLA, "all", at(23, 9, 40))[0]
    assert row["within_target"] == 0.0 and row["sla_attainment"] == 0.0


def test_unknown_grouping_refused():
    with pytest.raises(ValueError):
        summarize(RECORDS, SLA, "weather", NOW)


def test_percentile_nearest_rank():
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile([4, 1, 3, 2], 90) == 4
    assert percentile([], 50) is None


def test_heat_map_counts_tags_products_and_weeks():
    rows = [
        ConvRecord("a", "email", at(20, 10, 0), tags=("refund", "late"), product="kettle"),
        ConvRecord("b", "email", at(20, 11, 0), tags=("refund",), product="kettle"),
        ConvRecord("c", "email", at(23, 10, 0), tags=("refund",), product="kettle"),
        ConvRecord("d", "email", at(23, 10, 0)),
    ]
    cells = {(r["tag"], r["product"], r["week"]): r["count"] for r in heat_map(rows)}
    w47, w48 = iso_week(at(20, 10, 0)), iso_week(at(23, 10, 0))
    assert (w47, w48) == ("2026-W47", "2026-W48")
    assert cells == {
        ("refund", "kettle", w47): 2,
        ("late", "kettle", w47): 1,
        ("refund", "kettle", w48): 1,
        ("(untagged)", "(none)", w48): 1,
    }


def test_rule_tags_come_from_the_classification_rule():
    rec = ConvRecord.from_hash(
        {
            "id": "c1",
            "channel_type": "email",
            "created_at": "1",
            "priority_rule": "media",
            "tags": '["refund"]',
            "status": "resolved",
            "resolved_at": "5",
        }
    )
    assert rec.tags == ("refund", "rule:media") and rec.resolved_at == 5
    plain = ConvRecord.from_hash(
        {
            "id": "c2",
            "channel_type": "email",
            "created_at": "1",
            "priority_rule": "channel-default:email",
            "status": "open",
            "resolved_at": "5",
        }
    )
    assert plain.tags == () and plain.resolved_at is None


def test_csv_export():
    text = to_csv([{"key": "email", "volume": 4, "csat_score": None}])
    assert text == "key,volume,csat_score\nemail,4,\n"


def test_occupancy_over_online_time():
    # Online 09:00-12:00, away 12:00-13:00, online 13:00-18:00: 8 hours online.
    events = [
        (at(23, 8, 0), "offline"),
        (at(23, 9, 0), "online"),
        (at(23, 12, 0), "away"),
        (at(23, 13, 0), "online"),
        (at(23, 18, 0), "offline"),
    ]
    start, end = at(23, 0, 0), at(24, 0, 0)
    assert online_intervals(events, start, end) == [
        (at(23, 9, 0), at(23, 12, 0)),
        (at(23, 13, 0), at(23, 18, 0)),
    ]
    held = [
        # A chat held 10:00-11:00 (weight 1): 1 hour.
        ConvRecord(
            "a", "webchat", at(23, 10, 0), assigned_at=at(23, 10, 0), resolved_at=at(23, 11, 0)
        ),
        # An email (0.5) held 11:30-14:00, of which 11:30-12:00 and 13:00-14:00 online: 0.75 h.
        ConvRecord(
            "b",
            "email",
            at(23, 11, 0),
            assigned_at=at(23, 11, 30),
            resolved_at=at(23, 14, 0),
            weight=0.5,
        ),
        # Still held at the end of the day: 17:00-18:00 online, weight 1: 1 hour.
        ConvRecord("c", "webchat", at(23, 17, 0), assigned_at=at(23, 17, 0)),
        # Never accepted: nothing.
        ConvRecord("d", "webchat", at(23, 17, 0)),
    ]
    # (1 + 0.75 + 1) hours over capacity 2 x 8 hours.
    assert occupancy(held, events, 2, start, end) == round(2.75 / 16, 4)
    # A range that starts while online counts from its start: 10:00-12:00 -> 2 h, chat 1 h.
    assert online_intervals(events, at(23, 10, 0), at(23, 12, 0)) == [
        (at(23, 10, 0), at(23, 12, 0))
    ]
    assert occupancy(held[:1], events, 1, at(23, 10, 0), at(23, 12, 0)) == 0.5
    assert occupancy(held, [], 2, start, end) is None  # never online
