"""Dates and times in a language and a zone; the mail quote line in the Date header's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.i18n import format_datetime, quote_attribution, zone
from gateway.i18n.formatting import host_zone_name, valid_zone


def test_format_datetime_in_each_language_and_zone() -> None:
    when = datetime(2026, 12, 5, 13, 44, tzinfo=UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert format_datetime(when, "zh-CN", shanghai) == "2026年12月5日 21:44"
    assert format_datetime(when, "zh-TW", shanghai) == "2026年12月5日 21:44"
    assert format_datetime(when, "en", shanghai) == "Dec 5, 2026 21:44"
    assert format_datetime(when, "zh-CN", ZoneInfo("America/New_York")) == "2026年12月5日 08:44"


def test_quote_line_keeps_the_customers_zone() -> None:
    east = datetime.fromisoformat("2026-12-05T21:44:00+08:00")
    west = datetime.fromisoformat("2026-12-05T08:44:00-05:00")  # the same instant
    assert quote_attribution("zh-CN", east, "李伟") == "在 2026年12月5日 21:44，李伟 写道："
    assert quote_attribution("zh-CN", west, "李伟") == "在 2026年12月5日 08:44，李伟 写道："
    assert quote_attribution("zh-TW", east, "李偉") == "於 2026年12月5日 21:44，李偉 寫道："
    assert quote_attribution("en", east, "Li Wei") == "On 2026-12-05 21:44 UTC+08:00, Li Wei wrote:"
    assert quote_attribution("en", west, "Li Wei") == "On 2026-12-05 08:44 UTC-05:00, Li Wei wrote:"
    assert quote_attribution("zh-CN", None, "李伟") == "李伟 写道："


def test_zone_setting_and_host_zone() -> None:
    assert zone("Asia/Shanghai") == ZoneInfo("Asia/Shanghai")
    assert valid_zone(host_zone_name())
    assert str(zone("")) == host_zone_name()
    assert not valid_zone("Mars/Olympus")


def test_reply_mail_quotes_in_the_customers_zone_and_the_channels_language() -> None:
    """The quote line of a real reply (adapters/email/compose.build_reply), as the email
    adapter stores the customer's Date header (ISO with its offset)."""
    from adapters.email.compose import build_reply

    def plain(date_header_iso: str, language: str) -> str:
        msg = build_reply(
            from_name="Tea Shop",
            from_address="support@shop.example.com",
            reply_to="support+t1@shop.example.com",
            to="li@example.cn",
            message_id="<r1@shop.example.com>",
            text="您好，已为您退款。",
            context={
                "quote": "退款什么时候到账？",
                "from_name": "李伟",
                "from": "li@example.cn",
                "date": date_header_iso,
            },
            language=language,
        )
        return msg.get_body(("plain",)).get_content()

    east = plain("2026-12-05T21:44:00+08:00", "zh-CN")
    assert "在 2026年12月5日 21:44，李伟 <li@example.cn> 写道：\n> 退款什么时候到账？" in east
    west = plain("2026-12-05T08:44:00-05:00", "zh-CN")
    assert "在 2026年12月5日 08:44，李伟 <li@example.cn> 写道：" in west
    tw = plain("2026-12-05T21:44:00+08:00", "zh-TW")
    assert "於 2026年12月5日 21:44，李伟 <li@example.cn> 寫道：" in tw
    en = plain("2026-12-05T08:44:00-05:00", "en")
    assert "On 2026-12-05 08:44 UTC-05:00, 李伟 <li@example.cn> wrote:" in en


def test_report_days_are_the_deployments() -> None:
    """23:30 UTC is already the next day in Shanghai (self-service counters, report days)."""
    from datetime import datetime as dt

    from gateway.i18n.formatting import local_day
    from gateway.kb.reports import _days

    late = dt(2026, 12, 5, 23, 30, tzinfo=UTC).timestamp()
    assert local_day(late, "UTC") == "2026-12-05"
    assert local_day(late, "Asia/Shanghai") == "2026-12-06"
    assert _days(2, now=late, zone="Asia/Shanghai") == ["2026-12-06", "2026-12-05"]
    assert _days(2, now=late, zone="America/New_York") == ["2026-12-05", "2026-12-04"]
