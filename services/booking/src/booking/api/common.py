"""What booking's routes share: settings, an optional caller, who may manage what, versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from pydantic import BaseModel, Field
from servicekit.http.deps import RuntimeDep
from servicekit.http.inputs import Kopecks, SafeText
from servicekit.http.problems import Forbidden, Msg, Problem, Unauthorized, validation_failed
from servicekit.http.responses import raises
from servicekit.security.deps import current_principal, require_roles
from servicekit.security.jwt import JwksUnavailable, Principal

from booking.adapters.yookassa import YooKassaClient
from booking.config import BookingSettings


async def get_settings(runtime: RuntimeDep) -> BookingSettings:
    """booking's settings."""
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    return settings


SettingsDep = Annotated[BookingSettings, Depends(get_settings)]


@raises(Unauthorized, JwksUnavailable)
async def optional_principal(request: Request) -> Principal | None:
    """The caller when a token is sent (a bad one is still 401); ``None`` for anonymous reads."""
    if not request.headers.get("authorization"):
        return None
    return await current_principal(request)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

#: An admin (403 for anyone else).
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]

#: An admin or a specialist (403 for anyone else).
StaffPrincipal = Annotated[Principal, Depends(require_roles("admin", "specialist"))]


def is_admin(principal: Principal | None) -> bool:
    """The caller is an admin."""
    return principal is not None and principal.has_role("admin")


def ensure_manages(principal: Principal, specialist_id: uuid.UUID | None) -> None:
    """Admins manage everything; a specialist manages their own things; anyone else gets 403."""
    if principal.has_role("admin"):
        return
    if principal.has_role("specialist") and specialist_id == principal.user_id:
        return
    raise Forbidden(
        Msg(
            ru="Изменить это может только администратор или специалист, к которому это относится.",
            en="Only an admin or the specialist it belongs to may change this.",
        )
    )


def check_if_match(if_match: str | None, version: int) -> None:
    """412 when the ``If-Match`` header names another version than the stored one."""
    if if_match is None:
        return
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")}
    if "*" not in wanted and str(version) not in wanted:
        raise Problem(
            Msg(
                ru=f"Ресурс уже в версии {version}; загрузите его заново и повторите попытку.",
                en=f"The resource is at version {version}; reload it and try again.",
            ),
            status=412,
            code="precondition_failed",
            title=Msg(ru="Версии не совпадают", en="Version mismatch"),
        )


def etag(version: int) -> dict[str, str]:
    """The ``ETag`` header for a version."""
    return {"ETag": f'"{version}"'}


def invalid(field: str, message: Msg, *, kind: str = "value_error") -> Problem:
    """A 422 ``validation_failed`` about one body field (rules pydantic cannot see)."""
    return validation_failed([{"loc": ["body", field], "msg": message, "type": kind}])


def durations_text(durations: list[int]) -> Msg:
    """ "The service lasts one of ..." for a 422 about ``duration_minutes``."""
    listed = ", ".join(map(str, durations))
    return Msg(
        ru=f"продолжительность этой услуги в минутах: {listed}",
        en=f"the service lasts one of {durations}",
    )


class MoneyIO(BaseModel):
    """Money on the wire: kopecks and the currency."""

    amount: Kopecks = Field(description="kopecks (1500.00 RUB is 150000)")
    currency: str = Field(default="RUB", pattern="^RUB$")


def money(amount: int) -> MoneyIO:
    """``{"amount": amount, "currency": "RUB"}``."""
    return MoneyIO(amount=amount, currency="RUB")


def dump_changes(update: BaseModel, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The fields a PATCH body really sent."""
    return update.model_dump(exclude_unset=True, exclude=set(exclude))


async def get_yookassa(runtime: RuntimeDep) -> YooKassaClient:
    """The runtime's YooKassa client (see ``booking.bootstrap.BookingRuntime``)."""
    client = getattr(runtime, "yookassa", None)
    assert isinstance(client, YooKassaClient), "booking runs on BookingRuntime"
    return client


YooKassaDep = Annotated[YooKassaClient, Depends(get_yookassa)]

#: The ``Idempotency-Key`` request header.
IdempotencyKeyHeader = Annotated[
    SafeText | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a request safely: the same key and body within 24 h replays the "
        "first answer; the same key with another body is 422 idempotency_key_reused.",
    ),
]
