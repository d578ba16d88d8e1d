"""The catalog: service offerings and the specialists who give them.

A service created by a specialist is theirs (they own it and give it); an admin's is shared. A
specialist record belongs to a cabinet user holding the specialist role, gives only their own
and shared services, and takes the user's name unless given one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from servicekit.db.faults import is_unique_violation
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy.exc import IntegrityError

from booking.adapters.tables import Client, ServiceOffering, Specialist
from booking.application import people
from booking.domain.catalog import check_prepayment


class ServiceNotFound(DomainError):
    """No such (active) service."""

    code = "not_found"


class SpecialistNotGiving(DomainError):
    """No such (active) specialist gives the service."""

    code = "not_found"


class SpecialistExists(DomainError):
    """The user has a specialist record already."""

    code = "specialist_exists"


class DisplayNameUnknown(DomainError):
    """A new specialist needs a name, and booking does not know the user's yet."""

    code = "validation_failed"


def _apply(row: ServiceOffering | Specialist, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        setattr(row, name, value)


async def create_service(
    uow: UnitOfWork,
    fields: Mapping[str, Any],
    *,
    created_by: uuid.UUID,
    by_admin: bool,
    now: datetime,
) -> ServiceOffering:
    """A new service with ``fields`` (its columns). An admin's is shared; a specialist's is
    theirs, and they give it from now on."""
    owner = None if by_admin else created_by
    row = ServiceOffering(
        id=uuid.uuid4(),
        owner_specialist_id=owner,
        created_at=now,
        updated_at=now,
        version=1,
        **fields,
    )
    check_prepayment(price_amount=row.price_amount, prepayment_required=row.prepayment_required)
    uow.session.add(row)
    if owner is not None:
        specialist = await uow.session.get(Specialist, owner)
        if specialist is not None and row.id not in specialist.service_ids:
            specialist.service_ids = [*specialist.service_ids, row.id]
            specialist.version += 1
            specialist.updated_at = now
    return row


async def update_service(
    uow: UnitOfWork, row: ServiceOffering, changes: Mapping[str, Any], *, now: datetime
) -> None:
    """Change a service's columns (a free service never requires prepayment)."""
    _apply(row, changes)
    check_prepayment(price_amount=row.price_amount, prepayment_required=row.prepayment_required)
    row.version += 1
    row.updated_at = now


async def create_specialist(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    display_name: str | None,
    service_ids: Sequence[uuid.UUID],
    fields: Mapping[str, Any],
    now: datetime,
) -> Specialist:
    """A specialist record for a cabinet user holding the specialist role, giving
    ``service_ids``, with the other ``fields`` (columns) as given."""
    session = uow.session
    if await session.get(Specialist, user_id) is not None:
        raise SpecialistExists()
    await people.require_specialist_user(session, user_id)
    await people.check_services_given(session, user_id, service_ids)
    user = await session.get(Client, user_id)
    name = display_name or (user.name if user is not None else "")
    if not name:
        raise DisplayNameUnknown()
    row = Specialist(
        user_id=user_id,
        display_name=name,
        service_ids=list(service_ids),
        created_at=now,
        updated_at=now,
        version=1,
        **fields,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, "specialists_pkey"):  # created meanwhile
            raise SpecialistExists() from None
        raise
    return row


#: Fields a change may set to null; a null for any other means "leave it".
_NULLABLE = frozenset({"bio", "daily_cap"})


async def update_specialist(
    uow: UnitOfWork, row: Specialist, changes: Mapping[str, Any], *, now: datetime
) -> None:
    """Change a specialist's columns: services only their own or shared ones; made active
    again only while they hold the specialist role."""
    for name, value in changes.items():
        if value is None and name not in _NULLABLE:
            continue
        if name == "service_ids":
            await people.check_services_given(uow.session, row.user_id, value)
            row.service_ids = list(value)
        elif name == "active" and value and not row.active:
            await people.require_specialist_user(uow.session, row.user_id)
            row.active = True
        else:
            setattr(row, name, value)
    row.version += 1
    row.updated_at = now
