"""Who is calling, as content's use cases see them (from the verified access token), and the
run token an anonymous run is taken with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from servicekit.http.deps import RuntimeDep
from servicekit.http.problems import Unauthorized
from servicekit.http.responses import raises
from servicekit.security.deps import (
    CurrentPrincipal,
    bearer_scheme,
    current_principal,
    require_roles,
)
from servicekit.security.jwt import JwksUnavailable, Principal

from content.application.callers import Caller
from content.config import ContentSettings


def caller_of(principal: Principal) -> Caller:
    """The caller a verified token names."""
    return Caller(
        principal.user_id,
        admin=principal.has_role("admin"),
        specialist=principal.has_role("specialist"),
        moderator=principal.has_role("moderator") or principal.has_role("admin"),
    )


async def _signed_in(principal: CurrentPrincipal) -> Caller:
    return caller_of(principal)


@raises(Unauthorized, JwksUnavailable)
async def _maybe_signed_in(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Caller | None:
    # Anonymous callers are welcome here; a token that is given must still be valid (401).
    if request.headers.get("authorization") is None:
        return None
    return caller_of(await current_principal(request))


async def _author(
    principal: Annotated[Principal, Depends(require_roles("admin", "specialist"))],
) -> Caller:
    return caller_of(principal)


async def _specialist(
    principal: Annotated[Principal, Depends(require_roles("specialist"))],
) -> Caller:
    return caller_of(principal)


async def _reviewer(
    principal: Annotated[Principal, Depends(require_roles("moderator", "admin"))],
) -> Caller:
    return caller_of(principal)


#: A signed-in caller.
SignedIn = Annotated[Caller, Depends(_signed_in)]
#: A signed-in caller, or ``None`` for an anonymous one.
MaybeSignedIn = Annotated[Caller | None, Depends(_maybe_signed_in)]
#: An admin or a specialist (who write questionnaires).
Author = Annotated[Caller, Depends(_author)]
#: A moderator or an admin (who review items and moderate posts).
Reviewer = Annotated[Caller, Depends(_reviewer)]
#: A specialist.
Specialist = Annotated[Caller, Depends(_specialist)]
#: The run token an anonymous run was started with (shown once, by ``POST /runs``).
RunToken = Annotated[
    str | None,
    Header(
        alias="X-Run-Token",
        max_length=128,
        description="The run token of an anonymous run (the answer to POST /runs gave it once)",
    ),
]


def _settings(runtime: RuntimeDep) -> ContentSettings:
    assert isinstance(runtime.settings, ContentSettings)
    return runtime.settings


#: content's own settings (crisis resources, assignment defaults).
SettingsDep = Annotated[ContentSettings, Depends(_settings)]
