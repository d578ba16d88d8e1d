"""How cabinet's refusals read over HTTP: one entry per domain error, with its status and its
text in Russian and English (``ServiceDefinition(problems=PROBLEMS)``).

The codes, statuses, headers and texts are what clients have always been answered; a test
checks that every domain error of cabinet is here (``tests/test_errors.py``).
"""

from __future__ import annotations

from servicekit.http.problems import Msg, ProblemMap

from cabinet.application.accounts import PhoneUnavailable
from cabinet.application.consents import VersionConflict
from cabinet.domain.accounts import InvalidLink, NoAccount, WrongPassword
from cabinet.domain.consents import DocumentOutdated, NoSuchDocument, NotGranted
from cabinet.domain.roles import NoSuchSpecialist, NoSuchUser, OwnAdminRole
from cabinet.domain.sessions import InvalidCredentials, RefreshTokenReused, SessionEnded
from cabinet.domain.throttle import TooManyAttempts

PROBLEMS = ProblemMap()

_NOT_FOUND = Msg(ru="Не найдено", en="Not found")
_CONFLICT = Msg(ru="Конфликт", en="Conflict")
_UNAUTHORIZED = Msg(ru="Требуется вход", en="Authentication required")
_BEARER = {"WWW-Authenticate": "Bearer"}

# -- accounts -------------------------------------------------------------------------------

PROBLEMS.add(
    NoAccount,
    404,
    Msg(ru="Для этого токена нет учётной записи.", en="No account for this token."),
    title=_NOT_FOUND,
)
PROBLEMS.add(
    InvalidLink,
    400,
    Msg(
        ru="Ссылка недействительна, уже использована или устарела. Запросите новую.",
        en="This link is invalid, used or expired. Ask for a new one.",
    ),
    title=Msg(ru="Недействительная ссылка", en="Invalid link"),
)
PROBLEMS.add(
    WrongPassword,
    403,
    Msg(ru="Текущий пароль указан неверно.", en="The current password is not right."),
    title=Msg(ru="Неверный пароль", en="Wrong password"),
)
PROBLEMS.add(
    PhoneUnavailable,
    409,
    Msg(ru="Этот номер телефона использовать нельзя.", en="This phone number cannot be used."),
    title=Msg(ru="Номер телефона недоступен", en="Phone unavailable"),
)
PROBLEMS.add(
    TooManyAttempts,
    429,
    Msg(ru="Слишком много попыток. Попробуйте позже.", en="Too many attempts. Try again later."),
    title=Msg(ru="Слишком много попыток", en="Too many attempts"),
    headers=lambda e: {"Retry-After": str(e.retry_after)},
)

# -- sessions -------------------------------------------------------------------------------

_SESSION_ENDED = Msg(ru="Сеанс завершён; войдите снова.", en="The session has ended; log in again.")
PROBLEMS.add(
    InvalidCredentials,
    401,
    Msg(
        ru="Неверный адрес электронной почты или пароль.",
        en="The email or the password is not right.",
    ),
    title=_UNAUTHORIZED,
    headers=_BEARER,
)
PROBLEMS.add(SessionEnded, 401, _SESSION_ENDED, title=_UNAUTHORIZED, headers=_BEARER)
PROBLEMS.add(
    RefreshTokenReused,
    401,
    Msg(
        ru="Этот токен обновления уже использован; все связанные с ним сеансы завершены. "
        "Войдите снова.",
        en="This refresh token was already used; every session of its family has been ended. "
        "Log in again.",
    ),
    title=_UNAUTHORIZED,
    headers=_BEARER,
)

# -- roles and profiles ---------------------------------------------------------------------

PROBLEMS.add(
    NoSuchUser, 404, Msg(ru="Такого пользователя нет.", en="No such user."), title=_NOT_FOUND
)
PROBLEMS.add(
    NoSuchSpecialist,
    404,
    Msg(ru="Такого специалиста нет.", en="No such specialist."),
    title=_NOT_FOUND,
)
PROBLEMS.add(
    OwnAdminRole,
    409,
    Msg(
        ru="Администратор не может снять роль администратора с самого себя.",
        en="An admin cannot remove their own admin role.",
    ),
    title=_CONFLICT,
)

# -- consents -------------------------------------------------------------------------------

PROBLEMS.add(
    NoSuchDocument, 404, Msg(ru="Такого документа нет.", en="No such document."), title=_NOT_FOUND
)
PROBLEMS.add(
    DocumentOutdated,
    409,
    Msg(
        ru="Это не действующая версия документа; прочитайте текущую и дайте согласие на неё.",
        en="This is not the version in effect; read the current one and consent to it.",
    ),
    title=_CONFLICT,
)
PROBLEMS.add(
    NotGranted,
    409,
    Msg(
        ru="Согласия с такой целью нет, отзывать нечего.",
        en="There is no consent of this purpose to withdraw.",
    ),
    title=_CONFLICT,
)
PROBLEMS.add(
    VersionConflict,
    409,
    Msg(
        ru="Только что опубликована другая версия; попробуйте ещё раз.",
        en="Another version was published just now; try again.",
    ),
    title=_CONFLICT,
)
