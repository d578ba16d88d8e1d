"""cabinet's timers: the work a password-reset request queues
(cabinet.application.password_resets), an export's fetches, re-asks and final deadline
(cabinet.application.data_exports), and an erasure at the end of its cooling-off period
(cabinet.application.erasure)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler

from cabinet.application import data_exports, erasure, password_resets


async def send_reset_link(uow: UnitOfWork, timer: Timer) -> None:
    """Mail the reset link a request queued, when its address has an account."""
    await password_resets.send_reset_link(
        uow,
        email_index=str(timer.payload["email_index"]),
        page_url=str(timer.payload["page_url"]),
        ttl=timedelta(minutes=int(timer.payload["ttl_minutes"])),
        now=uow.now(),
    )


async def fetch_export_part(uow: UnitOfWork, timer: Timer) -> None:
    """Download a part a service announced (and assemble once all are in)."""
    await data_exports.fetch(uow, dict(timer.payload), uow.now())


async def reask_export_parts(uow: UnitOfWork, timer: Timer) -> None:
    """Ask again for the parts not in yet."""
    await data_exports.reask(uow, uuid.UUID(timer.key), uow.now())


async def export_final_deadline(uow: UnitOfWork, timer: Timer) -> None:
    """Complete the export with what is in (marked incomplete if anything is missing)."""
    await data_exports.final_deadline(uow, uuid.UUID(timer.key), uow.now())


async def expire_export(uow: UnitOfWork, timer: Timer) -> None:
    """Drop an archive whose link expired unused."""
    await data_exports.expire(uow, uuid.UUID(timer.key), uow.now())


async def execute_erasure(uow: UnitOfWork, timer: Timer) -> None:
    """The cooling-off period is over: erase."""
    await erasure.execute(uow, uuid.UUID(timer.key), uow.now())


TIMERS: dict[str, TimerHandler] = {
    password_resets.PASSWORD_RESET_REQUEST: send_reset_link,
    data_exports.FETCH: fetch_export_part,
    data_exports.REASK: reask_export_parts,
    data_exports.FINAL: export_final_deadline,
    data_exports.EXPIRE: expire_export,
    erasure.EXECUTE: execute_erasure,
}
