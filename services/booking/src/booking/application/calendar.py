"""Google Calendar sync use cases (docs/google-calendar.md): connect and disconnect, push an
appointment's event, import busy time, and the specialist's decision when they changed one of our
events in Google.

Nothing here runs inside a person's request except connecting and disconnecting. Pushes are
timers (:data:`PUSH`, one per appointment, armed by the consumer of booking's own appointment
events), syncs are timers too (:data:`SYNC` when Google notifies, :data:`POLL` as the periodic
fallback): each fires in its own transaction, calls Google, and commits what it learnt. A push
that fails for a while is retried by the timer worker; one Google refuses for good marks the
connection and tells the specialist (``booking.calendar.sync_failed``).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from contracts.booking.v1 import CalendarEventChangedV1, CalendarSyncFailedV1
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from booking.adapters.google_calendar import (
    ConnectionInfo,
    CredentialsRevoked,
    GoogleCalendarClient,
    GoogleCalendarError,
    GooglePermanent,
    GoogleTransient,
    SyncTokenExpired,
)
from booking.adapters.tables import (
    Appointment,
    CalendarBusy,
    CalendarConnection,
    CalendarEvent,
    Client,
    Specialist,
)
from booking.application.facts import appointment_facts
from booking.domain.appointments import Status
from booking.domain.calendar import (
    ClientLabel,
    Pushed,
    appointment_of,
    blocks_time,
    change_in_google,
    event_body,
    event_id_for,
    event_range,
    full_sync_from,
)

PUSH = "calendar_push"
SYNC = "calendar_sync"
POLL = "calendar_poll"


class CalendarNotConnected(DomainError):
    """The specialist has no calendar connection."""

    code = "calendar_not_connected"


class CalendarSpecialistUnknown(DomainError):
    """No such specialist."""

    code = "not_found"


class ServiceAccountNotConfigured(DomainError):
    """The practice has no service-account key (domain-wide delegation is not set up)."""

    code = "service_account_not_configured"


class UnknownChannel(DomainError):
    """A notification for a channel booking does not have (or with the wrong token)."""

    code = "not_found"


class NothingToDecide(DomainError):
    """The appointment's event is not waiting for the specialist's decision."""

    code = "already_done"


@dataclass
class CalendarSync:
    """The runtime's Google Calendar part: the client and the sync's timing."""

    client: GoogleCalendarClient
    poll_every: timedelta
    channel_life: timedelta
    renew_before: timedelta
    give_up_after: int

    @property
    def service_account_configured(self) -> bool:
        """Whether the practice configured a service-account key."""
        return self.client.service_account_key is not None


def connection_info(row: CalendarConnection) -> ConnectionInfo:
    """The decrypted connection a call needs."""
    return ConnectionInfo(
        specialist_id=row.specialist_id,
        kind=row.kind,
        calendar_id=row.calendar_id,
        credentials=json.loads(row.credentials),
    )


# -- connecting ------------------------------------------------------------------------------


async def connect(
    uow: UnitOfWork,
    sync: CalendarSync,
    specialist_id: uuid.UUID,
    *,
    kind: str,
    credentials: dict[str, str],
    calendar_id: str,
    client_label: ClientLabel,
    now: datetime,
) -> CalendarConnection:
    """Connect (or reconnect) a specialist's calendar: a first sync and the watch channel at
    once, the periodic fallback from then on, and every upcoming confirmed appointment pushed."""
    session = uow.session
    if await session.get(Specialist, specialist_id) is None:
        raise CalendarSpecialistUnknown()
    if kind == "service_account" and not sync.service_account_configured:
        raise ServiceAccountNotConfigured()
    row = await session.get(CalendarConnection, specialist_id, with_for_update=True)
    if row is None:
        row = CalendarConnection(
            specialist_id=specialist_id,
            kind=kind,
            calendar_id=calendar_id,
            credentials=json.dumps(credentials),
            client_label=client_label,
            status="active",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.kind, row.calendar_id, row.client_label = kind, calendar_id, client_label
        row.credentials = json.dumps(credentials)
        row.status, row.last_error, row.last_error_at = "active", None, None
        # Another account or calendar: start over (the old channel runs out by itself).
        row.sync_token = None
        row.channel_id = row.channel_token = row.channel_resource_id = None
        row.channel_expires_at = None
        row.updated_at = now
    sync.client.forget(specialist_id)
    row.sync_round += 1
    await schedule(session, kind=SYNC, key=str(specialist_id), due_at=now)
    await schedule(
        session,
        kind=POLL,
        key=f"{specialist_id}:{row.sync_round}",
        due_at=now + sync.poll_every,
        payload={"specialist_id": str(specialist_id), "round": row.sync_round},
    )
    upcoming = await session.exec(
        select(Appointment.id).where(
            Appointment.specialist_id == specialist_id,
            Appointment.status == Status.CONFIRMED,
            col(Appointment.ends_at) > now,
        )
    )
    for appointment_id in upcoming.all():
        await _queue(uow, appointment_id, specialist_id, now)
    await session.flush()
    return row


async def update_label(
    uow: UnitOfWork, specialist_id: uuid.UUID, client_label: ClientLabel, now: datetime
) -> CalendarConnection:
    """What our events say of the client (their initials, or nothing)."""
    row = await connection_of(uow, specialist_id)
    row.client_label = client_label
    row.updated_at = now
    return row


async def connection_of(uow: UnitOfWork, specialist_id: uuid.UUID) -> CalendarConnection:
    """The specialist's connection (:class:`CalendarNotConnected`)."""
    row = await uow.session.get(CalendarConnection, specialist_id)
    if row is None:
        raise CalendarNotConnected()
    return row


