"""cabinet's HTTP app: ``uvicorn cabinet.entrypoints.http:app``.

The app is built when uvicorn asks for ``app`` (a module ``__getattr__``), not when the module
is imported: reading settings, configuring logs and building the runtime are start-up, and a
module that only lists what cabinet defines (``servicekit.errors.domain_errors_of``) must not
start anything.
"""

from __future__ import annotations

from fastapi import FastAPI
from servicekit.http.app import create_app
from servicekit.logging import configure_logging
from servicekit.tracing import configure_tracing

from cabinet.bootstrap import build_runtime
from cabinet.config import CabinetSettings


def build_app() -> FastAPI:
    """cabinet's app on the settings of the environment."""
    settings = CabinetSettings()
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    configure_tracing(settings.service_name)
    return create_app(build_runtime(settings))


def __getattr__(name: str) -> FastAPI:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
