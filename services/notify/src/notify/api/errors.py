"""How notify's domain errors read over HTTP: one :class:`ProblemMap`, the status and the
bilingual text of each refusal beside it (``ServiceDefinition(problems=PROBLEMS)``)."""

from __future__ import annotations

from servicekit.http.problems import Msg, ProblemMap

from notify.application.deliveries import NoSuchDelivery
from notify.application.linking import TelegramLinkNotPending, TelegramNotLinked
from notify.application.preferences import NoSuchUser, UnknownUnsubscribeLink
from notify.application.recipients import NoSuchRecipient
from notify.domain.calendar_links import CalendarLinkExpired, UnknownCalendarLink
from notify.domain.deeplinks import (
    AdminOnlyLink,
    BookingLinkNotAllowed,
    NotOwnSpecialist,
    OwnAccountOnly,
)

NOT_FOUND = Msg(ru="Не найдено", en="Not found")
NOT_ALLOWED = Msg(ru="Недостаточно прав", en="Not allowed")
BAD_REQUEST = Msg(ru="Неверный запрос", en="Bad request")

PROBLEMS = ProblemMap()

# -- deep links ----------------------------------------------------------------------------
PROBLEMS.add(
    OwnAccountOnly,
    403,
    Msg(
        ru="Подключить Telegram к аккаунту может только его владелец.",
        en="Only the account's owner links a Telegram chat to it.",
    ),
    title=NOT_ALLOWED,
)
PROBLEMS.add(
    AdminOnlyLink,
    403,
    Msg(
        ru="Такие ссылки создают только администраторы.",
        en="Only admins create this kind of link.",
    ),
    title=NOT_ALLOWED,
)
PROBLEMS.add(
    BookingLinkNotAllowed,
    403,
    Msg(
        ru="Ссылки на запись создают только специалисты и администраторы.",
        en="Only specialists and admins create booking links.",
    ),
    title=NOT_ALLOWED,
)
PROBLEMS.add(
    NotOwnSpecialist,
    422,
    Msg(
        ru="Специалист может давать ссылку только на свой календарь.",
        en="A specialist links to their own calendar.",
    ),
    title=BAD_REQUEST,
)

# -- Telegram linking ----------------------------------------------------------------------
PROBLEMS.add(
    TelegramLinkNotPending,
    404,
    Msg(
        ru="Нет открытой в Telegram ссылки, ждущей вашего подтверждения. "
        "Создайте новую и откройте её в Telegram.",
        en="No link of yours was opened in Telegram and waits for your confirmation. "
        "Make a new one and open it in Telegram.",
    ),
    title=NOT_FOUND,
)
PROBLEMS.add(
    TelegramNotLinked,
    404,
    Msg(ru="Telegram к вашему профилю не подключён.", en="No Telegram chat is linked to you."),
    title=NOT_FOUND,
)

# -- recipients, preferences, the log ------------------------------------------------------
PROBLEMS.add(
    NoSuchRecipient,
    404,
    Msg(ru="Такого получателя нет.", en="No such recipient."),
    title=NOT_FOUND,
)
PROBLEMS.add(
    NoSuchUser, 404, Msg(ru="Такого пользователя нет.", en="No such user."), title=NOT_FOUND
)
PROBLEMS.add(
    UnknownUnsubscribeLink,
    404,
    Msg(ru="Неизвестная ссылка для отписки.", en="Unknown unsubscribe link."),
    title=NOT_FOUND,
)
PROBLEMS.add(
    NoSuchDelivery,
    404,
    Msg(ru="Такой отправки уведомления нет.", en="No such delivery."),
    title=NOT_FOUND,
)

# -- calendar files ------------------------------------------------------------------------
PROBLEMS.add(
    UnknownCalendarLink,
    404,
    Msg(ru="Неизвестная ссылка на календарь.", en="Unknown calendar link."),
    title=NOT_FOUND,
)
PROBLEMS.add(
    CalendarLinkExpired,
    410,
    Msg(
        ru="Срок действия ссылки на календарь истёк. Записи видны в личном кабинете.",
        en="This calendar link has expired. Your appointments are in your account.",
    ),
    title=Msg(ru="Ссылка устарела", en="Link expired"),
)
