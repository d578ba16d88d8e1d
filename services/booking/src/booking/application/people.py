"""booking's copy of cabinet's users, and the rules that read it: who may book, who may be a
specialist, which services a specialist may give.

The copy is kept by the consumers (cabinet's ``user.registered``, ``user.contact_changed``,
``user.email_verified``, ``user.roles_changed``, ``specialist_profile.updated``); everything here
runs inside the caller's unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from servicekit.http.problems import Msg, Problem, validation_failed
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Client, ServiceOffering, Specialist
from booking.domain.people import (
    KnownUser,
    NotSpecialist,
    foreign_services,
    role_change,
    specialist_refusal,
)

#: booking's zone for a user it has not heard the zone of yet.
DEFAULT_ZONE = "Europe/Moscow"


def email_not_verified() -> Problem:
    """403 ``email_not_verified``: what the caller must do to go on."""
    return Problem(
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
        status=403,
        code="email_not_verified",
        title=Msg(ru="Адрес не подтверждён", en="Email not verified"),
    )


def own_slot() -> Problem:
    """409 ``own_slot``: a specialist booking their own time."""
    return Problem(
        Msg(
            ru="Нельзя записаться к самому себе: это ваше рабочее время как специалиста.",
            en="You cannot book yourself: this is your own time as a specialist.",
        ),
        status=409,
        code="own_slot",
        title=Msg(ru="Это ваше время", en="Your own slot"),
    )


_NOT_SPECIALIST = {
    NotSpecialist.UNKNOWN_USER: Msg(
        ru="Такого пользователя сервис записи не знает. Специалист — это пользователь "
        "кабинета с ролью specialist; если он только что зарегистрировался, повторите "
        "попытку через минуту.",
        en="booking knows no such user. A specialist is a cabinet user with the specialist "
        "role; if they have just registered, try again in a moment.",
    ),
    NotSpecialist.NOT_A_SPECIALIST: Msg(
        ru="У этого пользователя нет роли specialist. Выдайте её в кабинете "
        "(POST /api/cabinet/users/{id}/roles); через несколько секунд она дойдёт до сервиса "
        "записи.",
        en="This user does not hold the specialist role. Grant it in cabinet "
        "(POST /api/cabinet/users/{id}/roles); it reaches booking within seconds.",
    ),
}


def cannot_be_specialist(reason: NotSpecialist) -> Problem:
    """422 ``unknown_user`` / ``not_a_specialist``."""
    return Problem(
        _NOT_SPECIALIST[reason],
        status=422,
        code=reason.value,
        title=Msg(ru="Не специалист", en="Not a specialist"),
        errors=[{"loc": ["body", "user_id"], "msg": reason.value, "type": "value_error"}],
    )


async def known_user(session: AsyncSession, user_id: uuid.UUID) -> KnownUser | None:
    """What booking knows of a user (None: cabinet has not told booking of them)."""
    row = await session.get(Client, user_id)
    if row is None:
        return None
    return KnownUser(row.user_id, tuple(row.roles), row.email_verified)


async def require_verified_email(session: AsyncSession, user_id: uuid.UUID) -> None:
    """403 ``email_not_verified`` unless cabinet said the user's email is verified."""
    user = await known_user(session, user_id)
    if user is None or not user.email_verified:
        raise email_not_verified()


async def require_specialist_user(session: AsyncSession, user_id: uuid.UUID) -> KnownUser:
    """The user, who must hold the specialist role (422 otherwise)."""
    user = await known_user(session, user_id)
    reason = specialist_refusal(user)
    if reason is not None:
        raise cannot_be_specialist(reason)
    assert user is not None
    return user


async def check_services_given(
    session: AsyncSession, specialist_id: uuid.UUID, service_ids: Sequence[uuid.UUID]
) -> None:
    """422 unless every service exists and is the specialist's own or shared."""
    if not service_ids:
        return
    owners = {
        row[0]: row[1]
        for row in (
            await session.exec(
                select(ServiceOffering.id, ServiceOffering.owner_specialist_id).where(
                    col(ServiceOffering.id).in_(service_ids)
                )
            )
        ).all()
    }
    missing = [str(s) for s in service_ids if s not in owners]
    if missing:
        raise validation_failed(
            [
                {
                    "loc": ["body", "service_ids"],
                    "msg": Msg(
                        ru=f"таких услуг нет: {', '.join(missing)}",
                        en=f"unknown services: {', '.join(missing)}",
                    ),
                    "type": "value_error",
                }
            ]
        )
    foreign = [str(s) for s in foreign_services(specialist_id, service_ids, owners)]
    if foreign:
        raise Problem(
            Msg(
                ru="Специалист может оказывать только свои услуги и общие услуги практики, "
                "но не услуги другого специалиста.",
                en="A specialist gives only their own services and the practice's shared "
                "ones, never another specialist's.",
            ),
            status=422,
            code="foreign_service",
            title=Msg(ru="Чужая услуга", en="Another specialist's service"),
            errors=[
                {
                    "loc": ["body", "service_ids"],
                    "msg": f"services of another specialist: {', '.join(foreign)}",
                    "type": "value_error",
                }
            ],
        )


# -- the copy, kept from cabinet's events ---------------------------------------------------


async def remember_user(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    at: datetime,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    keep_phone: bool = True,
    time_zone: str | None = None,
    email_verified: bool | None = None,
    roles: Sequence[str] | None = None,
) -> Client:
    """Create or update booking's copy of a user with the fields an event carries."""
    row = await uow.session.get(Client, user_id, with_for_update=True)
    if row is None:
        row = Client(
            user_id=user_id,
            name="",
            email="",
            time_zone=time_zone or DEFAULT_ZONE,
            known_since=at,
            email_verified=False,
            roles=[],
        )
        uow.session.add(row)
    if name is not None:
        row.name = name
    if email is not None:
        row.email = email
    if not keep_phone:
        row.phone = phone
    if time_zone is not None:
        row.time_zone = time_zone
    if email_verified is not None:
        row.email_verified = email_verified
    if roles is not None:
        await _apply_roles(uow, row, roles)
    return row


async def _apply_roles(uow: UnitOfWork, row: Client, roles: Sequence[str]) -> None:
    """A user who loses the specialist role is hidden from search and the catalogue; one who
    (again) holds it is bookable again, when booking has their record."""
    change = role_change(row.roles, roles)
    row.roles = list(roles)
    if not (change.activates or change.deactivates):
        return
    specialist = await uow.session.get(Specialist, row.user_id, with_for_update=True)
    if specialist is None or specialist.active == change.activates:
        return
    specialist.active = change.activates
    specialist.updated_at = uow.now()
    specialist.version += 1
