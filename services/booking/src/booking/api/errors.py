"""How booking's refusals read over HTTP: every domain error, once, with its status and its
words in Russian and English (``code`` is the error's own).

The app installs :data:`PROBLEMS` (``ServiceDefinition(problems=...)``); a domain error missing
here would be a 500, and ``tests/test_errors.py`` checks none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from servicekit.http.problems import Msg, ProblemMap

from booking.application.actions import AlreadyDone
from booking.application.appointments import (
    AppointmentNotFound,
    SameTime,
    ServiceOrSpecialistGone,
    TooEarly,
    TooLate,
)
from booking.application.bookings import ClientUnknown
from booking.application.calendar import (
    CalendarNotConnected,
    CalendarSpecialistUnknown,
    NothingToDecide,
    ServiceAccountNotConfigured,
    UnknownChannel,
)
from booking.application.calendar_feeds import (
    CalendarFeedExists,
    CalendarFeedNotFound,
    UnknownFeedToken,
)
from booking.application.catalog import (
    DisplayNameUnknown,
    ServiceNotFound,
    SpecialistExists,
    SpecialistNotGiving,
)
from booking.application.checkout import NotHeld, PaymentOpen, PaymentUnavailable
from booking.application.intake import (
    IntakeExists,
    IntakeFormNotFound,
    NoUpcomingAppointment,
    OutcomeRecordNotFound,
    SessionNotCompleted,
)
from booking.application.payments import ProviderUnavailable
from booking.application.schedules import OverrideNotFound, TimeOffNotFound
from booking.application.slot_search import SearchDurationNotOffered
from booking.application.waitlist import (
    OfferAccepted,
    OfferExpired,
    OfferNotFound,
    WaitlistDurationNotOffered,
    WindowsOver,
)
from booking.domain.appointments import Action, InvalidTransition, Status
from booking.domain.catalog import DurationNotOffered, PrepaymentOfFreeService
from booking.domain.consents import ConsentRequired
from booking.domain.idempotency import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    RequestInProgress,
)
from booking.domain.people import (
    EmailNotVerified,
    ForeignService,
    NotASpecialist,
    OwnSlot,
    UnknownServices,
    UnknownUser,
)
from booking.domain.policies import RescheduleLimitReached, RescheduleTooLate
from booking.domain.slots import (
    BeyondHorizon,
    DayFull,
    DuringTimeOff,
    NoticeTooShort,
    OutsideWorkingHours,
    SlotTaken,
)

PROBLEMS = ProblemMap()

# -- words several problems share ------------------------------------------------------------

#: The title and detail of a 422 about fields (as ``validation_failed`` writes them).
INVALID_REQUEST = Msg(ru="Неверный запрос", en="Invalid request")
DOES_NOT_MATCH = Msg(
    ru="Запрос не соответствует ожидаемому формату.",
    en="The request does not match the expected shape.",
)


def field_error(where: str, field: str, message: Msg | str) -> list[dict[str, Any]]:
    """The ``errors`` of a 422 about one field (``where``: ``body``, ``query``, ``header``)."""
    return [{"loc": [where, field], "msg": message, "type": "value_error"}]


def durations_text(durations: Sequence[int]) -> Msg:
    """ "The service lasts one of ..." for a 422 about ``duration_minutes``."""
    listed = ", ".join(map(str, durations))
    return Msg(
        ru=f"продолжительность этой услуги в минутах: {listed}",
        en=f"the service lasts one of {list(durations)}",
    )


# -- not found (404: absent, or someone else's) ----------------------------------------------

PROBLEMS.add(AppointmentNotFound, 404, Msg(ru="Такой записи нет.", en="No such appointment."))
PROBLEMS.add(ServiceNotFound, 404, Msg(ru="Такой услуги нет.", en="No such service."))
PROBLEMS.add(
    SpecialistNotGiving,
    404,
    Msg(
        ru="Такой специалист эту услугу не оказывает.",
        en="No such specialist gives this service.",
    ),
)
PROBLEMS.add(
    ServiceOrSpecialistGone,
    404,
    Msg(
        ru="Этой услуги или этого специалиста больше нет.",
        en="The service or specialist no longer exists.",
    ),
)
PROBLEMS.add(OfferNotFound, 404, Msg(ru="Такого предложения нет.", en="No such offer."))
PROBLEMS.add(IntakeFormNotFound, 404, Msg(ru="Такой анкеты нет.", en="No such intake form."))
PROBLEMS.add(
    OutcomeRecordNotFound,
    404,
    Msg(ru="Итогов этой сессии пока нет.", en="No outcome record for this session yet."),
)
PROBLEMS.add(
    OverrideNotFound,
    404,
    Msg(ru="На эту дату особого расписания нет.", en="No override on that date."),
)
PROBLEMS.add(TimeOffNotFound, 404, Msg(ru="Такого периода отсутствия нет.", en="No such time off."))

# -- who may do it ---------------------------------------------------------------------------

PROBLEMS.add(
    EmailNotVerified,
    403,
    Msg(
        ru="Подтвердите адрес электронной почты: откройте ссылку из письма, которое мы "
        "отправили при регистрации. Письма нет или ссылка устарела? Запросите новую: "
        "POST /api/cabinet/email-verifications/resend. Если вы уже подтвердили адрес, "
        "повторите попытку через минуту.",
        en="Confirm your email address first: open the link in the message we sent when "
        "you registered. No message, or the link expired? Ask for a new one: "
        "POST /api/cabinet/email-verifications/resend. If you have just confirmed it, "
        "try again in a moment.",
    ),
    title=Msg(ru="Адрес не подтверждён", en="Email not verified"),
)
PROBLEMS.add(
    ConsentRequired,
    403,
    Msg(
        ru="Клиент не дал (или отозвал) согласие на обработку данных о здоровье; анкеты "
        "и записи о сессиях недоступны, пока согласие не будет дано.",
        en="The client has not given (or has withdrawn) consent to the processing of "
        "health data; intake forms and session records are unavailable until they do.",
    ),
    title=Msg(ru="Нужно согласие", en="Consent required"),
)
PROBLEMS.add(
    OwnSlot,
    409,
    Msg(
        ru="Нельзя записаться к самому себе: это ваше рабочее время как специалиста.",
        en="You cannot book yourself: this is your own time as a specialist.",
    ),
    title=Msg(ru="Это ваше время", en="Your own slot"),
)
_NOT_A_SPECIALIST = Msg(ru="Не специалист", en="Not a specialist")
PROBLEMS.add(
    UnknownUser,
    422,
    Msg(
        ru="Такого пользователя сервис записи не знает. Специалист — это пользователь "
        "кабинета с ролью specialist; если он только что зарегистрировался, повторите "
        "попытку через минуту.",
        en="booking knows no such user. A specialist is a cabinet user with the specialist "
        "role; if they have just registered, try again in a moment.",
    ),
    title=_NOT_A_SPECIALIST,
    errors=lambda e: field_error("body", "user_id", e.code),
)
PROBLEMS.add(
    NotASpecialist,
    422,
    Msg(
        ru="У этого пользователя нет роли specialist. Выдайте её в кабинете "
        "(POST /api/cabinet/users/{id}/roles); через несколько секунд она дойдёт до сервиса "
        "записи.",
        en="This user does not hold the specialist role. Grant it in cabinet "
        "(POST /api/cabinet/users/{id}/roles); it reaches booking within seconds.",
    ),
    title=_NOT_A_SPECIALIST,
    errors=lambda e: field_error("body", "user_id", e.code),
)
PROBLEMS.add(
    ForeignService,
    422,
    Msg(
        ru="Специалист может оказывать только свои услуги и общие услуги практики, "
        "но не услуги другого специалиста.",
        en="A specialist gives only their own services and the practice's shared "
        "ones, never another specialist's.",
    ),
    title=Msg(ru="Чужая услуга", en="Another specialist's service"),
    errors=lambda e: field_error(
        "body",
        "service_ids",
        f"services of another specialist: {', '.join(map(str, e.foreign))}",
    ),
)
PROBLEMS.add(
    UnknownServices,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "body",
        "service_ids",
        Msg(
            ru=f"таких услуг нет: {', '.join(map(str, e.missing))}",
            en=f"unknown services: {', '.join(map(str, e.missing))}",
        ),
    ),
)

# -- the slot --------------------------------------------------------------------------------

_SLOT_UNAVAILABLE = Msg(ru="Время недоступно", en="Slot unavailable")
PROBLEMS.add(
    NoticeTooShort,
    409,
    Msg(
        ru="Это время слишком близко: на эту услугу нужно записываться заранее.",
        en="This start is too soon: the service needs more notice.",
    ),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    BeyondHorizon,
    409,
    Msg(ru="Запись на это время ещё не открыта.", en="This start is too far ahead to book yet."),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    OutsideWorkingHours,
    409,
    Msg(
        ru="Специалист не принимает в это время.",
        en="The specialist does not offer this start time.",
    ),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    DuringTimeOff,
    409,
    Msg(ru="В это время специалист не работает.", en="The specialist is off at this time."),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    DayFull,
    409,
    Msg(ru="На этот день у специалиста всё занято.", en="The specialist's day is fully booked."),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    SlotTaken,
    409,
    Msg(ru="Это время уже занято.", en="This time is already taken."),
    title=_SLOT_UNAVAILABLE,
)
PROBLEMS.add(
    DurationNotOffered,
    422,
    lambda e: Msg(
        ru="Продолжительность этой услуги в минутах может быть только такой: "
        f"{', '.join(map(str, e.durations))}.",
        en=f"The service lasts one of {e.durations} minutes.",
    ),
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "body", "duration_minutes", Msg(ru="такой продолжительности нет", en="not offered")
    ),
)
PROBLEMS.add(
    SearchDurationNotOffered,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error("query", "duration_minutes", durations_text(e.durations)),
)
PROBLEMS.add(
    WaitlistDurationNotOffered,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error("body", "duration_minutes", durations_text(e.durations)),
)
PROBLEMS.add(
    ClientUnknown,
    409,
    Msg(
        ru="Ваши контактные данные ещё не дошли до сервиса записи (они нужны для чека); "
        "попробуйте ещё раз через минуту.",
        en="Your contact details have not reached booking yet (a receipt needs them); "
        "try again in a moment.",
    ),
)

# -- the appointment's state -----------------------------------------------------------------

#: "Запись <status>: <action> нельзя." (the English is the domain's own message).
ACTION_RU: dict[Action, str] = {
    Action.CONFIRM: "подтвердить её",
    Action.EXPIRE: "снять бронь",
    Action.CANCEL: "отменить её",
    Action.RESCHEDULE: "перенести её",
    Action.COMPLETE: "отметить сессию как состоявшуюся",
    Action.MARK_NO_SHOW: "отметить неявку",
    Action.CONFIRM_ATTENDANCE: "подтвердить участие",
}
STATUS_RU: dict[Status, str] = {
    Status.HELD: "ожидает оплаты",
    Status.CONFIRMED: "подтверждена",
    Status.COMPLETED: "завершена",
    Status.NO_SHOW: "отмечена как неявка",
    Status.EXPIRED: "не была оплачена вовремя",
    Status.CANCELLED: "отменена",
}


def transition_refused_text(exc: InvalidTransition) -> Msg:
    """Why the action cannot happen now, in both languages."""
    return Msg(
        ru=f"Запись {STATUS_RU[exc.status]}: {ACTION_RU[exc.action]} нельзя.",
        en=str(exc),
    )


PROBLEMS.add(
    InvalidTransition,
    409,
    transition_refused_text,
    title=Msg(ru="Сейчас это невозможно", en="Not possible now"),
)
_RESCHEDULE_REFUSED = Msg(ru="Перенос невозможен", en="Reschedule refused")
PROBLEMS.add(
    RescheduleLimitReached,
    409,
    Msg(
        ru="Эту запись уже переносили столько раз, сколько позволяет услуга.",
        en="This appointment was already moved as often as the service allows.",
    ),
    title=_RESCHEDULE_REFUSED,
)
PROBLEMS.add(
    RescheduleTooLate,
    409,
    Msg(ru="Переносить эту запись уже поздно.", en="It is too late to move this appointment."),
    title=_RESCHEDULE_REFUSED,
)
PROBLEMS.add(
    SameTime,
    409,
    Msg(ru="Запись уже назначена на это время.", en="The appointment is already at this time."),
)
PROBLEMS.add(
    TooEarly, 409, Msg(ru="Сессия ещё не началась.", en="The session has not started yet.")
)
PROBLEMS.add(TooLate, 409, Msg(ru="Сессия уже закончилась.", en="The session is over."))
PROBLEMS.add(AlreadyDone, 409, Msg(ru="Это уже сделано.", en="This has been done already."))

# -- payments --------------------------------------------------------------------------------

PROBLEMS.add(
    NotHeld,
    409,
    Msg(
        ru="Время больше не закреплено за вами; выберите время заново.",
        en="The time is no longer held for you; please book again.",
    ),
)
PROBLEMS.add(
    PaymentOpen,
    409,
    Msg(
        ru="Платёж уже открыт: оплатите его по ссылке из записи.",
        en="A payment is already open: pay it through the appointment's link.",
    ),
)
PROBLEMS.add(
    PaymentUnavailable,
    503,
    Msg(
        ru="Платёжный сервис сейчас недоступен; пожалуйста, попробуйте ещё раз.",
        en="The payment service is not available right now; please try again.",
    ),
    title=Msg(ru="Оплата недоступна", en="Payment unavailable"),
)
PROBLEMS.add(
    ProviderUnavailable,
    503,
    Msg(
        ru="ЮKassa не ответила; повторите попытку позже.",
        en="YooKassa did not answer; retry later.",
    ),
)

# -- waitlist --------------------------------------------------------------------------------

PROBLEMS.add(
    OfferAccepted,
    409,
    Msg(ru="Вы уже приняли это предложение.", en="You already accepted this offer."),
)
PROBLEMS.add(
    OfferExpired,
    409,
    Msg(ru="Это предложение больше не действует.", en="This offer is no longer available."),
)
PROBLEMS.add(
    WindowsOver,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "body", "windows", Msg(ru="Все окна уже в прошлом.", en="every window is in the past")
    ),
)

# -- catalog ---------------------------------------------------------------------------------

PROBLEMS.add(
    SpecialistExists,
    409,
    Msg(
        ru="У этого пользователя уже есть профиль специалиста.",
        en="This user already has a specialist record.",
    ),
)
PROBLEMS.add(
    DisplayNameUnknown,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "body",
        "display_name",
        Msg(
            ru="Имя пользователя ещё не известно записи: укажите его.",
            en="booking does not know the user's name yet: send one",
        ),
    ),
)
PROBLEMS.add(
    PrepaymentOfFreeService,
    422,
    DOES_NOT_MATCH,
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "body",
        "prepayment_required",
        Msg(
            ru="Бесплатная услуга не может требовать предоплаты.",
            en="a free service cannot require prepayment",
        ),
    ),
)

# -- intake forms and outcome records -------------------------------------------------------

PROBLEMS.add(
    NoUpcomingAppointment,
    409,
    Msg(
        ru="Анкету можно отправить, только если у вас есть предстоящая запись к этому специалисту.",
        en="An intake form goes with an upcoming appointment with this specialist.",
    ),
)
PROBLEMS.add(
    IntakeExists,
    409,
    Msg(
        ru="Этот специалист уже получил вашу анкету.",
        en="This specialist already has your intake form.",
    ),
)
PROBLEMS.add(
    SessionNotCompleted,
    409,
    Msg(
        ru="Итоги сессии записываются после того, как сессия отмечена как состоявшаяся.",
        en="An outcome record is written after the session is marked completed.",
    ),
)

# -- Idempotency-Key -------------------------------------------------------------------------

PROBLEMS.add(
    InvalidIdempotencyKey,
    422,
    Msg(
        ru="Idempotency-Key должен состоять из 1–255 печатных символов ASCII.",
        en="Idempotency-Key must be 1–255 printable ASCII characters.",
    ),
    title=INVALID_REQUEST,
    errors=lambda e: field_error(
        "header", "Idempotency-Key", Msg(ru="неверный ключ", en="invalid key")
    ),
)
PROBLEMS.add(
    IdempotencyKeyReused,
    422,
    Msg(
        ru="Этот Idempotency-Key уже использован для другого запроса; возьмите новый ключ.",
        en="This Idempotency-Key was used for another request; use a new key.",
    ),
    title=Msg(ru="Ключ идемпотентности уже использован", en="Idempotency key reused"),
)
PROBLEMS.add(
    RequestInProgress,
    409,
    Msg(
        ru="Запрос с этим Idempotency-Key ещё обрабатывается; повторите попытку чуть позже.",
        en="A request with this Idempotency-Key is still being processed; retry shortly.",
    ),
)

# -- calendar feeds --------------------------------------------------------------------------
PROBLEMS.add(
    CalendarFeedNotFound,
    404,
    Msg(ru="У вас нет ленты календаря.", en="You have no calendar feed."),
)
PROBLEMS.add(
    CalendarFeedExists,
    409,
    Msg(
        ru="Лента календаря уже есть; чтобы получить новую ссылку, обновите её (rotate).",
        en="You have a calendar feed already; rotate it to get a new URL.",
    ),
)
PROBLEMS.add(
    UnknownFeedToken,
    404,
    Msg(
        ru="Такой ленты календаря нет (ссылка отозвана или заменена).",
        en="No such calendar feed (the link was revoked or replaced).",
    ),
)

# -- Google Calendar ---------------------------------------------------------------------------

PROBLEMS.add(
    CalendarNotConnected,
    404,
    Msg(ru="Календарь Google не подключён.", en="No Google Calendar is connected."),
)
PROBLEMS.add(
    CalendarSpecialistUnknown,
    404,
    Msg(ru="Такого специалиста нет.", en="There is no such specialist."),
)
PROBLEMS.add(
    ServiceAccountNotConfigured,
    409,
    Msg(
        ru="Сервисный аккаунт Google для практики не настроен.",
        en="The practice has no Google service account configured.",
    ),
)
PROBLEMS.add(
    UnknownChannel,
    404,
    Msg(ru="Такого канала уведомлений нет.", en="There is no such notification channel."),
)
PROBLEMS.add(
    NothingToDecide,
    409,
    Msg(
        ru="Это событие календаря не ждёт решения.",
        en="This calendar event is not waiting for a decision.",
    ),
)
