"""Google's error answer (integrations.md §2.6) and the errors the fake raises.

``{"error": {"errors": [{"domain", "reason", "message"}], "code", "message"}}``; the OAuth token
endpoint answers RFC 6749's ``{"error", "error_description"}`` instead.
"""

from __future__ import annotations

from typing import Any


def google_error_body(
    code: int, reason: str, message: str, domain: str = "global"
) -> dict[str, Any]:
    """The JSON body of a Calendar API error."""
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message,
        }
    }


class GoogleError(Exception):
    """An error the fake answers with, in the Calendar API's body shape."""

    def __init__(self, code: int, reason: str, message: str, domain: str = "global") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return google_error_body(self.code, self.reason, self.message, self.domain)


class OAuthError(Exception):
    """An OAuth token endpoint error (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON body."""
        return {"error": self.error, "error_description": self.description}


def not_found() -> GoogleError:
    """404 ``notFound``."""
    return GoogleError(404, "notFound", "Not Found")


def bad_request(message: str, reason: str = "invalid") -> GoogleError:
    """400 with ``reason``."""
    return GoogleError(400, reason, message)


def auth_error() -> GoogleError:
    """401 ``authError``: no, unknown or expired access token."""
    return GoogleError(401, "authError", "Invalid Credentials")


#: Ready-made answers for ``POST /_sandbox/google_faults`` and the test helper.
FAULTS: dict[str, tuple[int, str, str, str]] = {
    "rate_limit_403": (403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    "user_rate_limit_403": (
        403,
        "userRateLimitExceeded",
        "User Rate Limit Exceeded",
        "usageLimits",
    ),
    "rate_limit_429": (429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    "backend_500": (500, "backendError", "Backend Error", "global"),
    "forbidden_403": (403, "forbiddenForNonOrganizer", "Forbidden", "calendar"),
    "auth_401": (401, "authError", "Invalid Credentials", "global"),
}
