"""Data-subject requests (152-FZ art. 14, 20, 21; GDPR art. 15, 17, 20): the legal deadline in
working days, the states of an export and its parts, and the summary a person reads first.

The legal deadline is 10 working days (152-FZ art. 20 part 1, extendable by 5): Saturdays,
Sundays and the Russian public holidays of the ``holidays`` package's calendar (which follows
the Government's yearly transfer decrees) do not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import holidays
from servicekit.errors import DomainError

LEGAL_WORKING_DAYS: Final = 10

COLLECTING, COMPLETED, INCOMPLETE = "collecting", "completed", "incomplete"
REQUESTED, READY, FETCHED, MISSING = "requested", "ready", "fetched", "missing"


class ExportNotFound(DomainError):
    """No export of this user has this id."""

    code = "not_found"


class ExportInProgress(DomainError):
    """The user already has an export being collected."""

    code = "export_in_progress"


class DownloadLinkInvalid(DomainError):
    """The archive's link is not this export's, was used, or has expired."""

    code = "download_link_invalid"


class ExportNotReady(DomainError):
    """The export is still being collected."""

    code = "export_not_ready"


def working_days_after(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (Russia: weekends and public holidays
    off)."""
    calendar = holidays.country_holidays("RU", years=range(start.year, start.year + 2))
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in calendar:
            left -= 1
    return current


def legal_deadline(requested_at: datetime, zone_date: date | None = None) -> date:
    """The last day an answer to a request made at ``requested_at`` is due."""
    return working_days_after(zone_date or requested_at.date(), LEGAL_WORKING_DAYS)


@dataclass(frozen=True)
class Withheld:
    """Something a part names but does not give, and why."""

    service: str
    category: str
    count: int
    reason_ru: str
    reason_en: str


@dataclass(frozen=True)
class PartSummary:
    """What a part held (or that it is missing)."""

    service: str
    status: str
    record_counts: dict[str, int]


_SERVICE_NAMES: Final = {
    "cabinet": ("Учётная запись, согласия, дневник", "Account, consents, diary"),
    "booking": ("Записи, оплаты, анкеты", "Appointments, payments, intake forms"),
    "content": ("Опросники и назначения", "Questionnaires and assignments"),
    "notify": ("Отправленные сообщения и настройки", "Messages sent and preferences"),
}


def withheld_of(service: str, document: dict[str, Any]) -> list[Withheld]:
    """The withheld entries a part's JSON lists."""
    found = []
    for item in document.get("withheld") or []:
        reason = item.get("reason") or {}
        found.append(
            Withheld(
                service,
                str(item.get("category")),
                int(item.get("count") or 0),
                str(reason.get("ru") or ""),
                str(reason.get("en") or ""),
            )
        )
    return found


def summary_text(
    *,
    language: str,
    user_id: str,
    requested_at: datetime,
    completed_at: datetime,
    parts: Sequence[PartSummary],
    withheld: Sequence[Withheld],
    incomplete_reason: str | None,
) -> str:
    """The human-readable summary at the top of the archive, in the user's language."""
    ru = language == "ru"
    lines = [
        "Копия ваших данных в Praktika" if ru else "A copy of your data at Praktika",
        "",
        (f"Пользователь: {user_id}" if ru else f"User: {user_id}"),
        (
            f"Запрошено: {requested_at:%Y-%m-%d %H:%M} UTC; "
            f"собрано: {completed_at:%Y-%m-%d %H:%M} UTC"
            if ru
            else f"Requested: {requested_at:%Y-%m-%d %H:%M} UTC; assembled: "
            f"{completed_at:%Y-%m-%d %H:%M} UTC"
        ),
        "",
    ]
    if incomplete_reason:
        lines += [
            "ВНИМАНИЕ: архив неполный." if ru else "NOTE: this archive is incomplete.",
            incomplete_reason,
            "",
        ]
    lines.append("Что в архиве (по файлу на службу):" if ru else "What is inside (a file each):")
    for part in parts:
        name_ru, name_en = _SERVICE_NAMES.get(part.service, (part.service, part.service))
        if part.status == MISSING:
            state = "нет ответа — файл отсутствует" if ru else "no answer — file missing"
            lines.append(f"- {part.service}.json ({name_ru if ru else name_en}): {state}")
            continue
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(part.record_counts.items())) or "—"
        lines.append(f"- {part.service}.json ({name_ru if ru else name_en}): {counts}")
    lines.append("")
    if withheld:
        lines.append("Что не выдаётся и почему:" if ru else "What is withheld, and why:")
        for w in withheld:
            reason = w.reason_ru if ru else w.reason_en
            lines.append(f"- {w.service}: {w.category} ({w.count}): {reason}")
    else:
        lines.append("Ничего не удержано." if ru else "Nothing is withheld.")
    lines += [
        "",
        (
            "Схемы файлов описаны в docs/data-rights.md. Ссылка на архив одноразовая."
            if ru
            else "The files' schemas are in docs/data-rights.md. The archive's link works once."
        ),
    ]
    return "\n".join(lines) + "\n"


def incomplete_reason(missing: Sequence[str], deadline: datetime, language: str) -> str:
    """Why an export completed without some parts."""
    names = ", ".join(missing)
    if language == "ru":
        return (
            f"Службы {names} не прислали свою часть к {deadline:%Y-%m-%d %H:%M} UTC "
            "(после повторного запроса); их данных в архиве нет. Запросите выгрузку ещё раз "
            "позже или обратитесь к администратору."
        )
    return (
        f"The services {names} did not send their part by {deadline:%Y-%m-%d %H:%M} UTC "
        "(after being asked again); their data is not in this archive. Ask for an export again "
        "later or contact the administrator."
    )


def is_overdue(deadline: date, today: date) -> bool:
    """Whether an open request's legal deadline has passed."""
    return today > deadline
