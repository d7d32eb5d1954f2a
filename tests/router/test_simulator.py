"""The simulator runs the production router on a small scenario: ours attains more of the SLA
than round robin. (The full comparison on the peak day is bench/simulate_peak_day.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from router.scenario import ScenarioError, arrivals, load_scenario, parse_scenario
from router.simulator import simulate


def test_small_scenario_ours_beats_round_robin(redis_url: str, prefix: str):
    scenario = load_scenario("small")
    ours, round_robin = simulate(
        scenario,
        ("ours", "chatwoot-v1-round-robin"),
        redis_url=redis_url,
        processes=1,
        prefix=prefix,
    )
    assert ours["conversations"] == round_robin["conversations"] == len(arrivals(scenario))
    assert ours["sla_attainment"] > round_robin["sla_attainment"]
    assert ours["urgent_within_15min"] == 1.0
    assert ours["escalation_steps_logged"] > 0 and round_robin["escalation_steps_logged"] == 0


def test_arrivals_are_seeded_and_shared_by_every_policy():
    scenario = load_scenario("small")
    first, again = arrivals(scenario), arrivals(scenario)
    assert first == again
    assert {a.channel for a in first} == {"webchat", "wechat_oa", "email"}
    assert any(a.tier == "vip" for a in first) and any(a.class_name == "urgent" for a in first)


def test_cli_prints_json_and_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    chart = tmp_path / "waits.png"
    code = main(
        ["simulate", "small", "--json", "--policies", "ours", "--processes", "1",
         "--chart", str(chart)]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"] == "small" and out["policies"][0]["policy"] == "ours"
    assert set(out["policies"][0]["first_response_wait_s"]) == {"webchat", "wechat_oa", "email"}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_names_a_bad_scenario_or_policy(capsys: pytest.CaptureFixture[str]):
    assert main(["simulate", "no-such-scenario"]) == 2
    assert "no scenario" in capsys.readouterr().err
    assert main(["simulate", "small", "--policies", "fifo"]) == 2
    assert "unknown policy" in capsys.readouterr().err


def test_bad_scenarios_are_named():
    with pytest.raises(ScenarioError, match=r"channels\.fax"):
        parse_scenario({"channels": {"fax": {"rates": [1] * 24}}, "agents": []})
    with pytest.raises(ScenarioError, match="24 hourly rates"):
        parse_scenario({"channels": {"email": {"rates": [1]}}, "agents": []})
    with pytest.raises(ScenarioError, match="agents"):
        parse_scenario({"channels": {}})


def test_a_night_shift_of_one_who_misses_offers_still_answers_everything(
    redis_url: str, prefix: str
):
    """One agent on duty who lets half the offers time out: every conversation is offered to
    her again (nobody else may take it) and answered; none is stranded."""
    night = parse_scenario(
        {
            "name": "night-of-one",
            "seed": 5,
            "hours": 1,
            "drain_hours": 1,
            "behaviour": {"miss_rate": 0.5, "max_missed_offers": 50, "returning_rate": 0},
            "channels": {"webchat": {"rates": [12] + [0] * 23, "handle_minutes": 3}},
            "agents": [{"name": "night", "count": 1, "shift": "00:00-02:00", "capacity": 3}],
        }
    )
    (ours,) = simulate(night, ("ours",), redis_url=redis_url, processes=1, prefix=prefix)
    assert ours["conversations"] > 5
    assert ours["missed_offers"] > 0 and ours["offered_again_after_a_miss"] > 0
    assert ours["answered"] == ours["conversations"]


def test_a_spike_is_one_incident_for_the_senior_and_chats_are_not_starved(
    redis_url: str, prefix: str
):
    """A night of three with one senior and a 60-mention spike, through the simulator (the
    production inbox, incidents and router): one incident, taken by the senior within 30
    minutes; the mentions are ordinary conversations, many answered by the bulk reply; web
    chats keep being answered in about a minute; no agent idle beside work."""
    night = parse_scenario(
        {
            "name": "small-spike",
            "seed": 7,
            "hours": 2,
            "drain_hours": 2,
            "behaviour": {"returning_rate": 0, "vip_customers": 0, "statement_minutes": 15},
            "channels": {
                "webchat": {"rates": [12, 12] + [0] * 22, "handle_minutes": 6},
                "weibo": {"rates": [2, 2] + [0] * 22, "handle_minutes": 5},
            },
            "bursts": [{"channel": "weibo", "start": "00:20", "minutes": 20, "count": 60,
                        "meta": {"spike": True}}],
            "agents": [
                {"name": "night", "count": 2, "shift": "00:00-04:00", "capacity": 3},
                {"name": "senior", "count": 1, "shift": "00:00-04:00", "capacity": 3,
                 "supervisor": True},
            ],
        }
    )  # fmt: skip
    (ours,) = simulate(night, ("ours",), redis_url=redis_url, processes=1, prefix=prefix)
    assert ours["incidents"] == 1
    assert ours["incident_taken_by_senior_30min"] == 1.0
    assert "sensitive" not in ours["sla_by_class"]  # not 60 supervisor-only conversations
    assert ours["mentions_answered_in_bulk"] > 0
    assert ours["first_response_wait_s"]["webchat"]["p90"] < 120
    assert ours["idle_with_work_s"] == 0
