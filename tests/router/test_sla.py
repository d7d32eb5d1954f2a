"""SLA policies, the clocks a conversation has running, and the escalation steps of a breach."""

from __future__ import annotations

import pytest

from gateway.i18n.catalog import catalogue
from gateway.settings import config_dir
from router.escalation import PAUSED_RECHECK_MS, plan
from router.sla import SlaConfigError, load_sla, parse_sla, running_clocks, sla_to_doc

T = 1_773_360_000_000
SLA = load_sla(config_dir() / "sla.toml")


def test_shipped_policy():
    assert list(SLA.classes) == ["incident", "urgent", "sensitive", "high", "normal", "low"]
    incident = SLA.classes["incident"]
    assert incident.supervisor and not incident.widen and incident.queue_first
    assert SLA.raised("incident") is None
    assert SLA.classes["urgent"].first_response_seconds("email") == 900
    assert SLA.classes["sensitive"].supervisor and SLA.needs_supervisor("sensitive")
    normal = SLA.classes["normal"]
    assert normal.first_response_seconds("webchat") == 180
    assert normal.first_response_seconds("email") == 3600
    assert normal.target("resolution", "webchat") == 48 * 3600
    assert SLA.weight("email") == 0.5 and SLA.weight("webchat") == 1.0
    assert [s.action for s in SLA.escalation] == ["raise", "alert", "widen"]
    assert SLA.raised("normal") == "high" and SLA.raised("urgent") is None


def test_document_round_trips_through_the_api_shape():
    again = parse_sla(sla_to_doc(SLA))
    assert sla_to_doc(again) == sla_to_doc(SLA)
    assert list(again.classes) == list(SLA.classes)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"classes": {"urgent": {"first_response": 60}}}, "classes.normal"),
        ({"classes": {"normal": {"first_response": "soon"}}}, "classes.normal.first_response"),
        ({"classes": {"normal": {"first_response": {"email": 60}}}}, "default"),
        ({"classes": {"normal": {"first_response": -5}}}, "positive"),
        ({"classes": {"normal": {"first_response": 60, "calendar": "office"}}}, "calendar"),
        ({"classes": {"normal": {"first_response": 60}}, "weights": {"email": 0}}, "weights"),
        (
            {"classes": {"normal": {"first_response": 60}}, "escalation": {"steps": [{}]}},
            "escalation.steps.0.action",
        ),
        ({"classes": [{"first_response": 60}]}, "classes.0"),
        ({"classes": {"Normal!": {"first_response": 60}}}, "lowercase"),
    ],
)
def test_bad_policies_name_the_field(doc: dict, field: str):
    with pytest.raises(SlaConfigError, match=field.replace(".", r"\.")):
        parse_sla(doc)


def row(**kw: object) -> dict[str, str]:
    base = {
        "status": "open",
        "priority": "normal",
        "waiting_since": str(T),
        "first_response_due": str(T + 180_000),
        "resolution_due": str(T + 48 * 3_600_000),
    }
    base.update({k: str(v) for k, v in kw.items() if v is not None})
    return {k: v for k, v in base.items() if v != "None"}


def test_running_clocks():
    assert [c.name for c in running_clocks(row())] == ["first_response", "resolution"]
    answered = row(first_response_at=T + 1, waiting_since="None")
    assert [c.name for c in running_clocks(answered)] == ["resolution"]
    again = row(first_response_at=T + 1, next_response_due=T + 900_000)
    assert [c.name for c in running_clocks(again)] == ["next_response", "resolution"]
    assert running_clocks(row(status="snoozed")) == []  # paused
    assert running_clocks(row(status="pending")) == []
    assert running_clocks(row(status="resolved")) == []


def test_escalation_steps_in_order():
    before = plan(row(), SLA, T + 179_000)
    assert before.actions == () and before.next_check == T + 180_000
    at_breach = plan(row(), SLA, T + 180_000)
    assert [a.kind for a in at_breach.actions] == ["raise", "alert"]
    assert at_breach.new_class == "high" and at_breach.level == 2
    assert at_breach.next_check == T + 180_000 + 120_000  # widen is 2 minutes after
    assert "raised from normal to high" in at_breach.actions[0].describe(at_breach.breach, "normal")

    recorded = row(priority="high", sla_breach=at_breach.breach.id, sla_level=2)
    same = plan(recorded, SLA, T + 200_000)
    assert same.actions == () and same.next_check == T + 300_000
    widen = plan(recorded, SLA, T + 300_000)
    assert [a.kind for a in widen.actions] == ["widen"] and widen.previous_level == 2
    assert widen.new_class is None
    done = plan({**recorded, "sla_level": "3"}, SLA, T + 400_000)
    assert done.actions == () and done.next_check == T + 48 * 3_600_000


def test_an_incident_breach_alerts_but_stays_with_supervisors():
    late = plan(row(priority="incident", first_response_due=T + 1_800_000), SLA, T + 3_600_000)
    assert [a.kind for a in late.actions] == ["raise", "alert", "keep"]
    assert late.new_class is None  # the top class: nothing to raise it to
    assert "kept for supervisors" in late.actions[2].describe(late.breach, "incident")


def test_late_check_runs_every_due_step_at_once_and_a_new_breach_starts_over():
    late = plan(row(), SLA, T + 3_600_000)
    assert [a.kind for a in late.actions] == ["raise", "alert", "widen"]
    answered_then_waiting = row(
        priority="high",
        first_response_at=T + 100_000,
        next_response_due=T + 500_000,
        sla_breach=f"first_response:{T + 180_000}",
        sla_level=3,
    )
    again = plan(answered_then_waiting, SLA, T + 500_000)
    assert again.breach.name == "next_response" and again.previous_level == 0
    assert again.new_class == "urgent"  # raised once more


def test_paused_conversations_do_not_escalate():
    paused = plan(row(status="snoozed"), SLA, T + 3_600_000)
    assert paused.actions == () and paused.next_check == T + 3_600_000 + PAUSED_RECHECK_MS


def test_every_escalation_line_has_its_words_in_each_console_language():
    """The console shows an escalation line from its catalogue key in the agent's language;
    the clock and the classes it names are catalogue keys too."""
    late = plan(row(), SLA, T + 3_600_000)
    incident = plan(row(priority="incident", first_response_due=T + 1_800_000), SLA, T + 3_600_000)
    lines = [a.event(late.breach, "normal") for a in late.actions]
    lines += [a.event(incident.breach, "incident") for a in incident.actions]
    assert [key for key, _ in lines] == [
        "sla_raised", "sla_alerted", "sla_widened", "sla_top", "sla_alerted", "sla_kept",
    ]  # fmt: skip
    assert lines[0][1] == {"clock": "first_response", "from": "normal", "to": "high"}
    for lang in ("en", "zh-CN"):
        words = catalogue(lang)
        for key, params in lines:
            text = words[f"console.event.{key}"]
            assert all("{" + name + "}" in text for name in params)
            assert f"console.sla.clock.{params['clock']}" in words
            for name in ("from", "to", "priority"):
                if name in params:
                    assert f"console.priority.{params[name]}" in words
        for clock in ("first_response", "next_response", "resolution"):
            assert f"console.sla.clock.{clock}" in words