@dataclass(frozen=True)
class Disconnected:
    """What to tell Google after the commit: the credentials to revoke, the channel to stop."""

    info: ConnectionInfo
    channel: tuple[str, str] | None


async def disconnect(uow: UnitOfWork, specialist_id: uuid.UUID) -> Disconnected:
    """Forget the connection, its credentials, its imported busy time and its events' records
    (the events stay in Google). The caller revokes the credentials after the commit."""
    session = uow.session
    row = await session.get(CalendarConnection, specialist_id, with_for_update=True)
    if row is None:
        raise CalendarNotConnected()
    info = connection_info(row)
    channel = (
        (row.channel_id, row.channel_resource_id)
        if row.channel_id and row.channel_resource_id
        else None
    )
    await session.exec(delete(CalendarBusy).where(col(CalendarBusy.specialist_id) == specialist_id))
    await session.exec(
        delete(CalendarEvent).where(col(CalendarEvent.specialist_id) == specialist_id)
    )
    await cancel_timer(session, kind=SYNC, key=str(specialist_id))
    await session.delete(row)
    return Disconnected(info, channel)


async def after_disconnect(sync: CalendarSync, gone: Disconnected) -> None:
    """Stop the channel and revoke an OAuth refresh token at Google (best effort: the
    credentials are deleted on our side whatever Google answers)."""
    if gone.channel is not None:
        with contextlib.suppress(GoogleCalendarError):
            await sync.client.stop_channel(gone.info, *gone.channel)
    refresh_token = gone.info.credentials.get("refresh_token")
    if refresh_token:
        await sync.client.revoke(refresh_token)
    sync.client.forget(gone.info.specialist_id)


# -- push ------------------------------------------------------------------------------------


async def _queue(
    uow: UnitOfWork, appointment_id: uuid.UUID, specialist_id: uuid.UUID, now: datetime
) -> None:
    stmt = insert(CalendarEvent).values(
        appointment_id=appointment_id,
        specialist_id=specialist_id,
        event_id=event_id_for(appointment_id),
        state="pending",
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["appointment_id"], set_={"state": "pending", "updated_at": now}
    )
    await uow.session.exec(stmt)
    await schedule(
        uow.session,
        kind=PUSH,
        key=str(appointment_id),
        due_at=now,
        payload={"appointment_id": str(appointment_id)},
    )


async def appointment_changed(
    uow: UnitOfWork, appointment_id: uuid.UUID, specialist_id: uuid.UUID, now: datetime
) -> None:
    """An appointment was confirmed, rescheduled or cancelled: push it if the specialist has a
    calendar (from booking's own events, never in the request that changed it)."""
    if await uow.session.get(CalendarConnection, specialist_id) is None:
        return
    await _queue(uow, appointment_id, specialist_id, now)


FailureReason = Literal["revoked", "refused", "unreachable"]


async def _fail(
    uow: UnitOfWork,
    row: CalendarConnection,
    reason: FailureReason,
    detail: str,
    now: datetime,
    appointment_id: uuid.UUID | None = None,
) -> None:
    """The connection cannot go on until the specialist acts: visible on it, and told once."""
    was_active = row.status == "active"
    row.status = "error"
    row.last_error = f"{reason}: {detail}"[:500]
    row.last_error_at = now
    row.updated_at = now
    if was_active:
        uow.emit(
            CalendarSyncFailedV1(
                specialist_id=row.specialist_id,
                reason=reason,
                failed_at=now,
                appointment_id=appointment_id,
            )
        )


