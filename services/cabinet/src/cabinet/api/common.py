"""What cabinet's routes share: cabinet's ports, the caller's account and address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from servicekit.http.deps import ClientAddress, RuntimeDep, UowDep
from servicekit.http.responses import raises
from servicekit.security.deps import CurrentPrincipal

from cabinet.adapters.tables import User
from cabinet.application import accounts
from cabinet.application.ports import CabinetPorts


async def cabinet_ports(runtime: RuntimeDep) -> CabinetPorts:
    """cabinet's ports (settings, password hashing, blind-index keys) of the running service
    (``cabinet.bootstrap.CabinetRuntime``)."""
    ports = getattr(runtime, "cabinet", None)
    if not isinstance(ports, CabinetPorts):
        raise TypeError("the runtime is not cabinet's")
    return ports


CabinetDep = Annotated[CabinetPorts, Depends(cabinet_ports)]


# The caller's address, as servicekit decides it (X-Forwarded-For only from TRUSTED_PROXIES).
SourceAddress = ClientAddress


@raises(404)
async def current_account(principal: CurrentPrincipal, uow: UowDep) -> User:
    """The caller's account row (404 if the token's user no longer exists)."""
    return await accounts.account_of(uow, principal.user_id)


CurrentAccount = Annotated[User, Depends(current_account)]
