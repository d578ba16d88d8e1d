"""YooKassa's error answer: ``{"type": "error", "id", "code", "description", "parameter"}``."""

from __future__ import annotations

import uuid
from typing import Any


class YooKassaError(Exception):
    """An error the fake answers with, in YooKassa's body shape (integrations.md §1.2)."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        parameter: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body; every answer gets a fresh error ``id`` as YooKassa's do."""
        body: dict[str, Any] = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return body


def invalid_request(description: str, parameter: str | None = None) -> YooKassaError:
    """400 ``invalid_request``: the request is wrong; fix it and send it with a new key."""
    return YooKassaError(400, "invalid_request", description, parameter)


def not_found(description: str, parameter: str | None = None) -> YooKassaError:
    """404 ``not_found``: no such object for this shop."""
    return YooKassaError(404, "not_found", description, parameter)


def invalid_credentials() -> YooKassaError:
    """401 ``invalid_credentials``: missing or wrong shop id / secret key."""
    return YooKassaError(
        401,
        "invalid_credentials",
        "Error in shopId or secret key. Check their validity. You can reissue the key in the "
        "Merchant Profile",
        "Authorization",
    )