async def push(
    uow: UnitOfWork, sync: CalendarSync, appointment_id: uuid.UUID, *, attempts: int, now: datetime
) -> None:
    """Make the specialist's calendar show the appointment as it is now: an event while it is
    confirmed (inserted with its fixed id — a 409 ``duplicate`` means an earlier try got there —
    then written in full, which also moves it or brings a deleted one back), none once it is
    cancelled or expired."""
    session = uow.session
    record = await session.get(CalendarEvent, appointment_id, with_for_update=True)
    appointment = await session.get(Appointment, appointment_id)
    if record is None or appointment is None or record.state in ("disputed", "deleted"):
        return
    row = await session.get(CalendarConnection, record.specialist_id)
    if row is None or row.status != "active":
        return  # pushed when the specialist reconnects
    info = connection_info(row)
    client = sync.client
    try:
        if appointment.status == Status.CONFIRMED:
            person = await session.get(Client, appointment.client_id)
            body = event_body(
                appointment_id=appointment.id,
                service_name=appointment.service_name,
                client_name=person.name if person else None,
                client_label=row.client_label,  # type: ignore[arg-type]
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                time_zone=appointment.specialist_time_zone,
            )
            event = None
            if record.pushed_starts_at is None:
                event = await client.insert_event(info, body)
            if event is None:  # made before (409) or made already: write it in full
                event = await client.put_event(info, record.event_id, body)
            if event is None:  # gone from Google entirely
                event = await client.insert_event(info, body)
            record.state = "synced"
            record.pushed_starts_at, record.pushed_ends_at = (
                appointment.starts_at,
                appointment.ends_at,
            )
            record.etag = (event or {}).get("etag")
        elif appointment.status in (Status.CANCELLED, Status.EXPIRED):
            await client.delete_event(info, record.event_id)
            record.state = "deleted"
        else:
            return
        record.last_error = None
        record.updated_at = now
    except CredentialsRevoked as exc:
        record.state, record.last_error = "failed", str(exc)[:500]
        await _fail(uow, row, "revoked", str(exc), now, appointment_id)
    except GooglePermanent as exc:
        record.state, record.last_error = "failed", str(exc)[:500]
        await _fail(uow, row, "refused", str(exc), now, appointment_id)
    except GoogleTransient as exc:
        if attempts + 1 < sync.give_up_after:
            raise  # the timer worker tries again later, with its own backoff
        record.state, record.last_error = "failed", str(exc)[:500]
        await _fail(uow, row, "unreachable", str(exc), now, appointment_id)


# -- import ----------------------------------------------------------------------------------


async def notified(
    uow: UnitOfWork, *, channel_id: str, token: str | None, state: str, now: datetime
) -> None:
    """Google says the calendar changed: check the channel and its token, then sync soon
    (:class:`UnknownChannel` for anything else)."""
    if state == "sync":
        # The channel's first message, sent while watch is still answering (our row does not
        # name the channel until that commits): nothing changed yet, nothing to check.
        return
    row = (
        await uow.session.exec(
            select(CalendarConnection).where(CalendarConnection.channel_id == channel_id)
        )
    ).first()
    if row is None or row.channel_token is None or token is None:
        raise UnknownChannel()
    if not secrets.compare_digest(row.channel_token.encode(), token.encode()):
        raise UnknownChannel()
    await schedule(uow.session, kind=SYNC, key=str(row.specialist_id), due_at=now)


async def poll(
    uow: UnitOfWork, sync: CalendarSync, specialist_id: uuid.UUID, round_: int, now: datetime
) -> None:
    """The periodic fallback: sync, then arm the next round (a round of an older connection
    ends its chain)."""
    row = await uow.session.get(CalendarConnection, specialist_id)
    if row is None or row.sync_round != round_:
        return
    await synchronize(uow, sync, specialist_id, now)
    row.sync_round += 1
    await schedule(
        uow.session,
        kind=POLL,
        key=f"{specialist_id}:{row.sync_round}",
        due_at=now + sync.poll_every,
        payload={"specialist_id": str(specialist_id), "round": row.sync_round},
    )


async def synchronize(
    uow: UnitOfWork, sync: CalendarSync, specialist_id: uuid.UUID, now: datetime
) -> None:
    """Read what changed in the specialist's calendar since the last sync (everything after a
    410) and apply it; renew the watch channel when it nears its end."""
    session = uow.session
    row = await session.get(CalendarConnection, specialist_id, with_for_update=True)
    if row is None or row.status != "active":
        return
    info = connection_info(row)
    zone = await _zone_of(uow, specialist_id)
    try:
        full = row.sync_token is None
        try:
            items, token = await _collect(sync, info, row.sync_token, now)
        except SyncTokenExpired:
            full = True
            items, token = await _collect(sync, info, None, now)
        if full:
            # In this transaction: readers see the old busy time until the new one commits.
            await session.exec(
                delete(CalendarBusy).where(col(CalendarBusy.specialist_id) == specialist_id)
            )
        for item in items:
            await _apply(uow, row, item, zone, now)
        row.sync_token = token
        row.last_sync_at = now
        row.last_error = row.last_error_at = None
        row.updated_at = now
        await _ensure_channel(sync, row, info, now)
    except CredentialsRevoked as exc:
        await _fail(uow, row, "revoked", str(exc), now)
    except GooglePermanent as exc:
        await _fail(uow, row, "refused", str(exc), now)
    except GoogleTransient as exc:
        # Still connected; the next notification or round tries again. Visible meanwhile.
        row.last_error = f"unreachable: {exc}"[:500]
        row.last_error_at = now


