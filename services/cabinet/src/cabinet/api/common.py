"""What cabinet's routes share: the caller's account, client address, settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from servicekit.http.deps import ClientAddress, RuntimeDep, UowDep
from servicekit.http.problems import Msg, NotFound, get_or_404
from servicekit.http.responses import raises
from servicekit.security.deps import CurrentPrincipal

from cabinet.adapters.tables import User
from cabinet.config import CabinetSettings


async def get_settings(runtime: RuntimeDep) -> CabinetSettings:
    """cabinet's settings."""
    settings = runtime.settings
    assert isinstance(settings, CabinetSettings)
    return settings


SettingsDep = Annotated[CabinetSettings, Depends(get_settings)]


# The caller's address, as servicekit decides it (X-Forwarded-For only from TRUSTED_PROXIES).
SourceAddress = ClientAddress


@raises(NotFound)
async def current_account(principal: CurrentPrincipal, uow: UowDep) -> User:
    """The caller's account row (404 if the token's user no longer exists)."""
    user = await get_or_404(
        uow.session,
        User,
        principal.user_id,
        Msg(ru="Для этого токена нет учётной записи.", en="No account for this token."),
    )
    return user


CurrentAccount = Annotated[User, Depends(current_account)]
