"""cabinet's composition root: what cabinet is made of (its definition) and the one runtime a
process builds from it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from contracts.cabinet.v1 import (
    CampaignLinkIssuedV1,
    CampaignLinkRevokedV1,
    ConsentDocumentPublishedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    DataExportCompletedV1,
    DataExportRequestedV1,
    EmailVerificationRequestedV1,
    EmailVerifiedV1,
    LeadConvertedV1,
    LeadCreatedV1,
    PasswordResetRequestedV1,
    RegistrationAttemptedV1,
    SessionsRevokedV1,
    SpecialistProfileUpdatedV1,
    UserContactChangedV1,
    UserErasureRequestedV1,
    UserRegisteredV1,
    UserRolesChangedV1,
)
from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from cabinet.adapters import lead_tables as _lead_tables  # noqa: F401 (its tables in metadata)
from cabinet.adapters.tables import metadata
from cabinet.api.accounts import router as accounts_router
from cabinet.api.consents import router as consents_router
from cabinet.api.data_rights import router as data_rights_router
from cabinet.api.diary import router as diary_router
from cabinet.api.errors import PROBLEMS
from cabinet.api.jwks import router as jwks_router
from cabinet.api.leads import router as leads_router
from cabinet.api.roles import router as roles_router
from cabinet.api.sessions import router as sessions_router
from cabinet.application.ports import CabinetPorts, build_ports
from cabinet.config import CabinetSettings
from cabinet.entrypoints.consumers import booking_events, data_rights_answers
from cabinet.entrypoints.lead_consumers import lead_events
from cabinet.entrypoints.timers import TIMERS

definition = ServiceDefinition(
    name="cabinet",
    title="Praktika cabinet",
    description="Identity, tokens and keys, consents, diary, data export, CRM leads.",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(
        UserRegisteredV1,
        UserContactChangedV1,
        EmailVerificationRequestedV1,
        EmailVerifiedV1,
        PasswordResetRequestedV1,
        RegistrationAttemptedV1,
        UserRolesChangedV1,
        SessionsRevokedV1,
        SpecialistProfileUpdatedV1,
        ConsentDocumentPublishedV1,
        ConsentGrantedV1,
        ConsentWithdrawnV1,
        DataExportRequestedV1,
        DataExportCompletedV1,
        UserErasureRequestedV1,
        CampaignLinkIssuedV1,
        CampaignLinkRevokedV1,
        LeadCreatedV1,
        LeadConvertedV1,
    ),
    consumers=(booking_events, data_rights_answers, lead_events),
    timers=TIMERS,
    # Throttle counters are only read within their window (an hour at most): purged after a day.
    retention=(("login_throttle", "window_started_at", timedelta(days=1)),),
    routers=(
        accounts_router,
        sessions_router,
        roles_router,
        consents_router,
        diary_router,
        data_rights_router,
        leads_router,
    ),
    root_routers=(jwks_router,),
    port=8003,
    problems=PROBLEMS,
)


class CabinetRuntime(ServiceRuntime):
    """A running cabinet: servicekit's runtime (database, outbox relay, timers, token verifier)
    with cabinet's ports (``runtime.cabinet``: settings, password hashing, blind-index keys)."""

    settings: CabinetSettings

    def __init__(
        self,
        settings: CabinetSettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        super().__init__(definition, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.cabinet: CabinetPorts = build_ports(settings)

    async def stop(self) -> None:
        """Stop servicekit's background work, then the password-hashing threads."""
        try:
            await super().stop()
        finally:
            self.cabinet.passwords.close()


def build_runtime(
    settings: CabinetSettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> CabinetRuntime:
    """The cabinet runtime; tests pass their own settings or clock."""
    return CabinetRuntime(
        settings or CabinetSettings(),
        clock=clock,
        relay_after_publish=relay_after_publish,
    )
