"""FastAPI dependencies for authentication and authorization.

The service puts its :class:`~servicekit.security.jwt.TokenVerifier` at
``app.state.token_verifier`` on startup. Routes then ask for the caller::

    @router.get("/api/booking/appointments/{appointment_id}")
    async def get_one(appointment_id: UUID, principal: CurrentPrincipal) -> ...:
        appt = await load(appointment_id)
        ensure_owner(principal, appt.client_id if appt else None, staff_roles=("admin",))

    @router.post("/api/content/items/{item_id}/publish")
    async def publish(item_id: UUID, editor: Annotated[Principal, Depends(require_roles("admin",
                      "moderator"))]) -> ...: ...

401 (missing or invalid token, with ``WWW-Authenticate: Bearer``), 403 (role), 404 (someone
else's resource, so existence never leaks) are all problem+json. The dependencies carry the
statuses they can answer with (:func:`servicekit.http.responses.raises`), so every route that
uses them documents those in its OpenAPI; ``ensure_owner``'s 404 is the route's own to declare.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from servicekit.http.i18n import Msg
from servicekit.http.problems import Forbidden, NotFound, Unauthorized
from servicekit.http.responses import raises
from servicekit.security.jwt import JwksUnavailable, Principal, TokenVerifier

__all__ = [
    "CurrentPrincipal",
    "bearer_scheme",
    "current_principal",
    "ensure_owner",
    "require_roles",
]

#: OpenAPI security scheme (``bearerAuth``), so ``/docs`` shows an "Authorize" button. It does
#: not authenticate by itself; :func:`current_principal` does.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="Access JWT issued by cabinet.",
)

_MISSING = Msg(
    ru="Нужен токен доступа (Authorization: Bearer <token>).",
    en="A bearer access token is required (Authorization: Bearer <token>).",
)
_NO_RESOURCE = Msg(ru="Ресурс не найден.", en="The resource was not found.")


def _verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if verifier is None or not callable(getattr(verifier, "verify", None)):
        raise RuntimeError(
            "app.state.token_verifier is not set: create it with verifier_from_settings() "
            "at startup"
        )
    return cast(TokenVerifier, verifier)


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(_MISSING)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized(_MISSING)
    return token


@raises(Unauthorized, JwksUnavailable)
async def current_principal(request: Request) -> Principal:
    """The verified caller of ``request``; raises 401 ``Unauthorized`` otherwise.

    Reads ``Authorization: Bearer <token>``, verifies it with ``app.state.token_verifier`` and
    stores the result at ``request.state.principal`` as well.
    """
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = await _verifier(request).verify(_bearer_token(request))
    request.state.principal = principal
    return principal


@raises(Unauthorized, JwksUnavailable)
async def _principal_dependency(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    return await current_principal(request)


#: The verified caller; use as a route parameter type: ``principal: CurrentPrincipal``.
CurrentPrincipal = Annotated[Principal, Depends(_principal_dependency)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the caller if they hold at least one of ``roles``; else 403.

    Use it as ``Annotated[Principal, Depends(require_roles("admin"))]`` or in a route's
    ``dependencies=[Depends(require_roles("admin"))]``. A missing or invalid token is still 401.
    """
    if not roles:
        raise ValueError("require_roles() needs at least one role")
    wanted = frozenset(roles)
    listed = ", ".join(sorted(wanted))

    @raises(Unauthorized, Forbidden, JwksUnavailable)
    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> Principal:
        # The caller read here, not through CurrentPrincipal: a dependency level fewer for
        # FastAPI to resolve on every request (the same security scheme in the OpenAPI).
        principal = await current_principal(request)
        if not principal.has_role(*wanted):
            raise Forbidden(
                Msg(
                    ru=f"Для этого действия нужна одна из ролей: {listed}.",
                    en=f"This action needs one of the roles: {listed}.",
                ),
                code="forbidden",
            )
        return principal

    dependency.__name__ = f"require_roles_{'_'.join(sorted(wanted))}"
    return dependency


def ensure_owner(
    principal: Principal,
    owner_id: uuid.UUID | str | None,
    *,
    staff_roles: Iterable[str] = ("admin",),
) -> None:
    """Allow only the owner of a resource or staff; anyone else gets 404 ``NotFound``.

    ``owner_id`` is the resource's owner (``None`` when the resource does not exist, which is
    also 404). 404 rather than 403, so a client cannot learn that someone else's resource exists.
    """
    if principal.has_role(*staff_roles):
        if owner_id is None:
            raise NotFound(_NO_RESOURCE)
        return
    if owner_id is not None:
        try:
            owner = owner_id if isinstance(owner_id, uuid.UUID) else uuid.UUID(str(owner_id))
        except ValueError:
            owner = None
        if owner == principal.user_id:
            return
    raise NotFound(_NO_RESOURCE)