async def _zone_of(uow: UnitOfWork, specialist_id: uuid.UUID) -> str:
    specialist = await uow.session.get(Specialist, specialist_id)
    return specialist.time_zone if specialist else "UTC"


async def _collect(
    sync: CalendarSync, info: ConnectionInfo, token: str | None, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    next_token: str | None = None
    time_min = None if token else full_sync_from(now).isoformat()
    async for page, page_token in sync.client.changes(info, sync_token=token, time_min=time_min):
        items.extend(page)
        next_token = page_token or next_token
    return items, next_token


async def _apply(
    uow: UnitOfWork, row: CalendarConnection, item: dict[str, Any], zone: str, now: datetime
) -> None:
    session = uow.session
    event_id = str(item.get("id", ""))
    if not event_id:
        return
    ours = appointment_of(item)
    if ours is not None:
        await _ours_changed(uow, ours, item, zone)
        return
    span = event_range(item, zone)
    if span is None or not blocks_time(item) or span[1] <= now:
        await session.exec(
            delete(CalendarBusy).where(
                col(CalendarBusy.specialist_id) == row.specialist_id,
                col(CalendarBusy.event_id) == event_id,
            )
        )
        return
    stmt = insert(CalendarBusy).values(
        specialist_id=row.specialist_id, event_id=event_id, starts_at=span[0], ends_at=span[1]
    )
    await session.exec(
        stmt.on_conflict_do_update(
            index_elements=["specialist_id", "event_id"],
            set_={"starts_at": span[0], "ends_at": span[1]},
        )
    )


async def _ours_changed(
    uow: UnitOfWork, appointment_id: uuid.UUID, item: dict[str, Any], zone: str
) -> None:
    """One of our events changed in Google: our own write echoing back, or the specialist's
    move or deletion (then they are asked; nothing changes until they answer)."""
    session = uow.session
    record = await session.get(CalendarEvent, appointment_id, with_for_update=True)
    if record is None or record.state != "synced":
        return
    change = change_in_google(item, Pushed(record.pushed_starts_at, record.pushed_ends_at), zone)
    if change is None:
        return
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None or appointment.status != Status.CONFIRMED:
        return
    record.state = "disputed"
    span = event_range(item, zone) if change == "moved" else None
    uow.emit(
        CalendarEventChangedV1(
            **appointment_facts(appointment),
            change=change,
            event_starts_at=span[0] if span else None,
            event_ends_at=span[1] if span else None,
        )
    )


async def _ensure_channel(
    sync: CalendarSync, row: CalendarConnection, info: ConnectionInfo, now: datetime
) -> None:
    if row.channel_expires_at is not None and row.channel_expires_at > now + sync.renew_before:
        return
    old = (row.channel_id, row.channel_resource_id)
    channel_id, token = uuid.uuid4().hex, secrets.token_urlsafe(24)
    expires = now + sync.channel_life
    channel = await sync.client.watch(
        info,
        channel_id=channel_id,
        token=token,
        address=sync.client.webhook_url,
        expiration_ms=int(expires.timestamp() * 1000),
    )
    row.channel_id, row.channel_token = channel_id, token
    row.channel_resource_id = str(channel.get("resourceId") or "")
    given = channel.get("expiration")
    row.channel_expires_at = (
        datetime.fromtimestamp(int(given) / 1000, now.tzinfo) if given else expires
    )
    if old[0] and old[1]:
        with contextlib.suppress(GoogleCalendarError):  # else it runs out by itself
            await sync.client.stop_channel(info, old[0], old[1])


# -- the specialist's decision ----------------------------------------------------------------


async def decide(
    uow: UnitOfWork,
    appointment: Appointment,
    *,
    keep: bool,
    now: datetime,
) -> None:
    """The specialist answered: keep the appointment (its event is put back as booking has it)
    or not (the caller cancels it; the event's deletion then follows from the cancellation)."""
    record = await uow.session.get(CalendarEvent, appointment.id, with_for_update=True)
    if record is None or record.state != "disputed":
        raise NothingToDecide()
    record.state = "pending"
    record.updated_at = now
    if keep:
        await schedule(
            uow.session,
            kind=PUSH,
            key=str(appointment.id),
            due_at=now,
            payload={"appointment_id": str(appointment.id)},
        )
