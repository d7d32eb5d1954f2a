"""Business-hours calendars: when SLA clocks run.

A calendar is a time zone, opening hours per weekday and holidays. ``add`` moves a start time
forward by a number of *business* seconds; ``business_seconds`` measures the business time
between two instants. The built-in calendar ``always`` is open around the clock.
Pure functions of their arguments, so the simulator and the tests drive them with any clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "always"
# A calendar with no opening at all would make deadlines infinite: look this far at most.
_MAX_DAYS = 400


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: str = "UTC"
    # weekday (0 = Monday) -> opening intervals in minutes since local midnight
    hours: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _intervals(self, day: date) -> list[tuple[int, int]]:
        """Opening intervals of a local day, as epoch milliseconds."""
        if day in self.holidays:
            return []
        out = []
        for start_min, end_min in self.hours.get(day.weekday(), ()):
            start = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
                minutes=start_min
            )
            end = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
                minutes=end_min
            )
            out.append((int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
        return out

    def _local_day(self, ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, tz=self.tz).date()

    def add(self, start_ms: int, seconds: float) -> int:
        """The instant when ``seconds`` of business time have passed since ``start_ms``."""
        if self.always_open:
            return start_ms + int(seconds * 1000)
        remaining = int(seconds * 1000)
        day = self._local_day(start_ms)
        for _ in range(_MAX_DAYS):
            for open_ms, close_ms in self._intervals(day):
                begin = max(open_ms, start_ms)
                if begin >= close_ms:
                    continue
                if begin + remaining <= close_ms:
                    return begin + remaining
                remaining -= close_ms - begin
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.name!r} has no opening hours within {_MAX_DAYS} days")

    def business_seconds(self, start_ms: int, end_ms: int) -> float:
        """Business time between two instants (0 when end is not after start)."""
        if end_ms <= start_ms:
            return 0.0
        if self.always_open:
            return (end_ms - start_ms) / 1000
        total = 0
        day = self._local_day(start_ms)
        last = self._local_day(end_ms)
        while day <= last:
            for open_ms, close_ms in self._intervals(day):
                lo, hi = max(open_ms, start_ms), min(close_ms, end_ms)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total / 1000

    def is_open(self, ms: int) -> bool:
        if self.always_open:
            return True
        return any(lo <= ms < hi for lo, hi in self._intervals(self._local_day(ms)))


ALWAYS_OPEN = Calendar(ALWAYS, always_open=True)


def _minutes(text: str, where: str) -> int:
    try:
        hh, mm = text.strip().split(":")
        value = int(hh) * 60 + int(mm)
    except ValueError:
        raise CalendarError(f"{where}: {text!r} is not HH:MM") from None
    if not 0 <= value <= 24 * 60:
        raise CalendarError(f"{where}: {text!r} is out of range")
    return value


def _ranges(spec: Any, where: str) -> tuple[tuple[int, int], ...]:
    """'09:00-18:00', '09:00-12:00,13:00-18:00', a list of those, or '' (closed)."""
    items = spec if isinstance(spec, list) else [spec]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise CalendarError(f"{where}: expected 'HH:MM-HH:MM' text")
        for part in filter(None, (p.strip() for p in item.split(","))):
            start, sep, end = part.partition("-")
            if not sep:
                raise CalendarError(f"{where}: {part!r} is not HH:MM-HH:MM")
            lo, hi = _minutes(start, where), _minutes(end, where)
            if hi <= lo:
                raise CalendarError(f"{where}: {part!r} ends before it starts")
            out.append((lo, hi))
    return tuple(sorted(out))


# The zone of a calendar that names none: the deployment's (setting time_zone, else the host's),
# set once at start by the gateway (set_default_zone); UTC until then.
_DEFAULT_ZONE = {"name": "UTC"}


def set_default_zone(name: str) -> None:
    ZoneInfo(name)  # an unknown name fails here, at start
    _DEFAULT_ZONE["name"] = name


def default_zone() -> str:
    return _DEFAULT_ZONE["name"]


def parse_calendar(name: str, spec: dict[str, Any]) -> Calendar:
    """From config: {timezone, hours = {mon = "09:00-18:00", ...}, holidays = ["2026-10-01"]};
    no timezone: the deployment's (``default_zone``)."""
    if not isinstance(spec, dict):
        raise CalendarError(f"calendars.{name}: expected a table")
    timezone = str(spec.get("timezone") or default_zone())
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"calendars.{name}.timezone: unknown zone {timezone!r}") from None
    hours_spec = spec.get("hours", {})
    if not isinstance(hours_spec, dict):
        raise CalendarError(f"calendars.{name}.hours: expected a table of weekdays")
    hours: dict[int, tuple[tuple[int, int], ...]] = {}
    for day_name, ranges in hours_spec.items():
        if day_name not in DAYS:
            raise CalendarError(f"calendars.{name}.hours: unknown day {day_name!r}")
        hours[DAYS.index(day_name)] = _ranges(ranges, f"calendars.{name}.hours.{day_name}")
    holidays = set()
    for value in spec.get("holidays", []):
        try:
            holidays.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise CalendarError(f"calendars.{name}.holidays: {value!r} is not a date") from None
    if not any(hours.values()):
        raise CalendarError(f"calendars.{name}: no opening hours")
    return Calendar(name, timezone, hours, frozenset(holidays))


def calendar_to_dict(cal: Calendar) -> dict[str, Any]:
    def fmt(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return {
        "timezone": cal.timezone,
        "hours": {
            DAYS[d]: ",".join(f"{fmt(lo)}-{fmt(hi)}" for lo, hi in ranges)
            for d, ranges in sorted(cal.hours.items())
        },
        "holidays": sorted(d.isoformat() for d in cal.holidays),
    }
