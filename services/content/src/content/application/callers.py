"""Who is asking, as the use cases need it (built by ``api/`` from the verified token)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """A signed-in caller: their id and the roles that matter here."""

    user_id: uuid.UUID
    admin: bool = False
    specialist: bool = False
    moderator: bool = False
