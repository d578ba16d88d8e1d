"""How times and money read in a message, in the recipient's zone and language (ru or en)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RU_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
RU_WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DEFAULT_ZONE = "Europe/Moscow"


def zone_of(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; Moscow when it is unknown to this machine's tz data."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def utc_offset(local: datetime) -> str:
    """``UTC+03:00`` for a zone-aware local time."""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def format_when(at: datetime, zone: str, language: str, *, with_zone: bool = True) -> str:
    """A moment as the recipient reads it: weekday, date, time, and their zone with its offset.

    ``среда, 15 января 2026, 14:00 (Europe/Moscow, UTC+03:00)``; without the zone for subject
    lines (Python folds a long ASCII header before a parenthesis, which readers show as a
    leading space).
    """
    tz = zone_of(zone)
    local = at.astimezone(tz)
    where = f" ({tz.key}, {utc_offset(local)})" if with_zone else ""
    months, days = (EN_MONTHS, EN_WEEKDAYS) if language == "en" else (RU_MONTHS, RU_WEEKDAYS)
    day = days[local.weekday()]
    return f"{day}, {local.day} {months[local.month - 1]} {local.year}, {local:%H:%M}{where}"


def format_deadline(at: datetime, zone: str, language: str) -> str:
    """A deadline, without the weekday (it reads after "until"): ``15 января 2026, 14:00 (…)``."""
    tz = zone_of(zone)
    local = at.astimezone(tz)
    months = EN_MONTHS if language == "en" else RU_MONTHS
    where = f"({tz.key}, {utc_offset(local)})"
    return f"{local.day} {months[local.month - 1]} {local.year}, {local:%H:%M} {where}"


def format_time(at: datetime, zone: str) -> str:
    """Only the local clock time, ``14:00``."""
    return f"{at.astimezone(zone_of(zone)):%H:%M}"


def format_money(kopecks: int, currency: str, language: str) -> str:
    """``1 500,00 ₽`` in Russian, ``RUB 1,500.00`` in English."""
    rubles, kop = divmod(kopecks, 100)
    if language == "en":
        return f"{currency} {rubles:,}.{kop:02d}"
    grouped = f"{rubles:,}".replace(",", "\u00a0")
    symbol = "₽" if currency == "RUB" else currency
    return f"{grouped},{kop:02d}\u00a0{symbol}"


def language_for(account_language: str | None, telegram_language: str | None) -> str:
    """The language to talk to someone in: their account's, else their Telegram client's
    (English or Russian), else Russian."""
    if account_language is not None:
        return account_language
    return "en" if (telegram_language or "").startswith("en") else "ru"
