"""Sessions: log in, refresh (rotating, with reuse detection), log out
(cabinet.application.sessions says how)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, RuntimeDep, UowDep
from servicekit.http.responses import problem_responses

from cabinet.api.common import CabinetDep, SourceAddress
from cabinet.application import sessions
from cabinet.application.sessions import IssuedTokens

router = APIRouter(prefix="/sessions", tags=["sessions"])


class LoginRequest(BaseModel):
    """Credentials."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    """A refresh token."""

    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    """An access token for the APIs and a single-use refresh token for the next one."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=tokens.refresh_expires_in,
    )


@router.post(
    "",
    response_model=TokenPair,
    summary="Log in with email and password",
    responses={
        401: {"description": "invalid_credentials"},
        429: {"description": "too many attempts (Retry-After)"},
    },
)
async def login(
    body: LoginRequest,
    runtime: RuntimeDep,
    ports: CabinetDep,
    address: SourceAddress,
    now: NowDep,
) -> TokenPair:
    """The same ``invalid_credentials`` for an unknown email and a wrong password, after the
    same time; failures are limited per account and per source address."""
    tokens = await sessions.log_in(
        runtime.uow,
        body.email,
        body.password,
        source=address,
        settings=ports.settings,
        passwords=ports.passwords,
        keyring=ports.keyring,
        now=now,
    )
    return _pair(tokens)


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for new tokens (single use)",
    responses=problem_responses(401),
)
async def refresh(body: RefreshRequest, uow: UowDep, ports: CabinetDep, now: NowDep) -> TokenPair:
    tokens = await sessions.refresh(uow, body.refresh_token, settings=ports.settings, now=now)
    return _pair(tokens)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session the refresh token belongs to (its access tokens stop working in "
    "every service within seconds)",
)
async def logout(body: RefreshRequest, uow: UowDep, now: NowDep) -> Response:
    await sessions.log_out(uow, body.refresh_token, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
