"""Business-hours calendars: deadlines skip nights, weekends and holidays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from router.calendar import ALWAYS_OPEN, CalendarError, parse_calendar

CST = timezone(timedelta(hours=8))
CAL = parse_calendar(
    "business",
    {
        "timezone": "Asia/Shanghai",
        "hours": {d: "09:00-12:00,13:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-10-01"],
    },
)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=CST).timestamp() * 1000)


@pytest.mark.parametrize(
    ("start", "seconds", "due"),
    [
        (ms(2026, 3, 11, 10, 0), 3600, ms(2026, 3, 11, 11, 0)),  # inside hours
        (ms(2026, 3, 11, 11, 30), 3600, ms(2026, 3, 11, 13, 30)),  # across lunch
        (ms(2026, 3, 11, 7, 0), 600, ms(2026, 3, 11, 9, 10)),  # before opening
        (ms(2026, 3, 13, 17, 30), 3600, ms(2026, 3, 16, 9, 30)),  # Friday evening -> Monday
        (ms(2026, 3, 14, 12, 0), 60, ms(2026, 3, 16, 9, 1)),  # Saturday
        (ms(2026, 9, 30, 17, 0), 7200, ms(2026, 10, 2, 10, 0)),  # over a holiday
        (ms(2026, 3, 11, 9, 0), 48 * 3600, ms(2026, 3, 18, 18, 0)),  # six 8-hour days
    ],
)
def test_add_business_time(start: int, seconds: int, due: int):
    assert CAL.add(start, seconds) == due
    assert CAL.business_seconds(start, due) == seconds


def test_always_open_and_is_open():
    start = ms(2026, 3, 14, 3, 0)
    assert ALWAYS_OPEN.add(start, 900) == start + 900_000
    assert not CAL.is_open(start)
    assert CAL.is_open(ms(2026, 3, 13, 9, 0)) and not CAL.is_open(ms(2026, 3, 13, 12, 30))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"timezone": "Mars/Olympus", "hours": {"mon": "09:00-18:00"}}, "unknown zone"),
        ({"hours": {"funday": "09:00-18:00"}}, "unknown day"),
        ({"hours": {"mon": "18:00-09:00"}}, "ends before it starts"),
        ({"hours": {"mon": "9-5"}}, "HH:MM"),
        ({"hours": {"mon": ""}}, "no opening hours"),
        ({"hours": {"mon": "09:00-18:00"}, "holidays": ["tomorrow"]}, "not a date"),
    ],
)
def test_bad_calendars_are_named(spec: dict, problem: str):
    with pytest.raises(CalendarError, match=problem):
        parse_calendar("c", spec)
