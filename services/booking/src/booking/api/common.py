"""What booking's routes share: the runtime's parts, an optional caller, who may manage what,
versions (``If-Match``), money on the wire and ``Idempotency-Key`` replays."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from servicekit.http.deps import RuntimeDep
from servicekit.http.inputs import Kopecks, SafeText
from servicekit.http.problems import Forbidden, Msg, Problem, Unauthorized
from servicekit.http.responses import raises
from servicekit.messaging.outbox import UnitOfWork
from servicekit.runtime import ServiceRuntime
from servicekit.security.deps import current_principal, require_roles
from servicekit.security.jwt import JwksUnavailable, Principal
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters import idempotency
from booking.application.payments import PaymentGateway
from booking.application.practice import Practice
from booking.application.slot_search import SlotCache
from booking.config import BookingSettings
from booking.domain.idempotency import check_key, fingerprint

T = TypeVar("T")


def part_of(runtime: ServiceRuntime, name: str, kind: type[T]) -> T:
    """A typed part of booking's runtime (``booking.bootstrap.BookingRuntime``: its settings,
    practice, YooKassa gateway, slot searches), read straight from it on a hot route."""
    part = getattr(runtime, name, None)
    assert isinstance(part, kind), "booking runs on BookingRuntime"
    return part


async def get_settings(runtime: RuntimeDep) -> BookingSettings:
    """booking's settings."""
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    return settings


SettingsDep = Annotated[BookingSettings, Depends(get_settings)]


async def get_practice(runtime: RuntimeDep) -> Practice:
    """The practice's rules."""
    return part_of(runtime, "practice", Practice)


PracticeDep = Annotated[Practice, Depends(get_practice)]


async def get_gateway(runtime: RuntimeDep) -> PaymentGateway:
    """YooKassa as booking uses it."""
    return part_of(runtime, "gateway", PaymentGateway)


GatewayDep = Annotated[PaymentGateway, Depends(get_gateway)]


async def get_slot_cache(runtime: RuntimeDep) -> SlotCache:
    """The remembered slot searches."""
    return part_of(runtime, "slot_cache", SlotCache)


SlotCacheDep = Annotated[SlotCache, Depends(get_slot_cache)]


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


class IdempotentRequest:
    """The ``Idempotency-Key`` handling of one POST: a repeat with the same key and body gets
    the first answer again (:mod:`booking.domain.idempotency`)."""

    def __init__(
        self,
        uow: UnitOfWork,
        principal: Principal,
        key: str | None,
        operation: str,
        body: BaseModel | dict[str, Any],
        settings: BookingSettings,
        now: datetime,
    ) -> None:
        self.uow, self.user_id, self.operation = uow, principal.user_id, operation
        self.key = None if key is None else check_key(key)
        self.digest = ""  # what was asked, to tell a replay from a reuse: only with a key
        if self.key is not None:
            asked = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
            self.digest = fingerprint(operation, asked)
        self.ttl = timedelta(hours=settings.idempotency_hours)
        self.now = now

    async def replay(self) -> JSONResponse | None:
        """The first answer again, when this repeats a request that got one."""
        if self.key is None:
            return None
        earlier = await idempotency.claim(
            self.uow,
            user_id=self.user_id,
            key=self.key,
            operation=self.operation,
            digest=self.digest,
            now=self.now,
            ttl=self.ttl,
        )
        if earlier is None:
            return None
        return JSONResponse(
            earlier.body, status_code=earlier.status_code, headers={"Idempotent-Replay": "true"}
        )

    async def remember(self, status_code: int, result: BaseModel) -> None:
        """Keep the answer for replays (with a key only)."""
        if self.key is not None:
            await idempotency.remember(
                self.uow,
                user_id=self.user_id,
                key=self.key,
                status_code=status_code,
                body=result.model_dump(mode="json"),
            )

    async def forget(self, session: AsyncSession) -> None:
        """Release the key of a request that failed after an earlier commit (a retry runs)."""
        if self.key is not None:
            await idempotency.forget(session, user_id=self.user_id, key=self.key)
