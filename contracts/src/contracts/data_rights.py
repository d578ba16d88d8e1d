"""Payload bases for data-subject requests, shared by every service that holds personal data.

cabinet owns export and erasure requests (``cabinet.data_export.requested``,
``cabinet.user.erasure_requested``); each other service answers with its own
``<producer>.data_export.part_ready`` and ``<producer>.user_data.erased``, whose models subclass
these bases so the fields are the same everywhere.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.types import Payload, SecretUrl, UtcDateTime


class DataExportPart(Payload):
    """A service's part of a user's data export is ready to download.

    The file is served by the producing service through the gateway at ``download_url`` (a
    signed, expiring link for that user only); no personal data travels on the broker.
    """

    export_id: UUID = Field(description="Id from cabinet.data_export.requested")
    user_id: UUID
    download_url: SecretUrl
    expires_at: UtcDateTime
    content_type: str = Field(default="application/json", min_length=1)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the file")
    record_counts: dict[str, int] = Field(
        default_factory=dict, description="Records per category, e.g. {'appointments': 12}"
    )


class RetainedData(BaseModel):
    """A category of data kept after an erasure because a law requires it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    category: str = Field(min_length=1, description="e.g. 'payments'")
    legal_basis: str = Field(min_length=1, description="e.g. '402-FZ accounting records'")
    retain_until: date | None = None


class UserDataErased(Payload):
    """A service has erased (or anonymised) a user's personal data after an erasure request."""

    erasure_request_id: UUID = Field(description="Id from cabinet.user.erasure_requested")
    user_id: UUID
    erased_at: UtcDateTime
    retained: list[RetainedData] = Field(default_factory=list, description="What was kept, and why")
