"""Dependencies of notify's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from servicekit.http.deps import RuntimeDep

from notify.application.ports import NotifyPorts


async def get_ports(runtime: RuntimeDep) -> NotifyPorts:
    """notify's ports (settings, clock, templates, channels) of the running service."""
    ports = getattr(runtime, "notify", None)
    if not isinstance(ports, NotifyPorts):
        raise TypeError("the runtime is not notify's")
    return ports


NotifyDep = Annotated[NotifyPorts, Depends(get_ports)]
