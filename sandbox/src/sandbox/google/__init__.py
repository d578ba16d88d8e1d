"""A wire-faithful fake of the Google Calendar API v3 and Google's OAuth token endpoint.

See :mod:`sandbox.google.app` for the routes and ``sandbox/README.md`` for how to use it.
"""

from sandbox.google.app import GoogleFake, create_google_app, google_fake, google_fault
from sandbox.google.errors import FAULTS, GoogleError, google_error_body
from sandbox.google.fake import RunningGoogle, build_google_fake, running_google
from sandbox.google.oauth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    GOOGLE_TOKEN_URI,
    SERVICE_ACCOUNT_EMAIL,
    OAuthServer,
)
from sandbox.google.store import CalendarStore

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAULTS",
    "GOOGLE_TOKEN_URI",
    "SERVICE_ACCOUNT_EMAIL",
    "CalendarStore",
    "GoogleError",
    "GoogleFake",
    "OAuthServer",
    "RunningGoogle",
    "build_google_fake",
    "create_google_app",
    "google_error_body",
    "google_fake",
    "google_fault",
    "running_google",
]
