"""FastAPI dependencies for routes: the runtime and a unit of work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from servicekit.messaging.outbox import UnitOfWork
from servicekit.runtime import ServiceRuntime


async def get_runtime(request: Request) -> ServiceRuntime:
    """The service runtime the app was created with."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """A unit of work for the request; the route calls ``await uow.commit()``."""
    async with runtime.uow() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def request_time(runtime: RuntimeDep) -> datetime:
    """Now, by the service's clock (tests drive it through ``build_runtime(clock=...)``)."""
    return runtime.clock()


NowDep = Annotated[datetime, Depends(request_time)]
