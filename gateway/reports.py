"""Report figures from conversation records: pure functions, no I/O (gateway/reports_store.py
reads the records from Redis). Times are epoch milliseconds; durations are seconds.

Durations (first response, resolution) are counted in the calendar of the conversation's class
and channel (router/calendar.py), as the SLA clocks are: an email that arrives on Friday at 17:30
and is answered on Monday at 09:30 waited 60 business minutes with 09:00-18:00 opening hours.
Percentiles use the nearest-rank method (p50 of 1, 2, 3, 4 is 2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from router.sla import SlaPolicy

GROUPS = ("channel", "team", "agent", "class", "all")
# A rating of 4 or 5 counts as satisfied (the CSAT score is their share of the ratings).
SATISFIED = 4
UNTAGGED = "(untagged)"
NO_PRODUCT = "(none)"


@dataclass(frozen=True)
class ConvRecord:
    id: str
    channel_type: str
    created_at: int
    priority: str = "normal"
    team: str = ""
    agent: str = ""
    channel_id: str = ""
    first_wait_start: int | None = None
    first_response_at: int | None = None
    first_response_due: int | None = None
    resolved_at: int | None = None
    resolution_due: int | None = None
    reopened: int = 0
    survey_sent_at: int | None = None
    csat_score: int | None = None
    tags: tuple[str, ...] = ()
    product: str = ""
    assigned_at: int | None = None
    weight: float = 1.0

    @classmethod
    def from_hash(cls, row: dict[str, str]) -> ConvRecord:
        def num(name: str) -> int | None:
            value = row.get(name)
            return int(float(value)) if value not in (None, "") else None

        tags = list(_json_list(row.get("tags")))
        rule = row.get("priority_rule") or ""
        # Tags of the classification rules: the rule that classed the conversation.
        if rule and not rule.startswith(("channel-default:", "escalation:")):
            tags.append(f"rule:{rule}")
        return cls(
            id=row.get("id", ""),
            channel_type=row.get("channel_type", ""),
            channel_id=row.get("channel_id", ""),
            created_at=num("created_at") or 0,
            priority=row.get("priority") or "normal",
            team=row.get("team") or "",
            agent=row.get("assignee") or row.get("last_agent") or "",
            first_wait_start=num("first_wait_start"),
            first_response_at=num("first_response_at"),
            first_response_due=num("first_response_due"),
            resolved_at=num("resolved_at") if row.get("status") == "resolved" else None,
            resolution_due=num("resolution_due"),
            reopened=num("reopened") or 0,
            survey_sent_at=num("survey_sent_at"),
            csat_score=num("csat_score"),
            tags=tuple(dict.fromkeys(tags)),
            product=row.get("product") or "",
            assigned_at=num("assigned_at"),
            weight=float(row.get("weight") or 1.0),
        )


def _json_list(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def group_key(rec: ConvRecord, by: str) -> str:
    if by == "channel":
        return rec.channel_type
    if by == "team":
        return rec.team or "(none)"
    if by == "agent":
        return rec.agent or "(unassigned)"
    if by == "class":
        return rec.priority
    return "all"


@dataclass
class _Acc:
    volume: int = 0
    first_response: list[float] = field(default_factory=list)
    within_target: int = 0
    target_decided: int = 0
    resolution: list[float] = field(default_factory=list)
    sla_met: int = 0
    sla_decided: int = 0
    reopened: int = 0
    surveys: int = 0
    ratings: list[int] = field(default_factory=list)


def summarize(
    records: Iterable[ConvRecord], sla: SlaPolicy, by: str, now: int
) -> list[dict[str, Any]]:
    """One row per group: volume, first response p50/p90 and share within target, resolution
    p50/p90, SLA attainment, reopen rate, CSAT score and response rate.

    A conversation counts toward "within target" and SLA attainment once it is decided: answered
    (resolved, for the resolution clock) or past its deadline at `now` without it.
    """
    if by not in GROUPS:
        raise ValueError(f"group by one of {', '.join(GROUPS)}")
    groups: dict[str, _Acc] = {}
    for rec in records:
        acc = groups.setdefault(group_key(rec, by), _Acc())
        _add(acc, rec, sla, now)
    return [_row(by, key, acc) for key, acc in sorted(groups.items())]


def _add(acc: _Acc, rec: ConvRecord, sla: SlaPolicy, now: int) -> None:
    acc.volume += 1
    calendar = sla.calendar(rec.priority, rec.channel_type)
    target = sla.policy(rec.priority).first_response_seconds(rec.channel_type)
    start = rec.first_wait_start or rec.created_at
    if rec.first_response_at is not None:
        waited = calendar.business_seconds(start, rec.first_response_at)
        acc.first_response.append(waited)
        acc.target_decided += 1
        acc.within_target += waited <= target
    elif calendar.business_seconds(start, now) > target:
        acc.target_decided += 1  # still unanswered and already late
    if rec.resolved_at is not None:
        acc.resolution.append(calendar.business_seconds(rec.created_at, rec.resolved_at))
    # SLA attainment: every clock that has a verdict kept its deadline.
    verdicts = []
    if rec.first_response_due is not None:
        if rec.first_response_at is not None:
            verdicts.append(rec.first_response_at <= rec.first_response_due)
        elif now > rec.first_response_due:
            verdicts.append(False)
    if rec.resolution_due is not None:
        if rec.resolved_at is not None:
            verdicts.append(rec.resolved_at <= rec.resolution_due)
        elif now > rec.resolution_due:
            verdicts.append(False)
    if verdicts:
        acc.sla_decided += 1
        acc.sla_met += all(verdicts)
    acc.reopened += rec.reopened > 0
    acc.surveys += rec.survey_sent_at is not None
    if rec.csat_score is not None:
        acc.ratings.append(rec.csat_score)


def _row(by: str, key: str, acc: _Acc) -> dict[str, Any]:
    ratings = acc.ratings
    return {
        "group": by,
        "key": key,
        "volume": acc.volume,
        "first_response_p50": percentile(acc.first_response, 50),
        "first_response_p90": percentile(acc.first_response, 90),
        "within_target": _share(acc.within_target, acc.target_decided),
        "resolution_p50": percentile(acc.resolution, 50),
        "resolution_p90": percentile(acc.resolution, 90),
        "sla_attainment": _share(acc.sla_met, acc.sla_decided),
        "reopen_rate": _share(acc.reopened, acc.volume),
        "csat_score": _share(sum(r >= SATISFIED for r in ratings), len(ratings)),
        "csat_average": round(sum(ratings) / len(ratings), 3) if ratings else None,
        "csat_response_rate": _share(len(ratings), acc.surveys),
    }


def iso_week(ms: int, zone: tzinfo = UTC) -> str:
    year, week, _ = datetime.fromtimestamp(ms / 1000, tz=zone).isocalendar()
    return f"{year}-W{week:02d}"


def heat_map(records: Iterable[ConvRecord], zone: tzinfo = UTC) -> list[dict[str, Any]]:
    """Conversations by tag x product x ISO week (weeks start on Monday midnight in ``zone``,
    the deployment's); a conversation counts once per tag."""
    cells: dict[tuple[str, str, str], int] = {}
    for rec in records:
        week = iso_week(rec.created_at, zone)
        for tag in rec.tags or (UNTAGGED,):
            cell = (tag, rec.product or NO_PRODUCT, week)
            cells[cell] = cells.get(cell, 0) + 1
    return [
        {"tag": tag, "product": product, "week": week, "count": count}
        for (tag, product, week), count in sorted(cells.items())
    ]


# A text cell starting with one of these is a formula to a spreadsheet (CSV injection): a tag,
# an agent's or a product's name such as =HYPERLINK(...) must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as one safe CSV field. None -> empty. Text a spreadsheet would run as a formula
    gets a leading single quote (OWASP); numbers stay numbers (never a formula). Quoted when it
    holds a comma, a quote, a CR or an LF (Python's csv module leaves a bare CR unquoted when the
    line ends in LF, which would split the row)."""
    if value is None:
        return ""
    text = str(value)
    if (isinstance(value, bool) or not isinstance(value, (int, float))) and text.startswith(
        FORMULA_START
    ):
        text = "'" + text
    if any(c in text for c in ',"\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Any report's rows as CSV (columns in the order of the first row; every field through
    ``csv_cell``)."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = [",".join(csv_cell(c) for c in columns)]
    lines += [",".join(csv_cell(row.get(c)) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


# --- occupancy -----------------------------------------------------------------------------------
AVAILABLE = frozenset({"online"})


def online_intervals(events: list[tuple[int, str]], start: int, end: int) -> list[tuple[int, int]]:
    """Intervals within [start, end) when the agent was online, from their status changes
    (time, status), which may begin before `start`."""
    out: list[tuple[int, int]] = []
    since: int | None = None
    for at, status in sorted(events):
        if at >= end:
            break
        if status in AVAILABLE and since is None:
            since = at
        elif status not in AVAILABLE and since is not None:
            if at > start:
                out.append((max(since, start), at))
            since = None
    if since is not None:
        out.append((max(since, start), end))
    return [(lo, hi) for lo, hi in out if hi > lo]


def occupancy(
    handled: list[ConvRecord],
    events: list[tuple[int, str]],
    capacity: float,
    start: int,
    end: int,
) -> float | None:
    """Share of the agent's capacity used while online: the weight of the conversations held
    (accepted until resolved, or until `end`) x time, over capacity x online time."""
    online = online_intervals(events, start, end)
    available = capacity * sum(hi - lo for lo, hi in online)
    if available <= 0:
        return None
    used = 0.0
    for rec in handled:
        if rec.assigned_at is None:
            continue
        held = (rec.assigned_at, rec.resolved_at if rec.resolved_at is not None else end)
        for lo, hi in online:
            overlap = min(held[1], hi) - max(held[0], lo)
            if overlap > 0:
                used += rec.weight * overlap
    return round(used / available, 4)
