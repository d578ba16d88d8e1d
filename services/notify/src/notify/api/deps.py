"""Dependencies of notify's routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends
from servicekit.http.deps import RuntimeDep

from notify.context import NotifyContext
from notify.runtime import NotifyRuntime


async def get_notify_runtime(runtime: RuntimeDep) -> NotifyRuntime:
    """The runtime, as notify's."""
    return cast(NotifyRuntime, runtime)


async def get_context(runtime: RuntimeDep) -> NotifyContext:
    """notify's context (settings, clock, renderer, channels)."""
    return cast(NotifyRuntime, runtime).notify


NotifyRuntimeDep = Annotated[NotifyRuntime, Depends(get_notify_runtime)]
ContextDep = Annotated[NotifyContext, Depends(get_context)]
