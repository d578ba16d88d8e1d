"""How cabinet's refusals read over HTTP: one entry per domain error, with its status and its
text in Russian and English (``ServiceDefinition(problems=PROBLEMS)``).

The codes, statuses, headers and texts are what clients have always been answered; a test
checks that every domain error of cabinet is here (``tests/test_errors.py``).
"""

from __future__ import annotations

from servicekit.http.problems import Msg, ProblemMap

from cabinet.application.accounts import PhoneUnavailable
from cabinet.application.consents import VersionConflict
from cabinet.application.erasure import (
    ErasureInProgress,
    ErasureNotCancellable,
    ErasureNotFound,
)
from cabinet.domain.accounts import InvalidLink, NoAccount, WrongPassword
from cabinet.domain.consents import DocumentOutdated, NoSuchDocument, NotGranted
from cabinet.domain.data_rights import (
    DownloadLinkInvalid,
    ExportInProgress,
    ExportNotFound,
    ExportNotReady,
)
from cabinet.domain.diary import (
    ClientNotFound,
    DiaryConsentRequired,
    DiaryEntryNotFound,
    UnknownAppointment,
)
from cabinet.domain.leads import (
    CampaignNameTaken,
    CampaignNotFound,
    LeadNotFound,
    StatusNotAllowed,
)
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

# -- diary ----------------------------------------------------------------------------------

PROBLEMS.add(
    DiaryEntryNotFound, 404, Msg(ru="Такой записи нет.", en="No such entry."), title=_NOT_FOUND
)
PROBLEMS.add(
    ClientNotFound, 404, Msg(ru="Такого клиента нет.", en="No such client."), title=_NOT_FOUND
)
PROBLEMS.add(
    UnknownAppointment,
    422,
    Msg(
        ru="Запись дневника можно связать только со своей сессией.",
        en="A diary entry can point only at one of your own sessions.",
    ),
    title=Msg(ru="Неизвестная сессия", en="Unknown session"),
)
PROBLEMS.add(
    DiaryConsentRequired,
    403,
    lambda e: (
        Msg(
            ru="Нет согласия на обработку данных о здоровье (или оно отозвано): дневник не "
            "сохраняется, пока согласие не дано.",
            en="There is no consent to the processing of health data (or it was withdrawn): "
            "the diary is not kept until it is given.",
        )
        if e.purpose == "health_data_processing"
        else Msg(
            ru="Клиент не дал согласия на передачу данных специалисту (или отозвал его).",
            en="The client has not consented to sharing data with their specialist (or "
            "withdrew it).",
        )
    ),
    title=Msg(ru="Нужно согласие", en="Consent required"),
    extra=lambda e: {"purpose": e.purpose},
)

# -- data-subject requests ------------------------------------------------------------------

PROBLEMS.add(
    ExportNotFound, 404, Msg(ru="Такой выгрузки нет.", en="No such export."), title=_NOT_FOUND
)
PROBLEMS.add(
    ExportInProgress,
    409,
    Msg(
        ru="Предыдущая выгрузка ещё собирается; дождитесь письма со ссылкой.",
        en="Your previous export is still being put together; wait for the mail with its link.",
    ),
    title=_CONFLICT,
)
PROBLEMS.add(
    ExportNotReady,
    409,
    Msg(ru="Выгрузка ещё собирается.", en="The export is still being put together."),
    title=_CONFLICT,
)
PROBLEMS.add(
    DownloadLinkInvalid,
    410,
    Msg(
        ru="Ссылка на архив уже использована или устарела. Запросите новую выгрузку.",
        en="The archive's link was used or has expired. Ask for a new export.",
    ),
    title=Msg(ru="Ссылка недействительна", en="Link no longer valid"),
)
PROBLEMS.add(
    ErasureNotFound, 404, Msg(ru="Такого запроса нет.", en="No such request."), title=_NOT_FOUND
)
PROBLEMS.add(
    ErasureInProgress,
    409,
    Msg(
        ru="Запрос на удаление уже подан.",
        en="An erasure request is already pending.",
    ),
    title=_CONFLICT,
)
PROBLEMS.add(
    ErasureNotCancellable,
    409,
    Msg(
        ru="Отменить удаление уже нельзя: период на размышление прошёл или запрос отменён.",
        en="The erasure can no longer be cancelled: the cooling-off period is over or it was "
        "cancelled already.",
    ),
    title=_CONFLICT,
)


# -- CRM leads (docs/leads.md) ------------------------------------------------------------------

PROBLEMS.add(
    LeadNotFound,
    404,
    Msg(ru="Такого лида нет.", en="No such lead."),
    title=_NOT_FOUND,
)
PROBLEMS.add(
    CampaignNotFound,
    404,
    Msg(ru="Такой кампании нет.", en="No such campaign."),
    title=_NOT_FOUND,
)
PROBLEMS.add(
    CampaignNameTaken,
    409,
    Msg(
        ru="Кампания с таким utm_campaign уже есть.",
        en="A campaign with this utm_campaign already exists.",
    ),
    title=_CONFLICT,
)
PROBLEMS.add(
    StatusNotAllowed,
    409,
    Msg(
        ru="Статус «converted» ставится сам после первой проведённой сессии и не меняется.",
        en="'converted' is set by the first completed session, and it is final.",
    ),
    title=_CONFLICT,
)
