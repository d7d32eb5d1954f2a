"""Dates and times for people, in their language (Babel's CLDR data), and the time zones.

The deployment's zone (setting ``time_zone``; empty: the host's) decides business hours and
report day boundaries; a customer's own zone (the Date header of their mail) is kept where we
quote them.
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time

from gateway.i18n.catalog import LANGUAGES, translate


def babel_locale(lang: str) -> str:
    """``zh-CN`` -> ``zh_Hans_CN``, ``zh-TW`` -> ``zh_Hant_TW``, ``en`` -> ``en``."""
    return {"zh-CN": "zh_Hans_CN", "zh-TW": "zh_Hant_TW"}.get(lang, "en")


def host_zone_name() -> str:
    """The host's IANA zone: $TZ, else /etc/timezone, else the /etc/localtime link; UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        link = os.readlink("/etc/localtime")
        candidates.append(link.split("zoneinfo/", 1)[1] if "zoneinfo/" in link else "")
    except OSError:
        pass
    for name in candidates:
        if name and valid_zone(name):
            return name
    return "UTC"


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str | None) -> tzinfo:
    """The zone a setting names; empty: the host's."""
    return ZoneInfo(name or host_zone_name())


def local_day(seconds: float, zone_name: str) -> str:
    """``YYYY-MM-DD`` of a moment in the deployment's zone (report days, daily counters)."""
    return datetime.fromtimestamp(seconds, tz=zone(zone_name)).strftime("%Y-%m-%d")


def format_datetime(when: datetime, lang: str, tz: tzinfo | None = None) -> str:
    """``2026年12月5日 21:44`` / ``Dec 5, 2026, 21:44``: a date and a 24-hour time, in ``tz``
    (else the zone ``when`` carries)."""
    lang = lang if lang in LANGUAGES else "zh-CN"
    local = when.astimezone(tz) if tz is not None else when
    locale = babel_locale(lang)
    day = format_date(local.date(), format="long" if lang != "en" else "medium", locale=locale)
    return f"{day} {format_time(local.time(), 'HH:mm', locale=locale)}"


def quote_attribution(lang: str, when: datetime | None, who: str) -> str:
    """The line above a quoted mail, in the zone of ``when`` (the customer's Date header):
    ``在 2026年12月5日 21:44，李伟 写道：``; English keeps its line,
    ``On 2026-12-05 21:44 UTC+08:00, x wrote:``."""
    if when is None:
        return translate(lang, "customer.email.quote_undated", who=who).strip()
    if lang == "en" or lang not in LANGUAGES:
        stamp = when.strftime("%Y-%m-%d %H:%M %Z").strip()
        return translate("en", "customer.email.quote", when=stamp, who=who).strip()
    return translate(lang, "customer.email.quote", when=format_datetime(when, lang), who=who)
